//! The `wasmd` command line as a person uses it in a shell: output into
//! a pipe that closes early, Ctrl-C, exit statuses — each with the real
//! binary, real pipes and real signals.

mod common;

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{text, Daemon};
use wasmd_tests::{guest, wat};

/// How long a client may take to end before it counts as hung: what is
/// checked is that it ends, not how fast (it ends at once).
const ENDS_WITHIN: Duration = Duration::from_secs(10);

/// Waits up to `limit` for `child` to end; its exit code (`None`: killed
/// by a signal). Fails the test if it does not end in time.
fn ends_within(child: &mut Child, limit: Duration, what: &str) -> Option<i32> {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status.code();
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("{what} did not end within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Reads from `child`'s stdout until at least one byte came, then closes
/// it (as `head -c1` would).
fn read_a_little_and_close(child: &mut Child) {
    let mut out = child.stdout.take().expect("piped stdout");
    let mut byte = [0u8; 1];
    out.read_exact(&mut byte).expect("some output");
    drop(out);
}

#[test]
fn run_into_a_closed_pipe_kills_the_guests_and_exits_141() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wasmd"))
        .args(["run", wat("flood").to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("wasmd runs");
    read_a_little_and_close(&mut child);
    let code = ends_within(&mut child, ENDS_WITHIN, "`wasmd run flood | head -c1`");
    assert_eq!(code, Some(141));
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert_eq!(err, "", "nothing to say about a closed pipe");
}

#[test]
fn run_ends_when_its_reader_goes_even_if_the_guest_went_quiet() {
    // One line, then a spin without output: no later write finds the pipe
    // closed; wasmd notices the reader is gone all the same.
    let mut child = Command::new(env!("CARGO_BIN_EXE_wasmd"))
        .args(["run", "--cap", "stdio", wat("one_then_spin").to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("wasmd runs");
    read_a_little_and_close(&mut child);
    let code = ends_within(&mut child, ENDS_WITHIN, "`wasmd run one_then_spin | head -1`");
    assert_eq!(code, Some(141));
}

/// (Negative codes are in `ExitStatus::shell_code`'s unit test: the worker
/// guest takes unsigned numbers.)
#[test]
fn every_failing_exit_code_is_a_failing_status() {
    for (code, expected) in [("0", 0), ("7", 7), ("256", 1), ("512", 1), ("65536", 1)] {
        let o = Command::new(env!("CARGO_BIN_EXE_wasmd"))
            .args(["run", guest("worker").to_str().unwrap(), "--", "exit", code])
            .output()
            .expect("wasmd runs");
        assert_eq!(o.status.code(), Some(expected), "guest exit({code})");
    }
}

/// `ps` lines of the daemon whose name is `name`.
fn ps_lines(daemon: &Daemon, name: &str) -> Vec<String> {
    text(&daemon.cli(&["ps"])).lines().filter(|l| l.contains(name)).map(str::to_string).collect()
}

/// Waits up to two seconds until no live process named `name` is left.
fn no_live_guest(daemon: &Daemon, name: &str) {
    let start = Instant::now();
    loop {
        let live: Vec<String> = ps_lines(daemon, name)
            .into_iter()
            .filter(|l| !l.contains("exited") && !l.contains("killed"))
            .collect();
        if live.is_empty() {
            return;
        }
        assert!(start.elapsed() < ENDS_WITHIN, "still live: {live:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A `cat` client of `run/` on the flood guest, started against `daemon`.
fn cat_run(daemon: &Daemon, module: &str) -> Child {
    use std::os::unix::process::CommandExt;
    let mut cat = Command::new(env!("CARGO_BIN_EXE_wasmd"));
    cat.args(["cat", &format!("/scheme/wasm/run{module}")])
        .env("WASMD_SOCKET", &daemon.socket)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // A client started where SIGINT is ignored (a test run in the
    // background of a shell without job control) keeps ignoring it, as it
    // should: this one is started as from a terminal's shell.
    // SAFETY: between fork and exec only `signal`, which is
    // async-signal-safe, runs; it touches no memory of the parent's.
    unsafe {
        cat.pre_exec(|| {
            libc::signal(libc::SIGINT, libc::SIG_DFL);
            Ok(())
        });
    }
    cat.spawn().expect("client runs")
}

#[test]
fn cat_of_run_into_a_closed_pipe_ends_and_the_guest_is_killed() {
    let daemon = Daemon::start(&[]);
    let module = wat("flood");
    let mut child = cat_run(&daemon, module.to_str().unwrap());
    read_a_little_and_close(&mut child);
    let code = ends_within(&mut child, ENDS_WITHIN, "`wasmd cat run/flood | head -c1`");
    assert_eq!(code, Some(141));
    no_live_guest(&daemon, "flood");
    assert!(!ps_lines(&daemon, "flood").is_empty(), "the guest ran");
}

#[test]
fn sigint_of_a_cat_of_run_kills_the_guest() {
    let daemon = Daemon::start(&[]);
    let module = wat("loop");
    let mut child = cat_run(&daemon, module.to_str().unwrap());
    // The guest is running once ps shows it.
    let start = Instant::now();
    while ps_lines(&daemon, "loop").is_empty() {
        assert!(start.elapsed() < Duration::from_secs(5), "the guest never appeared");
        std::thread::sleep(Duration::from_millis(20));
    }
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(child.id() as i32).expect("a pid"),
        rustix::process::Signal::INT,
    )
    .expect("SIGINT");
    ends_within(&mut child, ENDS_WITHIN, "the cat client after SIGINT");
    no_live_guest(&daemon, "loop");
}

#[test]
fn cat_of_run_streams_stderr_and_exits_with_the_guests_status() {
    let daemon = Daemon::start(&[]);
    // The worker given no mode says so on stderr and exits with 2.
    let worker = guest("worker");
    let o = daemon.cli(&["cat", &format!("/scheme/wasm/run{}", worker.display())]);
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("worker: unknown mode"), "stderr: {err}");
    assert_eq!(text(&o), "");
    // A trap: 134 and the trap, as `wasmd run` says it.
    let o = daemon.cli(&["cat", &format!("/scheme/wasm/run{}", wat("unreachable").display())]);
    assert_eq!(o.status.code(), Some(134), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stderr).starts_with("trap: "), "{o:?}");
    // Success is 0, stdout on stdout.
    let o = daemon.cli(&["cat", &format!("/scheme/wasm/run{}", guest("hello").display())]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert!(text(&o).contains("Hello"), "{o:?}");
    // A `wasm:` URL is the same file, and `cat` treats it as a run file.
    let o = daemon.cli(&["cat", &format!("wasm:/run{}", worker.display())]);
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("worker: unknown mode"), "{o:?}");
    let o = daemon.cli(&["cat", "wasm:ps"]);
    assert!(o.status.success() && text(&o).starts_with("   PID"), "{o:?}");
    // Any non-zero guest code is a non-zero status, as with `wasmd run`:
    // exit(256) is 1, not 0.
    let o = daemon.cli(&["cat", &format!("/scheme/wasm/run{}", wat("exit_256").display())]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert_eq!(err_of(&o), "", "a guest's exit needs no words");
}

#[test]
fn a_live_socket_is_kept_a_stale_one_replaced_a_directory_refused() {
    let daemon = Daemon::start(&[]);
    let o = Command::new(env!("CARGO_BIN_EXE_wasmd"))
        .args(["daemon", "--socket", daemon.socket.to_str().unwrap()])
        .output()
        .expect("wasmd runs");
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(err_of(&o).contains("already serving"), "{}", err_of(&o));
    assert!(daemon.cli(&["ps"]).status.success(), "the first daemon still serves");
    let dir = std::env::temp_dir().join(format!("wasmd-sockets-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("a-directory")).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_wasmd"))
        .args(["daemon", "--socket", dir.join("a-directory").to_str().unwrap()])
        .output()
        .expect("wasmd runs");
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(dir.join("a-directory").is_dir(), "kept");
    // A socket nobody serves is replaced.
    let stale = dir.join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    let second = Daemon::start_at(&stale);
    assert!(second.cli(&["ps"]).status.success());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn the_daemon_never_removes_what_is_not_a_socket() {
    let dir = std::env::temp_dir().join(format!("wasmd-socket-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("precious.txt");
    std::fs::write(&file, "keep me").unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_wasmd"))
        .args(["daemon", "--socket", file.to_str().unwrap()])
        .output()
        .expect("wasmd runs");
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("not a socket") && err.contains("precious.txt"), "stderr: {err}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep me");
    let _ = std::fs::remove_dir_all(dir);
}

/// A client command's stderr.
fn err_of(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn client_errors_say_why() {
    let daemon = Daemon::start(&[]);
    // A spec the daemon refuses: the reason, not "invalid argument".
    let o = daemon.cli(&["spawn", "cap=stdio,flying", "/x.wasm"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(err_of(&o).contains("bad value for `cap`: `flying`"), "{}", err_of(&o));
    // A module that is not there: named.
    let o = daemon.cli(&["spawn", "/nonexistent/m.wasm"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(err_of(&o).contains("/nonexistent/m.wasm"), "{}", err_of(&o));
    // Not a module: named, and why; `cat run/` gives `wasmd run`'s codes
    // (126 cannot run, 127 cannot be read), which no guest's exit(1)
    // can be mistaken for.
    let o = daemon.cli(&["cat", "/scheme/wasm/run/etc/hostname"]);
    assert_eq!(o.status.code(), Some(126));
    let err = err_of(&o);
    assert!(err.contains("/etc/hostname") && err.contains("not a valid wasm module"), "{err}");
    let o = daemon.cli(&["cat", "/scheme/wasm//run/nonexistent/m.wasm"]);
    assert_eq!(o.status.code(), Some(127), "{}", err_of(&o));
    assert!(err_of(&o).contains("/nonexistent/m.wasm"), "{}", err_of(&o));
    // Impossible spec values and repeats: refused with the reason.
    for (spec, why) in [
        ("mem=99999999", "at most 65536 pages"),
        ("fuel=0", "needs some fuel"),
        ("fuel=5 fuel=6", "`fuel` given twice"),
        ("grant=file:/tmp", "no file root"),
    ] {
        let mut words: Vec<&str> = spec.split(' ').collect();
        let hello = guest("hello");
        words.insert(0, "spawn");
        words.push(hello.to_str().unwrap());
        let o = daemon.cli(&words);
        assert_eq!(o.status.code(), Some(1), "{spec}");
        assert!(err_of(&o).contains(why), "{spec}: {}", err_of(&o));
    }
    // Options are not spec words.
    let o = daemon.cli(&["spawn", "cap=stdio", "--cap", "time", "hello.wasm"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(err_of(&o).contains("not options: `--cap`"), "{}", err_of(&o));
    // A spec in one quoted word with a relative module: from the cwd.
    let dir = guest("hello").parent().unwrap().to_path_buf();
    let o = daemon.cli_in(&dir, &["spawn", "cap=stdio cap=time hello.wasm"]);
    assert_eq!(o.status.code(), Some(0), "{}", err_of(&o));
    let status = text(&daemon.cli(&["status", text(&o).trim()]));
    assert!(status.contains("stdio,time") || status.contains("stdio, time"), "caps add up: {status}");
    // Files that are not there, or the wrong way round: named.
    for (args, why) in [
        (&["cat", "/scheme/wasm/nonexist"][..], "/scheme/wasm/nonexist: no such file or entry"),
        (&["ls", "/scheme/wasm/ps"][..], "/scheme/wasm/ps: not a directory"),
        (&["write", "/scheme/wasm/nonexist", "x"][..], "/scheme/wasm/nonexist: no such file or entry"),
    ] {
        let o = daemon.cli(args);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        assert!(err_of(&o).contains(why), "{args:?}: {}", err_of(&o));
    }
    // An unknown ctl command: the ones there are.
    let pid = text(&daemon.cli(&["spawn", guest("worker").to_str().unwrap(), "sleep", "5000"]));
    let o = daemon.cli(&["write", &format!("/scheme/wasm/{}/ctl", pid.trim()), "dance"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(err_of(&o).contains("unknown ctl command `dance` (known: kill"), "{}", err_of(&o));
}

#[test]
fn a_relative_module_is_found_from_the_clients_directory() {
    let daemon = Daemon::start(&[]);
    let worker = guest("worker");
    let o = Command::new(env!("CARGO_BIN_EXE_wasmd"))
        .args(["spawn", "worker.wasm", "exit", "0"])
        .current_dir(worker.parent().unwrap())
        .env("WASMD_SOCKET", &daemon.socket)
        .output()
        .expect("client runs");
    assert_eq!(o.status.code(), Some(0), "{}", err_of(&o));
    assert!(text(&o).trim().parse::<u32>().is_ok(), "{o:?}");
    // Elsewhere, the error names the path it looked at.
    let o = Command::new(env!("CARGO_BIN_EXE_wasmd"))
        .args(["spawn", "worker.wasm"])
        .current_dir("/")
        .env("WASMD_SOCKET", &daemon.socket)
        .output()
        .expect("client runs");
    assert_eq!(o.status.code(), Some(1));
    assert!(err_of(&o).contains("/worker.wasm"), "{}", err_of(&o));
}

#[test]
fn misuse_is_named_as_such() {
    let mut daemon = Daemon::start(&[]);
    let o = daemon.cli(&["write", "/scheme/wasm/ps", "x"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(err_of(&o).contains("`/scheme/wasm/ps` is read-only"), "{}", err_of(&o));
    for args in [&["kill", "999"][..], &["status", "999"]] {
        let o = daemon.cli(args);
        assert_eq!(o.status.code(), Some(1));
        assert!(err_of(&o).contains("no such process 999"), "{args:?}: {}", err_of(&o));
    }
    // A daemon that dies under a waiting client.
    the_daemon_dies_under(&mut daemon, |pid| vec!["cat".into(), format!("/scheme/wasm/{pid}/wait")]);
}

/// Starts the client `args(PID)` waiting for a sleeping worker, kills the
/// daemon under it: the client ends (1) saying the daemon went away.
fn the_daemon_dies_under(daemon: &mut Daemon, args: impl Fn(&str) -> Vec<String>) {
    let pid = text(&daemon.cli(&["spawn", guest("worker").to_str().unwrap(), "sleep", "60000"]));
    let mut waiting = Command::new(env!("CARGO_BIN_EXE_wasmd"))
        .args(args(pid.trim()))
        .env("WASMD_SOCKET", &daemon.socket)
        .stderr(Stdio::piped())
        .spawn()
        .expect("client runs");
    std::thread::sleep(Duration::from_millis(200));
    daemon.child.kill().expect("the daemon is killed");
    let _ = daemon.child.wait();
    assert_eq!(ends_within(&mut waiting, ENDS_WITHIN, "the waiting client"), Some(1));
    let mut err = String::new();
    waiting.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert!(err.contains("the daemon went away"), "{err}");
}

#[test]
fn a_directory_is_named_as_a_directory_not_a_refusal() {
    let daemon = Daemon::start(&[]);
    let dir = guest("worker").parent().unwrap().display().to_string();
    // `cat run/` of it cannot run (126, as `wasmd run`); a spawn fails (1).
    for (args, code) in [
        (vec!["cat".to_string(), format!("/scheme/wasm/run{dir}")], 126),
        (vec!["spawn".into(), dir.clone()], 1),
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = daemon.cli(&args);
        assert_eq!(o.status.code(), Some(code), "{args:?}");
        let err = err_of(&o);
        assert!(err.contains(&format!("`{dir}`: it is a directory, not a module file")), "{args:?}: {err}");
        assert!(!err.contains("permission denied"), "{err}");
    }
    // The errno under the reason is EISDIR, as a Redox program sees it.
    let mut c = daemon.client();
    let fd = c.open(&format!("/scheme/wasm/run{dir}"), wasmd_abi::scheme::flags::O_RDONLY);
    let errno = fd.and_then(|fd| {
        c.call(wasmd::sys::linux::protocol::Request::Read { fd, offset: 0, len: 64, nonblock: false })
    });
    assert_eq!(errno.map(drop).map_err(|e| e.errno()), Err(Some(wasmd_abi::errno::EISDIR)));
}

#[test]
fn client_commands_end_quietly_on_a_closed_pipe() {
    use std::os::unix::process::ExitStatusExt;
    // `wasmd man | true`: a pipe whose reader is gone before the first write.
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let mut child = Command::new(env!("CARGO_BIN_EXE_wasmd"))
        .arg("man")
        .stdout(writer)
        .stderr(Stdio::piped())
        .spawn()
        .expect("wasmd runs");
    let status = child.wait().expect("wait");
    assert_eq!(status.signal(), Some(13), "ended by SIGPIPE as Unix tools are: {status:?}");
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert_eq!(err, "", "nothing to say about a closed pipe");
}

#[test]
fn wait_says_when_the_daemon_went_away() {
    the_daemon_dies_under(&mut Daemon::start(&[]), |pid| vec!["wait".into(), pid.into()]);
}
