//! The daemon's side of the cluster ([`crate::cluster`]): replies of other
//! nodes go to the tree files that asked ([`ControlFile::remote_reply`]),
//! and requests of other nodes are done on this node's tree, for the
//! node's remote identity, as a local client's would be.
//!
//! Files opened for another node are kept under their file id (the
//! handle that node uses), at most [`MAX_FILES_PER_NODE`] per node, and
//! closed when it closes them or leaves the cluster. Their reads and
//! writes are the daemon's own requests, under tokens with the top bit
//! set ([`REMOTE_TOKENS`]; a frontend's tokens are counters from 1): one
//! answered at once is replied at once, one that waits (an exit, output,
//! a guest scheme's reply) is replied when its completion comes, at most
//! [`MAX_WAITING`] at a time and [`MAX_WAITING_PER_NODE`] of one node. A spawn waits for its module to load: the
//! `spawn` file opened for it is looked at after each step until its pid
//! (or its failure) can be read, at most [`MAX_SPAWNS`] at a time.
//!
//! [`ControlFile::remote_reply`]: super::file::ControlFile::remote_reply

use std::collections::HashMap;

use wasmd_abi::Errno;

use wasmd_abi::scheme::flags;

use super::file::Failure;
use super::pending::NO_FILE;
use super::{Daemon, Output, Poll, Token, MAX_READ};
use crate::cluster::wire::{Reply, Request, WireEntry};
use crate::cluster::{Cluster, Event, Waiter};

/// Spawns for other nodes waiting for their module at a time.
pub const MAX_SPAWNS: usize = 256;
/// Files one other node may hold open here.
pub const MAX_FILES_PER_NODE: usize = 1024;
/// Reads and writes of other nodes waiting here at a time.
pub const MAX_WAITING: usize = 4096;
/// Reads and writes of one other node waiting here at a time (so no node
/// takes all of [`MAX_WAITING`]).
pub const MAX_WAITING_PER_NODE: usize = 1024;
/// The top bit: the tokens of requests done for other nodes.
pub const REMOTE_TOKENS: Token = 1 << 63;

/// What other nodes have here.
#[derive(Debug, Default)]
pub(crate) struct Serving {
    /// Files opened for other nodes: file id (their handle) → node.
    files: HashMap<u64, String>,
    /// Requests waiting: token → where to reply, the file, and its node.
    waiting: HashMap<Token, (async_nats::Subject, u64, String)>,
    /// Requests waiting, by node.
    waiting_of: HashMap<String, usize>,
    /// Those of `waiting` that are opens (of guest-scheme files whose
    /// provider has not answered yet), with their paths.
    opening: HashMap<Token, String>,
    next_token: u64,
    /// Spawns waiting for their module: the `spawn` file, where to
    /// reply, and what the asking guest wants set up with the child.
    spawns: Vec<(u64, async_nats::Subject, Option<ForGuest>)>,
}

/// A spawn for a guest of another node: that node, the guest, its link
/// and monitor.
#[derive(Debug)]
struct ForGuest {
    node: String,
    by: u32,
    link: bool,
    monitor: Option<u64>,
}

impl Serving {
    /// A request of `node` that waited is done.
    fn stop_waiting(&mut self, node: &str) {
        if let Some(n) = self.waiting_of.get_mut(node) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.waiting_of.remove(node);
            }
        }
    }

    /// True when file `id` was opened here for `node`.
    pub(crate) fn is_theirs(&self, id: u64, node: &str) -> bool {
        self.files.get(&id).is_some_and(|n| n == node)
    }

    /// File `id` of `node` is closed (its bridge ended).
    pub(crate) fn forget_file(&mut self, id: u64, node: &str) {
        if self.is_theirs(id, node) {
            self.files.remove(&id);
        }
    }
}

impl Daemon {
    /// Joins `cluster`: from now on `node/` shows its nodes, spawn specs
    /// may name one, and other nodes' requests are served.
    pub fn join_cluster(&mut self, cluster: Cluster) {
        if let Some(w) = &self.waker {
            cluster.set_waker(w.clone());
        }
        {
            let mut pm = self.kernel.lock();
            cluster.attach(&mut pm, self.kernel.handle());
            pm.join_cluster();
            if let Err(e) = pm.serve_scheme(super::guest_remote::SCHEME) {
                log::warn!("guests cannot reach other nodes: the scheme `node` is taken ({e})");
            }
        }
        self.cluster = Some(cluster);
    }

    /// The cluster joined, if any.
    pub fn cluster(&self) -> Option<&Cluster> {
        self.cluster.as_ref()
    }

