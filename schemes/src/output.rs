//! Guest output to the terminal (`wasmd run`).

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

use wasmd_abi::hostcall::STDOUT;
use wasmhost::{OutputSink, Pid};

/// Streams every guest's stdout and stderr to wasmd's own. When wasmd's
/// stdout is a pipe whose reader went away (`wasmd run … | head -1`), it
/// notes it ([`TerminalOutput::closed`]) so the run ends; other write
/// errors are ignored (a full terminal must not stop the guests).
#[derive(Debug, Default)]
pub struct TerminalOutput {
    closed: AtomicBool,
}

impl TerminalOutput {
    /// True once a write to stdout found its reader gone (or the OS said
    /// so: see [`TerminalOutput::watch`]).
    pub fn closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }

    /// Also notes a closed stdout while nothing is written (see
    /// [`crate::sys::on_stdout_closed`]).
    pub fn watch(self: &std::sync::Arc<Self>) {
        let me = self.clone();
        crate::sys::on_stdout_closed(move || me.closed.store(true, Ordering::Relaxed));
    }
}

impl OutputSink for TerminalOutput {
    fn output(&self, _pid: Pid, stream: i32, bytes: &[u8]) {
        if stream == STDOUT {
            let mut out = std::io::stdout().lock();
            let written = out.write_all(bytes).and_then(|()| out.flush());
            if written.is_err_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) {
                self.closed.store(true, Ordering::Relaxed);
            }
        } else {
            let _ = std::io::stderr().lock().write_all(bytes);
        }
    }
}
