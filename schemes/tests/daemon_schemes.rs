//! `wasmd daemon` end to end on Linux: guest-implemented schemes
//! (`ramfs`, a key-value store, a provider that traps or answers late)
//! through `/scheme/NAME` and `/scheme/wasm/scheme/NAME`.

mod common;

use std::time::{Duration, Instant};

use common::{text, Daemon};
use wasmd::client::ClientError;
use wasmd::sys::linux::protocol::{Reply, Request};
use wasmd_abi::scheme::flags;
use wasmd_tests::guest;

fn spawn_provider(d: &Daemon, module: &str, name: &str) -> String {
    let path = guest(module).display().to_string();
    let pid = text(&d.cli(&["spawn", "cap=stdio,scheme", &path, name])).trim().to_string();
    assert!(!pid.is_empty());
    // The provider registers on its first time slice.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !text(&d.cli(&["ls", "/scheme/wasm/scheme"])).contains(&format!("{name}/")) {
        assert!(Instant::now() < deadline, "scheme {name} never appeared");
        std::thread::sleep(Duration::from_millis(10));
    }
    pid
}

#[test]
fn a_guest_ramfs_through_the_control_socket() {
    let d = Daemon::start(&[]);
    spawn_provider(&d, "ramfs", "ramfs");
    assert_eq!(text(&d.cli(&["ls", "/scheme/wasm/scheme"])), "ramfs/\n");
    assert_eq!(d.cli(&["write", "/scheme/ramfs/notes.txt", "hello ramfs"]).status.code(), Some(0));
    // Both names reach the same scheme.
    assert_eq!(text(&d.cli(&["cat", "/scheme/wasm/scheme/ramfs/notes.txt"])), "hello ramfs");
    assert_eq!(text(&d.cli(&["cat", "/scheme/ramfs/notes.txt"])), "hello ramfs");
    let mut c = d.client();
    // mkdir through open(O_CREAT | O_DIRECTORY), then a file inside.
    let dir = c.open("/scheme/ramfs/docs", flags::O_RDONLY | flags::O_CREAT | flags::O_DIRECTORY).unwrap();
    c.call(Request::Close { fd: dir }).unwrap();
    c.write_file("/scheme/ramfs/docs/a.md", b"# A").unwrap();
    assert_eq!(text(&d.cli(&["ls", "/scheme/ramfs"])), "docs/\nnotes.txt\n");
    assert_eq!(text(&d.cli(&["ls", "/scheme/ramfs/docs"])), "a.md\n");
    let fd = c.open("/scheme/ramfs/docs/a.md", flags::O_RDONLY).unwrap();
    match c.call(Request::Fstat { fd }).unwrap() {
        Reply::Stat(s) => assert_eq!((s.size, s.mode & 0xF000), (3, wasmd_abi::scheme::mode::MODE_FILE)),
        other => panic!("{other:?}"),
    }
    match c.call(Request::Fpath { fd }).unwrap() {
        Reply::Path(p) => assert_eq!(p, "/scheme/ramfs/docs/a.md"),
        other => panic!("{other:?}"),
    }
    // Positioned reads.
    match c.call(Request::Read { fd, offset: 2, len: 10, nonblock: false }).unwrap() {
        Reply::Data(d) => assert_eq!(d, b"A"),
        other => panic!("{other:?}"),
    }
    // The provider's errors come through: at the open, or — when the
    // provider did not answer within the daemon's open budget (2 ms; a
    // loaded machine), the open succeeds optimistically — at its first use.
    assert_eq!(refusal(&mut c, "/scheme/ramfs/missing", flags::O_RDONLY), 2);
    assert_eq!(refusal(&mut c, "/scheme/ramfs/notes.txt", flags::O_RDONLY | flags::O_DIRECTORY), 20);
}

/// The errno the provider refuses an open of `path` with, seen at the
/// open or at the first read of the file it gave.
fn refusal(c: &mut wasmd::sys::linux::client::Client, path: &str, open_flags: u32) -> i32 {
    let got = match c.open(path, open_flags) {
        Ok(fd) => c.call(Request::Read { fd, offset: 0, len: 1, nonblock: false }).map(|_| ()),
        Err(e) => Err(e),
    };
    match got {
        Err(ClientError::Errno(e)) => e,
        other => panic!("{path} was not refused: {other:?}"),
    }
}

