//! The `wasmd` command line, run as a real process: `run` with every
//! kind of ending, its flags, `--help`, and every bad-input case.

use std::path::Path;
use std::process::{Command, Output};

use wasmd_tests::{guest, wat};

fn wasmd(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wasmd")).args(args).output().expect("wasmd runs")
}

fn run(module: &Path, extra: &[&str], args: &[&str]) -> Output {
    let mut all = vec!["run"];
    all.extend_from_slice(extra);
    let module = module.to_str().unwrap();
    all.push(module);
    if !args.is_empty() {
        all.push("--");
        all.extend_from_slice(args);
    }
    wasmd(&all)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A module that cannot be read: exit 127 and one line naming the problem.
fn assert_unreadable(o: &Output, needle: &str) {
    assert_bad_input(o, 127, needle);
}

/// A module that cannot run: exit 126 and one line naming the problem.
fn assert_cannot_run(o: &Output, needle: &str) {
    assert_bad_input(o, 126, needle);
}

/// Bad input: exit `code` and exactly one line on stderr naming the problem.
fn assert_bad_input(o: &Output, code: i32, needle: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(code), "stderr: {err}");
    assert_eq!(err.lines().count(), 1, "not one line: {err}");
    assert!(err.starts_with("wasmd: "), "{err}");
    assert!(err.contains(needle), "`{needle}` not in: {err}");
    assert!(!err.contains("panicked") && !err.contains("backtrace"), "{err}");
}

