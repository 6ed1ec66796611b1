//! A guest's standard input through the daemon: what a client writes to
//! its `run/` file or its `PID/stdin` reaches it (a WASI program reading
//! fd 0), closing `PID/stdin` ends the input, and `wasmd cat run/…`
//! passes its own stdin on — so `echo data | wasmd cat …` works.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{text, Daemon};
use wasmd_tests::wasi_guest;

#[test]
fn cat_of_run_passes_its_stdin_to_the_guest() {
    let daemon = Daemon::start(&[]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_wasmd"))
        .args(["cat", &format!("/scheme/wasm/run{}", wasi_guest("wasi_stdin").display())])
        .env("WASMD_SOCKET", &daemon.socket)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("client runs");
    let input = "piped through the daemon\n".repeat(5000);
    let mut stdin = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let o = child.wait_with_output().unwrap();
    feeder.join().unwrap().unwrap();
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let out = text(&o);
    assert!(out.contains(&format!("stdin bytes={}", 25 * 5000)), "{out:.200}");
    assert!(out.contains("PIPED THROUGH THE DAEMON"), "{out:.200}");
}

#[test]
fn pid_stdin_feeds_a_spawned_guest_and_its_close_ends_the_input() {
    let daemon = Daemon::start(&[]);
    let spawned = daemon.cli(&["spawn", "stdin=pipe", wasi_guest("wasi_stdin").to_str().unwrap()]);
    assert!(spawned.status.success(), "{spawned:?}");
    let pid = text(&spawned).trim().to_string();
    let mut client = daemon.client();
    client.write_file(&format!("/scheme/wasm/{pid}/stdin"), b"written to the file\n").unwrap();
    // write_file closes the file: that is the end of the input.
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        let s = text(&daemon.cli(&["status", &pid]));
        if s.contains("status: ") || Instant::now() > deadline {
            break s;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.contains("status: exited(0)"), "{status}");
    let log = text(&daemon.cli(&["log", &pid, "--stdout"]));
    assert!(log.contains("stdin bytes=20") && log.contains("WRITTEN TO THE FILE"), "{log}");
}

#[test]
fn without_a_pipe_stdin_is_empty_and_writes_are_refused() {
    let daemon = Daemon::start(&[]);
    let spawned = daemon.cli(&["spawn", wasi_guest("wasi_stdin").to_str().unwrap()]);
    let pid = text(&spawned).trim().to_string();
    let mut client = daemon.client();
    let refused = client.write_file(&format!("/scheme/wasm/{pid}/stdin"), b"x");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !text(&daemon.cli(&["status", &pid])).contains("status: ") {
        assert!(Instant::now() < deadline, "the guest reads end of file and exits");
        std::thread::sleep(Duration::from_millis(20));
    }
    let log = text(&daemon.cli(&["log", &pid, "--stdout"]));
    assert!(log.contains("stdin bytes=0"), "{log}");
    assert_eq!(refused.unwrap_err().errno(), Some(wasmd_abi::Errno::BrokenPipe.errno()));
}

#[test]
fn a_guest_that_never_reads_leaves_the_callers_input_unread() {
    // As with a native program: a shell loop feeding one guest per line
    // keeps its other lines.
    let daemon = Daemon::start(&[]);
    let hello = wasmd_tests::guest("hello").display().to_string();
    let wasmd = env!("CARGO_BIN_EXE_wasmd");
    for runner in [format!("{wasmd} run {hello}"), format!("{wasmd} cat /scheme/wasm/run{hello}")] {
        let script = format!("{runner} > /dev/null; cat");
        let mut child = Command::new("sh")
            .args(["-c", &script])
            .env("WASMD_SOCKET", &daemon.socket)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("sh runs");
        child.stdin.take().unwrap().write_all(b"line 1\nline 2\n").unwrap();
        let o = child.wait_with_output().unwrap();
        assert_eq!(text(&o), "line 1\nline 2\n", "{runner}: the input after the guest");
    }
}
