//! `wasmd daemon` end to end on Linux: the tree's listings, and errors
//! for unknown paths, misuse and a missing daemon.

mod common;

use std::process::Command;

use common::{text, Daemon};
use wasmd::client::ClientError;
use wasmd::sys::linux::protocol::{Reply, Request};
use wasmd_abi::scheme::flags;
use wasmd_tests::guest;

#[test]
fn root_lists_entries_and_live_pids() {
    let d = Daemon::start(&[]);
    let out = d.cli(&["ls", "/scheme/wasm"]);
    assert_eq!(text(&out), "ps\nps.json\nstats\nspawn\nrun/\nshm/\nchan/\nscheme/\nname/\n");
    let pid =
        text(&d.cli(&["spawn", &guest("worker").display().to_string(), "sleep", "5000"])).trim().to_string();
    let listing = text(&d.cli(&["ls", "/scheme/wasm"]));
    assert!(listing.ends_with(&format!("name/\n{pid}/\n")), "{listing}");
    assert_eq!(
        text(&d.cli(&["ls", &format!("/scheme/wasm/{pid}")])),
        "status\nstatus.json\nlog\nstdout\nstderr\nstdin\nwait\nctl\nlinks\nmonitors\n"
    );
}

#[test]
fn errors_for_unknown_paths_and_misuse() {
    let d = Daemon::start(&[]);
    let mut c = d.client();
    for path in ["/scheme/wasm/nope", "/scheme/wasm/999", "/scheme/wasm/1/status", "/scheme/other/x"] {
        assert_eq!(c.open(path, flags::O_RDONLY).map_err(|e| e.errno()), Err(Some(2)), "{path}");
    }
    assert!(matches!(
        c.open("/scheme/wasm/ps", flags::O_RDONLY | flags::O_DIRECTORY),
        Err(ClientError::Errno(20))
    ));
    assert!(matches!(c.open("/scheme/wasm", flags::O_WRONLY), Err(ClientError::Errno(21))));
    let fd = c.open("/scheme/wasm/ps", flags::O_RDONLY).unwrap();
    assert!(matches!(
        c.call(Request::Write { fd, offset: 0, data: b"x".to_vec(), nonblock: false }),
        Err(ClientError::Errno(9))
    ));
    assert!(matches!(
        c.call(Request::Read { fd: fd + 1000, offset: 0, len: 1, nonblock: false }),
        Err(ClientError::Errno(9))
    ));
    match c.call(Request::Fpath { fd }).unwrap() {
        Reply::Path(p) => assert_eq!(p, "/scheme/wasm/ps"),
        other => panic!("{other:?}"),
    }
    match c.call(Request::Fstat { fd }).unwrap() {
        Reply::Stat(s) => {
            assert_eq!(s.mode & wasmd_abi::scheme::mode::MODE_TYPE, wasmd_abi::scheme::mode::MODE_FILE)
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_client_without_a_daemon_says_so() {
    let out = Command::new(env!("CARGO_BIN_EXE_wasmd"))
        .args(["ps", "--socket", "/nonexistent/wasmd.sock"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("cannot reach the daemon at /nonexistent/wasmd.sock"), "{err}");
}
