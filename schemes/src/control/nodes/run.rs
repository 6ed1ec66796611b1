//! `run/ABS/PATH.wasm`: opening starts loading the module (answered at
//! once: on Redox an open must never wait); reads wait for the spawn,
//! then stream the process's stdout (an [`OutputStream`]) until it exits,
//! then give EOF. Writes feed its standard input (as `PID/stdin` does;
//! the input ends when a `PID/stdin` is closed or the process ends). A module that fails to load or spawn fails the reads
//! (and `fpath`) with its errno; its reason is the file's `error/ID`.
//!
//! Once spawned, the file's `fpath` is `/scheme/wasm/PID/stdout`: what
//! it streams, and how a client finds the process (for its stderr and
//! its exit status). Closing the file before the process ended kills it
//! (a client that goes away, by Ctrl-C or a closed pipe, takes its guest
//! with it); a load still in flight spawns nothing.

use wasmd_abi::scheme::{mode, Stat};
use wasmhost::Pid;

use super::stream::{OutputStream, Which};
use crate::control::file::{Answer, Context, ControlFile, Failure};
use crate::control::EVENT_WRITE;

#[derive(Debug)]
enum RunState {
    Loading,
    Running(OutputStream),
    Failed(Failure),
}

/// An open `run/` file.
#[derive(Debug)]
pub(crate) struct RunFile {
    state: RunState,
}

impl RunFile {
    /// Starts spawning the module at the absolute path `module` for the
    /// caller.
    pub(crate) fn open(cx: &mut Context<'_>, module: &str) -> RunFile {
        cx.start_load(Vec::new(), format!("/{module}"), None);
        RunFile { state: RunState::Loading }
    }
}

impl ControlFile for RunFile {
    fn stat(&mut self, cx: &mut Context<'_>) -> Answer<Stat> {
        cx.stat(mode::MODE_CHR | 0o644, 0)
    }

    fn read(&mut self, cx: &mut Context<'_>, offset: u64, len: usize) -> Answer<Vec<u8>> {
        match &mut self.state {
            RunState::Loading => Answer::NotReady,
            RunState::Failed(f) => Answer::Ready(Err(f.errno)),
            RunState::Running(stream) => stream.read(cx, offset, len),
        }
    }

    fn write(&mut self, cx: &mut Context<'_>, _offset: u64, data: &[u8]) -> Answer<usize> {
        match &self.state {
            RunState::Loading => Answer::NotReady,
            RunState::Failed(f) => Answer::Ready(Err(f.errno)),
            RunState::Running(stream) => {
                let pipe = cx.lock().process(stream.pid()).and_then(|p| p.stdin.clone());
                super::stdin::feed(pipe.as_ref(), data)
            }
        }
    }

    fn fpath(&mut self, cx: &mut Context<'_>, path: &str) -> Answer<String> {
        match &mut self.state {
            RunState::Loading => Answer::NotReady,
            RunState::Failed(f) => Answer::Ready(Err(f.errno)),
            RunState::Running(stream) => stream.fpath(cx, path),
        }
    }

    fn readiness(&mut self, cx: &mut Context<'_>) -> u32 {
        match &mut self.state {
            RunState::Loading => EVENT_WRITE,
            RunState::Failed(_) => crate::control::EVENT_READ | EVENT_WRITE,
            RunState::Running(stream) => stream.readiness(cx),
        }
    }

    fn loaded(&mut self, spawned: Result<Pid, Failure>) {
        self.state = match spawned {
            Ok(pid) => RunState::Running(OutputStream::new(pid, Which::Stdout)),
            Err(f) => RunState::Failed(f),
        };
    }

    fn reason(&self) -> Option<&str> {
        match &self.state {
            RunState::Failed(f) => Some(&f.reason),
            _ => None,
        }
    }

    fn close(self: Box<Self>, cx: &mut Context<'_>) {
        if let RunState::Running(stream) = &self.state {
            let pid = stream.pid();
            let mut pm = cx.lock();
            if pm.process(pid).is_some_and(|p| !p.is_exited()) {
                log::info!("pid {pid}: its run/ file was closed before it ended: killed");
                let _ = pm.kill(pid);
            }
        }
    }
}
