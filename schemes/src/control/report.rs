//! The tree's machine-readable reports: `ps.json`, `PID/status.json` and
//! the daemon-wide `stats`.
//!
//! A process is one JSON object ([`ProcessReport`]); `ps.json` is an
//! array of them in pid order, `PID/status.json` one. The fields (all
//! always present; `null` where noted):
//!
//! | field | type | meaning |
//! |---|---|---|
//! | `pid`, `parent` | number | its pid; its parent's (0: none) |
//! | `uid`, `gid` | number | the user it acts for |
//! | `state` | string | `ready`, `running`, `blocked`, `suspended` or `exited` |
//! | `name` | string | its name (as the guest or spawner chose it) |
//! | `module_hash` | string | the first 8 bytes of its module's SHA-256, hex |
//! | `caps` | string | its capabilities, comma-separated |
//! | `memory_pages` | number | 64 KiB pages of linear memory now (at exit when exited) |
//! | `fuel_used` | number | fuel spent |
//! | `fuel_limit` | number or null | its fuel budget (null: none) |
//! | `cpu_ns` | number | time spent running its turns |
//! | `hostcalls` | number | hostcalls made |
//! | `bytes_in`, `bytes_out` | number | bytes read from files and sockets; written to stdout, stderr, files and sockets (a scheme provider: its requests taken, its replies given) |
//! | `handles` | number | handles held |
//! | `region_bytes` | number | bytes of shared-memory regions held (pending shares included) |
//! | `mailbox` | number | messages and notices queued in its mailbox |
//! | `mem_pages_limit`, `handles_limit`, `region_bytes_limit` | number | its limits (the spec's `mem=`, `handles=`, `region-bytes=`) |
//! | `links` | array of numbers | the processes linked with it |
//! | `traps_exits` | bool | it traps exits (a supervisor does) |
//! | `reloads` | number | times its module was replaced by a hot reload (`reload` to `PID/ctl`) |
//! | `names` | array of strings | the names it is registered under |
//! | `status` | string or null | how it ended (`exited(0)`, `trap: …`, `killed`, `out of fuel`, `memory limit`), null while live |
//! | `exit_code` | number or null | the shell code of `status` (as `wasmd run` exits), null while live |
//!
//! Counters are as of the process's last accounting: a running process's
//! are at most one syscall or time slice old.

use serde::Serialize;
use std::fmt::Write;

use wasmd_abi::ProcessInfo;
use wasmhost::{Activity, Pid, ProcessManager};

/// One process, as the JSON reports give it (see the module docs).
#[derive(Debug, Serialize)]
pub struct ProcessReport {
    pub pid: Pid,
    pub parent: Pid,
    pub uid: u32,
    pub gid: u32,
    pub state: &'static str,
    pub name: String,
    pub module_hash: String,
    pub caps: String,
    pub memory_pages: u32,
    pub fuel_used: u64,
    pub fuel_limit: Option<u64>,
    pub cpu_ns: u64,
    pub hostcalls: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub handles: u32,
    pub region_bytes: u64,
    pub mailbox: usize,
    pub mem_pages_limit: u32,
    pub handles_limit: u32,
    pub region_bytes_limit: u64,
    pub links: Vec<Pid>,
    pub traps_exits: bool,
    pub reloads: u32,
    pub names: Vec<String>,
    pub status: Option<String>,
    pub exit_code: Option<u8>,
}

/// One process's figures, copied while the manager is locked: the `ps`
/// table and the JSON reports are made from it after the lock is
/// released (formatting a hundred rows under it held up every scheduler
/// thread at its next slice).
#[derive(Debug, Clone)]
pub struct ProcessSnapshot {
    pub info: ProcessInfo,
    pub uid: u32,
    pub gid: u32,
    pub fuel_limit: Option<u64>,
    pub activity: Activity,
    pub region_bytes: u64,
    pub limits: wasmhost::Limits,
    pub mailbox: usize,
    pub links: Vec<Pid>,
    pub traps_exits: bool,
    pub reloads: u32,
    pub names: Vec<String>,
}

impl ProcessSnapshot {
    /// `pid`'s figures, if the manager knows it.
    pub fn of(pm: &ProcessManager, pid: Pid) -> Option<ProcessSnapshot> {
        let proc = pm.process(pid)?;
        Some(ProcessSnapshot {
            info: pm.info(pid)?,
            uid: proc.owner.uid,
            gid: proc.owner.gid,
            fuel_limit: proc.fuel_limit(),
            activity: proc.activity(),
            region_bytes: proc.region_bytes(),
            limits: proc.limits,
            mailbox: proc.mailbox_len(),
            links: proc.watches.links.clone(),
            traps_exits: proc.traps_exits(),
            reloads: proc.reloads,
            names: proc.names.clone(),
        })
    }

    /// Every process's figures, in pid order.
    pub fn all(pm: &ProcessManager) -> Vec<ProcessSnapshot> {
        pm.pids().into_iter().filter_map(|pid| ProcessSnapshot::of(pm, pid)).collect()
    }
}

