//! The daemon's side of the cluster ([`crate::cluster`]): replies of other
//! nodes go to the tree files that asked ([`ControlFile::remote_reply`]),
//! and requests of other nodes are done on this node's tree, for the
//! node's remote identity, as a local client's would be.
//!
//! A read or write of another node is answered at once, or refused: it
//! is done without blocking, so a file that would wait (`PID/wait`, a
//! stream, a guest scheme's file) answers `EAGAIN` or `ENOTSUP` rather
//! than holding the request. A spawn waits for its module to load: the
//! `spawn` file opened for it is looked at after each step until its pid
//! (or its failure) can be read, at most [`MAX_SPAWNS`] at a time.
//!
//! [`ControlFile::remote_reply`]: super::file::ControlFile::remote_reply

use wasmd_abi::Errno;

use wasmd_abi::scheme::flags;

use super::file::Failure;
use super::{Caller, Daemon, Poll, Token, MAX_READ};
use crate::cluster::wire::{Reply, Request};
use crate::cluster::{Cluster, Event};

/// Spawns for other nodes waiting for their module at a time.
pub const MAX_SPAWNS: usize = 256;

/// The token of requests done for other nodes (never pending: a request
/// that would wait is withdrawn at once).
const REMOTE_TOKEN: Token = u64::MAX - 1;

/// Spawns being done for other nodes: the `spawn` file and where to
/// answer.
#[derive(Debug, Default)]
pub(crate) struct Serving {
    spawns: Vec<(u64, async_nats::Subject)>,
}

impl Daemon {
    /// Joins `cluster`: from now on `node/` shows its nodes, spawn specs
    /// may name one, and other nodes' requests are served.
    pub fn join_cluster(&mut self, cluster: Cluster) {
        if let Some(w) = &self.waker {
            cluster.set_waker(w.clone());
        }
        self.cluster = Some(cluster);
    }

    /// The cluster joined, if any.
    pub fn cluster(&self) -> Option<&Cluster> {
        self.cluster.as_ref()
    }

    /// Delivers replies and serves requests of other nodes.
    pub(super) fn serve_cluster(&mut self) {
        let Some(cluster) = self.cluster.as_mut() else { return };
        for (file, event) in cluster.take_events() {
            match event {
                Event::Reply { reply, .. } => {
                    let Some(open) = file.and_then(|id| self.files.get_mut(&id)) else { continue };
                    open.file.remote_reply(reply.map_err(|why| Failure::new(Errno::TimedOut, why)));
                }
                Event::Incoming { request, reply_to } => {
                    if let Some(reply) = self.serve_request(request, reply_to.clone()) {
                        self.answer(reply_to, reply);
                    }
                }
            }
        }
        self.look_at_spawns();
    }

    fn answer(&self, reply_to: async_nats::Subject, reply: Reply) {
        if let Some(c) = &self.cluster {
            c.answer(reply_to, reply);
        }
    }

    /// Does `request`; its reply, or `None` when it comes later.
    fn serve_request(&mut self, request: Request, reply_to: async_nats::Subject) -> Option<Reply> {
        let caller = self.cluster.as_ref()?.remote_user();
        Some(match request {
            Request::Read { path } => self.remote_read(&path, caller),
            Request::Write { path, data } => self.remote_write(&path, data.as_bytes(), caller),
            Request::Spawn { spec } => {
                if self.remote.spawns.len() >= MAX_SPAWNS {
                    return Some(failed(Errno::Busy, "too many spawns from other nodes at once".into()));
                }
                let id = match self.open("spawn", flags::O_RDWR, caller) {
                    Ok(id) => id,
                    Err(e) => return Some(failed(e, format!("cannot open spawn: {e}"))),
                };
                match self.write(id, 0, spec.as_bytes(), true, REMOTE_TOKEN) {
                    Poll::Ready(Ok(_)) => {
                        self.remote.spawns.push((id, reply_to));
                        return None;
                    }
                    Poll::Ready(Err(e)) => self.fail_and_close(id, e),
                    Poll::Pending => self.withdraw(id),
                }
            }
        })
    }

