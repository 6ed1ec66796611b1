//! Guest schemes as a service: requests queued for a scheme are handed
//! to its provider parked in `scheme_next`; the embedder sends requests
//! on behalf of native clients and collects replies and registration
//! events. The table itself is [`crate::guest_scheme`].

use crate::guest_scheme::{self, SchemeEvent};
use crate::manager::ProcessManager;
use crate::process::BlockOn;
use wasmd_abi::Errno;

impl ProcessManager {
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
            self.with_caller(pid, |_, caller| caller.write(buf, &bytes));
            self.wake(pid, len as i64);
        }
    }

    /// Sends a request to the guest scheme `name` on behalf of the
    /// embedder; the reply comes from [`Self::take_scheme_replies`] under
    /// the returned tag (`Errno::NotFound`: no such scheme).
    pub fn scheme_request(&mut self, name: &str, op: wasmd_abi::scheme::SchemeOp<'_>) -> Result<u64, Errno> {
        self.schemes().submit(name, 0, op, guest_scheme::Origin::External)
    }

    /// Replies to [`Self::scheme_request`]s, by tag.
    pub fn take_scheme_replies(&mut self) -> Vec<(u64, guest_scheme::Reply)> {
        self.schemes().take_external()
    }

    /// Schemes registered and gone since the last call.
    pub fn take_scheme_events(&mut self) -> Vec<SchemeEvent> {
        self.schemes().take_events()
    }

    /// Names of the guest schemes.
    pub fn scheme_names(&self) -> Vec<String> {
        self.schemes().names()
    }
}
