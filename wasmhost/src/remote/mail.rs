//! Messages to processes of other nodes (see `wasmd_abi::mailbox`,
//! *Processes of other nodes*).
//!
//! A process handle of a stand-in ([`HandleObject::Remote`], from
//! `process_handle` of the pid `spawn_on` or `name_whereis` gave) sends
//! to that process on its node: `send` copies the message into a
//! [`RemoteNotice::Send`] for the embedder's link and returns at once
//! (at most [`MAX_QUEUED_SENDS`] wait there for the link; beyond that
//! `send` is `EAGAIN`). The other node's embedder hands it to
//! [`ProcessManager::remote_send`], which queues it in the receiver's
//! mailbox from the sender's stand-in there, so the receiver replies
//! through `process_handle(from)` as to a local sender. The receiver must
//! be the remote user's (as for links), or hold the sender's stand-in
//! (it spawned the sender, found its name, or got a message from it):
//! so an answer reaches whoever asked.
//!
//! Delivery is at most once: messages of one sender to one receiver
//! arrive in the order sent while both nodes see each other. A message
//! whose receiver is gone or may not take it, or whose mailbox is full,
//! is dropped there and counted
//! ([`ProcessManager::remote_messages_dropped`]): a network send cannot
//! park its sender on the other node's mailbox. Handles do not cross
//! nodes (`EINVAL`).

use wasmd_abi::mailbox::{MAX_MESSAGE_LEN, MAX_WATCHES, NOTICE_BASE};
use wasmd_abi::{Errno, Rights};

use crate::caller::Caller;
use crate::continuation::returning;
use crate::mailbox::Message;
use crate::manager::{ProcessManager, SyscallOutcome};
use crate::owner::Owner;
use crate::process::HandleObject;
use crate::Pid;

use super::{RemoteNotice, RemotePid};

pub use wasmd_abi::hostcall::MAX_QUEUED_SENDS;

impl ProcessManager {
    /// `process_handle(stand_in)`: a handle that sends to that process
    /// on its node, for a caller that holds the stand-in (it spawned the
    /// process or found its name) or has `PROC`; the caller holds it from
    /// now on.
    pub(crate) fn sys_remote_process_handle(
        &mut self,
        caller: &mut Caller<'_>,
        stand_in: Pid,
    ) -> SyscallOutcome {
        let me = caller.pid();
        let to = match self.may_touch(me, stand_in) {
            Ok(to) => to,
            Err(e) => return SyscallOutcome::error(e),
        };
        if let Err(e) = self.hold_stand_in(me, &to) {
            return SyscallOutcome::error(e);
        }
        returning(caller.state_mut().handles.insert(HandleObject::Remote(to), Rights::WRITE).map(i64::from))
    }

    /// `send` through a handle of another node's process `to`: queued
    /// for the embedder.
    pub(crate) fn send_remote(
        &mut self,
        me: Pid,
        to: RemotePid,
        tag: u64,
        data: Vec<u8>,
    ) -> Result<(), Errno> {
        if !self.remote.enabled {
            return Err(Errno::NotSupported);
        }
        if self.remote.queued_sends >= MAX_QUEUED_SENDS {
            return Err(Errno::WouldBlock);
        }
        self.remote.tell(RemoteNotice::Send { to, by: me, tag, data });
        Ok(())
    }

    /// Another node's process `from` sent `data` under `tag` to the local
    /// `target`: queued in its mailbox when it is live, has room, and is
    /// `owner`'s (the remote user's) or holds `from`'s stand-in; else
    /// dropped and counted. True when queued.
    pub fn remote_send(
        &mut self,
        from: RemotePid,
        target: Pid,
        tag: u64,
        data: Vec<u8>,
        owner: Owner,
    ) -> bool {
        // The remote user's processes take messages from other nodes; any
        // other live process only from a process it reached itself (it
        // holds that one's stand-in: it spawned it, found its name or got
        // a message from it), so its answers come back. Holding the
        // sender's stand-in counts among the receiver's watches.
        let held = self.remote.by_id.get(&from).is_some_and(|s| {
            self.procs.get(target).is_some_and(|p| !p.is_exited() && p.watches.stand_ins.contains(s))
        });
        let admitted = tag < NOTICE_BASE
            && data.len() <= MAX_MESSAGE_LEN
            && (held || (self.watchable(target, owner) && self.watch_count(target) < MAX_WATCHES));
        let delivered = admitted && self.queue_remote(from, target, tag, data);
        if !delivered {
            self.remote.dropped_messages += 1;
        }
        delivered
    }

    /// Queues `from`'s message in `target`'s mailbox, if it has room;
    /// then `target` holds `from`'s stand-in, so a reply to it reaches
    /// it. True when queued.
    fn queue_remote(&mut self, from: RemotePid, target: Pid, tag: u64, data: Vec<u8>) -> bool {
        let Some(stand_in) = self.remote.get_or_make(&from) else { return false };
        let message = Message { tag, from: stand_in, data, handles: Default::default(), charged: 0 };
        let pushed = self.procs.get(target).map(|p| p.mailbox.push(message));
        match pushed {
            Some(Ok(wake)) => {
                if let Some(wake) = wake {
                    self.env.mail.add(wake);
                }
                self.hold(target, stand_in);
                true
            }
            _ => {
                // Nothing refers to a stand-in made for a dropped message.
                self.remote.collect(stand_in);
                false
            }
        }
    }

    /// Messages from other nodes dropped here since the start (receiver
    /// gone or not the remote user's, mailbox full, garbage).
    pub fn remote_messages_dropped(&self) -> u64 {
        self.remote.dropped_messages
    }
}