impl From<&ProcessSnapshot> for ProcessReport {
    fn from(s: &ProcessSnapshot) -> ProcessReport {
        let info = &s.info;
        ProcessReport {
            pid: info.pid,
            parent: info.parent,
            uid: s.uid,
            gid: s.gid,
            state: super::render::state_name(info.state),
            name: info.name.clone(),
            module_hash: super::render::hex(&info.module_hash),
            caps: info.caps.to_string(),
            memory_pages: info.memory_pages,
            fuel_used: info.fuel_used,
            fuel_limit: s.fuel_limit,
            cpu_ns: s.activity.cpu_ns,
            hostcalls: s.activity.hostcalls,
            bytes_in: s.activity.bytes_in,
            bytes_out: s.activity.bytes_out,
            handles: s.activity.handles,
            region_bytes: s.region_bytes,
            mailbox: s.mailbox,
            mem_pages_limit: s.limits.max_pages,
            handles_limit: s.limits.max_handles,
            region_bytes_limit: s.limits.max_region_bytes,
            links: s.links.clone(),
            traps_exits: s.traps_exits,
            reloads: s.reloads,
            names: s.names.clone(),
            status: info.status.as_ref().map(ToString::to_string),
            exit_code: info.status.as_ref().map(wasmd_abi::ExitStatus::shell_code),
        }
    }
}

/// `ps.json`: every process, in pid order.
pub fn ps_json(all: &[ProcessSnapshot]) -> Vec<u8> {
    let reports: Vec<ProcessReport> = all.iter().map(ProcessReport::from).collect();
    json_line(&reports)
}

/// `PID/status.json`.
pub fn status_json(process: &ProcessSnapshot) -> Vec<u8> {
    json_line(&ProcessReport::from(process))
}

/// `value` as JSON and a newline.
fn json_line(value: &impl Serialize) -> Vec<u8> {
    // Serializing plain structs of numbers and strings cannot fail.
    let mut out = serde_json::to_vec(value).unwrap_or_default();
    out.push(b'\n');
    out
}

/// The daemon as a whole, for `stats`.
#[derive(Debug, Default)]
pub struct DaemonStats {
    /// Files of the tree open now.
    pub open_files: usize,
    /// Requests waiting for an answer.
    pub pending_requests: usize,
    /// Turns run by each scheduler thread.
    pub turns: Vec<u64>,
    /// Processes a scheduler thread took from another's queue.
    pub steals: u64,
}

/// `stats`: the daemon's counters as `key: value` lines.
pub fn stats(pm: &ProcessManager, daemon: &DaemonStats) -> Vec<u8> {
    let pids = pm.pids();
    let exited = pids.iter().filter(|p| pm.process(**p).is_some_and(|p| p.is_exited())).count();
    let (regions, region_bytes) = pm.regions_in_use();
    let (mut cpu_ns, mut hostcalls, mut bytes_in, mut bytes_out) = (0u64, 0u64, 0u64, 0u64);
    for pid in &pids {
        if let Some(a) = pm.process(*pid).map(wasmhost::Process::activity) {
            cpu_ns += a.cpu_ns;
            hostcalls += a.hostcalls;
            bytes_in += a.bytes_in;
            bytes_out += a.bytes_out;
        }
    }
    let mut out = String::new();
    let _ = writeln!(out, "processes_live: {}", pm.live());
    let _ = writeln!(out, "processes_exited_kept: {exited}");
    let _ = writeln!(out, "processes_queued: {}", pm.queued());
    let _ = writeln!(out, "scheduler_threads: {}", daemon.turns.len());
    let turns: Vec<String> = daemon.turns.iter().map(u64::to_string).collect();
    let _ = writeln!(out, "turns_per_thread: {}", turns.join(" "));
    let _ = writeln!(out, "steals: {}", daemon.steals);
    let _ = writeln!(out, "regions: {regions}");
    let _ = writeln!(out, "region_bytes: {region_bytes}");
    if let Some(arena) = pm.arena_stats() {
        let _ = writeln!(out, "memory_slots: {}", arena.slots);
        let _ = writeln!(out, "memory_slots_free: {}", arena.free);
        let _ = writeln!(out, "memory_reserved_bytes: {}", arena.reserved);
        let _ = writeln!(out, "memory_given_back_bytes: {}", arena.given_back);
    }
    let _ = writeln!(out, "futex_waiters: {}", pm.futex_waiters());
    let _ = writeln!(out, "futex_watches: {}", pm.futex_watches());
    let _ = writeln!(out, "guest_schemes: {}", pm.scheme_names().len());
    let _ = writeln!(out, "stand_ins: {}", pm.stand_ins());
    let _ = writeln!(out, "messages_dropped_from_nodes: {}", pm.remote_messages_dropped());
    let _ = writeln!(out, "open_files: {}", daemon.open_files);
    let _ = writeln!(out, "pending_requests: {}", daemon.pending_requests);
    let _ = writeln!(out, "cpu_ns_kept_processes: {cpu_ns}");
    let _ = writeln!(out, "hostcalls_kept_processes: {hostcalls}");
    let _ = writeln!(out, "bytes_in_kept_processes: {bytes_in}");
    let _ = writeln!(out, "bytes_out_kept_processes: {bytes_out}");
    out.into_bytes()
}
