//! WASI preview 1 programs (`wasi_snapshot_preview1` imports) under the
//! real `wasmd run`: Rust std programs from `guests/wasi` see their
//! arguments and exactly the `--env` variables, work in preopened
//! directories (`--fs-root` and `file:` grants) without leaving them,
//! read clocks and stdin, trap on a panic, and meet every hostile call
//! with an errno or a trap of their own while `wasmd` carries on; C
//! programs built with wasi-libc (`guests/wasi/c`) do stdio, directory
//! listings and clocks.
//!
//! What `wasmd run` promises a WASI program: argv[0] is the module
//! argument as given, then the arguments after `--`; the environment is the
//! `--env K=V` pairs; each `file:/PATH` grant is a preopen named PATH, the
//! directory PATH beneath `--fs-root` (`=ro`: writes refused); stdio is
//! wasmd's; `proc_exit(n)` is wasmd's exit code (its low 8 bits, 1 if
//! those are 0 but n is not), a trap 134 with `trap:` on stderr; without
//! the `time` or `random` capability the clock or random calls answer
//! `ENOTCAPABLE`.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use wasmd_tests::{wasi_c_guest, wasi_guest};

/// WASI errnos the assertions name.
const EBADF: i32 = 8;
const EFAULT: i32 = 21;
const EINVAL: i32 = 28;
const ENAMETOOLONG: i32 = 37;
const ENOMEM: i32 = 48;
const EPERM: i32 = 63;
const ENOTCAPABLE: i32 = 76;
/// What a read-only grant may answer a write with: `EACCES`, `EPERM`,
/// `EROFS`, `ENOTCAPABLE`.
const WRITE_REFUSED: &[i32] = &[2, EPERM, 69, ENOTCAPABLE];
/// What leaving a preopen is answered with.
const ESCAPE_REFUSED: &[i32] = &[EPERM, ENOTCAPABLE];

/// How long one `wasmd run` may take before the test gives up on it.
const RUN_LIMIT: Duration = Duration::from_secs(60);

/// A fresh directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let dir = std::env::temp_dir().join(format!("wasmd-wasi-{name}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A temporary `--fs-root` (`root/` inside the temporary directory) with
/// what the guests expect and what they must not reach: `outside.txt`
/// beside the root and inside it, `data.txt` and `a/` in it, and the
/// symlinks `escape_link` (to `..`) and `abs_link` (to the temporary
/// directory's absolute path), which lead out of it.
struct FsRoot {
    dir: TempDir,
    root: PathBuf,
}

impl FsRoot {
    fn new(name: &str) -> FsRoot {
        let dir = TempDir::new(name);
        let root = dir.0.join("root");
        std::fs::create_dir_all(root.join("a")).unwrap();
        std::fs::write(dir.0.join("outside.txt"), "outside\n").unwrap();
        std::fs::write(root.join("data.txt"), "data in the root\n").unwrap();
        std::os::unix::fs::symlink("..", root.join("escape_link")).unwrap();
        std::os::unix::fs::symlink(&dir.0, root.join("abs_link")).unwrap();
        FsRoot { dir, root }
    }

    /// The root, as `--fs-root` takes it.
    fn arg(&self) -> &str {
        self.root.to_str().unwrap()
    }

    /// The names in the temporary directory around the root: nothing but
    /// `outside.txt` and `root` may be there after a guest ran.
    fn around_root(&self) -> Vec<String> {
        names(&self.dir.0)
    }
}

/// The sorted names in `dir`.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Reads all of `stream` on a thread of its own.
fn drain(mut stream: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        stream.read_to_end(&mut bytes).unwrap();
        bytes
    })
}

