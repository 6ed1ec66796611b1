//! Continuations: the one way a parked process's wait ends.
//!
//! A syscall that cannot answer at once (a module to load, shared memory
//! to create, a file operation, a socket that would block, a request to a
//! guest scheme provider) parks its caller on [`BlockOn::Pending`] under a
//! fresh token and records a [`Pending`] entry under that token. Whatever
//! answers produces a [`Continuation`]: a closure that holds the typed
//! result of that very request (a worker job builds it from what it
//! computed; a provider's reply is turned into one by the request's own
//! [`Pending::Reply`] mapping, which refuses replies of the wrong kind).
//! [`ProcessManager::continue_wait`] runs it for the process, its store
//! lent from its record ([`Caller`]); it resumes the process with a value
//! or parks it again (a socket retry that would still block).
//!
//! There is no table of result kinds to match against request kinds: a
//! result can only reach the code that asked for it. The work in flight
//! is the set of pending entries; a process that exits drops its entry,
//! and a continuation arriving for an unknown token is dropped (what it
//! holds — a reserved region's bytes, a host file — is released by its
//! own `Drop`).

use crate::guest_scheme::Reply;
use crate::manager::{ProcessManager, SyscallOutcome};
use crate::process::{BlockOn, Caller, Sched};
use crate::worker::Completion;
use crate::Pid;

/// Finishes a parked wait: runs under the manager's lock for the waiting
/// process.
pub(crate) type Continuation = Box<dyn FnOnce(&mut ProcessManager, &mut Caller<'_>) -> SyscallOutcome + Send>;

/// Turns a provider's reply into the continuation of the request it
/// answers.
pub(crate) type ReplyThen = Box<dyn FnOnce(Reply) -> Continuation + Send>;

/// A wait in flight, by token.
pub(crate) enum Pending {
    /// A worker job or the socket poller answers with a continuation.
    Host {
        /// The waiting process.
        pid: Pid,
    },
    /// A guest scheme provider answers with a [`Reply`].
    Reply {
        /// The waiting process.
        pid: Pid,
        /// How the reply continues the wait.
        then: ReplyThen,
    },
}

impl Pending {
    fn pid(&self) -> Pid {
        match self {
            Pending::Host { pid } | Pending::Reply { pid, .. } => *pid,
        }
    }
}

/// A continuation that returns `value` (or an errno) to the process.
pub(crate) fn returning(result: Result<i64, i32>) -> SyscallOutcome {
    match result {
        Ok(v) => SyscallOutcome::Return(v),
        Err(e) => SyscallOutcome::Return(-i64::from(e)),
    }
}

impl ProcessManager {
    /// Parks `pid` on a new wait answered by the host (a worker job or the
    /// poller) under the returned token.
    pub(crate) fn pend_host(&mut self, pid: Pid) -> u64 {
        let token = self.sched.token();
        self.pending.insert(token, Pending::Host { pid });
        token
    }

    /// Parks `pid` on a new wait answered by a provider's reply.
    pub(crate) fn pend_reply(&mut self, pid: Pid, token: u64, then: ReplyThen) {
        self.pending.insert(token, Pending::Reply { pid, then });
    }

    /// Forgets a wait (its process exits).
    pub(crate) fn drop_pending(&mut self, token: u64) {
        self.pending.remove(&token);
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
            None => self.continue_wait(done.token, Box::new(|_, _| returning(Err(wasmd_abi::errno::EIO)))),
        }
    }

    /// Delivers providers' replies to guests parked in fs hostcalls.
    pub(crate) fn deliver_guest_replies(&mut self) {
        let replies = self.schemes().take_guest_replies();
        for (pid, token, reply) in replies {
            match self.pending.remove(&token) {
                Some(Pending::Reply { pid: waiter, then }) if waiter == pid => {
                    self.resume_wait(pid, token, then(reply));
                }
                Some(other) => {
                    self.pending.insert(token, other);
                }
                None => {}
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
        let Some(outcome) = self.with_caller(pid, |pm, caller| then(pm, caller)) else { return };
        match outcome {
            SyscallOutcome::Return(value) => self.wake(pid, value),
            SyscallOutcome::Yield => self.wake(pid, 0),
            SyscallOutcome::Park(on) => {
                // Wait again; a suspended process keeps its new wait too.
                if let Some(Sched::Blocked(_, waiting)) =
                    self.procs.get_mut(pid).map(|p| p.sched.beneath_mut())
                {
                    *waiting = on;
                }
            }
            SyscallOutcome::Exit(status) => self.end(pid, status),
        }
    }

    /// Runs `f` for the parked process `pid`, its store lent from its
    /// record for the call (`None`: no such process, or it has no store).
    pub(crate) fn with_caller<R>(
        &mut self,
        pid: Pid,
        f: impl FnOnce(&mut ProcessManager, &mut Caller<'_>) -> R,
    ) -> Option<R> {
        let mut store = self.procs.get_mut(pid)?.store.take()?;
        let result = f(self, &mut Caller::new(&mut store));
        if let Some(proc) = self.procs.get_mut(pid) {
            proc.store = Some(store);
        }
        Some(result)
    }
}
