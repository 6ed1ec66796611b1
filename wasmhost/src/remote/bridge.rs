//! Channel bridges a guest makes (`chan_bridge`, see `wasmd_abi::hostcall`,
//! *Processes of other nodes*): the call becomes a [`RemoteOp::Bridge`]
//! and parks the caller; the embedder sets the bridge up (as its `bridge`
//! file does, for the caller's owner) and answers with
//! [`ProcessManager::remote_bridged`] once the other node opened its
//! channel or refused. The frames then move without the guest, until the
//! stream ends or the guest does ([`RemoteOp::BridgesEnd`]: a channel
//! nobody writes any more would otherwise hold its bridge for ever).

use std::sync::Arc;

use wasmd_abi::Errno;

use crate::continuation::Outcome;
use crate::manager::{ProcessManager, SyscallOutcome};
use crate::process::BlockOn;
use crate::Pid;

use super::{RemoteOp, MAX_REMOTE_SPAWNS};

impl ProcessManager {
    /// `chan_bridge` of the channel of region `region` (the caller holds
    /// it with `READ`) into `chan` of `node`.
    pub(crate) fn sys_bridge(&mut self, me: Pid, region: u64, node: String, chan: u64) -> SyscallOutcome {
        if !self.remote.enabled {
            return SyscallOutcome::error(Errno::NotSupported);
        }
        let Some(owner) = self.procs.get(me).map(|p| p.owner) else {
            return SyscallOutcome::error(Errno::NoSuchProcess);
        };
        if node.is_empty() || node.len() > 64 {
            return SyscallOutcome::error(Errno::InvalidArgument);
        }
        if self.remote.bridging.len() >= MAX_REMOTE_SPAWNS {
            return SyscallOutcome::error(Errno::WouldBlock);
        }
        let token = self.pend_host(me);
        self.remote.bridging.insert(token);
        self.remote.bridgers.insert(me);
        let node: Arc<str> = node.into();
        self.remote.outbox.push(RemoteOp::Bridge { token, by: me, owner, region, node, chan });
        SyscallOutcome::Park(BlockOn::Pending { token })
    }

    /// The answer to [`RemoteOp::Bridge`] `token`: the bridge holds both
    /// channels, or why not.
    pub fn remote_bridged(&mut self, token: u64, result: Result<(), Errno>) {
        if !self.remote.bridging.remove(&token) {
            return;
        }
        self.continue_wait(
            token,
            Box::new(move |_, _| match result {
                Ok(()) => Outcome::Return(0),
                Err(e) => Outcome::error(e),
            }),
        );
    }
}
