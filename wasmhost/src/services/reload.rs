//! A guest's `reload` of another process: the module is loaded on a
//! worker (as a spawn by path loads it), then the reload is asked for
//! (see [`crate::reload`]) and the caller waits for its outcome on a host
//! wait, told when the new instance has taken over or the reload failed.

use std::path::Path;

use wasmd_abi::Errno;

use crate::caller::Caller;
use crate::context::{in_context, Context, SyscallOutcome};
use crate::process::BlockOn;
use crate::reload::{ReloadRequest, Requester};
use crate::Pid;

impl Context<'_> {
    /// `reload(pid, path, flags)` of `caller` (not `pid` itself, checked at
    /// decode).
    pub(crate) fn sys_reload(
        &mut self,
        caller: &mut Caller<'_>,
        pid: Pid,
        path: String,
        nowait: bool,
    ) -> SyscallOutcome {
        let me = caller.pid();
        let Some(proc) = self.process(me) else { return SyscallOutcome::error(Errno::NoSuchProcess) };
        if self.process(pid).is_none_or(|p| p.is_exited()) {
            return SyscallOutcome::error(Errno::NoSuchProcess);
        }
        // Only a descendant: the new code runs with the target's
        // capabilities and grants, which `PROC` alone does not give.
        if !self.is_ancestor(me, pid) {
            return SyscallOutcome::error(Errno::PermissionDenied);
        }
        let base = proc.module_path.as_deref().and_then(Path::parent).map(Path::to_path_buf);
        let loader = self.loader().clone();
        let cache = self.modules().clone();
        let token = self.pend_host(me);
        self.workers().submit(me, token, move || {
            let loaded = cache.load(loader.as_ref(), base.as_deref(), &path);
            in_context(move |cx, caller| {
                let me = caller.pid();
                let (module, path) = match loaded {
                    Ok(loaded) => loaded,
                    Err(e) => {
                        log::info!("pid {me}: reload of {pid} failed: {e}");
                        return SyscallOutcome::error(e.errno());
                    }
                };
                let token = cx.pend_host(me);
                let by = Requester::Guest { pid: me, token };
                let request = ReloadRequest { module, path: Some(path), by };
                match cx.request_reload(pid, request, !nowait) {
                    Ok(None) => SyscallOutcome::Park(BlockOn::Pending { token }),
                    Ok(Some(Ok(()))) => {
                        cx.forget_wait(token);
                        SyscallOutcome::Return(0)
                    }
                    Ok(Some(Err(e))) | Err(e) => {
                        cx.forget_wait(token);
                        log::info!("pid {me}: reload of {pid} failed: {e}");
                        SyscallOutcome::error(e.errno())
                    }
                }
            })
        });
        SyscallOutcome::Park(BlockOn::Pending { token })
    }
}
