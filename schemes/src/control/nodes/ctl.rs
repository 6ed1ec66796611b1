//! `PID/ctl`: each write is one command — `kill`, `suspend`, `resume` or
//! `refuel N` — acted on at once (a running process's kill or suspension
//! takes effect when its turn ends); an unknown command is `Errno::InvalidArgument`.
//! Reads give nothing.

use wasmd_abi::Errno;

use wasmd_abi::scheme::{mode, Stat};
use wasmhost::Pid;

use crate::control::file::{Answer, Context, ControlFile, Failure};

/// An open `PID/ctl` file.
#[derive(Debug)]
pub(crate) struct CtlFile {
    pid: Pid,
    /// Why the last command failed.
    reason: Option<String>,
}

impl CtlFile {
    /// Controls `pid`.
    pub(crate) fn new(pid: Pid) -> CtlFile {
        CtlFile { pid, reason: None }
    }

    /// Runs the command `data`.
    fn command(&self, cx: &Context<'_>, data: &[u8]) -> Result<(), Failure> {
        let pid = self.pid;
        let text = std::str::from_utf8(data)
            .map_err(|_| Failure::new(Errno::InvalidArgument, "a ctl command is text (UTF-8)"))?
            .trim();
        let mut words = text.split_whitespace();
        let result = match (words.next(), words.next(), words.next()) {
            (Some("kill"), None, _) => cx.lock().kill(pid),
            (Some("suspend"), None, _) => cx.lock().suspend(pid),
            (Some("resume"), None, _) => cx.lock().resume(pid),
            (Some("refuel"), Some(n), None) => {
                let fuel: u64 = n.parse().map_err(|_| {
                    Failure::new(
                        Errno::InvalidArgument,
                        format!("refuel takes a number of fuel units, not `{n}`"),
                    )
                })?;
                cx.lock().refuel(pid, fuel)
            }
            _ => {
                return Err(Failure::new(
                    Errno::InvalidArgument,
                    format!("unknown ctl command `{text}` (known: kill, suspend, resume, refuel N)"),
                ));
            }
        };
        result.map_err(|e| Failure::new(e.errno(), format!("process {pid}: {e}")))
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
        Answer::Ready(match self.command(cx, data) {
            Ok(()) => {
                self.reason = None;
                Ok(data.len())
            }
            Err(f) => {
                log::info!("pid {}: ctl refused: {}", self.pid, f.reason);
                self.reason = Some(f.reason);
                Err(f.errno)
            }
        })
    }

    fn reason(&self) -> Option<&str> {
        self.reason.as_deref()
    }

    /// Any length, as a no-op: a shell's `>` truncates.
    fn truncate(&mut self, _cx: &mut Context<'_>, _len: u64) -> Answer<()> {
        Answer::Ready(Ok(()))
    }
}
