//! WASI preview 1 programs as wasmd processes (`wasi`): stock Rust std
//! programs built for `wasm32-wasip1` (`guests/wasi`) see their arguments
//! and environment, exit with their own status, work in a directory under
//! a `file:` grant (the preopen named by the grant's path) without leaving
//! it, are refused every write under a read-only grant, read the clocks
//! and sleep, and trap on a panic; `wasmd run` runs one in-process too.
//! And the wasi-testsuite's filesystem and clock tests when they were
//! staged (`wasi-suite`, informative: it never fails the smoke test).

use std::time::{Duration, Instant};

use super::cli::wasmd;
use super::{check, field, kill, status, text, wait};
use crate::{Outcome, Setup, Tree};

/// WASI errnos that say "you may not leave the preopen": `EACCES`,
/// `EPERM`, `ENOTCAPABLE`. (On Redox a symbolic link below a grant is
/// refused as a whole rather than followed beneath it, which may give
/// another of these than on Linux.)
const ESCAPE_REFUSED: &[u32] = &[2, 63, 76];

/// The steps `wasi_fs DIR` reports as `ok STEP`, in order.
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

/// How many ways out of its preopen `wasi_fs DIR` tries.
const ESCAPES: usize = 5;

/// The writes `wasi_fs DIR --read-only` must see refused.
const READ_ONLY_REFUSALS: &[&str] =
    &["create_dir", "create_file", "open_write", "open_append", "rename", "remove_file", "remove_dir"];

/// A WASI guest's path.
fn guest(setup: &Setup, name: &str) -> String {
    format!("{}/{name}.wasm", setup.wasi.trim_end_matches('/'))
}

/// Spawns `spec` and waits for the process: its status and its log.
fn spawn_and_wait(tree: &mut dyn Tree, spec: &str) -> Result<(String, String), String> {
    let pid = tree.spawn(spec)?;
    let ended = wait(tree, pid)?;
    let log = text(tree.read(&format!("/scheme/wasm/{pid}/log"))?);
    Ok((ended, log))
}

/// Sorted names in a native directory.
fn listing(dir: &std::path::Path) -> Result<Vec<String>, String> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| format!("listing {}: {e}", dir.display()))? {
        names.push(entry.map_err(|e| e.to_string())?.file_name().to_string_lossy().into_owned());
    }
    names.sort();
    Ok(names)
}

pub(super) fn wasi(setup: &Setup) -> Outcome {
    (|| {
        let mut tree = setup.tree()?;
        let mut timings = Vec::new();
        let hello = guest(setup, "wasi_hello");

        // Arguments, environment and exit status, through the daemon.
        let started = Instant::now();
        let spec = format!("cap=stdio env=GREETING=hi env=EXIT_CODE=3 {hello} one \"two words\"");
        let (ended, log) = spawn_and_wait(tree.as_mut(), &spec)?;
        let expected = "hello from wasi\nargc=3\narg[0]=wasi_hello\narg[1]=one\narg[2]=two words\n\
                        env EXIT_CODE=3\nenv GREETING=hi\n";
        check(ended == "exited(3)" && log == expected, || {
            format!("wasi_hello (spawn) ended {ended:?} with {log:?}, expected exited(3) with {expected:?}")
        })?;
        timings.push(format!("hello {} ms", started.elapsed().as_millis()));

        // `run/`: its output streamed to the reader.
        let started = Instant::now();
        let mut stream = tree.stream(&format!("/scheme/wasm/run{hello}"))?;
        let mut got = Vec::new();
        std::io::Read::read_to_end(&mut stream, &mut got).map_err(|e| format!("read run/: {e}"))?;
        let got = text(got);
        check(got == "hello from wasi\nargc=1\narg[0]=wasi_hello\n", || format!("run/wasi_hello gave {got:?}"))?;
        timings.push(format!("run/ {} ms", started.elapsed().as_millis()));

        // `wasmd run` runs it in its own process (only inside Redox: on
        // Linux `schemes/tests/wasi.rs` covers the command).
        if tree.native().is_some() {
            let started = Instant::now();
            let (code, out, err) =
                wasmd(&["run", "--env", "EXIT_CODE=5", &hello, "--", "a", "b c"])?;
            let expected = format!("hello from wasi\nargc=3\narg[0]={hello}\narg[1]=a\narg[2]=b c\nenv EXIT_CODE=5\n");
            check(code == 5 && out == expected, || {
                format!("wasmd run wasi_hello: exit {code}, stdout {out:?}, stderr {err:?}; expected 5, {expected:?}")
            })?;
            timings.push(format!("wasmd run {} ms", started.elapsed().as_millis()));
        }

        let (fs, refused) = files(setup, tree.as_mut())?;
        timings.push(fs);
        timings.push(read_only(setup, tree.as_mut())?);

        // The clocks: the wall clock is after 2020, a 20 ms sleep lasts
        // at least 20 ms; without the `time` capability the clock calls
        // are refused (std panics on that: a trap).
        let started = Instant::now();
        let time = guest(setup, "wasi_time");
        let (ended, log) = spawn_and_wait(tree.as_mut(), &format!("cap=stdio,time {time}"))?;
        check(ended == "exited(0)" && log.contains("ok time"), || format!("wasi_time ended {ended:?}: {log:?}"))?;
        timings.push(format!("time {} ms", started.elapsed().as_millis()));
        let (ended, log) = spawn_and_wait(tree.as_mut(), &format!("cap=stdio {time}"))?;
        check(ended != "exited(0)" && !log.contains("ok time"), || {
            format!("wasi_time without the time capability ended {ended:?}: {log:?}")
        })?;

        // A panic: the message on stderr, then a trap.
        let (ended, log) = spawn_and_wait(tree.as_mut(), &format!("cap=stdio {}", guest(setup, "wasi_panic")))?;
        check(ended.starts_with("trap") && log.contains("wasi_panic: deliberate panic"), || {
            format!("wasi_panic ended {ended:?}: {log:?}")
        })?;

        Ok(format!(
            "args, env and exit(3) through spawn; run/ streamed; {} fs steps ok, {} escapes refused ({refused}); \
             read-only grant refused {} writes; clocks and a 20 ms sleep ok; no time cap: refused; panic: trap; {}",
            FS_STEPS.len(),
            ESCAPES,
            READ_ONLY_REFUSALS.len(),
            timings.join(", ")
        ))
    })()
    .into()
}

