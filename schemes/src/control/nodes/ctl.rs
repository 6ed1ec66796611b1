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
                let fuel: u64 = n.parse().ok().filter(|f| *f > 0).ok_or_else(|| {
                    Failure::new(
                        Errno::InvalidArgument,
                        format!("refuel takes a number of fuel units above 0, not `{n}`"),
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
        result.map_err(|e| Failure::new(e.errno(), why_not(cx, pid, text, &e)))
    }
}

/// Why `command` does not apply to `pid`, in terms of its state.
fn why_not(cx: &Context<'_>, pid: Pid, command: &str, e: &wasmhost::ControlError) -> String {
    let pm = cx.lock();
    let Some(proc) = pm.process(pid) else { return format!("no such process {pid}") };
    if let Some(status) = proc.status() {
        return format!("process {pid} has already ended ({status})");
    }
    let suspended = proc.info_state() == wasmd_abi::RunState::Suspended;
    match command {
        "suspend" if suspended => format!("process {pid} is already suspended"),
        "suspend" => format!("process {pid} is being suspended already"),
        "resume" => format!("process {pid} is not suspended"),
        _ => format!("process {pid}: {e}"),
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
