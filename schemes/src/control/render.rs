//! Text the control tree serves: `ps`, `<pid>/status`, `<pid>/log`.

use std::fmt::Write;

use wasmd_abi::ProcessInfo;
use wasmhost::{Pid, ProcessManager};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn state_name(info: &ProcessInfo) -> &'static str {
    match info.state {
        wasmd_abi::RunState::Ready => "ready",
        wasmd_abi::RunState::Running => "running",
        wasmd_abi::RunState::Blocked => "blocked",
        wasmd_abi::RunState::Suspended => "suspended",
        wasmd_abi::RunState::Exited => "exited",
    }
}

/// The `ps` table: one line per process after a header.
pub fn ps(pm: &ProcessManager) -> Vec<u8> {
    let mut out = format!(
        "{:>6} {:>6} {:<9} {:<20} {:<16} {:>6} {:>14}  {}\n",
        "PID", "PPID", "STATE", "MODULE", "HASH", "PAGES", "FUEL", "STATUS"
    );
    for pid in pm.pids() {
        let Some(info) = pm.info(pid) else { continue };
        let status = info.status.as_ref().map_or_else(|| "-".to_string(), |s| s.to_string());
        let _ = writeln!(
            out,
            "{:>6} {:>6} {:<9} {:<20} {:<16} {:>6} {:>14}  {}",
            info.pid,
            info.parent,
            state_name(&info),
            info.name,
            hex(&info.module_hash),
            info.memory_pages,
            info.fuel_used,
            status
        );
    }
    out.into_bytes()
}

/// `<pid>/status`: `key: value` lines.
pub fn status(pm: &ProcessManager, pid: Pid) -> Option<Vec<u8>> {
    let info = pm.info(pid)?;
    let mut out = String::new();
    let _ = writeln!(out, "pid: {}", info.pid);
    let _ = writeln!(out, "parent: {}", info.parent);
    let _ = writeln!(out, "state: {}", state_name(&info));
    let _ = writeln!(out, "module: {}", info.name);
    let _ = writeln!(out, "hash: {}", hex(&info.module_hash));
    let _ = writeln!(out, "memory_pages: {}", info.memory_pages);
    let _ = writeln!(out, "fuel_used: {}", info.fuel_used);
    match pm.process(pid).and_then(|p| p.fuel_limit()) {
        Some(limit) => writeln!(out, "fuel_limit: {limit}"),
        None => writeln!(out, "fuel_limit: none"),
    }
    .ok();
    let _ = writeln!(out, "caps: {}", info.caps);
    if let Some(s) = &info.status {
        let _ = writeln!(out, "status: {s}");
    }
    Some(out.into_bytes())
}

/// `<pid>/log`: stdout so far, then stderr (after a separator line).
pub fn log(pm: &ProcessManager, pid: Pid) -> Option<Vec<u8>> {
    let log = pm.process(pid)?.log()?;
    let mut out = log.stdout.contents();
    let err = log.stderr.contents();
    if !err.is_empty() {
        out.extend_from_slice(b"--- stderr ---\n");
        out.extend_from_slice(&err);
    }
    Some(out)
}
