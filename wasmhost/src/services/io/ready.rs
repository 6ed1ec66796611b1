//! Waiting for input: a process's standard input (a read that finds its
//! pipe empty parks until a feed or the end of input, then tries again),
//! and `poll_oneoff`'s wait for any of several sources or a time limit.

use wasmd_abi::Errno;

use super::finish::finish_stdin;
use super::socket;
use crate::caller::Caller;
use crate::context::{in_context, Context, SyscallOutcome};
use crate::continuation::returning;
use crate::file::{IoRequest, ReadySource};
use crate::process::BlockOn;

impl Context<'_> {
    /// Starts a wait for input.
    pub(super) fn start_input(
        &mut self,
        caller: &mut Caller<'_>,
        req: IoRequest,
    ) -> Result<SyscallOutcome, Errno> {
        let pid = caller.pid();
        match req {
            IoRequest::WaitReady { sources, timeout } => {
                let token = self.pend_host(pid);
                for (i, source) in sources.into_iter().enumerate() {
                    let ready = in_context(move |_, _| returning(Ok(i as i64 + 1)));
                    let wake = self.workers().notifier(pid, token, ready);
                    match source {
                        ReadySource::Stdin => match caller.state().stdin.clone() {
                            Some(pipe) => pipe.wait(wake),
                            None => wake(),
                        },
                        ReadySource::Socket { handle, writable } => match socket(caller, handle) {
                            Ok(sock) => self.env().platform.net_wait(&sock, writable, wake),
                            Err(_) => wake(),
                        },
                    }
                }
                if let Some(nanos) = timeout {
                    self.add_timer(crate::scheduler::deadline_after(nanos), pid, token);
                }
                Ok(SyscallOutcome::Park(BlockOn::Pending { token }))
            }
            IoRequest::ReadStdin { buf } => {
                let Some(pipe) = caller.state().stdin.clone() else { return Ok(returning(Ok(0))) };
                match pipe.take(buf.len()) {
                    Some(data) => Ok(returning(finish_stdin(caller, buf, &data))),
                    None => {
                        // Nothing yet: park until a feed or the end of
                        // input, then try again.
                        let token = self.pend_host(pid);
                        let retry =
                            in_context(move |cx, caller| cx.sys_io(caller, IoRequest::ReadStdin { buf }));
                        pipe.wait(self.workers().notifier(pid, token, retry));
                        Ok(SyscallOutcome::Park(BlockOn::Pending { token }))
                    }
                }
            }
            _ => Err(Errno::InvalidArgument),
        }
    }
}
