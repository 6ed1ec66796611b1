//! `node/`: the other nodes of the cluster (see [`crate::cluster`]).
//!
//! | type | path | what it does |
//! |---|---|---|
//! | [`NodeDir`] | `node/` | one entry per node alive (this one included) |
//! | [`RemoteFile`] | `node/NAME/PATH` | `PATH` of node `NAME`'s tree: the first read fetches the whole file from there (then reads come from what was fetched), a write is written there once |
//!
//! `node/SELF/PATH`, this node's own name, is simply `PATH` (the resolver
//! opens it locally). Without a cluster `node/` does not exist.

use wasmd_abi::Errno;

use wasmd_abi::scheme::{kind, mode, Stat};

use crate::cluster::wire::{Reply, Request};
use crate::control::file::{slice_at, Answer, Context, ControlFile, Failure};
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

/// Where a [`RemoteFile`]'s request is.
#[derive(Debug)]
enum State {
    /// Nothing asked yet.
    Idle,
    /// Asked; the reply has not come.
    Asked,
    /// The whole file, fetched.
    Fetched(Vec<u8>),
    /// What the write gave.
    Written(Result<usize, Errno>),
    /// The request failed.
    Failed(Errno),
}

/// `node/NAME/PATH` of another node.
#[derive(Debug)]
pub(crate) struct RemoteFile {
    node: String,
    path: String,
    state: State,
    reason: Option<String>,
}

impl RemoteFile {
    /// Opens `path` of `node`: only checks that the node is alive (an
    /// open answers at once; the node is asked at the first read or
    /// write).
    pub(crate) fn open(cx: &Context<'_>, node: &str, path: &str) -> Result<RemoteFile, Errno> {
        let cluster = cx.cluster.as_ref().ok_or(Errno::NotFound)?;
        if !cluster.knows(node) {
            return Err(Errno::NotFound);
        }
        Ok(RemoteFile { node: node.into(), path: path.into(), state: State::Idle, reason: None })
    }

    fn ask(&mut self, cx: &mut Context<'_>, request: Request) -> Result<(), Errno> {
        let id = cx.id;
        let cluster = cx.cluster.as_mut().ok_or(Errno::NotFound)?;
        cluster.ask(&self.node, request, id).inspect_err(|e| {
            self.reason = Some(format!("cannot ask node {}: {e}", self.node));
        })?;
        self.state = State::Asked;
        Ok(())
    }
}

impl ControlFile for RemoteFile {
    fn stat(&mut self, cx: &mut Context<'_>) -> Answer<Stat> {
        cx.stat(mode::MODE_FILE | 0o644, 0)
    }

    fn read(&mut self, cx: &mut Context<'_>, offset: u64, len: usize) -> Answer<Vec<u8>> {
        match &self.state {
            State::Idle => {
                let path = self.path.clone();
                match self.ask(cx, Request::Read { path }) {
                    Ok(()) => Answer::NotReady,
                    Err(e) => Answer::Ready(Err(e)),
                }
            }
            State::Asked => Answer::NotReady,
            State::Fetched(bytes) => Answer::Ready(Ok(slice_at(bytes, offset, len))),
            State::Written(_) => Answer::Ready(Err(Errno::BadHandle)),
            State::Failed(e) => Answer::Ready(Err(*e)),
        }
    }

    fn write(&mut self, cx: &mut Context<'_>, _offset: u64, data: &[u8]) -> Answer<usize> {
        match &self.state {
            State::Idle => {
                let Ok(text) = std::str::from_utf8(data) else {
                    self.reason = Some("only text crosses nodes".into());
                    return Answer::Ready(Err(Errno::InvalidArgument));
                };
                let request = Request::Write { path: self.path.clone(), data: text.into() };
                match self.ask(cx, request) {
                    Ok(()) => Answer::NotReady,
                    Err(e) => Answer::Ready(Err(e)),
                }
            }
            State::Asked => Answer::NotReady,
            State::Written(result) => {
                let result = *result;
                // Ready for another write.
                self.state = State::Idle;
                Answer::Ready(result)
            }
            State::Fetched(_) => Answer::Ready(Err(Errno::BadHandle)),
            State::Failed(e) => Answer::Ready(Err(*e)),
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
        match self.state {
            State::Asked => 0,
            _ => crate::control::EVENT_READ | crate::control::EVENT_WRITE,
        }
    }

    fn remote_reply(&mut self, reply: Result<Reply, Failure>) {
        self.state = match reply {
            Ok(Reply::Data { data }) => State::Fetched(data.into_bytes()),
            Ok(Reply::Count { count }) => State::Written(Ok(count)),
            Ok(Reply::Failed { errno, reason }) => {
                self.reason = Some(format!("node {}: {reason}", self.node));
                State::Failed(Errno::from_errno(errno))
            }
            Ok(Reply::Spawned { .. }) => State::Failed(Errno::Io),
            Err(f) => {
                self.reason = Some(f.reason);
                State::Failed(f.errno)
            }
        };
    }

    fn reason(&self) -> Option<&str> {
        self.reason.as_deref()
    }
}
