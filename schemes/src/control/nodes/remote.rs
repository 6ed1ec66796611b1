//! `node/`: the other nodes of the cluster (see [`crate::cluster`]).
//!
//! | type | path | what it does |
//! |---|---|---|
//! | [`NodeDir`] | `node/` | one entry per node alive (this one included) |
//! | [`RemoteFile`] | `node/NAME/PATH` | `PATH` of node `NAME`'s tree, opened there for this node, read, written and listed as a local file is (reads that wait there wait here) |
//!
//! A `RemoteFile` opens its file on the other node at its first read or
//! write (an open here answers at once, as every open must on Redox; a
//! failed remote open is that first request's error), then sends each
//! read, write, listing, resize and flush there by handle, one at a time,
//! and closes it there when it is closed here. `node/SELF/PATH`, this node's own name, is
//! simply `PATH` (`Daemon::open` opens it locally). Without a cluster
//! `node/` does not exist.

use wasmd_abi::Errno;

use wasmd_abi::scheme::{flags, kind, mode, Stat};

use crate::cluster::wire::{Reply, Request};
use crate::cluster::Waiter;
use crate::control::file::{Answer, Context, ControlFile, Failure};
use crate::control::nodes::dirs::Directory;
use crate::control::Entry;

/// `node/`.
#[derive(Debug)]
pub(crate) struct NodeDir;

impl Directory for NodeDir {
    fn entries(&self, cx: &Context<'_>) -> Vec<Entry> {
        let nodes = cx.cluster.as_ref().map(|c| c.nodes()).unwrap_or_default();
        nodes.into_iter().map(|name| Entry { name, kind: kind::DIRECTORY, next: 0 }).collect()
    }
}

/// An operation of a [`RemoteFile`], as far as its reply must match it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Open,
    /// A read (its reply goes to the next read: streams and channels
    /// ignore the offset, and a waiting read is asked again as it was).
    Read,
    /// A write of `len` bytes someone waits for.
    Write {
        len: usize,
    },
    /// A write of a non-blocking caller, reported written when sent: its
    /// failure, if any, is the next request's error.
    Posted,
    /// A listing.
    List,
    /// A resize (`ftruncate`).
    Truncate,
    /// A flush (`fsync`).
    Sync,
}

/// What [`RemoteFile::exchange`] did.
#[derive(Debug)]
enum Exchange {
    /// The reply came (or the request failed here).
    Done(Result<Reply, Errno>),
    /// Sent this request.
    Sent(Op),
    /// Another request is in flight.
    Busy,
}

/// `node/NAME/PATH` of another node.
///
/// One request is in flight at a time. A blocking read or write waits
/// for its reply. A non-blocking caller is never kept waiting: a read
/// gets `EAGAIN` while it is asked for (a read-ahead: its reply is the
/// next read's, and `EVENT_READ` says when it came), and a write is
/// taken at once and sent (a credit of one write in flight: the next
/// one is `EAGAIN` until the other node took it — the network's form of
/// `Park` back-pressure — and a write it refused is the error of the
/// next request).
#[derive(Debug)]
pub(crate) struct RemoteFile {
    node: String,
    path: String,
    flags: u32,
    /// The file's handle there, once open.
    handle: Option<u64>,
    /// Why it could not be opened there.
    refused: Option<Errno>,
    /// The request in flight.
    asked: Option<Op>,
    /// A reply not yet taken by the request it answers.
    answered: Option<(Op, Result<Reply, Failure>)>,
    /// A posted write's failure, for the next request.
    late: Option<Failure>,
    reason: Option<String>,
}

impl RemoteFile {
    /// Opens `path` of `node` with `flags`: only checks that the node is
    /// alive.
    pub(crate) fn open(cx: &Context<'_>, node: &str, path: &str, flags: u32) -> Result<RemoteFile, Errno> {
        let cluster = cx.cluster.as_ref().ok_or(Errno::NotFound)?;
        if !cluster.knows(node) {
            return Err(Errno::NotFound);
        }
        Ok(RemoteFile {
            node: node.into(),
            path: path.into(),
            flags,
            handle: None,
            refused: None,
            asked: None,
            answered: None,
            late: None,
            reason: None,
        })
    }

