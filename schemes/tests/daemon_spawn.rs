//! `wasmd daemon` end to end on Linux: `run/`, `spawn`, `ps`, a
//! process's `status`, `log`, `wait` and `ctl`, and requests that wait.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{text, Daemon};
use wasmd::client::ClientError;
use wasmd::sys::linux::protocol::Request;
use wasmd_abi::scheme::flags;
use wasmd_tests::guest;

/// The `run/` path of `module`.
fn run_path(module: &Path) -> String {
    format!("/scheme/wasm/run{}", module.display())
}

#[test]
fn run_streams_stdout_until_exit() {
    let d = Daemon::start(&[]);
    let out = d.cli(&["cat", &run_path(&guest("hello"))]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out), "Hello from wasmd! I am pid 1 and my args are []\n");
    // A long stream (400 lines, far more than one read) arrives whole.
    let mut c = d.client();
    let all = c.read_all(&run_path(&guest("chatty"))).unwrap();
    let all = String::from_utf8(all).unwrap();
    assert_eq!(all.lines().count(), 50);
    assert_eq!(all.lines().last(), Some("chatty 49"));
}

#[test]
fn run_of_a_missing_or_bad_module_fails_on_read() {
    let d = Daemon::start(&[]);
    let mut c = d.client();
    // The open succeeds at once (Redox: never defer an open); the read
    // reports the failure.
    let fd = c.open("/scheme/wasm/run/nonexistent/x.wasm", flags::O_RDONLY).unwrap();
    let read = c.call(Request::Read { fd, offset: 0, len: 100, nonblock: false });
    assert!(matches!(read, Err(ClientError::Errno(2))), "{read:?}");
    let out = d.cli(&["cat", "/scheme/wasm/run/etc/hostname"]);
    assert_eq!(out.status.code(), Some(126), "as `wasmd run`: a file that is not a module");
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a valid wasm module"), "{out:?}");
}

