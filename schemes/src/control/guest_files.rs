//! Files of guest-implemented schemes ([`GuestFile`]), as the control tree
//! and the OS frontends serve them, and the replies of their providers
//! (`Replies`).
//!
//! Every operation is a request to the provider guest
//! ([`wasmhost::guest_scheme`]), answered `Answer::Sent` with the
//! request's tag; the daemon matches the provider's reply to the pending
//! request and the file turns it into the answer
//! (`ControlFile::reply_output`).
//! Opens are different: on Redox an open must be answered at once, so
//! `GuestFile::open` sends the open and runs the guests for a short
//! budget; if the provider answered, the open succeeds or fails with its
//! answer; if not, the open succeeds with a file whose later operations
//! wait for the provider's answer to the open (`Answer::AwaitingOpen`) and
//! fail with its error, if it refused. An open of another node, which may
//! wait, is answered once the provider did (`PendingOp::Opened`), so a
//! guest there gets the refusal from its open.

use std::collections::{HashMap, HashSet};

use wasmd_abi::scheme::{flags, SchemeOp, Stat};
use wasmd_abi::Errno;
use wasmhost::guest_scheme::Reply;

use super::file::{Answer, Context, ControlFile};
use super::pending::PendingOp;
use super::{Entry, Output};

/// Time slices the guests get to answer an open before it is answered
/// optimistically when the daemon runs them itself, and the time they may
/// take at most either way (with scheduler threads, the daemon sleeps
/// until a provider replies, [`wasmhost::Kernel::wait_news`]).
const OPEN_BUDGET_TURNS: usize = 64;
const OPEN_BUDGET_TIME: std::time::Duration = std::time::Duration::from_millis(2);

/// Guest-scheme replies the daemon has not matched yet.
#[derive(Debug, Default)]
pub(crate) struct Replies {
    /// Replies not yet taken, by tag.
    kept: HashMap<u64, Reply>,
    /// Tags of requests nobody waits for any more (cancelled, or their
    /// file closed): their replies are dropped when they come.
    abandoned: HashSet<u64>,
    /// Opens whose file was closed before the provider answered: the
    /// provider's file is closed when the answer comes.
    orphan_opens: HashMap<u64, String>,
}

impl Replies {
    /// Takes the manager's new replies.
    pub(crate) fn collect(&mut self, kernel: &wasmhost::Kernel) {
        let replies = kernel.lock().take_scheme_replies();
        for (tag, reply) in replies {
            if !self.abandoned.remove(&tag) {
                self.kept.insert(tag, reply);
            }
        }
    }

    /// The reply to the request `tag`, if it came.
    pub(crate) fn take(&mut self, tag: u64) -> Option<Reply> {
        self.kept.remove(&tag)
    }

    /// Nobody waits for the request `tag` any more: drop its reply, now
    /// or when it comes.
    pub(crate) fn abandon(&mut self, tag: u64) {
        if self.kept.remove(&tag).is_none() {
            self.abandoned.insert(tag);
        }
    }

    /// Closes the provider's files whose opens were answered after their
    /// file here was closed.
    pub(crate) fn close_orphans(&mut self, kernel: &wasmhost::Kernel) {
        let answered: Vec<u64> =
            self.orphan_opens.keys().copied().filter(|t| self.kept.contains_key(t)).collect();
        for tag in answered {
            let scheme = self.orphan_opens.remove(&tag).unwrap_or_default();
            if let Some(Reply::Value(remote)) = self.kept.remove(&tag) {
                let _ = kernel.lock().scheme_request(&scheme, SchemeOp::Close { id: remote });
            }
        }
    }

    /// Replies kept for requests still waited for.
    pub(crate) fn len(&self) -> usize {
        self.kept.len()
    }
}

