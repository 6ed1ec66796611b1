//! `PID/ctl`: each write is one command — `kill`, `suspend`, `resume`,
//! `refuel N` or `reload [nowait] PATH` — acted on at once (a running
//! process's kill or suspension takes effect when its turn ends); an
//! unknown command is `Errno::InvalidArgument`. Reads give nothing.
//!
//! A `reload` write returns once the new module has taken over the
//! process (or failed, with the reason in `error/ID`): the module is
//! loaded on a worker thread, then the reload waits for the process's
//! next safe point (see `wasmhost`'s reload docs); with `nowait` it is
//! refused (`EBUSY`) while the process is parked in a blocking call. A
//! relative PATH is taken from the directory of the module the process
//! runs.

use wasmd_abi::Errno;

use wasmd_abi::scheme::{mode, Stat};
use wasmhost::Pid;

use crate::control::file::{Answer, Context, ControlFile, Failure};

/// Where a `reload` written to the file is.
#[derive(Debug)]
enum Reloading {
    /// None under way.
    Idle,
    /// Its module is loading.
    Loading,
    /// Asked for; its outcome comes under this ticket.
    Asked(wasmhost::ReloadTicket),
    /// Done (or refused) before it could be asked for.
    Done(Result<(), Failure>),
}

/// An open `PID/ctl` file.
#[derive(Debug)]
pub(crate) struct CtlFile {
    pid: Pid,
    /// Why the last command failed.
    reason: Option<String>,
    reloading: Reloading,
}

impl CtlFile {
    /// Controls `pid`.
    pub(crate) fn new(pid: Pid) -> CtlFile {
        CtlFile { pid, reason: None, reloading: Reloading::Idle }
    }

    /// Starts a `reload` (the text after the word), when the process lives.
    fn start_reload(&mut self, cx: &mut Context<'_>, rest: &str) -> Result<(), Failure> {
        let (wait, path) = match rest.split_once(char::is_whitespace) {
            Some(("nowait", path)) => (false, path.trim()),
            _ => (true, rest),
        };
        if path.is_empty() || path == "nowait" {
            return Err(Failure::new(
                Errno::InvalidArgument,
                "reload takes a module path: `reload [nowait] PATH`",
            ));
        }
        if cx.lock().process(self.pid).is_none_or(|p| p.is_exited()) {
            let pm = cx.lock();
            let why = match pm.process(self.pid).and_then(|p| p.status()) {
                Some(status) => format!("process {} has already ended ({status})", self.pid),
                None => format!("no such process {}", self.pid),
            };
            return Err(Failure::new(Errno::NoSuchProcess, why));
        }
        cx.start_reload(self.pid, path.to_string(), wait);
        self.reloading = Reloading::Loading;
        Ok(())
    }

    /// Where the reload under way is: its outcome, once there.
    fn reload_progress(&mut self, cx: &mut Context<'_>) -> Option<Result<(), Failure>> {
        match std::mem::replace(&mut self.reloading, Reloading::Idle) {
            Reloading::Idle => Some(Ok(())),
            Reloading::Loading => {
                self.reloading = Reloading::Loading;
                None
            }
            Reloading::Asked(ticket) => match cx.lock().reload_outcome(ticket) {
                Some(outcome) => {
                    Some(outcome.map_err(|e| crate::control::step::reload_failure(self.pid, &e)))
                }
                None => {
                    self.reloading = Reloading::Asked(ticket);
                    None
                }
            },
            Reloading::Done(outcome) => Some(outcome),
        }
    }

    /// A write's answer from a command's outcome.
    fn answer(&mut self, outcome: Result<(), Failure>, len: usize) -> Answer<usize> {
        Answer::Ready(match outcome {
            Ok(()) => {
                self.reason = None;
                Ok(len)
            }
            Err(f) => {
                log::info!("pid {}: ctl refused: {}", self.pid, f.reason);
                self.reason = Some(f.reason);
                Err(f.errno)
            }
        })
    }

    /// Runs the command `data`.
    fn command(&mut self, cx: &mut Context<'_>, data: &[u8]) -> Result<(), Failure> {
        let pid = self.pid;
        let text = std::str::from_utf8(data)
            .map_err(|_| Failure::new(Errno::InvalidArgument, "a ctl command is text (UTF-8)"))?
            .trim();
        if let Some(rest) =
            text.strip_prefix("reload").filter(|r| r.is_empty() || r.starts_with(char::is_whitespace))
        {
            return self.start_reload(cx, rest.trim());
        }
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
                    format!("unknown ctl command `{text}` (known: kill, suspend, resume, refuel N, reload [nowait] PATH)"),
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
        // A write that started a reload is asked again until it is done.
        if !matches!(self.reloading, Reloading::Idle) {
            return match self.reload_progress(cx) {
                Some(outcome) => self.answer(outcome, data.len()),
                None => Answer::NotReady,
            };
        }
        let outcome = self.command(cx, data);
        if outcome.is_ok() && !matches!(self.reloading, Reloading::Idle) {
            return Answer::NotReady;
        }
        self.answer(outcome, data.len())
    }

    fn reload_started(&mut self, started: Result<wasmhost::ReloadTicket, Failure>) {
        self.reloading = match started {
            Ok(ticket) => Reloading::Asked(ticket),
            Err(f) => Reloading::Done(Err(f)),
        };
    }

    fn reason(&self) -> Option<&str> {
        self.reason.as_deref()
    }

    /// Any length, as a no-op: a shell's `>` truncates.
    fn truncate(&mut self, _cx: &mut Context<'_>, _len: u64) -> Answer<()> {
        Answer::Ready(Ok(()))
    }
}
