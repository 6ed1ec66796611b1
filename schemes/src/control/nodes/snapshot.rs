//! Files whose bytes are taken when they are opened: `ps`, `PID/status`,
//! `PID/log` ([`super::super::render`]), `shm/index` and `error/ID`. Reads are
//! positioned; the size is known.

use wasmd_abi::Errno;

use wasmd_abi::scheme::{mode, Stat};
use wasmhost::Pid;

use crate::control::file::{slice_at, Answer, Context, ControlFile};
use crate::control::render;
use crate::control::report::{self, ProcessSnapshot};

/// A snapshot file.
#[derive(Debug)]
pub(crate) struct Snapshot {
    bytes: Vec<u8>,
}

impl Snapshot {
    /// A file of `bytes`.
    pub(crate) fn of(bytes: Vec<u8>) -> Snapshot {
        Snapshot { bytes }
    }

    /// `ps`: one line per process.
    pub(crate) fn ps(cx: &Context<'_>) -> Snapshot {
        let all = ProcessSnapshot::all(&cx.lock());
        Snapshot { bytes: render::ps(&all) }
    }

    /// `ps.json`: every process as JSON.
    pub(crate) fn ps_json(cx: &Context<'_>) -> Snapshot {
        let all = ProcessSnapshot::all(&cx.lock());
        Snapshot { bytes: report::ps_json(&all) }
    }

    /// `PID/status.json`.
    pub(crate) fn status_json(cx: &Context<'_>, pid: Pid) -> Result<Snapshot, Errno> {
        let process = ProcessSnapshot::of(&cx.lock(), pid).ok_or(Errno::NotFound)?;
        Ok(Snapshot { bytes: report::status_json(&process) })
    }

    /// `PID/status`.
    pub(crate) fn status(cx: &Context<'_>, pid: Pid) -> Result<Snapshot, Errno> {
        render::status(&cx.lock(), pid).map(|bytes| Snapshot { bytes }).ok_or(Errno::NotFound)
    }

    /// `PID/log`: stdout so far, then stderr.
    pub(crate) fn log(cx: &Context<'_>, pid: Pid) -> Result<Snapshot, Errno> {
        render::log(&cx.lock(), pid).map(|bytes| Snapshot { bytes }).ok_or(Errno::NotFound)
    }

    /// `name/NAME`: the pid registered as `name`, a line (`NODE/PID`
    /// for a process of another node of the cluster).
    pub(crate) fn name(cx: &Context<'_>, name: &str) -> Result<Snapshot, Errno> {
        let pm = cx.lock();
        let line = match (pm.whereis(name), pm.whereis_in_cluster(name)) {
            (Some(pid), _) => format!("{pid}\n"),
            (None, Some(there)) => format!("{}/{}\n", there.node, there.pid),
            (None, None) => return Err(Errno::NotFound),
        };
        Ok(Snapshot { bytes: line.into_bytes() })
    }

    /// `PID/links`: the processes linked with `pid`, a pid a line.
    pub(crate) fn links(cx: &Context<'_>, pid: Pid) -> Result<Snapshot, Errno> {
        let pm = cx.lock();
        let proc = pm.process(pid).ok_or(Errno::NotFound)?;
        let lines: String = proc.watches.links.iter().map(|l| format!("{l}\n")).collect();
        Ok(Snapshot { bytes: lines.into_bytes() })
    }

    /// `PID/monitors`: `monitors REF PID` for each monitor `pid` holds,
    /// `monitored-by REF PID` for each monitor of it.
    pub(crate) fn monitors(cx: &Context<'_>, pid: Pid) -> Result<Snapshot, Errno> {
        let pm = cx.lock();
        let proc = pm.process(pid).ok_or(Errno::NotFound)?;
        let held = proc.watches.monitors.iter().map(|(r, p)| format!("monitors {r} {p}\n"));
        let of = proc.watches.watchers.iter().map(|(r, p)| format!("monitored-by {r} {p}\n"));
        Ok(Snapshot { bytes: held.chain(of).collect::<String>().into_bytes() })
    }

    /// `shm/index`: `ID SIZE OS-NAME` per live region the caller may see.
    pub(crate) fn shm_index(cx: &Context<'_>) -> Snapshot {
        let mut out = String::new();
        for r in cx.visible_regions() {
            out.push_str(&format!("{} {} {}\n", r.id(), r.len(), r.os_name()));
        }
        Snapshot { bytes: out.into_bytes() }
    }
}

impl ControlFile for Snapshot {
    fn stat(&mut self, cx: &mut Context<'_>) -> Answer<Stat> {
        cx.stat(mode::MODE_FILE | 0o444, self.bytes.len() as u64)
    }

    fn read(&mut self, _cx: &mut Context<'_>, offset: u64, len: usize) -> Answer<Vec<u8>> {
        Answer::Ready(Ok(slice_at(&self.bytes, offset, len)))
    }
}