/// `wasi_fs DIR` under a read-write `file:` grant of DIR, beside a file
/// and behind symbolic links it must not reach; then the native files.
/// Returns the timing and the errnos the escapes were refused with.
fn files(setup: &Setup, tree: &mut dyn Tree) -> Result<(String, String), String> {
    let base = format!("{}/wasi", setup.scratch.trim_end_matches('/'));
    let root = format!("{base}/root");
    let host = |guest: &str| setup.file_root.join(guest.trim_start_matches('/'));
    let _ = std::fs::remove_dir_all(host(&base));
    std::fs::create_dir_all(host(&root)).map_err(|e| format!("mkdir {}: {e}", host(&root).display()))?;
    std::fs::write(host(&format!("{base}/outside.txt")), "outside\n")
        .map_err(|e| format!("writing outside.txt: {e}"))?;
    // Links planted natively (guests cannot make links): one relative up
    // and out, one absolute to the directory around the grant.
    std::os::unix::fs::symlink("..", host(&format!("{root}/escape_link")))
        .and_then(|()| std::os::unix::fs::symlink(host(&base), host(&format!("{root}/abs_link"))))
        .map_err(|e| format!("planting the links: {e}"))?;
    let started = Instant::now();
    let spec = format!("cap=stdio grant=file:{root}=rw {} {root}", guest(setup, "wasi_fs"));
    let (ended, log) = spawn_and_wait(tree, &spec)?;
    let took = started.elapsed();
    let lines: Vec<&str> = log.lines().collect();
    for step in FS_STEPS {
        let ok = format!("ok {step}");
        check(lines.contains(&ok.as_str()), || format!("wasi_fs: no `{ok}` (ended {ended:?}): {log:?}"))?;
    }
    check(!lines.iter().any(|l| l.starts_with("FAIL")), || format!("wasi_fs: {log:?}"))?;
    let escapes: Vec<&str> = lines.iter().copied().filter(|l| l.starts_with("escape refused: ")).collect();
    check(escapes.len() == ESCAPES, || {
        format!("wasi_fs: {} escapes refused, {ESCAPES} expected: {log:?}", escapes.len())
    })?;
    let mut errnos = Vec::new();
    for line in &escapes {
        let errno = line
            .rsplit_once("(errno ")
            .and_then(|(_, n)| n.trim_end_matches(')').parse::<u32>().ok())
            .ok_or_else(|| format!("wasi_fs: no errno in `{line}`"))?;
        check(ESCAPE_REFUSED.contains(&errno), || format!("wasi_fs: `{line}` is no refusal"))?;
        errnos.push(errno.to_string());
    }
    check(ended == "exited(0)", || format!("wasi_fs ended {ended:?}: {log:?}"))?;
    // What the guest left on the real filesystem, and what it did not.
    let kept =
        std::fs::read_to_string(host(&format!("{root}/kept.txt"))).map_err(|e| format!("kept.txt: {e}"))?;
    check(kept == "written by wasi_fs\n", || format!("kept.txt holds {kept:?}"))?;
    let inside = listing(&host(&root))?;
    check(inside == ["abs_link", "escape_link", "kept.txt"], || format!("the grant holds {inside:?}"))?;
    let around = listing(&host(&base))?;
    check(around == ["outside.txt", "root"], || format!("beside the grant: {around:?}"))?;
    let outside = std::fs::read_to_string(host(&format!("{base}/outside.txt"))).map_err(|e| e.to_string())?;
    check(outside == "outside\n", || format!("outside.txt became {outside:?}"))?;
    Ok((format!("fs {} ms", took.as_millis()), format!("errno {}", errnos.join(","))))
}