    /// Delivers replies, forgets nodes that left and serves requests of
    /// other nodes.
    pub(super) fn serve_cluster(&mut self) {
        let Some(cluster) = self.cluster.as_mut() else { return };
        let (events, left) = cluster.take_events();
        let mut names_moved = false;
        if !left.is_empty() {
            // Their names go before their processes' ends are told: a
            // guest woken by a `noconnection` finds no stale name.
            self.learn_cluster_names();
        }
        for node in left {
            let theirs: Vec<u64> =
                self.remote.files.iter().filter(|(_, n)| **n == node).map(|(id, _)| *id).collect();
            log::info!("node {node} left the cluster: closing the {} files it had open here", theirs.len());
            for id in theirs {
                self.close_theirs(&node, id);
            }
            self.kernel.lock().node_left(&node);
        }
        for (file, event) in events {
            match event {
                Event::Reply { reply, .. } => match file {
                    Some(Waiter::File(id)) => {
                        let Some((open, mut cx)) = self.file_mut(id) else { continue };
                        open.file
                            .remote_reply(&mut cx, reply.map_err(|(errno, why)| Failure::new(errno, why)));
                    }
                    Some(Waiter::Spawn(token)) => self.guest_spawned(token, reply),
                    Some(Waiter::Guest(tag)) => self.guest_reply(tag, reply),
                    Some(Waiter::Remove(token)) => self.removed(token, reply),
                    None => {}
                },
                Event::Names => names_moved = true,
                Event::Bridge { id, news } => self.bridge_news(id, news),
                Event::FramesEnded { from, handle } => self.close_theirs(&from, handle),
                Event::Incoming { from, request, reply_to } => {
                    if let Some(reply) = self.serve_request(&from, request, reply_to.clone()) {
                        self.answer(reply_to, reply);
                    }
                }
                // Already turned into the `left` list.
                Event::Left { .. } => {}
            }
        }
        self.look_at_spawns();
        if names_moved {
            self.learn_cluster_names();
        }
        self.share_names();
        self.send_remote_ops();
        self.serve_guest_files();
    }

    /// The reply of another node to a frontend's unlink (dropped when
    /// the unlink was cancelled).
    fn removed(&mut self, token: Token, reply: Result<Reply, (Errno, String)>) {
        if !self.removing.remove(&token) {
            return;
        }
        let result = match reply {
            Ok(Reply::Done) => Ok(Output::Done),
            Ok(Reply::Failed { errno, .. }) => Err(Errno::from_errno(errno)),
            Ok(_) => Err(Errno::Io),
            Err((e, _)) => Err(e),
        };
        self.completions.push(super::Completion { token, result });
    }

