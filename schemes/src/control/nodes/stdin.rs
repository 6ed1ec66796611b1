//! `PID/stdin`: what is written becomes the process's standard input
//! (as much as fits its pipe; a write that finds the pipe full waits for
//! the process to read); closing the file is the end of the input. A
//! process spawned without a pipe (a `spawn` spec without `stdin=pipe`)
//! takes no input: writes are `Errno::BrokenPipe`. A write of nothing
//! waits until the process wants input (it reads an empty pipe) or the
//! input ended: a client feeding its own stdin asks first, so a guest
//! that never reads leaves the client's input unread.

use std::sync::Arc;

use wasmd_abi::scheme::{mode, Stat};
use wasmd_abi::Errno;
use wasmhost::{Pid, StdinPipe};

use crate::control::file::{Answer, Context, ControlFile};
use crate::control::EVENT_WRITE;

/// An open `PID/stdin` file.
#[derive(Debug)]
pub(crate) struct StdinFile {
    pipe: Option<Arc<StdinPipe>>,
}

impl StdinFile {
    /// The input of `pid`.
    pub(crate) fn open(cx: &Context<'_>, pid: Pid) -> StdinFile {
        StdinFile { pipe: cx.lock().process(pid).and_then(|p| p.stdin.clone()) }
    }
}

/// Feeds `data` to `pipe`: what fit, or not ready when nothing did.
pub(crate) fn feed(pipe: Option<&Arc<StdinPipe>>, data: &[u8]) -> Answer<usize> {
    let Some(pipe) = pipe else { return Answer::Ready(Err(Errno::BrokenPipe)) };
    if data.is_empty() {
        return if pipe.is_closed() {
            Answer::Ready(Err(Errno::BrokenPipe))
        } else if pipe.wanted() {
            Answer::Ready(Ok(0))
        } else {
            Answer::NotReady
        };
    }
    match pipe.feed(data) {
        0 if pipe.is_closed() => Answer::Ready(Err(Errno::BrokenPipe)),
        0 => Answer::NotReady,
        n => Answer::Ready(Ok(n)),
    }
}

impl ControlFile for StdinFile {
    fn stat(&mut self, cx: &mut Context<'_>) -> Answer<Stat> {
        cx.stat(mode::MODE_CHR | 0o222, 0)
    }

    fn write(&mut self, _cx: &mut Context<'_>, _offset: u64, data: &[u8]) -> Answer<usize> {
        feed(self.pipe.as_ref(), data)
    }

    fn readiness(&mut self, _cx: &mut Context<'_>) -> u32 {
        match &self.pipe {
            Some(pipe) if pipe.room() == 0 && !pipe.is_closed() => 0,
            _ => EVENT_WRITE,
        }
    }

    /// Any length, as a no-op: a shell's `>` truncates.
    fn truncate(&mut self, _cx: &mut Context<'_>, _len: u64) -> Answer<()> {
        Answer::Ready(Ok(()))
    }

    fn close(self: Box<Self>, _cx: &mut Context<'_>) {
        if let Some(pipe) = &self.pipe {
            pipe.close();
        }
    }
}