#[test]
fn runs_a_rust_guest_with_arguments() {
    let o = run(&guest("hello"), &[], &["one", "two"]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(stdout(&o), "Hello from wasmd! I am pid 1 and my args are [\"one\", \"two\"]\n");
}

#[test]
fn runs_wat_text() {
    let o = run(&wat("hello"), &[], &[]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(stdout(&o), "hello from wat\n");
}

#[test]
fn exit_code_is_the_guests() {
    let o = run(&guest("worker"), &[], &["exit", "7"]);
    assert_eq!(o.status.code(), Some(7));
    assert_eq!(stderr(&o), "");
}

#[test]
fn a_trap_exits_134_with_the_message() {
    let o = run(&wat("unreachable"), &[], &[]);
    assert_eq!(o.status.code(), Some(134));
    assert!(stderr(&o).starts_with("trap: "), "{}", stderr(&o));
    assert!(stderr(&o).contains("unreachable"), "{}", stderr(&o));
}

#[test]
fn a_panic_prints_its_message_and_exits_101() {
    let o = run(&guest("panicker"), &[], &[]);
    assert_eq!(o.status.code(), Some(101));
    assert_eq!(stdout(&o), "about to panic\n");
    let err = stderr(&o);
    assert!(err.starts_with("panicked at "), "{err}");
    assert!(err.contains("index 7 is out of range"), "{err}");
}

#[test]
fn fuel_budget_exhausted_exits_137() {
    let o = run(&wat("loop"), &["--fuel", "1000000"], &[]);
    assert_eq!(o.status.code(), Some(137));
    assert_eq!(stderr(&o).trim(), "out of fuel");
}

#[test]
fn memory_limit_exits_137() {
    let o = run(&wat("grow_bomb"), &["--mem-pages", "16"], &[]);
    assert_eq!(o.status.code(), Some(137));
    assert_eq!(stderr(&o).trim(), "memory limit");
}

#[test]
fn caps_flag_restricts_the_guest() {
    let o = run(&guest("probe"), &["--cap", "stdio"], &[]);
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    assert!(out.contains("has_stdio=true\n"), "{out}");
    assert!(out.contains("has_time=false\n"), "{out}");
    assert!(out.contains("sleep=err:1\n"), "{out}");
    assert!(out.contains("random=err:1\n"), "{out}");
    let o = run(&guest("probe"), &["--cap", "all"], &[]);
    let out = stdout(&o);
    assert!(out.contains("random_differs=true\n"), "{out}");
    assert!(out.contains("slept_at_least_20ms=true\n"), "{out}");
}

#[test]
fn unknown_capability_is_a_usage_error() {
    let o = run(&wat("hello"), &["--cap", "root"], &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("unknown capability `root`"), "{}", stderr(&o));
}

#[test]
fn the_demo_tree_runs() {
    let o = run(&guest("demo"), &["--cap", "all", "--grant", "ramfs:", "--grant", "counter:"], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    for expected in [
        "(sums numbers) -> exited(0)",
        "(exits with 7) -> exited(7)",
        "(hits `unreachable`) -> trap: ",
        "(spins on a fuel budget) -> out of fuel",
        "(allocates past 32 pages) -> memory limit",
        "(panics) -> exited(101)",
        "(sleeps 30 ms) -> exited(0)",
        "(spawns a worker of its own, which sleeps 30 ms) -> exited(0)",
        "(sleep 30) -> exited(0)",
        "(was killed) -> killed",
        "all children reaped",
        "demo: pipeline: 1000 frames from writer 1, sum of squares = 333833500",
        "demo: pipeline: produce -> exited(0), square -> exited(0)",
        "serves ramfs:, a RAM filesystem written in wasm",
        "demo: scheme: ramfs:/notes/hello.txt (19 bytes): hello from the demo",
        "demo: scheme: ramfs:/notes/squares.txt (9 bytes): 333833500",
        "demo: scheme: provider -> killed",
        "demo: scheme: after the provider is gone, ramfs: paths fail",
        "demo: supervision: pid 1 supervises `steady`",
        "demo: supervision: shut down in reverse order; children now [(\"steady\", None, Permanent), (\"flaky\", None, Permanent)]",
        "a visit reads `counter v1: visit 1`",
        "demo: reload: a second visit reads `counter v1: visit 2`",
        "now runs counter_v2.wasm; a visit reads `counter v2: visit 3`",
        "counter v2: reloaded, 2 visits so far, still serving counter:",
        "demo: bye",
    ] {
        assert!(out.contains(expected), "`{expected}` missing from:\n{out}");
    }
    // The flaky worker came back three times; its sibling never moved.
    let restarts: Vec<&str> = out.lines().filter(|l| l.contains("restarted as pid")).collect();
    assert_eq!(restarts.len(), 3, "{out}");
    let steady = |l: &str| l.rsplit(' ').next().map(str::to_string);
    assert!(restarts.iter().all(|l| steady(l) == steady(restarts[0])), "{restarts:?}");
    // The demo's times are counted from each child's spawn: a child that
    // sleeps 30 ms (itself or in a child of its own) is reaped no sooner.
    let reaped_ms = |what: &str| -> u64 {
        let line = out.lines().find(|l| l.contains(what)).unwrap_or_else(|| panic!("no `{what}` in:\n{out}"));
        let ms = line.split("[reaped ").nth(1).and_then(|rest| rest.split(" ms after its spawn]").next());
        ms.and_then(|ms| ms.parse().ok()).unwrap_or_else(|| panic!("no reap time in `{line}`"))
    };
    assert!(reaped_ms("(sleeps 30 ms) ->") >= 30, "{out}");
    assert!(reaped_ms("(spawns a worker of its own, which sleeps 30 ms) ->") >= 30, "{out}");
    // The tree is a tree: the grandchild is the middle worker's, not the demo's.
    let middle = out
        .lines()
        .find_map(|l| {
            l.strip_prefix("demo: pid ")?.strip_suffix(" spawns a worker of its own, which sleeps 30 ms")
        })
        .unwrap_or_else(|| panic!("{out}"));
    assert!(out.contains(&format!("worker {middle}: my child pid ")), "{out}");
}

#[test]
fn missing_file() {
    assert_unreadable(&wasmd(&["run", "/nonexistent/x.wasm"]), "cannot read `/nonexistent/x.wasm`");
}

#[test]
fn not_wasm() {
    let dir = std::env::temp_dir().join(format!("wasmd-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let text = dir.join("notes.wasm");
    std::fs::write(&text, "these are not the bytes you are looking for\n").unwrap();
    assert_cannot_run(&wasmd(&["run", text.to_str().unwrap()]), "no wasm header, and not WAT text either");
    let bytes = std::fs::read(guest("hello")).unwrap();
    let truncated = dir.join("truncated.wasm");
    std::fs::write(&truncated, &bytes[..bytes.len() / 3]).unwrap();
    assert_cannot_run(&wasmd(&["run", truncated.to_str().unwrap()]), "not a valid wasm module");
    let empty = dir.join("empty.wasm");
    std::fs::write(&empty, b"").unwrap();
    assert_cannot_run(&wasmd(&["run", empty.to_str().unwrap()]), "not a valid wasm module");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn wat_that_does_not_validate_is_not_called_unparsable() {
    let o = run(&wat("invalid"), &[], &[]);
    assert_cannot_run(&o, "the WAT text parses, but the module is invalid: type mismatch");
    assert!(!stderr(&o).contains("not WAT text"), "{}", stderr(&o));
}

#[test]
fn unknown_import() {
    assert_cannot_run(&run(&wat("unknown_import"), &[], &[]), "unknown function `wasmd::format_disk`");
}

#[test]
fn wrong_import_type_and_missing_entry() {
    assert_cannot_run(
        &run(&wat("bad_signature"), &[], &[]),
        "import `wasmd::write`: expected (param i32 i32 i32) (result i64), the module declares (param i32) (result i32)",
    );
    assert_cannot_run(&run(&wat("no_entry"), &[], &[]), "`_start`");
}

#[test]
fn help_documents_everything() {
    let o = wasmd(&["--help"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("run"), "{}", stdout(&o));
    let o = wasmd(&["run", "--help"]);
    let help = stdout(&o);
    for needle in [
        "--fuel",
        "--mem-pages",
        "--cap",
        "--max-handles",
        "134",
        "137",
        "out of fuel",
        "memory limit",
        "spawn",
        "stdio",
    ] {
        assert!(help.contains(needle), "`{needle}` missing from run --help:\n{help}");
    }
}
