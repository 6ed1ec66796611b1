//! Guest output to the terminal (`wasmd run`).

use std::io::Write;

use wasmd_abi::hostcall::STDOUT;
use wasmhost::{OutputSink, Pid};

/// Streams every guest's stdout and stderr to wasmd's own.
#[derive(Debug, Default)]
pub struct TerminalOutput;

impl OutputSink for TerminalOutput {
    fn output(&self, _pid: Pid, stream: i32, bytes: &[u8]) {
        // A closed terminal must not stop the guests: ignore write errors.
        if stream == STDOUT {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(bytes);
            let _ = out.flush();
        } else {
            let _ = std::io::stderr().lock().write_all(bytes);
        }
    }
}