/// `wasmd run ARGS` with `stdin` as its standard input; fails the test if
/// it does not end within [`RUN_LIMIT`].
fn wasmd_run_in(dir: Option<&Path>, args: &[&str], stdin: &[u8]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_wasmd"));
    command
        .arg("run")
        .args(args)
        // Must not reach the guest: its environment is the `--env` pairs.
        .env("WASMD_WASI_TEST_CANARY", "leaked")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(dir) = dir {
        command.current_dir(dir);
    }
    let mut child = command.spawn().expect("wasmd runs");
    let mut input = child.stdin.take().unwrap();
    let bytes = stdin.to_vec();
    // A guest that stops reading closes the pipe: a failed write is fine.
    let feeder = std::thread::spawn(move || drop(input.write_all(&bytes)));
    let stdout = drain(child.stdout.take().unwrap());
    let stderr = drain(child.stderr.take().unwrap());
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > RUN_LIMIT {
            let _ = child.kill();
            panic!("`wasmd run {}` did not end within {RUN_LIMIT:?}", args.join(" "));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    feeder.join().unwrap();
    Output { status, stdout: stdout.join().unwrap(), stderr: stderr.join().unwrap() }
}

/// `wasmd run ARGS` with an empty stdin.
fn wasmd_run(args: &[&str]) -> Output {
    wasmd_run_in(None, args, b"")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The exit code, failing the test if a signal ended wasmd.
fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or_else(|| panic!("wasmd died of a signal ({}); stderr: {}", o.status, stderr(o)))
}

/// Fails with everything wasmd said unless it exited with `expected`.
fn assert_exit(o: &Output, expected: i32) {
    assert_eq!(code(o), expected, "stdout:\n{}\nstderr:\n{}", stdout(o), stderr(o));
}

/// The `CASE -> ERRNO` lines of a raw guest's output.
fn errnos(out: &str) -> BTreeMap<String, i32> {
    out.lines()
        .filter_map(|line| line.rsplit_once(" -> "))
        .map(|(case, errno)| (case.to_string(), errno.parse().unwrap_or_else(|_| panic!("errno `{errno}`"))))
        .collect()
}

#[test]
fn hello_sees_its_arguments_and_exactly_the_env_pairs() {
    let module = wasi_guest("wasi_hello");
    let m = module.to_str().unwrap();
    let o = wasmd_run(&[
        "--env",
        "B=2",
        "--env",
        "A=one two",
        "--env",
        "EMPTY=",
        m,
        "--",
        "x",
        "y z",
        "--flag",
        "",
    ]);
    assert_exit(&o, 0);
    assert_eq!(
        stdout(&o),
        format!(
            "hello from wasi\nargc=5\narg[0]={m}\narg[1]=x\narg[2]=y z\narg[3]=--flag\narg[4]=\n\
             env A=one two\nenv B=2\nenv EMPTY=\n"
        )
    );
    assert_eq!(stderr(&o), "");

    // No `--env`: an empty environment (wasmd's own does not leak in).
    let o = wasmd_run(&[m]);
    assert_exit(&o, 0);
    assert_eq!(stdout(&o), format!("hello from wasi\nargc=1\narg[0]={m}\n"));

    // argv[0] is the module argument as given, not a resolved path.
    let o = wasmd_run_in(module.parent(), &["wasi_hello.wasm", "--", "rel"], b"");
    assert_exit(&o, 0);
    assert_eq!(stdout(&o), "hello from wasi\nargc=2\narg[0]=wasi_hello.wasm\narg[1]=rel\n");
}

#[test]
fn proc_exit_is_the_exit_code() {
    let module = wasi_guest("wasi_hello");
    for (exit, expected) in [("0", 0), ("3", 3), ("255", 255), ("256", 1), ("300", 44), ("65536", 1)] {
        let env = format!("EXIT_CODE={exit}");
        let o = wasmd_run(&["--env", &env, module.to_str().unwrap()]);
        assert_eq!(code(&o), expected, "proc_exit({exit}); stderr: {}", stderr(&o));
        assert!(
            stdout(&o).starts_with("hello from wasi\n"),
            "output before proc_exit({exit}): {}",
            stdout(&o)
        );
        assert!(stdout(&o).ends_with(&format!("env {env}\n")), "{}", stdout(&o));
    }
}

/// The steps `wasi_fs` reports as `ok STEP` when all is well.
const FS_STEPS: &[&str] = &[
    "create_dir",
    "write",
    "read",
    "append",
    "metadata",
    "read_dir",
    "rename",
    "copy",
    "remove_file",
    "remove_dir",
    "keep",
];

/// Checks a successful `wasi_fs` run: every step ok, every escape refused
/// with a WASI refusal.
fn assert_fs_ok(o: &Output) {
    assert_exit(o, 0);
    let out = stdout(o);
    for step in FS_STEPS {
        assert!(out.lines().any(|l| l == format!("ok {step}")), "no `ok {step}` in:\n{out}");
    }
    let escapes: Vec<&str> = out.lines().filter(|l| l.starts_with("escape refused: ")).collect();
    assert_eq!(escapes.len(), 5, "five escapes tried and refused:\n{out}");
    for line in &escapes {
        let errno: i32 =
            line.rsplit_once("(errno ").and_then(|(_, n)| n.strip_suffix(')')).unwrap().parse().unwrap();
        // Through a symlink that leaves the preopen a host may also say
        // the target does not exist (`ENOENT`) or is a loop (`ELOOP`).
        let allowed: &[i32] =
            if line.contains("_link/") { &[EPERM, ENOTCAPABLE, 44, 32] } else { ESCAPE_REFUSED };
        assert!(
            allowed.contains(&errno),
            "escape refused with errno {errno}, not one of {allowed:?}: {line}"
        );
    }
    assert!(!out.contains("FAIL"), "{out}");
}

#[test]
fn fs_in_a_preopen_of_the_fs_root() {
    let fs = FsRoot::new("fs");
    let o = wasmd_run(&[
        "--fs-root",
        fs.arg(),
        "--grant",
        "file:/",
        wasi_guest("wasi_fs").to_str().unwrap(),
        "--",
        "/",
    ]);
    assert_fs_ok(&o);
    // On the host: the kept file, the work directory gone, nothing
    // written or changed beside the root.
    assert_eq!(std::fs::read_to_string(fs.root.join("kept.txt")).unwrap(), "written by wasi_fs\n");
    assert!(!fs.root.join("work").exists());
    assert_eq!(names(&fs.root), ["a", "abs_link", "data.txt", "escape_link", "kept.txt"]);
    assert_eq!(fs.around_root(), ["outside.txt", "root"]);
    assert_eq!(std::fs::read_to_string(fs.dir.0.join("outside.txt")).unwrap(), "outside\n");
}

#[test]
fn a_grant_is_a_preopen_named_by_its_path() {
    let fs = FsRoot::new("fs-data");
    let data = fs.root.join("data");
    std::fs::create_dir(&data).unwrap();
    // Beside the preopen but inside the fs root: still out of reach.
    std::fs::write(fs.root.join("outside.txt"), "beside the preopen\n").unwrap();
    let module = wasi_guest("wasi_fs");
    let m = module.to_str().unwrap();
    let o = wasmd_run(&["--fs-root", fs.arg(), "--grant", "file:/data", m, "--", "/data"]);
    assert_fs_ok(&o);
    assert_eq!(std::fs::read_to_string(data.join("kept.txt")).unwrap(), "written by wasi_fs\n");
    assert_eq!(names(&data), ["kept.txt"]);
    assert_eq!(std::fs::read_to_string(fs.root.join("outside.txt")).unwrap(), "beside the preopen\n");
    assert!(!fs.root.join("kept.txt").exists());
    assert_eq!(fs.around_root(), ["outside.txt", "root"]);

    // `/` is not granted: nothing there to create a directory in.
    let o = wasmd_run(&["--fs-root", fs.arg(), "--grant", "file:/data", m, "--", "/"]);
    assert_exit(&o, 1);
    assert!(stdout(&o).contains("FAIL create_dir"), "{}", stdout(&o));
    assert!(!fs.root.join("work").exists());
}

#[test]
fn a_read_only_grant_refuses_every_write() {
    let fs = FsRoot::new("fs-ro");
    let data = fs.root.join("data");
    std::fs::create_dir_all(data.join("keep_dir")).unwrap();
    std::fs::write(data.join("readme.txt"), "read me\n").unwrap();
    let module = wasi_guest("wasi_fs");
    let o = wasmd_run(&[
        "--fs-root",
        fs.arg(),
        "--grant",
        "file:/data=ro",
        module.to_str().unwrap(),
        "--",
        "/data",
        "--read-only",
    ]);
    assert_exit(&o, 0);
    let out = stdout(&o);
    assert!(out.lines().any(|l| l == "ok read"), "{out}");
    for step in
        ["create_dir", "create_file", "open_write", "open_append", "rename", "remove_file", "remove_dir"]
    {
        let prefix = format!("refused {step}: ");
        let line = out
            .lines()
            .find(|l| l.starts_with(&prefix))
            .unwrap_or_else(|| panic!("no `{prefix}` in:\n{out}"));
        let errno: i32 =
            line.rsplit_once("(errno ").and_then(|(_, n)| n.strip_suffix(')')).unwrap().parse().unwrap();
        // A host may open the file without the right to write: the write
        // then fails as on any handle not open for writing.
        let refused = WRITE_REFUSED.contains(&errno) || step.starts_with("open_") && errno == EBADF;
        assert!(refused, "{step} refused with errno {errno}, not one of {WRITE_REFUSED:?}");
    }
    assert_eq!(std::fs::read_to_string(data.join("readme.txt")).unwrap(), "read me\n");
    assert_eq!(names(&data), ["keep_dir", "readme.txt"]);
}

#[test]
fn clocks_tell_the_time_and_sleep_sleeps() {
    let o = wasmd_run(&[wasi_guest("wasi_time").to_str().unwrap()]);
    assert_exit(&o, 0);
    assert_eq!(stdout(&o), "ok time\n");
}

#[test]
fn time_and_random_are_capabilities() {
    let module = wasi_guest("wasi_caps");
    let m = module.to_str().unwrap();
    for (caps, time, random) in [
        (&[][..], 0, 0),
        (&["--cap", "stdio"][..], ENOTCAPABLE, ENOTCAPABLE),
        (&["--cap", "stdio,time"][..], 0, ENOTCAPABLE),
        (&["--cap", "stdio,random"][..], ENOTCAPABLE, 0),
    ] {
        let mut args = caps.to_vec();
        args.push(m);
        let o = wasmd_run(&args);
        assert_exit(&o, 0);
        assert_eq!(
            stdout(&o),
            format!("clock_time_get -> {time}\nclock_time_get monotonic -> {time}\nrandom_get -> {random}\n"),
            "caps {caps:?}"
        );
    }
}

#[test]
fn a_panic_prints_its_message_and_traps() {
    let o = wasmd_run(&[wasi_guest("wasi_panic").to_str().unwrap()]);
    assert_exit(&o, 134);
    let err = stderr(&o);
    assert!(err.contains("wasi_panic: deliberate panic"), "{err}");
    assert!(err.contains("trap:"), "{err}");
}

#[test]
fn stdin_is_the_guests() {
    let module = wasi_guest("wasi_stdin");
    let m = module.to_str().unwrap();
    let o = wasmd_run_in(None, &[m], b"hello\nworld\n");
    assert_exit(&o, 0);
    assert_eq!(stdout(&o), "stdin bytes=12\nHELLO\nWORLD\n");

    let o = wasmd_run(&[m]);
    assert_exit(&o, 0);
    assert_eq!(stdout(&o), "stdin bytes=0\n");

    // More than any pipe buffer, read to its end.
    let big: Vec<u8> = (0..300_000u32).map(|i| b"abcdefghij\n"[(i % 11) as usize]).collect();
    let o = wasmd_run_in(None, &[m], &big);
    assert_exit(&o, 0);
    let mut expected = b"stdin bytes=300000\n".to_vec();
    expected.extend(big.to_ascii_uppercase());
    assert!(o.stdout == expected, "{} bytes out, {} expected", o.stdout.len(), expected.len());
}

/// What `wasi_hostile` must print for each case of its errno run.
fn hostile_expectations() -> BTreeMap<&'static str, &'static [i32]> {
    let escape = ESCAPE_REFUSED;
    BTreeMap::from([
        ("fd_write empty iovec at memory end", &[0][..]),
        ("fd_write forged fd 12345", &[EBADF][..]),
        ("fd_write forged fd 0xffffffff", &[EBADF]),
        ("fd_read forged fd 12345", &[EBADF]),
        ("fd_close forged fd 12345", &[EBADF]),
        ("fd_fdstat_get forged fd 0xffffffff", &[EBADF]),
        ("path_open ../x (create)", escape),
        ("path_open a/../../x (create)", escape),
        ("path_open absolute /etc/passwd", escape),
        ("path_open ../../../../../../../../etc/passwd", escape),
        ("path_open escape_link/x (create)", escape),
        ("path_open forged dirfd 12345", &[EBADF]),
        ("path_filestat_get ../", escape),
        ("fd_prestat_get fd 3", &[0]),
        ("fd_prestat_get forged fd 12345", &[EBADF]),
        ("fd_prestat_dir_name too small", &[ENAMETOOLONG, EINVAL]),
        ("random_get empty at memory end", &[0]),
        ("clock_time_get bad clock id", &[EINVAL]),
        ("clock_res_get bad clock id", &[EINVAL]),
        ("poll_oneoff nsubscriptions 0", &[EINVAL]),
        ("fd_close fd 3", &[0]),
        ("fd_write closed fd 3", &[EBADF]),
        ("fd_close closed fd 3", &[EBADF]),
        ("fd_prestat_get closed fd 3", &[EBADF]),
    ])
}

#[test]
fn hostile_calls_get_errnos_and_the_guest_runs_on() {
    let fs = FsRoot::new("hostile");
    let module = wasi_guest("wasi_hostile");
    let o = wasmd_run(&[
        "--env",
        "HOSTILE=1",
        "--fs-root",
        fs.arg(),
        "--grant",
        "file:/",
        module.to_str().unwrap(),
    ]);
    assert_exit(&o, 0);
    let out = stdout(&o);
    assert_eq!(out.lines().last(), Some("hostile done"), "{out}");
    let got = errnos(&out);
    let expected = hostile_expectations();
    let mut wrong = Vec::new();
    for (case, allowed) in &expected {
        match got.get(*case) {
            Some(errno) if allowed.contains(errno) => {}
            Some(errno) => wrong.push(format!("{case}: {errno}, expected one of {allowed:?}")),
            None => wrong.push(format!("{case}: not run")),
        }
    }
    for case in got.keys().filter(|case| !expected.contains_key(case.as_str())) {
        wrong.push(format!("{case}: no expectation in this test"));
    }
    assert!(wrong.is_empty(), "{}\n\nstdout:\n{out}\nstderr:\n{}", wrong.join("\n"), stderr(&o));
    // The `O_CREAT` escapes created nothing outside the root.
    assert_eq!(fs.around_root(), ["outside.txt", "root"]);
    assert_eq!(names(&fs.root), ["a", "abs_link", "data.txt", "escape_link"]);
}

/// Each call with an address the host cannot use, one process each: WASI
/// (the witx "Pointers" rules) says the call traps; a host may answer
/// `EFAULT` instead (a count or length too large to be an address range
/// also `EINVAL` or `ENOMEM`). Either way wasmd carries on and reports it.
#[test]
fn hostile_addresses_trap_or_fault_and_wasmd_carries_on() {
    let module = wasi_guest("wasi_hostile");
    let m = module.to_str().unwrap();
    let o = wasmd_run(&[m, "--", "faults"]);
    assert_exit(&o, 0);
    let list = stdout(&o);
    let cases: Vec<&str> = list.lines().collect();
    assert!(cases.len() >= 30 && cases.contains(&"fd_write bad iovec ptr"), "{list}");

    let fs = FsRoot::new("hostile-faults");
    let mut wrong = Vec::new();
    for case in &cases {
        let o = wasmd_run(&[
            "--env",
            "HOSTILE=1",
            "--fs-root",
            fs.arg(),
            "--grant",
            "file:/",
            m,
            "--",
            "fault",
            case,
        ]);
        let huge = case.contains("0x7fffffff") || case.contains("wraps");
        let allowed: &[i32] = if huge { &[EFAULT, EINVAL, ENOMEM] } else { &[EFAULT] };
        let outcome = match (code(&o), errnos(&stdout(&o)).get(*case)) {
            (134, None) if stderr(&o).contains("trap:") => continue,
            (0, Some(errno)) if allowed.contains(errno) => continue,
            (0, Some(errno)) => format!("errno {errno}, expected a trap or one of {allowed:?}"),
            (exit, _) => format!("exit {exit}"),
        };
        wrong.push(format!("{case}: {outcome}\n  stdout: {}  stderr: {}", stdout(&o), stderr(&o)));
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert_eq!(fs.around_root(), ["outside.txt", "root"]);
    assert_eq!(names(&fs.root), ["a", "abs_link", "data.txt", "escape_link"]);
}

/// The C guest `name`. The test build compiles the C guests when it
/// finds clang and wasi-libc; without them these tests fail (a test that
/// cannot run is not a pass), saying what to install.
fn c_guest(name: &str) -> Option<PathBuf> {
    let module = wasi_c_guest(name);
    assert!(
        module.is_some(),
        "the WASI C guests were not built: install clang, lld and wasi-libc \
         (Debian: clang lld wasi-libc libclang-rt-dev-wasm32) and rebuild (see the wasmd-tests build warning)"
    );
    module
}

#[test]
fn c_stdio_arguments_stdin_and_exit_code() {
    let Some(module) = c_guest("c_stdio") else { return };
    let m = module.to_str().unwrap();
    let o = wasmd_run_in(None, &[m, "--", "3", "two words"], b"one\ntwo\n");
    assert_exit(&o, 3);
    assert_eq!(
        stdout(&o),
        format!("hello from c\nargc=3\narg[0]={m}\narg[1]=3\narg[2]=two words\nstdin lines=2 bytes=8\n")
    );
    assert_eq!(stderr(&o), "to stderr\n");
}

#[test]
fn c_dirent_lists_a_directory() {
    let Some(module) = c_guest("c_dirent") else { return };
    let fs = FsRoot::new("c-dirent");
    let o = wasmd_run(&["--fs-root", fs.arg(), "--grant", "file:/", module.to_str().unwrap(), "--", "/"]);
    assert_exit(&o, 0);
    assert_eq!(stdout(&o), "entry a\nentry b\nentry c\nok dirent\n");
    assert!(!fs.root.join("c_dir").exists());
}

#[test]
fn c_clocks_tell_the_time_and_nanosleep_sleeps() {
    let Some(module) = c_guest("c_time") else { return };
    let o = wasmd_run(&[module.to_str().unwrap()]);
    assert_exit(&o, 0);
    assert_eq!(stdout(&o), "ok c time\n");
}

/// `wasmd run wasi_poll MS` with stdin `input` written after `delay`
/// (stdin kept open until the run ends).
fn poll_run(ms: &str, input: Option<(&'static [u8], Duration)>) -> (String, Duration) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wasmd"))
        .args(["run", wasi_guest("wasi_poll").to_str().unwrap(), "--", ms])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("wasmd runs");
    let mut stdin = child.stdin.take().unwrap();
    let start = Instant::now();
    let writer = std::thread::spawn(move || {
        if let Some((bytes, delay)) = input {
            std::thread::sleep(delay);
            let _ = stdin.write_all(bytes);
        }
        // Held open until the guest is done.
        std::thread::sleep(Duration::from_secs(3));
        drop(stdin);
    });
    let o = child.wait_with_output().unwrap();
    let took = start.elapsed();
    drop(writer);
    assert_exit(&o, 0);
    (stdout(&o), took)
}

#[test]
fn poll_oneoff_waits_for_stdin_or_the_clock() {
    // Nothing on stdin: the clock fires, after its time.
    let (out, _) = poll_run("300", None);
    assert!(out.contains("woke: clock") && !out.contains("woke: stdin"), "{out}");
    let after: u64 = out.lines().find_map(|l| l.strip_prefix("after_ms=")).unwrap().parse().unwrap();
    assert!(after >= 300, "{out}");
    // Input before the clock: stdin wakes it, early, and the data is there.
    let (out, _) = poll_run("5000", Some((b"ping\n", Duration::from_millis(100))));
    assert!(out.contains("woke: stdin") && !out.contains("woke: clock"), "{out}");
    let after: u64 = out.lines().find_map(|l| l.strip_prefix("after_ms=")).unwrap().parse().unwrap();
    assert!(after < 5000, "{out}");
    assert!(out.contains("read=ping"), "{out}");
}

#[test]
fn a_listening_socket_from_a_tcp_grant_serves_a_connection() {
    // A free port: bind, note it, release it for wasmd.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr = format!("127.0.0.1:{port}");
    let server = Command::new(env!("CARGO_BIN_EXE_wasmd"))
        .args(["run", "--grant", "tcp:127.0.0.1:*", "--tcplisten", &addr])
        .arg(wasi_guest("wasi_echo_server"))
        .args(["--", "3"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("wasmd runs");
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut conn = loop {
        match std::net::TcpStream::connect(&addr) {
            Ok(c) => break c,
            Err(e) => {
                assert!(Instant::now() < deadline, "never listened: {e}");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    };
    conn.write_all(b"hello socket").unwrap();
    conn.shutdown(std::net::Shutdown::Write).unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).unwrap();
    assert_eq!(answer, "HELLO SOCKET");
    let o = server.wait_with_output().unwrap();
    assert_exit(&o, 0);
    assert!(stdout(&o).contains("served 12 bytes"), "{o:?}");
    // Without a grant covering it, wasmd refuses to listen.
    let o = wasmd_run(&["--tcplisten", &addr, wasi_guest("wasi_echo_server").to_str().unwrap()]);
    assert_exit(&o, 1);
    assert!(stderr(&o).contains("no read-write `tcp:` grant covers it"), "{o:?}");
}

#[test]
fn a_grant_can_be_preopened_under_another_name() {
    let fs = FsRoot::new("alias");
    // The subdirectory `a` of the root, shown to the program as `/`.
    let o = wasmd_run(&[
        "--fs-root",
        fs.arg(),
        "--grant",
        "file:/a",
        "--preopen",
        "/=file:/a",
        wasi_guest("wasi_fs").to_str().unwrap(),
        "--",
        "/",
    ]);
    assert_fs_ok(&o);
    assert_eq!(std::fs::read_to_string(fs.root.join("a/kept.txt")).unwrap(), "written by wasi_fs\n");
    assert!(!fs.root.join("kept.txt").exists(), "nothing outside the granted directory");
    // A preopen must name a grant the program has.
    let o = wasmd_run(&["--preopen", "/=file:/elsewhere", wasi_guest("wasi_hello").to_str().unwrap()]);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("which no --grant gives"), "{o:?}");
}

#[test]
fn a_native_guest_spawns_a_wasi_program_which_inherits_its_environment() {
    let wasi_dir = wasi_guest("wasi_hello").parent().unwrap().to_path_buf();
    let o = wasmd_run(&[
        "--env",
        "FROM=parent",
        "--module-dir",
        wasi_dir.to_str().unwrap(),
        wasmd_tests::guest("spawn_wait").to_str().unwrap(),
        "--",
        wasi_guest("wasi_hello").to_str().unwrap(),
        "child-arg",
    ]);
    assert_exit(&o, 0);
    let out = stdout(&o);
    assert!(out.contains("hello from wasi"), "{out}");
    assert!(out.contains("arg[1]=child-arg"), "{out}");
    assert!(out.contains("env FROM=parent"), "{out}");
    assert!(out.contains("child=exited(0)"), "{out}");
}
