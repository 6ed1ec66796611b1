//! Hot reload through the control tree and the CLI: `wasmd reload PID
//! PATH` (a `reload PATH` write to `PID/ctl`) keeps the pid and the
//! scheme the process serves, carries its state, and says why when it
//! cannot (the process runs on as before).

mod common;

use common::{eventually, text, Daemon};
use wasmd_tests::guest;

#[test]
fn wasmd_reload_keeps_the_pid_and_the_scheme_it_serves() {
    let daemon = Daemon::start(&[]);
    let v1 = guest("reload_v1").display().to_string();
    let pid =
        text(&daemon.cli(&["spawn", "cap=stdio,time,scheme,shm", &v1, "serve", "dr"])).trim().to_string();
    eventually("the scheme comes", || text(&daemon.cli(&["cat", "/scheme/dr/x"])).trim() == "v1 n=1 r=7");

    // A relative path is the caller's.
    let dir = guest("reload_v2").parent().unwrap().to_path_buf();
    let o = daemon.cli_in(&dir, &["reload", &pid, "reload_v2.wasm"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(text(&daemon.cli(&["cat", "/scheme/dr/x"])).trim(), "v2 n=2 r=7");
    let status = text(&daemon.cli(&["status", &pid]));
    assert!(status.contains("reloads: 1"), "{status}");
    assert!(status.contains("state: blocked"), "{status}");
    let json = text(&daemon.cli(&["status", "--json", &pid]));
    assert!(json.contains("\"reloads\": 1") || json.contains("\"reloads\":1"), "{json}");

    // Failures name the reason; the old instance serves on.
    let o = daemon.cli(&["reload", &pid, "/no/such/module.wasm"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("/no/such/module.wasm"), "{err}");
    let hello = guest("hello").display().to_string();
    let bad = std::env::temp_dir().join(format!("wasmd-reload-bad-{}.wasm", std::process::id()));
    std::fs::write(&bad, b"\0asm garbage").unwrap();
    let o = daemon.cli(&["reload", &pid, bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a valid wasm module"), "{o:?}");
    std::fs::remove_file(&bad).unwrap();
    assert_eq!(text(&daemon.cli(&["cat", "/scheme/dr/x"])).trim(), "v2 n=3 r=7");

    // To a module that carries no state: a fresh start with the same
    // scheme and region. (hello has no state either, and ends at once.)
    let o = daemon.cli(&["reload", &pid, &guest("reload_plain").display().to_string()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(text(&daemon.cli(&["cat", "/scheme/dr/x"])).trim(), "v3 n=1 r=7");
    let o = daemon.cli(&["reload", &pid, &hello]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    eventually("hello ends", || text(&daemon.cli(&["status", &pid])).contains("status: exited(0)"));
    // An ended process cannot be reloaded.
    let o = daemon.cli(&["reload", &pid, &v1]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("has already ended"), "{o:?}");
}

#[test]
fn a_reload_while_blocked_waits_or_is_refused_with_no_wait() {
    let daemon = Daemon::start(&[]);
    let v1 = guest("reload_v1").display().to_string();
    let v2 = guest("reload_v2").display().to_string();
    let pid =
        text(&daemon.cli(&["spawn", "cap=stdio,time", &v1, "sleep-then-receive", "1500"])).trim().to_string();
    eventually("it sleeps", || text(&daemon.cli(&["status", &pid])).contains("state: blocked"));
    let o = daemon.cli(&["reload", "--no-wait", &pid, &v2]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("parked in sleep"), "{err}");
    // Waiting: returns once the sleep is over and the new module runs.
    let o = daemon.cli(&["reload", &pid, &v2]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(text(&daemon.cli(&["log", "--stdout", &pid])).starts_with("v1 awake\n"));
    assert!(text(&daemon.cli(&["status", &pid])).contains("reloads: 1"));
    assert!(daemon.cli(&["kill", &pid]).status.success());
}