    /// A failure for the caller, its reason kept for `error/ID`.
    fn fail(&mut self, f: Failure) -> Errno {
        self.reason = Some(f.reason);
        f.errno
    }

    /// The reply to `op` if it came; else, unless a request is in
    /// flight, sends the open or `request(handle)` as `sent`.
    fn exchange(
        &mut self,
        cx: &mut Context<'_>,
        op: Op,
        sent: Op,
        request: impl FnOnce(u64) -> Request,
    ) -> Exchange {
        if let Some(f) = self.late.take() {
            return Exchange::Done(Err(self.fail(f)));
        }
        if self.answered.as_ref().is_some_and(|(done, _)| *done == op) {
            let (_, reply) = self.answered.take().expect("just seen");
            return Exchange::Done(reply.map_err(|f| self.fail(f)));
        }
        if let Some(e) = self.refused {
            return Exchange::Done(Err(e));
        }
        if self.asked.is_some() || self.answered.is_some() {
            return Exchange::Busy;
        }
        let (next, request) = match self.handle {
            None => (Op::Open, Request::Open { path: self.path.clone(), flags: self.flags }),
            Some(handle) => (sent, request(handle)),
        };
        let id = cx.id;
        let Some(cluster) = cx.cluster.as_mut() else { return Exchange::Done(Err(Errno::NotFound)) };
        if let Err(e) = cluster.ask(&self.node, request, Waiter::File(id)) {
            self.reason = Some(format!("cannot ask node {}: {e}", self.node));
            return Exchange::Done(Err(e));
        }
        self.asked = Some(next);
        Exchange::Sent(next)
    }
}

impl ControlFile for RemoteFile {
    fn stat(&mut self, cx: &mut Context<'_>) -> Answer<Stat> {
        if self.is_dir() {
            return cx.stat(mode::MODE_DIR | 0o755, 0);
        }
        cx.stat(mode::MODE_FILE | 0o644, 0)
    }

    fn read(&mut self, cx: &mut Context<'_>, offset: u64, len: usize) -> Answer<Vec<u8>> {
        if let Some((Op::Read, Ok(Reply::Data { data }))) = &self.answered {
            if data.len() > len {
                // Kept for a read that can take it (a frame is never torn).
                return Answer::Ready(Err(Errno::MessageTooLong));
            }
        }
        let wire_len = u32::try_from(len).unwrap_or(u32::MAX);
        match self.exchange(cx, Op::Read, Op::Read, |handle| Request::Read { handle, offset, len: wire_len })
        {
            Exchange::Sent(_) | Exchange::Busy => Answer::NotReady,
            Exchange::Done(Ok(Reply::Data { data })) => Answer::Ready(Ok(data)),
            Exchange::Done(Ok(other)) => Answer::Ready(Err(self.odd(&other))),
            Exchange::Done(Err(e)) => Answer::Ready(Err(e)),
        }
    }

    fn write(&mut self, cx: &mut Context<'_>, offset: u64, data: &[u8]) -> Answer<usize> {
        let len = data.len();
        let sent = if cx.nonblock && self.handle.is_some() { Op::Posted } else { Op::Write { len } };
        let request = |handle| Request::Write { handle, offset, data: data.to_vec() };
        match self.exchange(cx, Op::Write { len }, sent, request) {
            Exchange::Sent(Op::Posted) => Answer::Ready(Ok(len)),
            Exchange::Sent(_) | Exchange::Busy => Answer::NotReady,
            Exchange::Done(Ok(Reply::Count { count })) => Answer::Ready(Ok(count.min(len))),
            Exchange::Done(Ok(other)) => Answer::Ready(Err(self.odd(&other))),
            Exchange::Done(Err(e)) => Answer::Ready(Err(e)),
        }
    }

    fn is_dir(&self) -> bool {
        // Known from how it was opened: the other node says whether it is.
        self.flags & flags::O_DIRECTORY != 0
    }

