//! The client commands of the `wasmd` binary against a real daemon on a
//! private socket: `write` from stdin and from several words, `suspend`,
//! `resume`, `refuel`, `log` and `wait`.

// Only the client commands here: the raw client of `common` is not used.
#[allow(dead_code)]
mod common;

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{text, Daemon};
use wasmd_tests::guest;

/// Runs the client command `args` against `d` with `input` on its stdin.
fn cli_with_stdin(d: &Daemon, args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wasmd"))
        .args(args)
        .env("WASMD_SOCKET", &d.socket)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("client runs");
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let feeder = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap().unwrap();
    out
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Spawns `worker` with `options` before the module and `args` after it;
/// returns its pid.
fn spawn_worker(d: &Daemon, options: &[&str], args: &[&str]) -> String {
    let module = guest("worker").display().to_string();
    let mut all = vec!["spawn"];
    all.extend_from_slice(options);
    all.push(&module);
    all.extend_from_slice(args);
    let out = d.cli(&all);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    text(&out).trim().to_string()
}

/// A line of `wasmd status PID`, e.g. `state`.
fn status_field(d: &Daemon, pid: &str, key: &str) -> String {
    let status = text(&d.cli(&["status", pid]));
    let prefix = format!("{key}: ");
    status
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no `{key}` in:\n{status}"))
        .to_string()
}

/// Starts the ramfs guest as `/scheme/ramfs`.
fn start_ramfs(d: &Daemon) {
    let path = guest("ramfs").display().to_string();
    assert_eq!(d.cli(&["spawn", "cap=stdio,scheme", &path, "ramfs"]).status.code(), Some(0));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !text(&d.cli(&["ls", "/scheme/wasm/scheme"])).contains("ramfs/") {
        assert!(Instant::now() < deadline, "ramfs never registered");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn write_joins_several_words_and_reads_stdin() {
    let d = Daemon::start(&[]);
    start_ramfs(&d);
    let out = d.cli(&["write", "/scheme/ramfs/words", "hello", "there", "world"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(text(&d.cli(&["cat", "/scheme/ramfs/words"])), "hello there world");

    // 1 MB from stdin (no DATA), in one write, read back byte for byte.
    let big: Vec<u8> = (0..1_000_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    let out = cli_with_stdin(&d, &["write", "/scheme/ramfs/big"], &big);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let back = d.cli(&["cat", "/scheme/ramfs/big"]);
    assert_eq!(back.stdout.len(), big.len());
    assert!(back.stdout == big, "the 1 MB file came back different");

    // `-` is stdin too.
    let out = cli_with_stdin(&d, &["write", "/scheme/ramfs/dash", "-"], b"from stdin\n");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(text(&d.cli(&["cat", "/scheme/ramfs/dash"])), "from stdin\n");

    // A ctl command without quoting: `refuel 1000` as two words.
    let pid = spawn_worker(&d, &["fuel=1000000"], &["sleep", "100000"]);
    let out = d.cli(&["write", &format!("/scheme/wasm/{pid}/ctl"), "refuel", "1000"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(status_field(&d, &pid, "fuel_limit"), "1001000");
}

#[test]
fn suspend_resume_and_refuel_a_process() {
    let d = Daemon::start(&[]);
    let pid = spawn_worker(&d, &["fuel=1000000"], &["sleep", "100000"]);
    assert_ne!(status_field(&d, &pid, "state"), "suspended");
    let out = d.cli(&["suspend", &pid]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(status_field(&d, &pid, "state"), "suspended");
    let out = d.cli(&["resume", &pid]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_ne!(status_field(&d, &pid, "state"), "suspended");
    let out = d.cli(&["refuel", &pid, "5000"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(status_field(&d, &pid, "fuel_limit"), "1005000");
    // Refused: a process that is not there, fuel that is not a number.
    let out = d.cli(&["suspend", "999"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).starts_with("wasmd: "), "{}", stderr(&out));
    assert_eq!(d.cli(&["refuel", &pid, "lots"]).status.code(), Some(2));
}

#[test]
fn wait_exits_with_the_status_mapped_as_run_maps_it() {
    let d = Daemon::start(&[]);
    let pid = spawn_worker(&d, &[], &["exit", "7"]);
    let out = d.cli(&["wait", &pid]);
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
    assert_eq!(text(&out), "exited(7)\n");

    let pid = spawn_worker(&d, &[], &["trap"]);
    let out = d.cli(&["wait", &pid]);
    assert_eq!(out.status.code(), Some(134), "{}", stderr(&out));
    assert!(text(&out).starts_with("trap: "), "{}", text(&out));

    let pid = spawn_worker(&d, &[], &["sleep", "100000"]);
    assert_eq!(d.cli(&["kill", &pid]).status.code(), Some(0));
    let out = d.cli(&["wait", &pid]);
    assert_eq!((out.status.code(), text(&out).as_str()), (Some(137), "killed\n"));

    // It blocks until the process ends.
    let started = Instant::now();
    let pid = spawn_worker(&d, &[], &["sleep", "400"]);
    let out = d.cli(&["wait", &pid]);
    assert_eq!((out.status.code(), text(&out).as_str()), (Some(0), "exited(0)\n"));
    assert!(started.elapsed() >= Duration::from_millis(350), "wait returned after {:?}", started.elapsed());

    let out = d.cli(&["wait", "999"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).starts_with("wasmd: "), "{}", stderr(&out));
}

#[test]
fn log_prints_stdout_and_stderr_or_either() {
    let d = Daemon::start(&[]);
    let pid = spawn_worker(&d, &[], &["count", "10"]);
    assert_eq!(d.cli(&["wait", &pid]).status.code(), Some(0));
    let expected = format!("worker {pid}: sum(0..10) = 45\n");
    assert_eq!(text(&d.cli(&["log", &pid])), expected);
    assert_eq!(text(&d.cli(&["log", "--stdout", &pid])), expected);
    assert_eq!(text(&d.cli(&["log", "--stderr", &pid])), "");

    // Unknown mode: the worker complains on stderr and exits 2.
    let pid = spawn_worker(&d, &[], &["bogus"]);
    assert_eq!(d.cli(&["wait", &pid]).status.code(), Some(2));
    let err = text(&d.cli(&["log", "--stderr", &pid]));
    assert!(err.starts_with("worker: unknown mode `bogus`"), "{err}");
    assert_eq!(text(&d.cli(&["log", "--stdout", &pid])), "");
    assert_eq!(text(&d.cli(&["log", &pid])), format!("--- stderr ---\n{err}"));
    assert_eq!(d.cli(&["log", "--stdout", "--stderr", &pid]).status.code(), Some(2));
    assert_eq!(d.cli(&["log", "999"]).status.code(), Some(1));
}
