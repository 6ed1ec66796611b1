//! Guests' files of other nodes: the `node` scheme.
//!
//! In a cluster the daemon serves the scheme `node` to its guests (the
//! process manager queues their fs requests on it as for a guest
//! provider, see `wasmhost::guest_scheme::SchemeTable::serve_embedded`):
//! `node:NAME/PATH` (or `/scheme/node/NAME/PATH`) is `PATH` of node
//! `NAME`'s tree, as `/scheme/wasm/node/NAME/PATH` is for native
//! programs — a guest scheme there (`node:a/scheme/ramfs/notes.txt`), a
//! process's `wait`, a channel's frames. A guest needs a namespace grant
//! for it (`node:a/scheme/ramfs`, `node:` for every node); the other node
//! does the request for its remote user under its own policy.
//!
//! Each request goes to the other node as a [`Request`] and its reply
//! comes back to the guest as the provider's reply would: an open gives
//! the guest an id here for that node's handle; reads and writes that
//! wait there wait here (the guest stays parked); a node that leaves
//! fails what waits on it with `EIO`. `Ftruncate`, `Fsync` and `Unlink`
//! are done there too; `Fstat` answers here (a file of unknown size);
//! `Fsize` and `Fpath` are `EOPNOTSUPP`.

use std::collections::HashMap;

use wasmd_abi::scheme::{mode, DirEntry, SchemeOp, SchemeReply, SchemeRequest, SchemeResult, Stat};
use wasmd_abi::{msg, Errno};

use super::Daemon;
use crate::cluster::wire::{Reply, Request};
use crate::cluster::Waiter;

/// The scheme guests reach other nodes' trees through.
pub const SCHEME: &str = "node";

/// Files of other nodes guests have open here.
#[derive(Debug, Default)]
pub(crate) struct GuestFiles {
    /// The guest's id → the node and its handle there.
    open: HashMap<u64, (String, u64)>,
    next: u64,
    /// Requests in flight, by tag: the node asked, for an open.
    opening: HashMap<u64, String>,
}

impl Daemon {
    /// Sends guests' new requests on `node:` to their nodes.
    pub(super) fn serve_guest_files(&mut self) {
        if self.cluster.is_none() {
            return;
        }
        let requests = self.kernel.lock().take_scheme_requests(SCHEME);
        for bytes in requests {
            let Ok(request) = msg::decode::<SchemeRequest<'_>>(&bytes) else { continue };
            if let Some(result) = self.send_guest_request(request.tag, request.op) {
                self.answer_guest(request.tag, result);
            }
        }
    }

