//! Waits: parking a process on a continuation and ending the wait.
//!
//! A syscall that cannot answer at once records a pending wait under a
//! fresh token ([`ProcessManager::pend_host`] for a worker job or the
//! poller, [`ProcessManager::pend_reply`] for a guest scheme provider);
//! what answers later ends it here with the continuation of that very
//! request (see [`crate::continuation`]), run for the waiting process
//! with its store lent from its record.

use crate::continuation::{returning, Pending, ReplyThen};
use crate::guest_scheme::{GuestReply, Origin, Reply};
use crate::manager::SyscallOutcome;
use crate::manager::{Continuation, ProcessManager};
use crate::process::{BlockOn, Sched};
use crate::worker::Completion;
use crate::Pid;
use wasmd_abi::scheme::SchemeOp;
use wasmd_abi::Errno;

impl ProcessManager {
    /// Parks `pid` on a new wait answered by the host (a worker job or the
    /// poller) under the returned token.
    pub(crate) fn pend_host(&mut self, pid: Pid) -> u64 {
        let token = self.sched.token();
        self.pending.insert(token, Pending::Host { pid });
        token
    }

    /// Parks `pid` on a new wait answered by a provider's reply.
    pub(crate) fn pend_reply(&mut self, pid: Pid, token: u64, then: ReplyThen<ProcessManager>) {
        self.pending.insert(token, Pending::Reply { pid, then });
    }

    /// True while a worker job or the poller will still answer a live
    /// process.
    pub(crate) fn host_work_pending(&self) -> bool {
        self.pending.values().any(|p| matches!(p, Pending::Host { .. }))
    }

    /// Handles a worker's completion.
    pub(crate) fn complete(&mut self, done: Completion<Continuation>) {
        match done.done {
            Some(then) => self.continue_wait(done.token, then),
            // The job panicked: its waiter gets an error.
            None => self.continue_wait(done.token, Box::new(|_, _| returning(Err(Errno::Io)))),
        }
    }

    /// Delivers providers' replies to guests parked in fs hostcalls.
    pub(crate) fn deliver_guest_replies(&mut self) {
        let replies = self.schemes().take_guest_replies();
        for GuestReply { pid, token, reply, opened_on } in replies {
            match self.pending.remove(&token) {
                Some(Pending::Reply { pid: waiter, then }) if waiter == pid => {
                    self.resume_wait(pid, token, then(reply));
                    continue;
                }
                Some(other) => {
                    self.pending.insert(token, other);
                }
                None => {}
            }
            // Nobody takes it (the guest died or its wait ended): what it
            // opened is closed, so the provider keeps nothing open for it.
            if let (Some(scheme), Reply::Value(id)) = (opened_on, reply) {
                let _ = self.schemes().submit(&scheme, pid, SchemeOp::Close { id }, Origin::External);
            }
        }
    }

    /// Runs `then` for the wait `token` if its process still waits for
    /// it (suspended or not); drops it otherwise.
    pub(crate) fn continue_wait(&mut self, token: u64, then: Continuation) {
        if let Some(pid) = self.pending.remove(&token).map(|p| p.pid()) {
            self.resume_wait(pid, token, then);
        }
    }

    fn resume_wait(&mut self, pid: Pid, token: u64, then: Continuation) {
        if !matches!(self.blocked_on(pid), Some(BlockOn::Pending { token: t }) if *t == token) {
            return;
        }
        let Some(mut outcome) = self.with_caller(pid, |pm, caller| then(pm, caller)) else { return };
        loop {
            match outcome {
                SyscallOutcome::Return(value) => return self.wake(pid, value),
                SyscallOutcome::Yield => return self.wake(pid, 0),
                SyscallOutcome::Park(on) => {
                    // Wait again; a suspended process keeps its new wait too.
                    if let Some(Sched::Blocked(_, waiting)) =
                        self.procs.get_mut(pid).map(|p| p.sched.beneath_mut())
                    {
                        *waiting = on;
                    }
                    return;
                }
                SyscallOutcome::Exit(status) => return self.end(pid, status),
                // A parked process has no turn to do work without the
                // lock in: it is done here.
                SyscallOutcome::Unlocked(work) => {
                    let then = work();
                    let Some(next) = self.with_caller(pid, |pm, caller| then(pm, caller)) else { return };
                    outcome = next;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use wasmd_abi::scheme::{SchemeReply, SchemeRequest, SchemeResult};

    use super::*;
    use wasmd_abi::msg;

    /// An open whose guest no longer waits (it died meanwhile) is closed
    /// again at the provider: nothing stays open for nobody.
    #[test]
    fn an_open_answered_to_nobody_is_closed_at_its_provider() {
        let mut pm = crate::testing::manager();
        pm.serve_scheme("node").unwrap();
        let op = SchemeOp::Open { path: "b/ps", flags: 0 };
        let tag = pm.schemes().submit("node", 42, op, Origin::Guest { pid: 42, token: 7 }).unwrap();
        assert_eq!(pm.take_scheme_requests("node").len(), 1);
        let reply = msg::encode(&SchemeReply { tag, result: SchemeResult::Value(5) });
        pm.answer_scheme_request("node", &reply).unwrap();
        let asked = pm.take_scheme_requests("node");
        assert_eq!(asked.len(), 1, "a close follows");
        let close: SchemeRequest<'_> = msg::decode(&asked[0]).unwrap();
        assert_eq!(close.op, SchemeOp::Close { id: 5 });
        // A failed open leaves nothing to close.
        let op = SchemeOp::Open { path: "b/x", flags: 0 };
        let tag = pm.schemes().submit("node", 42, op, Origin::Guest { pid: 42, token: 8 }).unwrap();
        pm.take_scheme_requests("node");
        let reply = msg::encode(&SchemeReply { tag, result: SchemeResult::Error(2) });
        pm.answer_scheme_request("node", &reply).unwrap();
        assert!(pm.take_scheme_requests("node").is_empty());
    }
}