/// `wasi_fs DIR --read-only` under a read-only grant: it reads, every
/// write is refused, and the native files are as they were.
fn read_only(setup: &Setup, tree: &mut dyn Tree) -> Result<String, String> {
    let dir = format!("{}/wasi/ro", setup.scratch.trim_end_matches('/'));
    let host = setup.file_root.join(dir.trim_start_matches('/'));
    std::fs::create_dir_all(host.join("keep_dir")).map_err(|e| format!("mkdir {}: {e}", host.display()))?;
    std::fs::write(host.join("readme.txt"), "read me\n").map_err(|e| format!("writing readme.txt: {e}"))?;
    let started = Instant::now();
    let spec = format!("cap=stdio grant=file:{dir}=ro {} {dir} --read-only", guest(setup, "wasi_fs"));
    let (ended, log) = spawn_and_wait(tree, &spec)?;
    let took = started.elapsed();
    let lines: Vec<&str> = log.lines().collect();
    check(lines.contains(&"ok read"), || format!("wasi_fs --read-only: no `ok read`: {log:?}"))?;
    for step in READ_ONLY_REFUSALS {
        let refused = format!("refused {step}: ");
        check(lines.iter().any(|l| l.starts_with(&refused)), || {
            format!("wasi_fs --read-only: `{step}` not refused: {log:?}")
        })?;
    }
    check(ended == "exited(0)", || format!("wasi_fs --read-only ended {ended:?}: {log:?}"))?;
    let readme = std::fs::read_to_string(host.join("readme.txt")).map_err(|e| format!("readme.txt: {e}"))?;
    check(readme == "read me\n", || format!("readme.txt became {readme:?}"))?;
    let names = listing(&host)?;
    check(names == ["keep_dir", "readme.txt"], || format!("the read-only grant holds {names:?}"))?;
    Ok(format!("read-only {} ms", took.as_millis()))
}

/// One wasi-testsuite test's JSON spec, as the suite's runner reads it.
#[derive(Debug, Default)]
struct SuiteSpec {
    /// A directory the runner preopens as `/` (relative to the spec).
    root: Option<String>,
    args: Vec<String>,
    env: Vec<(String, String)>,
    exit_code: i64,
}

fn suite_spec(json: &str) -> Result<SuiteSpec, String> {
    let value: serde_json::Value = serde_json::from_str(json).map_err(|e| format!("bad JSON spec: {e}"))?;
    let strings = |v: &serde_json::Value| -> Vec<String> {
        v.as_array().into_iter().flatten().filter_map(|s| s.as_str().map(str::to_string)).collect()
    };
    Ok(SuiteSpec {
        root: value["root"].as_str().map(str::to_string),
        args: strings(&value["args"]),
        env: value["env"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), str::to_string)))
            .collect(),
        exit_code: value["exit_code"].as_i64().unwrap_or(0),
    })
}

/// A spawn-spec word: quoted when it holds blanks or quotes.
fn word(w: &str) -> String {
    if !w.is_empty() && !w.contains(|c: char| c.is_whitespace() || c == '"' || c == '\\') {
        return w.to_string();
    }
    format!("\"{}\"", w.replace('\\', "\\\\").replace('"', "\\\""))
}

/// How long one suite test may run.
const SUITE_TEST_LIMIT: Duration = Duration::from_secs(120);

