//! Requests that wait: the daemon's bookkeeping of them.
//!
//! A request that a file cannot answer at once ([`Answer`] other than
//! ready) is kept as a [`Pending`] under the frontend's token, with the
//! operation ([`PendingOp`]) to ask again and, once sent to a guest
//! scheme, the tag of that request. After guests ran the daemon
//! (`Daemon::settle`) first matches guest-scheme replies
//! to their requests, then asks each file again; every answer becomes a
//! [`Completion`] the frontend takes. Closing a file fails its pending
//! requests with `Errno::BadHandle`, a cancel with `Errno::Canceled`; the replies to them
//! are dropped when they come.

use wasmd_abi::Errno;

use super::file::Answer;
use super::{guest_files, Completion, Daemon, Output, Poll, Token};

/// An operation that may have to wait.
#[derive(Debug, Clone)]
pub(crate) enum PendingOp {
    Read {
        offset: u64,
        len: usize,
    },
    Write {
        offset: u64,
        data: Vec<u8>,
    },
    Fstat,
    Fpath,
    Getdents {
        offset: u64,
    },
    Ftruncate {
        len: u64,
    },
    Fsync,
    /// Waits until the file is open: a guest scheme's provider answered
    /// its open (see [`super::guest_files`]); `Output::Done`, or the
    /// provider's refusal.
    Opened,
    /// Not on an open file: `Pending::id` is [`NO_FILE`].
    Unlink,
}

/// The file id of a pending operation that is not on an open file.
pub(crate) const NO_FILE: u64 = 0;

/// A request kept until it can be answered.
#[derive(Debug)]
pub(crate) struct Pending {
    pub token: Token,
    /// The file it is on ([`NO_FILE`] for none).
    pub id: u64,
    pub op: PendingOp,
    /// The guest-scheme request it waits for, once sent.
    pub tag: Option<u64>,
}

impl Daemon {
    /// Asks file `id` to do `op`; keeps the request under `token` when
    /// it must wait (or, when `nonblock`, answers `Errno::WouldBlock` if the file
    /// is not ready).
    pub(crate) fn request(&mut self, id: u64, token: Token, op: PendingOp, nonblock: bool) -> Poll<Output> {
        let tag = match self.perform(id, &op, nonblock) {
            Answer::Ready(result) => return Poll::Ready(result),
            Answer::NotReady if nonblock => return Poll::Ready(Err(Errno::WouldBlock)),
            Answer::NotReady | Answer::AwaitingOpen => None,
            Answer::Sent(tag) => Some(tag),
        };
        self.pending.push(Pending { token, id, op, tag });
        Poll::Pending
    }

    /// What file `id` answers to `op` now (asked by a non-blocking
    /// caller when `nonblock`).
    fn perform(&mut self, id: u64, op: &PendingOp, nonblock: bool) -> Answer<Output> {
        let Some((open, mut cx)) = self.file_mut(id) else { return Answer::Ready(Err(Errno::BadHandle)) };
        cx.nonblock = nonblock;
        let file = &mut open.file;
        let answer = match op {
            PendingOp::Read { offset, len } => file.read(&mut cx, *offset, *len).map(Output::Data),
            PendingOp::Write { offset, data } => file.write(&mut cx, *offset, data).map(Output::Count),
            PendingOp::Fstat => file.stat(&mut cx).map(Output::Stat),
            PendingOp::Fpath => file.fpath(&mut cx, &open.path).map(Output::Path),
            PendingOp::Getdents { offset } => file.getdents(&mut cx, *offset).map(Output::Entries),
            PendingOp::Ftruncate { len } => file.truncate(&mut cx, *len).map(|()| Output::Done),
            PendingOp::Fsync => file.sync(&mut cx).map(|()| Output::Done),
            PendingOp::Opened => file.opened(&mut cx).map(|()| Output::Done),
            // Sent at once by `Daemon::unlink_scheme`, never on a file.
            PendingOp::Unlink => Answer::Ready(Err(Errno::BadHandle)),
        };
        if let Answer::Ready(Err(e)) = &answer {
            open.failed = generic_reason(op, *e, &open.path, file.is_dir());
        }
        answer
    }

    /// Asks the files of requests that wait for no reply again.
    pub(crate) fn retry_pending(&mut self) {
        let mut still = Vec::new();
        for mut p in std::mem::take(&mut self.pending) {
            if p.tag.is_some() {
                still.push(p);
                continue;
            }
            match self.perform(p.id, &p.op, false) {
                Answer::Ready(result) => self.completions.push(Completion { token: p.token, result }),
                Answer::Sent(tag) => {
                    p.tag = Some(tag);
                    still.push(p);
                }
                Answer::NotReady | Answer::AwaitingOpen => still.push(p),
            }
        }
        self.pending = still;
    }

    /// Completes pending requests whose guest-scheme replies came.
    pub(crate) fn route_scheme_replies(&mut self) {
        self.replies.collect(&self.kernel);
        self.replies.close_orphans(&self.kernel);
        let mut still = Vec::new();
        for p in std::mem::take(&mut self.pending) {
            let Some(reply) = p.tag.and_then(|t| self.replies.take(t)) else {
                still.push(p);
                continue;
            };
            let result = match self.files.get(&p.id) {
                Some(open) => open.file.reply_output(&p.op, reply),
                None => guest_files::reply_output(&p.op, reply, ""),
            };
            self.completions.push(Completion { token: p.token, result });
        }
        self.pending = still;
    }

    /// Fails the pending requests on file `id` with `Errno::BadHandle`.
    pub(crate) fn fail_pending_on(&mut self, id: u64) {
        let (gone, keep): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.pending).into_iter().partition(|p| p.id == id);
        self.pending = keep;
        for p in gone {
            if let Some(tag) = p.tag {
                self.replies.abandon(tag);
            }
            self.completions.push(Completion { token: p.token, result: Err(Errno::BadHandle) });
        }
    }

    /// Cancels a pending request; it completes with `Errno::Canceled`. False if
    /// no such request was pending.
    pub fn cancel(&mut self, token: Token) -> bool {
        if self.removing.remove(&token) {
            // Its reply is dropped when it comes.
            self.completions.push(Completion { token, result: Err(Errno::Canceled) });
            return true;
        }
        let Some(i) = self.pending.iter().position(|p| p.token == token) else { return false };
        let p = self.pending.remove(i);
        if let Some(tag) = p.tag {
            self.replies.abandon(tag);
        }
        self.completions.push(Completion { token, result: Err(Errno::Canceled) });
        true
    }
}

/// Why `op` on the tree file at `path` failed with `errno`, in words,
/// where the errno alone would mislead (the file's own reason, if it has
/// one, comes first).
fn generic_reason(op: &PendingOp, errno: Errno, path: &str, is_dir: bool) -> Option<String> {
    let shown = if path.is_empty() { "/scheme/wasm".to_string() } else { format!("/scheme/wasm/{path}") };
    match (op, errno) {
        (PendingOp::Write { .. }, Errno::BadHandle) if !is_dir => Some(format!("`{shown}` is read-only")),
        (PendingOp::Write { .. } | PendingOp::Read { .. }, Errno::IsADirectory) => {
            Some(format!("`{shown}` is a directory"))
        }
        (PendingOp::Getdents { .. }, Errno::NotADirectory) => Some(format!("`{shown}` is not a directory")),
        _ => None,
    }
}
