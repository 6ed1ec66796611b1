//! `PID/wait`: a read waits until the process has exited, then gives its
//! status (`exited(0)`, `killed`, …) as one line, positioned.

use wasmd_abi::Errno;

use wasmd_abi::scheme::{mode, Stat};
use wasmhost::Pid;

use crate::control::file::{slice_at, Answer, Context, ControlFile};
use crate::control::{EVENT_READ, EVENT_WRITE};

/// An open `PID/wait` file.
#[derive(Debug)]
pub(crate) struct WaitFile {
    pid: Pid,
}

impl WaitFile {
    /// Waits for `pid`.
    pub(crate) fn new(pid: Pid) -> WaitFile {
        WaitFile { pid }
    }
}

impl ControlFile for WaitFile {
    fn stat(&mut self, cx: &mut Context<'_>) -> Answer<Stat> {
        cx.stat(mode::MODE_CHR | 0o444, 0)
    }

    fn read(&mut self, cx: &mut Context<'_>, offset: u64, len: usize) -> Answer<Vec<u8>> {
        match cx.lock().process(self.pid).map(|p| p.status()) {
            Some(Some(status)) => Answer::Ready(Ok(slice_at(format!("{status}\n").as_bytes(), offset, len))),
            None => Answer::Ready(Err(Errno::NoSuchProcess)),
            Some(None) => Answer::NotReady,
        }
    }

    fn readiness(&mut self, cx: &mut Context<'_>) -> u32 {
        if cx.lock().process(self.pid).is_none_or(|p| p.is_exited()) {
            EVENT_READ | EVENT_WRITE
        } else {
            EVENT_WRITE
        }
    }
}
