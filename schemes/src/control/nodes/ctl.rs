//! `PID/ctl`: each write is one command — `kill`, `suspend`, `resume` or
//! `refuel N` — acted on at once (a running process's kill or suspension
//! takes effect when its turn ends); an unknown command is `Errno::InvalidArgument`.
//! Reads give nothing.

use wasmd_abi::Errno;

use wasmd_abi::scheme::{mode, Stat};
use wasmhost::Pid;

use crate::control::file::{Answer, Context, ControlFile};

/// An open `PID/ctl` file.
#[derive(Debug)]
pub(crate) struct CtlFile {
    pid: Pid,
}

impl CtlFile {
    /// Controls `pid`.
    pub(crate) fn new(pid: Pid) -> CtlFile {
        CtlFile { pid }
    }

    /// Runs the command `data`.
    fn command(&self, cx: &Context<'_>, data: &[u8]) -> Result<(), Errno> {
        let pid = self.pid;
        let text = std::str::from_utf8(data).map_err(|_| Errno::InvalidArgument)?.trim();
        let mut words = text.split_whitespace();
        let result = match (words.next(), words.next(), words.next()) {
            (Some("kill"), None, _) => cx.lock().kill(pid),
            (Some("suspend"), None, _) => cx.lock().suspend(pid),
            (Some("resume"), None, _) => cx.lock().resume(pid),
            (Some("refuel"), Some(n), None) => {
                let fuel: u64 = n.parse().map_err(|_| Errno::InvalidArgument)?;
                cx.lock().refuel(pid, fuel)
            }
            _ => {
                log::warn!("pid {pid}: unknown ctl command `{text}`");
                return Err(Errno::InvalidArgument);
            }
        };
        result.map_err(|e| e.errno())
    }
}

impl ControlFile for CtlFile {
    fn stat(&mut self, cx: &mut Context<'_>) -> Answer<Stat> {
        cx.stat(mode::MODE_FILE | 0o644, 0)
    }

    fn read(&mut self, _cx: &mut Context<'_>, _offset: u64, _len: usize) -> Answer<Vec<u8>> {
        Answer::Ready(Ok(Vec::new()))
    }

    fn write(&mut self, cx: &mut Context<'_>, _offset: u64, data: &[u8]) -> Answer<usize> {
        Answer::Ready(self.command(cx, data).map(|()| data.len()))
    }

    /// Any length, as a no-op: a shell's `>` truncates.
    fn truncate(&mut self, _cx: &mut Context<'_>, _len: u64) -> Answer<()> {
        Answer::Ready(Ok(()))
    }
}