/// A guest-scheme file.
#[derive(Debug)]
pub struct GuestFile {
    scheme: String,
    /// `/scheme/...` prefix for `fpath`.
    prefix: String,
    state: GuestState,
    /// Opened for reading / for writing (checked on every operation, not
    /// only by the provider at open).
    readable: bool,
    writable: bool,
}

#[derive(Debug)]
enum GuestState {
    /// The open was sent; its reply has this tag.
    Opening(u64),
    /// Open with the provider's id.
    Open(u64),
    /// The provider refused the open.
    Failed(Errno),
}

impl GuestFile {
    /// Opens `path` in guest scheme `name` (see the module docs); `prefix`
    /// is the file's `/scheme/...` path without `path`.
    pub(crate) fn open(
        cx: &mut Context<'_>,
        name: &str,
        path: &str,
        open_flags: u32,
        prefix: String,
    ) -> Result<GuestFile, Errno> {
        let op = SchemeOp::Open { path, flags: open_flags };
        let tag = cx.lock().scheme_request(name, op)?;
        let acc = open_flags & flags::O_ACCMODE;
        let mut file = GuestFile {
            scheme: name.to_string(),
            prefix,
            state: GuestState::Opening(tag),
            readable: acc != flags::O_WRONLY,
            writable: acc == flags::O_WRONLY || acc == flags::O_RDWR,
        };
        let deadline = std::time::Instant::now() + OPEN_BUDGET_TIME;
        let mut turns = 0;
        loop {
            // Guests' answers so far: a reply after the look counts.
            let seen = cx.kernel.news();
            if cx.kernel.workers() == 0 {
                cx.lock().run(1);
                turns += 1;
            }
            cx.replies.collect(cx.kernel);
            if file.settle_open(cx.replies)
                || std::time::Instant::now() >= deadline
                || turns >= OPEN_BUDGET_TURNS
            {
                break;
            }
            if cx.kernel.workers() > 0 {
                // The provider runs on a scheduler thread: sleep until it
                // (or any provider) replies.
                cx.kernel.wait_news(seen, deadline);
            }
        }
        match file.state {
            GuestState::Failed(e) => Err(e),
            _ => Ok(file),
        }
    }

    /// Applies the open's reply if it came; true once the open is settled.
    fn settle_open(&mut self, replies: &mut Replies) -> bool {
        let GuestState::Opening(tag) = self.state else { return true };
        let Some(reply) = replies.take(tag) else { return false };
        self.state = match reply {
            Reply::Value(id) => GuestState::Open(id),
            Reply::Error(e) => GuestState::Failed(e),
            _ => GuestState::Failed(Errno::Io),
        };
        true
    }

    /// Sends the request `op` makes of the provider's file id, when
    /// `allowed` by the file's access mode.
    fn send<'op, T>(
        &mut self,
        cx: &mut Context<'_>,
        allowed: bool,
        op: impl FnOnce(u64) -> SchemeOp<'op>,
    ) -> Answer<T> {
        self.settle_open(cx.replies);
        match self.state {
            _ if !allowed => Answer::Ready(Err(Errno::BadHandle)),
            GuestState::Opening(_) => Answer::AwaitingOpen,
            GuestState::Failed(e) => Answer::Ready(Err(e)),
            GuestState::Open(remote) => match cx.lock().scheme_request(&self.scheme, op(remote)) {
                Ok(tag) => Answer::Sent(tag),
                // The provider is gone.
                Err(Errno::NotFound) => Answer::Ready(Err(Errno::Io)),
                Err(e) => Answer::Ready(Err(e)),
            },
        }
    }
}

impl ControlFile for GuestFile {
    fn stat(&mut self, cx: &mut Context<'_>) -> Answer<Stat> {
        self.send(cx, true, |id| SchemeOp::Fstat { id })
    }

    fn read(&mut self, cx: &mut Context<'_>, offset: u64, len: usize) -> Answer<Vec<u8>> {
        let len = len.min(u32::MAX as usize) as u32;
        let allowed = self.readable;
        self.send(cx, allowed, |id| SchemeOp::Read { id, offset, len })
    }

