//! `run/ABS/PATH.wasm`: opening starts loading the module (answered at
//! once: on Redox an open must never wait); reads wait for the spawn,
//! then stream the process's stdout from the file's own cursor until it
//! exits, then give EOF. A module that fails to load or spawn fails the
//! reads with its error.

use wasmd_abi::Errno;

use wasmd_abi::scheme::{mode, Stat};
use wasmhost::Pid;

use crate::control::file::{Answer, Context, ControlFile};
use crate::control::{EVENT_READ, EVENT_WRITE};

#[derive(Debug)]
enum RunState {
    Loading,
    Running { pid: Pid, cursor: u64 },
    Failed(Errno),
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
        cx.stat(mode::MODE_CHR | 0o444, 0)
    }

    fn read(&mut self, cx: &mut Context<'_>, _offset: u64, len: usize) -> Answer<Vec<u8>> {
        match &mut self.state {
            RunState::Loading => Answer::NotReady,
            RunState::Failed(e) => Answer::Ready(Err(*e)),
            RunState::Running { pid, cursor } => {
                let pm = cx.lock();
                let Some(proc) = pm.process(*pid) else { return Answer::Ready(Ok(Vec::new())) };
                let exited = proc.is_exited();
                let read = proc.log().stdout.read_from(*cursor, len);
                if read.bytes.is_empty() && !exited {
                    return Answer::NotReady;
                }
                *cursor = read.next;
                Answer::Ready(Ok(read.bytes))
            }
        }
    }

    fn readiness(&mut self, cx: &mut Context<'_>) -> u32 {
        let readable = match &self.state {
            RunState::Loading => false,
            RunState::Failed(_) => true,
            RunState::Running { pid, cursor } => {
                cx.lock().process(*pid).is_none_or(|p| p.is_exited() || p.log().stdout.total() > *cursor)
            }
        };
        if readable {
            EVENT_READ | EVENT_WRITE
        } else {
            EVENT_WRITE
        }
    }

    fn loaded(&mut self, spawned: Result<Pid, Errno>) {
        self.state = match spawned {
            Ok(pid) => RunState::Running { pid, cursor: 0 },
            Err(e) => RunState::Failed(e),
        };
    }
}
