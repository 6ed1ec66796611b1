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
//! `ProcessManager::continue_wait` runs it for the process, its store
//! lent from its record ([`Caller`]); it resumes the process with a value
//! or parks it again (a socket retry that would still block).
//!
//! There is no table of result kinds to match against request kinds: a
//! result can only reach the code that asked for it. The work in flight
//! is the set of pending entries; a process that exits drops its entry,
//! and a continuation arriving for an unknown token is dropped (what it
//! holds — a reserved region's bytes, a host file — is released by its
//! own `Drop`).

use wasmd_abi::ExitStatus;

use crate::caller::Caller;
use crate::guest_scheme::Reply;
use crate::process::BlockOn;
use crate::Pid;
use wasmd_abi::Errno;

/// What a syscall handler (or a continuation) decided, for a process of
/// the process manager `K`.
pub(crate) enum Outcome<K> {
    /// Resume the caller at once with this value.
    Return(i64),
    /// Requeue the caller at the back, returning 0.
    Yield,
    /// Park the caller.
    Park(BlockOn),
    /// End the caller.
    Exit(ExitStatus),
    /// Run this work without the manager's lock (the caller keeps its
    /// turn meanwhile), then its continuation under the lock: costly
    /// work that needs no shared state, such as instantiating a child.
    Unlocked(Unlocked<K>),
}

impl<K> Outcome<K> {
    /// Resume the caller with `-errno`.
    pub(crate) fn error(errno: Errno) -> Self {
        Outcome::Return(-i64::from(errno.errno()))
    }
}

/// Finishes a parked wait: runs under the lock of the process manager
/// `K` for the waiting process.
pub(crate) type Continuation<K> = Box<dyn FnOnce(&mut K, &mut Caller<'_>) -> Outcome<K> + Send>;

/// Work run without the lock (see [`Outcome::Unlocked`]).
pub(crate) type Unlocked<K> = Box<dyn FnOnce() -> Continuation<K> + Send>;

/// Turns a provider's reply into the continuation of the request it
/// answers.
pub(crate) type ReplyThen<K> = Box<dyn FnOnce(Reply) -> Continuation<K> + Send>;

/// A wait in flight, by token.
pub(crate) enum Pending<K> {
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
        then: ReplyThen<K>,
    },
}

impl<K> Pending<K> {
    /// The waiting process.
    pub(crate) fn pid(&self) -> Pid {
        match self {
            Pending::Host { pid } | Pending::Reply { pid, .. } => *pid,
        }
    }
}

/// A continuation that returns `value` (or an errno) to the process.
pub(crate) fn returning<K>(result: Result<i64, Errno>) -> Outcome<K> {
    match result {
        Ok(v) => Outcome::Return(v),
        Err(e) => Outcome::error(e),
    }
}
