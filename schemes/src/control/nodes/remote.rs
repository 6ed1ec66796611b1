//! `node/`: the other nodes of the cluster (see [`crate::cluster`]).
//!
//! | type | path | what it does |
//! |---|---|---|
//! | [`NodeDir`] | `node/` | one entry per node alive (this one included) |
//! | [`RemoteFile`] | `node/NAME/PATH` | `PATH` of node `NAME`'s tree, opened there for this node, read and written as a local file is (reads that wait there wait here) |
//!
//! A `RemoteFile` opens its file on the other node at its first read or
//! write (an open here answers at once, as every open must on Redox; a
//! failed remote open is that first request's error), then sends each
//! read and write there by handle, one at a time, and closes it there
//! when it is closed here. `node/SELF/PATH`, this node's own name, is
//! simply `PATH` (`Daemon::open` opens it locally). Without a cluster
//! `node/` does not exist.

use wasmd_abi::Errno;

use wasmd_abi::scheme::{kind, mode, Stat};

use crate::cluster::wire::{Reply, Request};
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
    Read { offset: u64, len: usize },
    Write { offset: u64, len: usize },
}

/// `node/NAME/PATH` of another node.
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
            reason: None,
        })
    }

    /// Does `op` (`request` makes its request once the file is open):
    /// its reply when it came, else sends what comes next.
    fn perform(
        &mut self,
        cx: &mut Context<'_>,
        op: Op,
        request: impl FnOnce(u64) -> Request,
    ) -> Answer<Reply> {
        if let Some((done, _)) = &self.answered {
            if *done == op {
                let (_, reply) = self.answered.take().expect("just seen");
                return Answer::Ready(reply.map_err(|f| {
                    self.reason = Some(f.reason);
                    f.errno
                }));
            }
        }
        if let Some(e) = self.refused {
            return Answer::Ready(Err(e));
        }
        if self.asked.is_some() || self.answered.is_some() {
            // One request at a time: this one is asked again later.
            return Answer::NotReady;
        }
        let (next, request) = match self.handle {
            None => (Op::Open, Request::Open { path: self.path.clone(), flags: self.flags }),
            Some(handle) => (op, request(handle)),
        };
        let id = cx.id;
        let Some(cluster) = cx.cluster.as_mut() else { return Answer::Ready(Err(Errno::NotFound)) };
        if let Err(e) = cluster.ask(&self.node, request, id) {
            self.reason = Some(format!("cannot ask node {}: {e}", self.node));
            return Answer::Ready(Err(e));
        }
        self.asked = Some(next);
        Answer::NotReady
    }
}

impl ControlFile for RemoteFile {
    fn stat(&mut self, cx: &mut Context<'_>) -> Answer<Stat> {
        cx.stat(mode::MODE_FILE | 0o644, 0)
    }

    fn read(&mut self, cx: &mut Context<'_>, offset: u64, len: usize) -> Answer<Vec<u8>> {
        let wire_len = u32::try_from(len).unwrap_or(u32::MAX);
        let op = Op::Read { offset, len };
        match self.perform(cx, op, |handle| Request::Read { handle, offset, len: wire_len }) {
            Answer::Ready(Ok(Reply::Data { mut data })) => {
                data.truncate(len);
                Answer::Ready(Ok(data))
            }
            Answer::Ready(Ok(other)) => Answer::Ready(Err(self.odd(&other))),
            Answer::Ready(Err(e)) => Answer::Ready(Err(e)),
            Answer::NotReady => Answer::NotReady,
            Answer::AwaitingOpen | Answer::Sent(_) => Answer::NotReady,
        }
    }

    fn write(&mut self, cx: &mut Context<'_>, offset: u64, data: &[u8]) -> Answer<usize> {
        let op = Op::Write { offset, len: data.len() };
        match self.perform(cx, op, |handle| Request::Write { handle, offset, data: data.to_vec() }) {
            Answer::Ready(Ok(Reply::Count { count })) => Answer::Ready(Ok(count.min(data.len()))),
            Answer::Ready(Ok(other)) => Answer::Ready(Err(self.odd(&other))),
            Answer::Ready(Err(e)) => Answer::Ready(Err(e)),
            Answer::NotReady => Answer::NotReady,
            Answer::AwaitingOpen | Answer::Sent(_) => Answer::NotReady,
        }
    }

    fn fpath(&mut self, _cx: &mut Context<'_>, path: &str) -> Answer<String> {
        Answer::Ready(Ok(format!("/scheme/wasm/{path}")))
    }

    /// Any length, as a no-op: a shell's `>` truncates.
    fn truncate(&mut self, _cx: &mut Context<'_>, _len: u64) -> Answer<()> {
        Answer::Ready(Ok(()))
    }

    fn readiness(&mut self, _cx: &mut Context<'_>) -> u32 {
        if self.asked.is_some() {
            0
        } else {
            crate::control::EVENT_READ | crate::control::EVENT_WRITE
        }
    }

    fn remote_reply(&mut self, reply: Result<Reply, Failure>) {
        match (self.asked.take(), reply) {
            (Some(Op::Open), Ok(Reply::Opened { handle })) => self.handle = Some(handle),
            (Some(Op::Open), Ok(Reply::Failed { errno, reason })) => {
                self.reason = Some(format!("node {}: {reason}", self.node));
                self.refused = Some(Errno::from_errno(errno));
            }
            (Some(Op::Open), Ok(other)) => self.refused = Some(self.odd(&other)),
            (Some(Op::Open), Err(f)) => {
                self.reason = Some(f.reason);
                self.refused = Some(f.errno);
            }
            (Some(op), Ok(Reply::Failed { errno, reason })) => {
                let why = format!("node {}: {reason}", self.node);
                self.answered = Some((op, Err(Failure::new(Errno::from_errno(errno), why))));
            }
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
    /// A reply that does not answer the request: `EIO`, said.
    fn odd(&mut self, reply: &Reply) -> Errno {
        self.reason = Some(format!("node {} answered {reply:?}", self.node));
        Errno::Io
    }
}