#[test]
fn spawn_ps_status_log_wait_ctl() {
    let d = Daemon::start(&[]);
    let worker = guest("worker").display().to_string();
    let out = d.cli(&["spawn", "cap=stdio,time", "fuel=100000000", &worker, "sleep", "200"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let pid: u32 = text(&out).trim().parse().unwrap();
    let ps = text(&d.cli(&["ps"]));
    let line = ps.lines().find(|l| l.split_whitespace().next() == Some(&pid.to_string())).unwrap();
    assert!(line.contains(" worker ") && line.contains(" blocked "), "{ps}");
    let status = text(&d.cli(&["status", &pid.to_string()]));
    assert!(status.contains(&format!("pid: {pid}\n")), "{status}");
    assert!(status.contains("caps: stdio,time\n"), "{status}");
    // wait blocks until the guest exits.
    let t = Instant::now();
    let waited = text(&d.cli(&["cat", &format!("/scheme/wasm/{pid}/wait")]));
    assert_eq!(waited, "exited(0)\n");
    assert!(t.elapsed() >= Duration::from_millis(100), "wait returned before the sleep ended");
    let log = text(&d.cli(&["cat", &format!("/scheme/wasm/{pid}/log")]));
    assert_eq!(log, format!("worker {pid}: slept 200 ms\n"));
    let status = text(&d.cli(&["status", &pid.to_string()]));
    assert!(status.contains("state: exited\n") && status.contains("status: exited(0)\n"), "{status}");

    // ctl: suspend, resume, refuel, kill.
    // It naps first, so it is still there (blocked) when ctl arrives.
    let spin = text(&d.cli(&["spawn", "fuel=1000000", &worker, "nap-spin", "2000"])).trim().to_string();
    let ctl = format!("/scheme/wasm/{spin}/ctl");
    assert_eq!(d.cli(&["write", &ctl, "suspend"]).status.code(), Some(0));
    assert!(text(&d.cli(&["status", &spin])).contains("state: suspended"));
    assert_eq!(d.cli(&["write", &ctl, "refuel 5000000"]).status.code(), Some(0));
    assert_eq!(d.cli(&["write", &ctl, "resume"]).status.code(), Some(0));
    let bad = d.cli(&["write", &ctl, "explode"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown ctl command `explode`"), "{bad:?}");
    assert_eq!(d.cli(&["kill", &spin]).status.code(), Some(0));
    assert_eq!(text(&d.cli(&["cat", &format!("/scheme/wasm/{spin}/wait")])), "killed\n");
    assert_eq!(d.cli(&["kill", &spin]).status.code(), Some(1), "killing a dead process fails");
}

#[test]
fn refuel_extends_a_budget() {
    let d = Daemon::start(&[]);
    let worker = guest("worker").display().to_string();
    // It naps first (burning next to no fuel), so the refuel lands before
    // it starts spinning.
    let pid = text(&d.cli(&["spawn", "fuel=2000000", &worker, "nap-spin", "1000"])).trim().to_string();
    let ctl = format!("/scheme/wasm/{pid}/ctl");
    d.cli(&["write", &ctl, "refuel 3000000"]);
    assert_eq!(text(&d.cli(&["cat", &format!("/scheme/wasm/{pid}/wait")])), "out of fuel\n");
    let status = text(&d.cli(&["status", &pid]));
    let used: u64 = status.lines().find_map(|l| l.strip_prefix("fuel_used: ")).unwrap().parse().unwrap();
    assert!(used > 4_000_000, "refuelled budget was not used: {used}");
}

#[test]
fn bad_spawn_specs_are_einval() {
    let d = Daemon::start(&[]);
    let worker = guest("worker").display().to_string();
    // Refused with EINVAL; the client shows why.
    for (spec, why) in [
        ("", "empty spawn spec"),
        ("fuel=lots /x.wasm", "bad value for `fuel`: `lots`"),
        ("cap=root /x.wasm", "bad value for `cap`: `root`"),
        ("colour=red /x.wasm", "unknown option `colour`"),
        ("\"open", "unterminated quote"),
    ] {
        let out = d.cli(&["spawn", spec]);
        assert_eq!(out.status.code(), Some(1), "{spec}");
        assert!(String::from_utf8_lossy(&out.stderr).contains(why), "{spec}: {out:?}");
    }
    // A relative module reaches the daemon only from another client than
    // `wasmd spawn` (which resolves it against its directory).
    let mut c = d.client();
    let fd = c.open("/scheme/wasm/spawn", flags::O_RDWR).unwrap();
    let relative = c.call(Request::Write { fd, offset: 0, data: b"relative.wasm".to_vec(), nonblock: false });
    assert!(matches!(relative, Err(ClientError::Errno(22))), "{relative:?}");
    c.call(Request::Close { fd }).unwrap();
    let fd = c.open("/scheme/wasm/spawn", flags::O_RDWR).unwrap();
    assert!(matches!(
        c.call(Request::Write { fd, offset: 0, data: b"\xff\xfe".to_vec(), nonblock: false }),
        Err(ClientError::Errno(22))
    ));
    // A well-formed spec naming a missing module fails on the read.
    let missing = d.cli(&["spawn", "/nonexistent.wasm"]);
    assert_eq!(missing.status.code(), Some(1));
    let err = String::from_utf8_lossy(&missing.stderr);
    assert!(err.contains("`/nonexistent.wasm`") && err.contains("No such file"), "{missing:?}");
    // The daemon is unharmed.
    assert_eq!(d.cli(&["spawn", &worker, "exit", "3"]).status.code(), Some(0));
}

#[test]
fn nonblocking_reads_and_cancellation_by_disconnect() {
    let d = Daemon::start(&[]);
    let worker = guest("worker").display().to_string();
    let pid = text(&d.cli(&["spawn", &worker, "sleep", "60000"])).trim().to_string();
    let mut c = d.client();
    let fd = c.open(&format!("/scheme/wasm/{pid}/wait"), flags::O_RDONLY).unwrap();
    assert!(matches!(
        c.call(Request::Read { fd, offset: 0, len: 64, nonblock: true }),
        Err(ClientError::Errno(11))
    ));
    // A blocking read left pending by a client that goes away does not
    // disturb the daemon.
    let mut gone = d.client();
    let fd2 = gone.open(&format!("/scheme/wasm/{pid}/wait"), flags::O_RDONLY).unwrap();
    let mut raw = std::os::unix::net::UnixStream::connect(&d.socket).unwrap();
    use std::io::Write;
    raw.write_all(&wasmd::sys::linux::protocol::frame(&wasmd::sys::linux::protocol::ClientMsg {
        id: 1,
        request: Request::Read { fd: fd2, offset: 0, len: 64, nonblock: false },
    }))
    .unwrap();
    drop(raw);
    drop(gone);
    // Garbage on a connection only drops that connection.
    let mut junk = std::os::unix::net::UnixStream::connect(&d.socket).unwrap();
    junk.write_all(&[0xff, 0xff, 0xff, 0x7f, 1, 2, 3]).unwrap();
    drop(junk);
    assert_eq!(d.cli(&["kill", &pid]).status.code(), Some(0));
    assert_eq!(text(&d.cli(&["cat", &format!("/scheme/wasm/{pid}/wait")])), "killed\n");
}

#[test]
fn status_shows_the_limits() {
    let d = Daemon::start(&[]);
    let worker = guest("worker").display().to_string();
    let spec =
        ["spawn", "fuel=100000000", "mem=64", "handles=32", "region-bytes=65536", &worker, "sleep", "60000"];
    let pid = text(&d.cli(&spec)).trim().to_string();
    let status = text(&d.cli(&["status", &pid]));
    for line in [
        "fuel_limit: 100000000\n",
        "mem_pages_limit: 64\n",
        "handles_limit: 32\n",
        "region_bytes_limit: 65536\n",
    ] {
        assert!(status.contains(line), "`{line}` missing from:\n{status}");
    }
    // Without options: no fuel budget, the daemon's defaults.
    let free = text(&d.cli(&["spawn", &worker, "sleep", "60000"])).trim().to_string();
    let status = text(&d.cli(&["status", &free]));
    let value = |key: &str| -> String {
        let found = status.lines().find_map(|l| l.strip_prefix(key)?.strip_prefix(": "));
        found.unwrap_or_else(|| panic!("no `{key}` in:\n{status}")).to_string()
    };
    assert_eq!(value("fuel_limit"), "none");
    assert_eq!(value("mem_pages_limit"), "4096");
    assert_eq!(value("handles_limit"), "1024");
    assert_eq!(value("region_bytes_limit"), (256u64 << 20).to_string());
    for pid in [pid, free] {
        assert_eq!(d.cli(&["kill", &pid]).status.code(), Some(0));
    }
}
