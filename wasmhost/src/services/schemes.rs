//! Guest schemes as a service: a provider parks in `scheme_next` until a
//! request for its scheme is queued, and is handed the requests that fit
//! its buffer. The table itself (names, queues, requests in flight,
//! replies) is [`crate::guest_scheme`]; the embedder's side (requests on
//! behalf of native clients, replies, registration events) goes through
//! the manager.

use crate::context::{Context, SyscallOutcome};
use crate::guest_buf::GuestBuf;
use crate::process::BlockOn;
use crate::Pid;

impl Context<'_> {
    /// `scheme_next`: parks provider `me` until a request for `name`
    /// can be handed to it.
    pub(crate) fn sys_scheme_wait(&mut self, me: Pid, name: String, buf: GuestBuf) -> SyscallOutcome {
        self.schemes().park(&name, me);
        SyscallOutcome::Park(BlockOn::SchemeNext { name, buf })
    }

    /// Hands queued requests to providers parked in `scheme_next`.
    pub(crate) fn serve_scheme_providers(&mut self) {
        let ready = {
            let mut table = self.schemes();
            if !table.has_work() {
                return;
            }
            table.take_ready_providers()
        };
        for (name, pid) in ready {
            let Some(BlockOn::SchemeNext { name: waited, buf }) = self.blocked_on(pid).cloned() else {
                continue;
            };
            if waited != name {
                continue;
            }
            let next = self.schemes().next_request(&name, buf.len());
            let Some((len, bytes)) = next else { continue };
            // `next_request` hands out a request only when it fits.
            self.with_store(pid, |caller| {
                let _ = caller.write(buf, &bytes);
                caller.state().counters.read(bytes.len() as u64);
            });
            self.wake(pid, len as i64);
        }
    }
}