    /// Reads all of `path` without waiting.
    fn remote_read(&mut self, path: &str, caller: Caller) -> Reply {
        if let Some(refused) = refused_path(path) {
            return refused;
        }
        let id = match self.open(path, flags::O_RDONLY, caller) {
            Ok(id) => id,
            Err(e) => return failed(e, format!("cannot open {path}: {e}")),
        };
        let mut data = Vec::new();
        loop {
            match self.read(id, data.len() as u64, MAX_READ - data.len(), true, REMOTE_TOKEN) {
                Poll::Ready(Ok(bytes)) if bytes.is_empty() || data.len() + bytes.len() >= MAX_READ => {
                    data.extend(bytes);
                    self.close(id);
                    return Reply::Data { data: String::from_utf8_lossy(&data).into_owned() };
                }
                Poll::Ready(Ok(bytes)) => data.extend(bytes),
                Poll::Ready(Err(e)) => return self.fail_and_close(id, e),
                Poll::Pending => return self.withdraw(id),
            }
        }
    }

    /// Writes `data` to `path` once, without waiting.
    fn remote_write(&mut self, path: &str, data: &[u8], caller: Caller) -> Reply {
        if let Some(refused) = refused_path(path) {
            return refused;
        }
        let id = match self.open(path, flags::O_WRONLY, caller) {
            Ok(id) => id,
            Err(e) => return failed(e, format!("cannot open {path}: {e}")),
        };
        match self.write(id, 0, data, true, REMOTE_TOKEN) {
            Poll::Ready(Ok(count)) => {
                self.close(id);
                Reply::Count { count }
            }
            Poll::Ready(Err(e)) => self.fail_and_close(id, e),
            Poll::Pending => self.withdraw(id),
        }
    }

    /// Answers the spawns whose pid can be read now.
    fn look_at_spawns(&mut self) {
        let mut still = Vec::new();
        for (id, reply_to) in std::mem::take(&mut self.remote.spawns) {
            let reply = match self.read(id, 0, 32, true, REMOTE_TOKEN) {
                Poll::Ready(Ok(bytes)) => {
                    self.close(id);
                    match String::from_utf8_lossy(&bytes).trim().parse() {
                        Ok(pid) => Reply::Spawned { pid },
                        Err(_) => failed(Errno::Io, "the spawn gave no pid".into()),
                    }
                }
                Poll::Ready(Err(Errno::WouldBlock)) => {
                    still.push((id, reply_to));
                    continue;
                }
                Poll::Ready(Err(e)) => self.fail_and_close(id, e),
                Poll::Pending => self.withdraw(id),
            };
            self.answer(reply_to, reply);
        }
        self.remote.spawns = still;
    }

    /// The failure of a request on `id` (with the file's reason), which
    /// is closed.
    fn fail_and_close(&mut self, id: u64, e: Errno) -> Reply {
        let open = self.files.get(&id);
        let reason = open.and_then(|o| o.file.reason().or(o.failed.as_deref()).map(String::from));
        self.close(id);
        failed(e, reason.unwrap_or_else(|| e.to_string()))
    }

    /// A request on `id` would have waited: withdrawn, and the file closed.
    fn withdraw(&mut self, id: u64) -> Reply {
        self.cancel(REMOTE_TOKEN);
        let path = self.files.get(&id).map(|o| o.path.clone()).unwrap_or_default();
        self.close(id);
        // The completion of the withdrawn request is this daemon's own.
        self.completions.retain(|c| c.token != REMOTE_TOKEN);
        failed(
            Errno::NotSupported,
            format!("{path} answers only by waiting: such files do not cross nodes yet"),
        )
    }
}

/// Paths other nodes may not use: `node/…` (a request would go round).
fn refused_path(path: &str) -> Option<Reply> {
    let first = path.trim_matches('/').split('/').next().unwrap_or("");
    (first == "node").then(|| failed(Errno::NotSupported, "`node/` paths do not cross nodes".into()))
}

fn failed(e: Errno, reason: String) -> Reply {
    Reply::Failed { errno: e.errno(), reason }
}
