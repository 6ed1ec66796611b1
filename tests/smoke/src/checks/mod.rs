//! The checks, one function each, in the order [`CHECKS`] runs them.
//! Each starts the guests it needs and stops them again, so it depends on
//! no other check. They are grouped by what they exercise:
//! `control_tree` (the tree's own files, legacy URLs, fairness),
//! `shared_memory` (`shm/`, windows, idle give-back, `chan/`,
//! `fevent`), `guest_schemes`,
//! `guest_io` (guests' files and sockets), `actors` and `reload`
//! (mailboxes, supervisors, hot reload), `users` and `cli` (the
//! `wasmd` command line), `cluster` (another node, when the daemon
//! joined one), `wasi` (WASI preview 1 programs, and the wasi-testsuite
//! when staged); the helpers they share are here.

use std::time::Duration;

use crate::{eventually, Check, Tree};

mod actors;
mod cli;
mod cluster;
mod control_tree;
mod guest_io;
mod guest_schemes;
mod reload;
mod shared_memory;
mod users;
mod wasi;

use actors::actors;
use cli::cli;
use cluster::cluster;
use control_tree::{ctl, fairness, legacy_url, ls, ps, run_close, run_stream, spawn, status_log_wait};
use guest_io::{grant_links, guest_file, guest_tcp, tcp_hang};
use guest_schemes::{guest_scheme, provider_death, scheme_gone};
use reload::reload;
use shared_memory::{chan, fevent, idle_trim, shm, windows};
use users::user_identity;
pub use users::{as_user, USER};
use wasi::{wasi, wasi_suite};

/// Every check, in order.
pub const CHECKS: &[Check] = &[
    Check { name: "ls", limit: secs(60), run: ls },
    Check { name: "ps", limit: secs(60), run: ps },
    Check { name: "spawn", limit: secs(60), run: spawn },
    Check { name: "status-log-wait", limit: secs(60), run: status_log_wait },
    Check { name: "ctl", limit: secs(60), run: ctl },
    Check { name: "run-stream", limit: secs(60), run: run_stream },
    Check { name: "run-close", limit: secs(60), run: run_close },
    Check { name: "shm", limit: secs(60), run: shm },
    Check { name: "windows", limit: secs(60), run: windows },
    Check { name: "idle-trim", limit: secs(60), run: idle_trim },
    Check { name: "chan", limit: secs(60), run: chan },
    Check { name: "fevent", limit: secs(60), run: fevent },
    Check { name: "guest-scheme", limit: secs(300), run: guest_scheme },
    Check { name: "scheme-gone", limit: secs(90), run: scheme_gone },
    Check { name: "provider-death", limit: secs(60), run: provider_death },
    Check { name: "guest-file", limit: secs(60), run: guest_file },
    Check { name: "grant-links", limit: secs(60), run: grant_links },
    Check { name: "guest-tcp", limit: secs(60), run: guest_tcp },
    Check { name: "tcp-hang", limit: secs(60), run: tcp_hang },
    Check { name: "legacy-url", limit: secs(60), run: legacy_url },
    Check { name: "user-identity", limit: secs(60), run: user_identity },
    Check { name: "cli", limit: secs(60), run: cli },
    Check { name: "actors", limit: secs(300), run: actors },
    Check { name: "reload", limit: secs(120), run: reload },
    Check { name: "cluster", limit: secs(300), run: cluster },
    Check { name: "wasi", limit: secs(300), run: wasi },
    Check { name: "wasi-suite", limit: secs(900), run: wasi_suite },
    Check { name: "fairness", limit: secs(180), run: fairness },
];

const fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// How long to wait for something asynchronous (a guest's output, a
/// scheme to appear in the namespace).
const PATIENCE: Duration = Duration::from_secs(30);

fn text(bytes: Vec<u8>) -> String {
    String::from_utf8_lossy(&bytes).into_owned()
}

fn check(ok: bool, why: impl FnOnce() -> String) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(why())
    }
}

/// Entry names without a trailing `/`.
fn names(list: Vec<String>) -> Vec<String> {
    list.into_iter().map(|n| n.trim_end_matches('/').to_string()).collect()
}

fn kill(tree: &mut dyn Tree, pid: u32) -> Result<String, String> {
    tree.write(&format!("/scheme/wasm/{pid}/ctl"), b"kill")?;
    wait(tree, pid)
}

/// The status a process ended with (`PID/wait`).
fn wait(tree: &mut dyn Tree, pid: u32) -> Result<String, String> {
    Ok(text(tree.read(&format!("/scheme/wasm/{pid}/wait"))?).trim().to_string())
}

fn status(tree: &mut dyn Tree, pid: u32) -> Result<String, String> {
    Ok(text(tree.read(&format!("/scheme/wasm/{pid}/status"))?))
}

/// The value of `key: value` in a status.
fn field(status: &str, key: &str) -> Option<String> {
    status.lines().find_map(|l| l.strip_prefix(key)?.strip_prefix(": ").map(str::to_string))
}

/// Waits until the process's log has a line starting with `prefix`;
/// returns that line.
fn log_line(tree: &mut dyn Tree, pid: u32, prefix: &str) -> Result<String, String> {
    line_in(tree, &format!("/scheme/wasm/{pid}/log"), prefix)
}

/// Waits until the file at `path` (a log) has a line starting with
/// `prefix`; returns that line.
fn line_in(tree: &mut dyn Tree, path: &str, prefix: &str) -> Result<String, String> {
    let mut found = None;
    eventually(&format!("a line `{prefix}...` in {path}"), PATIENCE, || {
        found = text(tree.read(path)?).lines().find(|l| l.starts_with(prefix)).map(str::to_string);
        Ok(found.is_some())
    })?;
    Ok(found.unwrap_or_default())
}