    /// Asks the node a request is for; its answer now when it has one.
    fn send_guest_request(&mut self, tag: u64, op: SchemeOp<'_>) -> Option<Answer> {
        let files = &mut self.guest_files;
        let (node, request) = match op {
            SchemeOp::Open { path, flags } => {
                let (node, rest) = path.split_once('/').unwrap_or((path, ""));
                files.opening.insert(tag, node.to_string());
                (node.to_string(), Request::Open { path: rest.to_string(), flags })
            }
            SchemeOp::Close { id } => {
                if let (Some((node, handle)), Some(cluster)) = (files.open.remove(&id), self.cluster.as_mut())
                {
                    cluster.close_handle(&node, handle);
                }
                return None;
            }
            SchemeOp::Fstat { id } => {
                let stat = Stat { mode: mode::MODE_FILE | 0o644, size: 0, ino: id, nlink: 1, mtime: 0 };
                if !files.open.contains_key(&id) {
                    return Some(Answer::Error(Errno::BadHandle));
                }
                return Some(Answer::Stat(stat));
            }
            SchemeOp::Read { id, offset, len } => match files.open.get(&id) {
                Some((node, handle)) => (node.clone(), Request::Read { handle: *handle, offset, len }),
                None => return Some(Answer::Error(Errno::BadHandle)),
            },
            SchemeOp::Write { id, offset, data } => match files.open.get(&id) {
                Some((node, handle)) => {
                    (node.clone(), Request::Write { handle: *handle, offset, data: data.to_vec() })
                }
                None => return Some(Answer::Error(Errno::BadHandle)),
            },
            SchemeOp::Getdents { id, offset } => match files.open.get(&id) {
                Some((node, handle)) => (node.clone(), Request::List { handle: *handle, offset }),
                None => return Some(Answer::Error(Errno::BadHandle)),
            },
            SchemeOp::Ftruncate { id, len } => match files.open.get(&id) {
                Some((node, handle)) => (node.clone(), Request::Truncate { handle: *handle, len }),
                None => return Some(Answer::Error(Errno::BadHandle)),
            },
            SchemeOp::Fsync { id } => match files.open.get(&id) {
                Some((node, handle)) => (node.clone(), Request::Sync { handle: *handle }),
                None => return Some(Answer::Error(Errno::BadHandle)),
            },
            SchemeOp::Unlink { path, flags } => {
                let (node, rest) = path.split_once('/').unwrap_or((path, ""));
                if rest.is_empty() {
                    return Some(Answer::Error(Errno::PermissionDenied));
                }
                (node.to_string(), Request::Remove { path: rest.to_string(), flags })
            }
            _ => return Some(Answer::Error(Errno::NotSupported)),
        };
        let cluster = self.cluster.as_mut()?;
        if node.is_empty() || crate::cluster::wire::check_node_name(&node).is_err() {
            self.guest_files.opening.remove(&tag);
            return Some(Answer::Error(Errno::NotFound));
        }
        match cluster.ask(&node, request, Waiter::Guest(tag)) {
            Ok(()) => None,
            Err(e) => {
                self.guest_files.opening.remove(&tag);
                Some(Answer::Error(e))
            }
        }
    }

    /// The reply of another node to a guest's request `tag`.
    pub(super) fn guest_reply(&mut self, tag: u64, reply: Result<Reply, (Errno, String)>) {
        let opening = self.guest_files.opening.remove(&tag);
        let answer = match reply {
            Ok(Reply::Opened { handle }) => match opening {
                Some(node) => {
                    let files = &mut self.guest_files;
                    files.next += 1;
                    files.open.insert(files.next, (node, handle));
                    Answer::Value(files.next)
                }
                None => Answer::Error(Errno::Io),
            },
            Ok(Reply::Data { data }) => Answer::Data(data),
            Ok(Reply::Count { count }) => Answer::Value(count as u64),
            Ok(Reply::Entries { entries }) => Answer::Dirents(entries),
            Ok(Reply::Done) => Answer::Value(0),
            Ok(Reply::Spawned { .. }) => Answer::Error(Errno::Io),
            Ok(Reply::Failed { errno, .. }) => Answer::Error(Errno::from_errno(errno)),
            Err((e, _)) => Answer::Error(e),
        };
        self.answer_guest(tag, answer);
    }

    fn answer_guest(&mut self, tag: u64, answer: Answer) {
        let result = match &answer {
            Answer::Value(v) => SchemeResult::Value(*v),
            Answer::Data(d) => SchemeResult::Data(d),
            Answer::Stat(s) => SchemeResult::Stat(*s),
            Answer::Dirents(entries) => SchemeResult::Dirents(
                entries
                    .iter()
                    .map(|e| DirEntry { ino: 0, next: e.next, kind: e.kind, name: &e.name })
                    .collect(),
            ),
            Answer::Error(e) => SchemeResult::Error(e.errno()),
        };
        let bytes = msg::encode(&SchemeReply { tag, result });
        let _ = self.kernel.lock().answer_scheme_request(SCHEME, &bytes);
    }
}

/// What a guest's request is answered with.
#[derive(Debug)]
enum Answer {
    Value(u64),
    Data(Vec<u8>),
    Stat(Stat),
    Dirents(Vec<crate::cluster::wire::WireEntry>),
    Error(Errno),
}