#[test]
fn a_guest_key_value_store() {
    let d = Daemon::start(&[]);
    spawn_provider(&d, "kvstore", "kv");
    for (k, v) in [("colour", "blue"), ("size", "42"), ("empty", "")] {
        assert_eq!(d.cli(&["write", &format!("/scheme/kv/{k}"), v]).status.code(), Some(0));
    }
    assert_eq!(text(&d.cli(&["cat", "/scheme/kv/size"])), "42");
    assert_eq!(text(&d.cli(&["ls", "/scheme/kv"])), "colour\nempty\nsize\n");
    // Overwrite truncates.
    d.cli(&["write", "/scheme/kv/colour", "red"]);
    assert_eq!(text(&d.cli(&["cat", "/scheme/kv/colour"])), "red");
    assert_eq!(d.cli(&["cat", "/scheme/kv/nope"]).status.code(), Some(1));
}

#[test]
fn a_provider_crash_fails_requests_in_flight_with_eio() {
    let d = Daemon::start(&[]);
    let pid = spawn_provider(&d, "faulty_scheme", "faulty");
    let mut hang = d.client();
    let fd = hang.open("/scheme/faulty/hang", flags::O_RDONLY).unwrap();
    // A read the provider never answers, waited for on another thread.
    let mut waiter = d.client();
    let wfd = waiter.open("/scheme/faulty/hang", flags::O_RDONLY).unwrap();
    let pending = std::thread::spawn(move || {
        waiter.call(Request::Read { fd: wfd, offset: 0, len: 10, nonblock: false })
    });
    std::thread::sleep(Duration::from_millis(100));
    assert!(!pending.is_finished(), "the hung read must wait");
    // Another client makes the provider trap.
    let crash = d.cli(&["cat", "/scheme/faulty/crash"]);
    assert_eq!(crash.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&crash.stderr).contains("I/O error"), "{crash:?}");
    // The hung read fails too, and promptly.
    let result = pending.join().unwrap();
    assert!(matches!(result, Err(ClientError::Errno(5))), "{result:?}");
    // The scheme is gone; its files answer EIO; nothing hangs.
    assert!(matches!(
        hang.call(Request::Read { fd, offset: 0, len: 10, nonblock: false }),
        Err(ClientError::Errno(5))
    ));
    assert!(matches!(hang.open("/scheme/faulty/other", flags::O_RDONLY), Err(ClientError::Errno(2))));
    assert!(text(&d.cli(&["status", &pid])).contains("status: trap"), "the provider trapped");
}

#[test]
fn an_open_the_provider_answers_late_still_works() {
    // The provider is suspended, so the open cannot be answered within
    // the open budget: it succeeds optimistically, and the read waits
    // for the provider and then works.
    let d = Daemon::start(&[]);
    let pid = spawn_provider(&d, "kvstore", "kv");
    d.cli(&["write", "/scheme/kv/k", "v"]);
    d.cli(&["write", &format!("/scheme/wasm/{pid}/ctl"), "suspend"]);
    let mut c = d.client();
    let fd = c.open("/scheme/kv/k", flags::O_RDONLY).unwrap();
    let mut c2 = d.client();
    let late = c2.open("/scheme/kv/missing", flags::O_RDONLY).unwrap();
    let reader = std::thread::spawn(move || {
        let ok = c.call(Request::Read { fd, offset: 0, len: 10, nonblock: false });
        let missing = c2.call(Request::Read { fd: late, offset: 0, len: 10, nonblock: false });
        (ok, missing)
    });
    std::thread::sleep(Duration::from_millis(100));
    assert!(!reader.is_finished());
    d.cli(&["write", &format!("/scheme/wasm/{pid}/ctl"), "resume"]);
    let (ok, missing) = reader.join().unwrap();
    assert!(matches!(ok, Ok(Reply::Data(ref v)) if v == b"v"), "{ok:?}");
    assert!(matches!(missing, Err(ClientError::Errno(2))), "the late refusal reaches the read: {missing:?}");
}
