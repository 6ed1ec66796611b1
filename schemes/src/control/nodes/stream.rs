//! `PID/stdout` and `PID/stderr`: a process's output stream, read from
//! the file's own cursor (from the start of what the log still holds);
//! a read waits while nothing new was written and the process runs, and
//! gives EOF once it has exited and everything was read. The `run/`
//! files stream stdout through the same type.

use wasmd_abi::scheme::{mode, Stat};
use wasmhost::{LogRing, Pid, ProcessLog};

use crate::control::file::{Answer, Context, ControlFile};
use crate::control::{EVENT_READ, EVENT_WRITE};

/// Which output stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Which {
    Stdout,
    Stderr,
}

impl Which {
    /// This stream of a process's log.
    fn of(self, log: &ProcessLog) -> &LogRing {
        match self {
            Which::Stdout => &log.stdout,
            Which::Stderr => &log.stderr,
        }
    }

    /// Its file name under `PID/`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Which::Stdout => "stdout",
            Which::Stderr => "stderr",
        }
    }
}

/// An open output stream of a process.
#[derive(Debug)]
pub(crate) struct OutputStream {
    pid: Pid,
    which: Which,
    cursor: u64,
}

impl OutputStream {
    /// `which` of `pid`, from the start.
    pub(crate) fn new(pid: Pid, which: Which) -> OutputStream {
        OutputStream { pid, which, cursor: 0 }
    }

    /// The process it streams.
    pub(crate) fn pid(&self) -> Pid {
        self.pid
    }
}

impl ControlFile for OutputStream {
    fn stat(&mut self, cx: &mut Context<'_>) -> Answer<Stat> {
        cx.stat(mode::MODE_CHR | 0o444, 0)
    }

    fn read(&mut self, cx: &mut Context<'_>, _offset: u64, len: usize) -> Answer<Vec<u8>> {
        let pm = cx.lock();
        let Some(proc) = pm.process(self.pid) else { return Answer::Ready(Ok(Vec::new())) };
        let exited = proc.is_exited();
        let log = proc.log();
        let read = self.which.of(&log).read_from(self.cursor, len);
        if read.bytes.is_empty() && !exited {
            return Answer::NotReady;
        }
        self.cursor = read.next;
        Answer::Ready(Ok(read.bytes))
    }

    fn fpath(&mut self, _cx: &mut Context<'_>, _path: &str) -> Answer<String> {
        Answer::Ready(Ok(format!("/scheme/wasm/{}/{}", self.pid, self.which.name())))
    }

    fn readiness(&mut self, cx: &mut Context<'_>) -> u32 {
        let pm = cx.lock();
        let readable = pm
            .process(self.pid)
            .is_none_or(|p| p.is_exited() || self.which.of(&p.log()).total() > self.cursor);
        if readable {
            EVENT_READ | EVENT_WRITE
        } else {
            EVENT_WRITE
        }
    }
}