/// Waits until `pid` exited, up to `limit` (then kills it): its status.
fn wait_limited(tree: &mut dyn Tree, pid: u32, limit: Duration) -> Result<String, String> {
    let deadline = Instant::now() + limit;
    loop {
        let state = field(&status(tree, pid)?, "state").unwrap_or_default();
        if state.starts_with("exited") {
            return wait(tree, pid);
        }
        if Instant::now() > deadline {
            let _ = kill(tree, pid);
            return Err(format!("still {state} after {} s (killed)", limit.as_secs()));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs one suite test as the suite's runner would: its arguments and
/// environment, the `time` and `random` capabilities; `Ok(None)` when it
/// passed, `Ok(Some(why))` when it failed.
fn suite_test(
    tree: &mut dyn Tree,
    module: &str,
    spec: &SuiteSpec,
    root: Option<&str>,
) -> Result<Option<String>, String> {
    let mut line = String::from("cap=stdio,time,random");
    if let Some(root) = root {
        // The test's own copy of its directory, preopened as `/` as the
        // suite's runner does.
        line.push_str(&format!(
            " {} {}",
            word(&format!("grant=file:{root}=rw")),
            word(&format!("preopen=/=file:{root}"))
        ));
    }
    for (key, value) in &spec.env {
        line.push(' ');
        line.push_str(&word(&format!("env={key}={value}")));
    }
    line.push(' ');
    line.push_str(&word(module));
    for arg in &spec.args {
        line.push(' ');
        line.push_str(&word(arg));
    }
    let pid = tree.spawn(&line)?;
    let ended = wait_limited(tree, pid, SUITE_TEST_LIMIT)?;
    let expected = format!("exited({})", spec.exit_code);
    if ended == expected {
        return Ok(None);
    }
    let log = text(tree.read(&format!("/scheme/wasm/{pid}/log"))?);
    // A Rust test's panic: where, and the message on the next line.
    let lines: Vec<&str> = log.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let why = match lines.iter().position(|l| l.contains("panicked at")) {
        Some(at) => lines[at..lines.len().min(at + 4)].join(" "),
        None => lines.last().copied().unwrap_or("").to_string(),
    };
    Ok(Some(format!("{ended}, expected {expected}: {why}")))
}

/// A fresh copy of the staged directory `staged` for the test `name`:
/// its path as guests see it.
fn fresh_root(setup: &Setup, staged: &std::path::Path, name: &str) -> Result<String, String> {
    let guest = format!("{}/wasi-suite/{name}", setup.scratch.trim_end_matches('/'));
    let host = setup.file_root.join(guest.trim_start_matches('/'));
    let _ = std::fs::remove_dir_all(&host);
    copy_tree(staged, &host)
        .map_err(|e| format!("copying {} to {}: {e}", staged.display(), host.display()))?;
    Ok(guest)
}

/// Copies the directories and regular files under `from` to `to`.
fn copy_tree(from: &std::path::Path, to: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            copy_tree(&entry.path(), &to.join(entry.file_name()))?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name()))?;
        }
    }
    Ok(())
}

/// The wasi-testsuite's tests staged in `setup.wasi_suite`, each run as
/// the suite's runner would; prints `wasi-suite: NAME ok|FAIL (why)` per
/// test and passes with the counts whatever they are.
pub(super) fn wasi_suite(setup: &Setup) -> Outcome {
    let Some(dir) = setup.wasi_suite.as_deref() else {
        return Outcome::Skip("no wasi-testsuite staged (WASMD_SMOKE_WASI_SUITE at image-build time)".into());
    };
    let dir = dir.trim_end_matches('/');
    let host = setup.file_root.join(dir.trim_start_matches('/'));
    let names: Vec<String> = match listing(&host) {
        Ok(names) => names.into_iter().filter_map(|n| n.strip_suffix(".wasm").map(str::to_string)).collect(),
        Err(e) => return Outcome::Pass(format!("informative: {e}")),
    };
    let mut tree = match setup.tree() {
        Ok(t) => t,
        Err(e) => return Outcome::Pass(format!("informative: {e}")),
    };
    let (mut ok, mut failed) = (0, 0);
    let started = Instant::now();
    for name in &names {
        let spec = match std::fs::read_to_string(host.join(format!("{name}.json"))) {
            Ok(json) => suite_spec(&json),
            Err(_) => Ok(SuiteSpec::default()),
        };
        let verdict = match spec {
            Err(e) => Err(e),
            // The runner preopens the spec's directory as `/`, which the
            // tests look for by that name (`root_directory()`): each test
            // gets a fresh copy of it, granted and preopened as `/`.
            Ok(spec) => {
                let t = Instant::now();
                let module = format!("{dir}/{name}.wasm");
                let run = match &spec.root {
                    Some(root) => fresh_root(setup, &host.join(root), name)
                        .and_then(|copy| suite_test(tree.as_mut(), &module, &spec, Some(&copy))),
                    None => suite_test(tree.as_mut(), &module, &spec, None),
                };
                run.map(|r| (r, t.elapsed()))
            }
        };
        match verdict {
            Ok((None, took)) => {
                ok += 1;
                println!("wasi-suite: {name} ok ({} ms)", took.as_millis());
            }
            Ok((Some(why), _)) | Err(why) => {
                failed += 1;
                println!("wasi-suite: {name} FAIL ({why})");
            }
        }
    }
    let count = format!("{ok} ok, {failed} FAIL of {} in {} ms", names.len(), started.elapsed().as_millis());
    println!("wasi-suite: {count}");
    Outcome::Pass(format!("informative: {count}"))
}
