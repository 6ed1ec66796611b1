//! Text the control tree serves: `ps`, `<pid>/status`, `<pid>/log` (the
//! JSON reports and `stats` are in [`super::report`]).

use std::fmt::Write;

use wasmd_abi::RunState;
use wasmhost::{Limits, Pid, ProcessManager};

use super::report::ProcessSnapshot;

pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// `text` safe to print in a table or a `key: value` line: control
/// characters (newlines, terminal escapes) and backslashes are written as
/// escapes, so a guest-chosen name cannot forge rows or drive a terminal.
pub fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\x{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

pub(crate) fn state_name(state: RunState) -> &'static str {
    match state {
        RunState::Ready => "ready",
        RunState::Running => "running",
        RunState::Blocked => "blocked",
        RunState::Suspended => "suspended",
        RunState::Exited => "exited",
    }
}

/// The `ps` table: one line per process after a header. `SUP` is the
/// process's supervisor: its parent when that traps exits and is linked
/// with it (`-` for none).
pub fn ps(all: &[ProcessSnapshot]) -> Vec<u8> {
    let supervisors: std::collections::HashSet<Pid> =
        all.iter().filter(|s| s.traps_exits).map(|s| s.info.pid).collect();
    let mut out = format!(
        "{:>6} {:>6} {:>6} {:<9} {:<20} {:<16} {:>6} {:>14} {:>9} {:>10} {:>7} {:>10} {:>10} {:>10} {:>6}  {}\n",
        "PID",
        "PPID",
        "UID",
        "STATE",
        "MODULE",
        "HASH",
        "PAGES",
        "FUEL",
        "CPU_MS",
        "CALLS",
        "HANDLES",
        "REGION_KB",
        "IN_KB",
        "OUT_KB",
        "SUP",
        "STATUS"
    );
    for s in all {
        let info = &s.info;
        let status = info.status.as_ref().map_or_else(|| "-".to_string(), |s| printable(&s.to_string()));
        let supervised = supervisors.contains(&info.parent) && s.links.contains(&info.parent);
        let sup = if supervised { info.parent.to_string() } else { "-".into() };
        let _ = writeln!(
            out,
            "{:>6} {:>6} {:>6} {:<9} {:<20} {:<16} {:>6} {:>14} {:>9} {:>10} {:>7} {:>10} {:>10} {:>10} {:>6}  {}",
            info.pid,
            info.parent,
            s.uid,
            state_name(info.state),
            printable(&info.name),
            hex(&info.module_hash),
            info.memory_pages,
            info.fuel_used,
            s.activity.cpu_ns / 1_000_000,
            s.activity.hostcalls,
            s.activity.handles,
            s.region_bytes / 1024,
            s.activity.bytes_in / 1024,
            s.activity.bytes_out / 1024,
            sup,
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
    if let Some(p) = pm.process(pid) {
        let _ = writeln!(out, "owner: {}", p.owner);
    }
    let _ = writeln!(out, "state: {}", state_name(info.state));
    let _ = writeln!(out, "module: {}", printable(&info.name));
    let _ = writeln!(out, "hash: {}", hex(&info.module_hash));
    let _ = writeln!(out, "memory_pages: {}", info.memory_pages);
    let _ = writeln!(out, "fuel_used: {}", info.fuel_used);
    match pm.process(pid).and_then(|p| p.fuel_limit()) {
        Some(limit) => writeln!(out, "fuel_limit: {limit}"),
        None => writeln!(out, "fuel_limit: none"),
    }
    .ok();
    if let Some(p) = pm.process(pid) {
        let a = p.activity();
        let _ = writeln!(out, "cpu_ns: {}", a.cpu_ns);
        let _ = writeln!(out, "hostcalls: {}", a.hostcalls);
        let _ = writeln!(out, "bytes_in: {}", a.bytes_in);
        let _ = writeln!(out, "bytes_out: {}", a.bytes_out);
        let _ = writeln!(out, "handles: {}", a.handles);
        let _ = writeln!(out, "region_bytes: {}", p.region_bytes());
        let _ = writeln!(out, "mailbox: {}", p.mailbox_len());
        let _ = writeln!(out, "reloads: {}", p.reloads);
    }
    let _ = writeln!(out, "caps: {}", info.caps);
    if let Some(s) = &info.status {
        let _ = writeln!(out, "status: {}", printable(&s.to_string()));
    }
    if let Some(p) = pm.process(pid) {
        limits(&mut out, &p.limits);
    }
    Some(out.into_bytes())
}

/// The limits a process runs under other than fuel (`fuel_limit`,
/// which `refuel` raises, comes earlier), as `status` lines.
fn limits(out: &mut String, limits: &Limits) {
    let _ = writeln!(out, "mem_pages_limit: {}", limits.max_pages);
    let _ = writeln!(out, "handles_limit: {}", limits.max_handles);
    let _ = writeln!(out, "region_bytes_limit: {}", limits.max_region_bytes);
}

/// The line `<pid>/log` puts between stdout and stderr (only when there
/// is stderr).
pub const LOG_STDERR_SEPARATOR: &str = "--- stderr ---\n";

/// `<pid>/log`: stdout so far, then stderr (after [`LOG_STDERR_SEPARATOR`]).
pub fn log(pm: &ProcessManager, pid: Pid) -> Option<Vec<u8>> {
    let proc = pm.process(pid)?;
    let log = proc.log();
    let mut out = log.stdout.contents();
    let err = log.stderr.contents();
    if !err.is_empty() {
        out.extend_from_slice(LOG_STDERR_SEPARATOR.as_bytes());
        out.extend_from_slice(&err);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::printable;

    #[test]
    fn names_cannot_forge_rows_or_drive_the_terminal() {
        assert_eq!(printable("worker"), "worker");
        assert_eq!(printable("a\n    99      0 ready     fake"), "a\\x{a}    99      0 ready     fake");
        assert_eq!(printable("\u{1b}[2J\r"), "\\x{1b}[2J\\x{d}");
        assert_eq!(printable("back\\slash"), "back\\\\slash");
        assert_eq!(printable("\u{9b}31m"), "\\x{9b}31m");
    }
}