    /// Replies the completions of other nodes' requests that waited
    /// (after pending requests were asked again).
    pub(super) fn answer_remote_completions(&mut self) {
        if self.remote.waiting.is_empty() {
            return;
        }
        let (mine, theirs): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.completions).into_iter().partition(|c| c.token & REMOTE_TOKENS != 0);
        self.completions = theirs;
        for c in mine {
            let Some((reply_to, id, node)) = self.remote.waiting.remove(&c.token) else { continue };
            self.remote.stop_waiting(&node);
            if let Some(path) = self.remote.opening.remove(&c.token) {
                let reply = match c.result {
                    Ok(_) => {
                        self.offer_frames(&node, id);
                        Reply::Opened { handle: id }
                    }
                    Err(e) => {
                        self.close_theirs(&node, id);
                        failed(e, format!("cannot open {path}: {e}"))
                    }
                };
                self.answer(reply_to, reply);
                continue;
            }
            let reply = match c.result {
                Ok(Output::Data(data)) => Reply::Data { data },
                Ok(Output::Count(count)) => Reply::Count { count },
                Ok(Output::Entries(entries)) => entries_reply(entries),
                Ok(_) => Reply::Done,
                Err(e) => failed(e, self.reason_of(id).unwrap_or_else(|| e.to_string())),
            };
            self.answer(reply_to, reply);
        }
    }

    fn answer(&self, reply_to: async_nats::Subject, reply: Reply) {
        if let Some(c) = &self.cluster {
            c.answer(reply_to, reply);
        }
    }

    /// Does `request` of node `from`; its reply, or `None` when it comes
    /// later.
    fn serve_request(
        &mut self,
        from: &str,
        request: Request,
        reply_to: async_nats::Subject,
    ) -> Option<Reply> {
        let caller = self.cluster.as_ref()?.remote_user();
        Some(match request {
            Request::Open { path, flags } => {
                let first = path.trim_matches('/').split('/').next().unwrap_or("");
                if first == "node" {
                    return Some(failed(Errno::NotSupported, "`node/` paths do not cross nodes".into()));
                }
                if self.remote.files.values().filter(|n| *n == from).count() >= MAX_FILES_PER_NODE {
                    let why = format!("node {from} has {MAX_FILES_PER_NODE} files open here already");
                    return Some(failed(Errno::TooManyHandles, why));
                }
                let id = match self.open(&path, flags, caller) {
                    Ok(id) => id,
                    Err(e) => return Some(failed(e, format!("cannot open {path}: {e}"))),
                };
                self.remote.files.insert(id, from.to_string());
                // Unlike an OS open, this one may wait: a guest scheme's
                // file is theirs once its provider said yes.
                let token = self.fresh_token();
                match self.opened(id, token) {
                    Poll::Ready(Ok(())) => {
                        self.offer_frames(from, id);
                        Reply::Opened { handle: id }
                    }
                    Poll::Ready(Err(e)) => {
                        self.close_theirs(from, id);
                        failed(e, format!("cannot open {path}: {e}"))
                    }
                    Poll::Pending => {
                        let waited = self.wait_for(from, token, reply_to, id);
                        if waited.is_none() {
                            self.remote.opening.insert(token, path);
                        } else {
                            self.close_theirs(from, id);
                        }
                        return waited;
                    }
                }
            }
            Request::Read { handle, offset, len } => {
                let Some(token) = self.remote_token(from, handle) else { return Some(not_yours(handle)) };
                let len = (len as usize).min(MAX_READ);
                let polled = self.read(handle, offset, len, false, token).map_ok(|data| Reply::Data { data });
                return self.reply_or_wait(from, token, reply_to, handle, polled);
            }
            Request::Write { handle, offset, data } => {
                let Some(token) = self.remote_token(from, handle) else { return Some(not_yours(handle)) };
                let polled =
                    self.write(handle, offset, &data, false, token).map_ok(|count| Reply::Count { count });
                return self.reply_or_wait(from, token, reply_to, handle, polled);
            }
            Request::List { handle, offset } => {
                let Some(token) = self.remote_token(from, handle) else { return Some(not_yours(handle)) };
                let polled = self.getdents(handle, offset, token).map_ok(entries_reply);
                return self.reply_or_wait(from, token, reply_to, handle, polled);
            }
            Request::Truncate { handle, len } => {
                let Some(token) = self.remote_token(from, handle) else { return Some(not_yours(handle)) };
                let polled = self.ftruncate(handle, len, token).map_ok(|()| Reply::Done);
                return self.reply_or_wait(from, token, reply_to, handle, polled);
            }
            Request::Sync { handle } => {
                let Some(token) = self.remote_token(from, handle) else { return Some(not_yours(handle)) };
                let polled = self.fsync(handle, token).map_ok(|()| Reply::Done);
                return self.reply_or_wait(from, token, reply_to, handle, polled);
            }
            Request::Remove { path, flags } => {
                if path.trim_matches('/').split('/').next() == Some("node") {
                    return Some(failed(Errno::NotSupported, "`node/` paths do not cross nodes".into()));
                }
                let token = self.fresh_token();
                let polled = self.unlink(&path, flags, token).map_ok(|()| Reply::Done);
                return self.reply_or_wait(from, token, reply_to, NO_FILE, polled);
            }
            Request::Close { handle } => {
                if self.remote.files.get(&handle).is_none_or(|n| n != from) {
                    return Some(not_yours(handle));
                }
                self.close_theirs(from, handle);
                Reply::Done
            }
            Request::Spawn { spec, by, link, monitor } => {
                if self.remote.spawns.len() >= MAX_SPAWNS {
                    return Some(failed(Errno::Busy, "too many spawns from other nodes at once".into()));
                }
                let id = match self.open("spawn", flags::O_RDWR, caller) {
                    Ok(id) => id,
                    Err(e) => return Some(failed(e, format!("cannot open spawn: {e}"))),
                };
                match self.write(id, 0, spec.as_bytes(), true, REMOTE_TOKENS) {
                    Poll::Ready(Ok(_)) => {
                        let guest = by.map(|by| ForGuest { node: from.to_string(), by, link, monitor });
                        self.remote.spawns.push((id, reply_to, guest));
                        return None;
                    }
                    Poll::Ready(Err(e)) => self.fail_and_close(id, e),
                    Poll::Pending => {
                        self.close(id);
                        failed(Errno::Io, "the spawn file waited".into())
                    }
                }
            }
        })
    }

    /// A fresh token for a request of `from` on its file `handle`
    /// (`None`: not a file of that node's).
    fn remote_token(&mut self, from: &str, handle: u64) -> Option<Token> {
        if self.remote.files.get(&handle).is_none_or(|n| n != from) {
            return None;
        }
        Some(self.fresh_token())
    }

    /// A fresh token for a request of another node.
    fn fresh_token(&mut self) -> Token {
        self.remote.next_token += 1;
        REMOTE_TOKENS | self.remote.next_token
    }

    /// The reply to a request of `node` (under `token`, on file `id` or
    /// [`NO_FILE`]) that was done or failed now; `None` when it waits
    /// (it is replied when its completion comes).
    fn reply_or_wait(
        &mut self,
        node: &str,
        token: Token,
        reply_to: async_nats::Subject,
        id: u64,
        polled: Poll<Reply>,
    ) -> Option<Reply> {
        match polled {
            Poll::Ready(Ok(reply)) => Some(reply),
            Poll::Ready(Err(e)) => Some(failed(e, self.reason_of(id).unwrap_or_else(|| e.to_string()))),
            Poll::Pending => self.wait_for(node, token, reply_to, id),
        }
    }

    /// Keeps a request of `node` that waits, within [`MAX_WAITING`] and
    /// [`MAX_WAITING_PER_NODE`].
    fn wait_for(
        &mut self,
        node: &str,
        token: Token,
        reply_to: async_nats::Subject,
        id: u64,
    ) -> Option<Reply> {
        let node = node.to_string();
        let of_node = self.remote.waiting_of.get(&node).copied().unwrap_or(0);
        if self.remote.waiting.len() >= MAX_WAITING || of_node >= MAX_WAITING_PER_NODE {
            self.cancel(token);
            self.completions.retain(|c| c.token != token);
            let why = if of_node >= MAX_WAITING_PER_NODE {
                format!("node {node} has {MAX_WAITING_PER_NODE} requests waiting here already")
            } else {
                "too many requests of other nodes wait here".into()
            };
            return Some(failed(Errno::Busy, why));
        }
        *self.remote.waiting_of.entry(node.clone()).or_default() += 1;
        self.remote.waiting.insert(token, (reply_to, id, node));
        None
    }

    /// Answers the spawns whose pid can be read now.
    fn look_at_spawns(&mut self) {
        let mut still = Vec::new();
        for (id, reply_to, guest) in std::mem::take(&mut self.remote.spawns) {
            let reply = match self.read(id, 0, 32, true, REMOTE_TOKENS) {
                Poll::Ready(Ok(bytes)) => {
                    self.close(id);
                    match String::from_utf8_lossy(&bytes).trim().parse() {
                        Ok(pid) => {
                            if let Some(g) = guest {
                                self.watch_spawned(&g.node, g.by, pid, g.link, g.monitor);
                            }
                            Reply::Spawned { pid }
                        }
                        Err(_) => failed(Errno::Io, "the spawn gave no pid".into()),
                    }
                }
                Poll::Ready(Err(Errno::WouldBlock)) => {
                    still.push((id, reply_to, guest));
                    continue;
                }
                Poll::Ready(Err(e)) => self.fail_and_close(id, e),
                Poll::Pending => {
                    self.close(id);
                    failed(Errno::Io, "the spawn file waited".into())
                }
            };
            self.answer(reply_to, reply);
        }
        self.remote.spawns = still;
    }

    /// Why the last request on file `id` failed, when it said.
    fn reason_of(&self, id: u64) -> Option<String> {
        let open = self.files.get(&id)?;
        open.file.reason().or(open.failed.as_deref()).map(String::from)
    }

    /// The failure of a request on `id` (with the file's reason), which
    /// is closed.
    fn fail_and_close(&mut self, id: u64, e: Errno) -> Reply {
        let reason = self.reason_of(id);
        self.close(id);
        failed(e, reason.unwrap_or_else(|| e.to_string()))
    }
}

fn entries_reply(entries: Vec<super::Entry>) -> Reply {
    let entries =
        entries.into_iter().map(|e| WireEntry { name: e.name, kind: e.kind, next: e.next }).collect();
    Reply::Entries { entries }
}

fn not_yours(handle: u64) -> Reply {
    failed(Errno::BadHandle, format!("no file {handle} is open here for that node"))
}

fn failed(e: Errno, reason: String) -> Reply {
    Reply::Failed { errno: e.errno(), reason }
}