    fn getdents(&mut self, cx: &mut Context<'_>, offset: u64) -> Answer<Vec<Entry>> {
        match self.exchange(cx, Op::List, Op::List, |handle| Request::List { handle, offset }) {
            Exchange::Sent(_) | Exchange::Busy => Answer::NotReady,
            Exchange::Done(Ok(Reply::Entries { entries })) => Answer::Ready(Ok(entries
                .into_iter()
                .map(|e| Entry { name: e.name, kind: e.kind, next: e.next })
                .collect())),
            Exchange::Done(Ok(other)) => Answer::Ready(Err(self.odd(&other))),
            Exchange::Done(Err(e)) => Answer::Ready(Err(e)),
        }
    }

    fn fpath(&mut self, _cx: &mut Context<'_>, path: &str) -> Answer<String> {
        Answer::Ready(Ok(format!("/scheme/wasm/{path}")))
    }

    /// Resized there (a guest scheme's file asks its provider; the
    /// tree's `spawn` and `ctl` take any length, as here).
    fn truncate(&mut self, cx: &mut Context<'_>, len: u64) -> Answer<()> {
        let answer =
            self.exchange(cx, Op::Truncate, Op::Truncate, |handle| Request::Truncate { handle, len });
        self.done(answer)
    }

    /// Flushed there.
    fn sync(&mut self, cx: &mut Context<'_>) -> Answer<()> {
        let answer = self.exchange(cx, Op::Sync, Op::Sync, |handle| Request::Sync { handle });
        self.done(answer)
    }

    fn readiness(&mut self, _cx: &mut Context<'_>) -> u32 {
        let idle = self.asked.is_none() && self.answered.is_none();
        let read = idle || matches!(self.answered, Some((Op::Read, _)));
        let write = idle || matches!(self.answered, Some((Op::Write { .. }, _)));
        (if read { crate::control::EVENT_READ } else { 0 })
            | (if write { crate::control::EVENT_WRITE } else { 0 })
    }

    fn remote_reply(&mut self, _cx: &mut Context<'_>, reply: Result<Reply, Failure>) {
        let reply = match reply {
            Ok(Reply::Failed { errno, reason }) => {
                Err(Failure::new(Errno::from_errno(errno), format!("node {}: {reason}", self.node)))
            }
            other => other,
        };
        match (self.asked.take(), reply) {
            (Some(Op::Open), Ok(Reply::Opened { handle })) => self.handle = Some(handle),
            (Some(Op::Open), Ok(other)) => self.refused = Some(self.odd(&other)),
            (Some(Op::Open), Err(f)) => self.refused = Some(self.fail(f)),
            (Some(Op::Posted), Err(f)) => self.late = Some(f),
            (Some(Op::Posted), Ok(_)) => {}
            (Some(op), reply) => self.answered = Some((op, reply)),
            (None, _) => {}
        }
    }

    fn reason(&self) -> Option<&str> {
        self.reason.as_deref()
    }

    fn close(self: Box<Self>, cx: &mut Context<'_>) {
        let id = cx.id;
        if let Some(cluster) = cx.cluster.as_mut() {
            cluster.close_remote(id, &self.node, self.handle);
        }
    }
}

impl RemoteFile {
    /// The answer to a request that gives nothing back.
    fn done(&mut self, exchange: Exchange) -> Answer<()> {
        match exchange {
            Exchange::Sent(_) | Exchange::Busy => Answer::NotReady,
            Exchange::Done(Ok(Reply::Done)) => Answer::Ready(Ok(())),
            Exchange::Done(Ok(other)) => Answer::Ready(Err(self.odd(&other))),
            Exchange::Done(Err(e)) => Answer::Ready(Err(e)),
        }
    }

    /// A reply that does not answer the request: `EIO`, said.
    fn odd(&mut self, reply: &Reply) -> Errno {
        self.reason = Some(format!("node {} answered {reply:?}", self.node));
        Errno::Io
    }
}