    fn write(&mut self, cx: &mut Context<'_>, offset: u64, data: &[u8]) -> Answer<usize> {
        let allowed = self.writable;
        self.send(cx, allowed, |id| SchemeOp::Write { id, offset, data })
    }

    fn fpath(&mut self, cx: &mut Context<'_>, _path: &str) -> Answer<String> {
        self.send(cx, true, |id| SchemeOp::Fpath { id })
    }

    fn getdents(&mut self, cx: &mut Context<'_>, offset: u64) -> Answer<Vec<Entry>> {
        let allowed = self.readable;
        self.send(cx, allowed, |id| SchemeOp::Getdents { id, offset })
    }

    fn truncate(&mut self, cx: &mut Context<'_>, len: u64) -> Answer<()> {
        let allowed = self.writable;
        self.send(cx, allowed, |id| SchemeOp::Ftruncate { id, len })
    }

    fn sync(&mut self, cx: &mut Context<'_>) -> Answer<()> {
        self.send(cx, true, |id| SchemeOp::Fsync { id })
    }

    /// Waits for the provider's answer to the open; its refusal is the
    /// error.
    fn opened(&mut self, cx: &mut Context<'_>) -> Answer<()> {
        self.settle_open(cx.replies);
        match self.state {
            GuestState::Opening(_) => Answer::AwaitingOpen,
            GuestState::Failed(e) => Answer::Ready(Err(e)),
            GuestState::Open(_) => Answer::Ready(Ok(())),
        }
    }

    fn reply_output(&self, op: &PendingOp, reply: Reply) -> Result<Output, Errno> {
        reply_output(op, reply, &self.prefix)
    }

    /// Tells the provider the file is closed (or will be, once its open
    /// is answered).
    fn close(self: Box<Self>, cx: &mut Context<'_>) {
        match self.state {
            GuestState::Open(remote) => {
                let _ = cx.lock().scheme_request(&self.scheme, SchemeOp::Close { id: remote });
            }
            GuestState::Opening(tag) => {
                cx.replies.orphan_opens.insert(tag, self.scheme);
            }
            GuestState::Failed(_) => {}
        }
    }
}

/// The answer to `op` that the provider's `reply` gives; `prefix` is the
/// `/scheme/...` path its paths are relative to.
pub(crate) fn reply_output(op: &PendingOp, reply: Reply, prefix: &str) -> Result<Output, Errno> {
    match (op, reply) {
        (_, Reply::Error(e)) => Err(e),
        // A provider's answer never exceeds the request: more data than
        // asked for, or a count above what was written, is Errno::Io.
        (PendingOp::Read { len, .. }, Reply::Data(d)) if d.len() <= *len => Ok(Output::Data(d)),
        (PendingOp::Write { data, .. }, Reply::Value(n)) if n <= data.len() as u64 => {
            Ok(Output::Count(n as usize))
        }
        (PendingOp::Fstat, Reply::Stat(s)) => Ok(Output::Stat(s)),
        (PendingOp::Fpath, Reply::Data(d)) => {
            let path = String::from_utf8_lossy(&d).trim_start_matches('/').to_string();
            Ok(Output::Path(if path.is_empty() { prefix.to_string() } else { format!("{prefix}/{path}") }))
        }
        (PendingOp::Ftruncate { .. } | PendingOp::Fsync | PendingOp::Unlink, Reply::Value(_)) => {
            Ok(Output::Done)
        }
        (PendingOp::Getdents { .. }, Reply::Dirents(v)) => Ok(Output::Entries(
            v.into_iter().map(|e| Entry { name: e.name, kind: e.kind, next: e.next }).collect(),
        )),
        (op, reply) => {
            log::warn!("scheme provider answered {op:?} with {reply:?}");
            Err(Errno::Io)
        }
    }
}
