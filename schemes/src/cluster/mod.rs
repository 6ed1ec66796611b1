//! Many machines: daemons joined through a NATS server.
//!
//! A daemon started with `--nats URL` is a *node* of a cluster, named by
//! `--node NAME` (default: the host name). Nodes find each other by
//! heartbeats on `wasmd.heartbeat` (a node not heard from within
//! [`ClusterConfig::node_timeout`] is gone) and ask each other through
//! NATS request/reply on `wasmd.node.NAME.req` ([`wire`] documents every
//! subject and message). There is no wire protocol of wasmd's own: the
//! transport, its reconnects, credentials and server clustering are
//! NATS's.
//!
//! What crosses nodes so far:
//! - the tree of another node under `node/NAME/…` of the local tree
//!   (`node/NAME/ps`, `node/NAME/PID/wait`, `node/NAME/chan/ID`,
//!   `node/NAME/scheme/S/…`, …): each file is opened on that node for
//!   this one and used by handle, reads and writes that wait there wait
//!   here (`crate::control` has the file type, `RemoteFile`);
//! - spawns: a spawn spec with `node=NAME` starts the process on that
//!   node, and its pid reads back as `NAME/PID`;
//! - guests' processes: a guest's `spawn_on`, and links, monitors,
//!   kills of and messages to another node's processes, with their ends
//!   told back, as notices the link threads of both nodes carry between
//!   the process managers themselves (`notices`; a node that leaves
//!   ends them as `noconnection`);
//! - names: each node's registered names ride on its heartbeats (when
//!   they may be news to another node, see [`wire::Heartbeat`]), so the
//!   registry is cluster-wide (`crate::control` has both, in
//!   `remote_processes`);
//! - channel bridges: frames of a channel here into a channel there,
//!   moved by the link threads of both nodes themselves ([`bridge`]),
//!   never by the threads serving the control trees.
//!
//! The node that does a request does it for its *remote identity*
//! ([`ClusterConfig::remote_user`], by default `nobody`), under its own
//! policy: a remote caller never gets more than that local user would.
//!
//! Data flow: the link thread (`link`) owns the NATS client; the
//! daemon's [`Cluster`] hands it `link::Outgoing` work and takes its
//! `link::Event`s in [`crate::control::Daemon::step`], where replies
//! complete the files that asked and requests from other nodes are done
//! on the local tree.

pub mod bridge;
mod link;
mod notices;
pub mod wire;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use wasmd_abi::Errno;
use wasmhost::worker::Waker;
use wasmhost::{Owner, RegionWatcher};

use crate::ring::HostRing;

pub(crate) use bridge::BridgeNews;
pub(crate) use link::{Event, Outgoing};
use wire::{Reply, Request};

/// Requests to other nodes one daemon may have in flight.
pub const MAX_IN_FLIGHT: usize = 1024;

/// How a daemon joins a cluster.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// The NATS server, e.g. `nats://127.0.0.1:4222`.
    pub url: String,
    /// This node's name ([`wire::check_node_name`]).
    pub node: String,
    /// NATS user and password, if the server wants them.
    pub user_password: Option<(String, String)>,
    /// NATS token, if the server wants one.
    pub token: Option<String>,
    /// The seed of this node's NATS nkey (a user the server knows by its
    /// public key), if the server wants one.
    pub nkey_seed: Option<String>,
    /// NATS credentials (the text of a `.creds` file: a user JWT and its
    /// nkey seed), for a server in operator mode.
    pub creds: Option<String>,
    /// TLS to the server, if wanted (also when the URL is `tls://`).
    pub tls: Option<TlsConfig>,
    /// How often this node says it is alive.
    pub heartbeat: Duration,
    /// A node not heard from for this long is gone.
    pub node_timeout: Duration,
    /// How long a request to another node may take.
    pub request_timeout: Duration,
    /// How long joining may take.
    pub connect_timeout: Duration,
    /// Whom requests from other nodes act for here.
    pub remote_user: Owner,
}

impl ClusterConfig {
    /// Defaults for joining `url` as `node`: a heartbeat a second, gone
    /// after three missed, requests answered within 5 s, acting for
    /// `nobody` (65534).
    pub fn new(url: impl Into<String>, node: impl Into<String>) -> ClusterConfig {
        ClusterConfig {
            url: url.into(),
            node: node.into(),
            user_password: None,
            token: None,
            nkey_seed: None,
            creds: None,
            tls: None,
            heartbeat: Duration::from_secs(1),
            node_timeout: Duration::from_secs(3),
            request_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
            remote_user: Owner { uid: 65534, gid: 65534 },
        }
    }
}

/// TLS to the NATS server (rustls, with the pure-Rust RustCrypto
/// provider): the server's certificate is checked against the system's
/// roots and `ca`; `cert` and `key` prove this node's identity to a
/// server that asks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsConfig {
    /// PEM file of the authorities that signed the server's certificate.
    pub ca: Option<std::path::PathBuf>,
    /// PEM files of this node's certificate and key.
    pub cert_key: Option<(std::path::PathBuf, std::path::PathBuf)>,
}

/// Why a daemon could not join.
#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    /// A bad setting.
    #[error("{0}")]
    Config(String),
    /// The server could not be reached or refused.
    #[error("{0}")]
    Unreachable(String),
}

/// The daemon's side of its cluster link.
pub struct Cluster {
    config: ClusterConfig,
    out: tokio::sync::mpsc::UnboundedSender<Outgoing>,
    events: Receiver<Event>,
    waker: Arc<Mutex<Option<Waker>>>,
    peers: link::SharedPeers,
    /// The process manager's notice waker (see [`Cluster::attach`]).
    notice_waker: wasmhost::NoticeWaker,
    next_ticket: u64,
    /// Requests in flight, by ticket.
    asked: HashMap<u64, Asked>,
}

/// Who waits for a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Waiter {
    /// A tree file, by id.
    File(u64),
    /// A guest's `spawn_on`, by the manager's token.
    Spawn(u64),
    /// A guest's request on the `node` scheme, by its tag.
    Guest(u64),
    /// A frontend's unlink of `node/NAME/PATH`, by its token.
    Remove(u64),
}

/// A request in flight: who asked, and the node asked.
#[derive(Debug)]
struct Asked {
    waiter: Waiter,
    node: String,
    /// An open: if its file is closed before the reply, the reply's
    /// handle is closed there when it comes (so nothing stays open).
    opening: bool,
    /// Its file was closed: nobody takes the reply.
    orphaned: bool,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster").field("node", &self.config.node).field("asked", &self.asked.len()).finish()
    }
}

impl Cluster {
    /// Connects to the NATS server (waiting at most the config's connect
    /// timeout) and starts the link thread.
    pub fn join(config: ClusterConfig) -> Result<Cluster, JoinError> {
        wire::check_node_name(&config.node).map_err(JoinError::Config)?;
        let (out, out_rx) = tokio::sync::mpsc::unbounded_channel();
        let (events_tx, events) = mpsc::channel();
        let (up_tx, up_rx) = mpsc::channel();
        let waker: Arc<Mutex<Option<Waker>>> = Arc::default();
        let peers = link::SharedPeers::default();
        let notices_ready = Arc::new(tokio::sync::Notify::new());
        let running = Arc::new(AtomicBool::new(true));
        let ends = link::Ends {
            out: out_rx,
            events: events_tx,
            waker: waker.clone(),
            peers: peers.clone(),
            notices_ready: notices_ready.clone(),
            running: running.clone(),
        };
        let c = config.clone();
        std::thread::Builder::new()
            .name("wasmd-nats".into())
            .spawn(move || link::run(c, ends, up_tx))
            .map_err(|e| JoinError::Unreachable(format!("cannot start the NATS thread: {e}")))?;
        let wait = config.connect_timeout + Duration::from_secs(1);
        match up_rx.recv_timeout(wait) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(JoinError::Unreachable(e)),
            Err(_) => return Err(JoinError::Unreachable(format!("NATS at {} did not answer", config.url))),
        }
        let notice_waker = notices::waker(notices_ready, running);
        Ok(Cluster { config, out, events, waker, peers, notice_waker, next_ticket: 1, asked: HashMap::new() })
    }

    /// This node's name.
    pub fn node(&self) -> &str {
        &self.config.node
    }

    /// Whom requests from other nodes act for here.
    pub fn remote_user(&self) -> Owner {
        self.config.remote_user
    }

    /// Every node alive now, this one included, sorted.
    pub fn nodes(&self) -> Vec<String> {
        let mut v = self.peers.lock().unwrap_or_else(|e| e.into_inner()).alive(self.config.node_timeout);
        v.push(self.config.node.clone());
        v.sort();
        v
    }

    /// True when `node` is this one or alive.
    pub fn knows(&self, node: &str) -> bool {
        node == self.config.node
            || self.peers.lock().unwrap_or_else(|e| e.into_inner()).is_alive(node, self.config.node_timeout)
    }

    /// Sets the function called when an event waits.
    pub(crate) fn set_waker(&self, waker: Waker) {
        *self.waker.lock().unwrap_or_else(|e| e.into_inner()) = Some(waker);
    }

    /// Sends `request` to `node` for `waiter`; the reply comes from
    /// [`Cluster::take_events`]. Requests on files and removals may wait
    /// there as long as they would locally (an exit, output, a guest
    /// scheme's reply); opens and spawns fail after the request timeout. A
    /// request to a node that leaves the cluster fails when it goes.
    pub(crate) fn ask(&mut self, node: &str, request: Request, waiter: Waiter) -> Result<(), Errno> {
        if !self.knows(node) {
            return Err(Errno::NotFound);
        }
        if self.asked.len() >= MAX_IN_FLIGHT {
            return Err(Errno::WouldBlock);
        }
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        let timeout = match request {
            Request::Read { .. }
            | Request::Write { .. }
            | Request::List { .. }
            | Request::Truncate { .. }
            | Request::Sync { .. }
            | Request::Remove { .. } => None,
            _ => Some(self.config.request_timeout),
        };
        let opening = matches!(request, Request::Open { .. });
        self.out
            .send(Outgoing::Request { ticket, node: node.to_string(), request, timeout })
            .map_err(|_| Errno::Io)?;
        self.asked.insert(ticket, Asked { waiter, node: node.to_string(), opening, orphaned: false });
        Ok(())
    }

    /// Hands the link the process manager: from now on it tells the
    /// manager's notices to other nodes and theirs to the manager (see
    /// `notices`). The manager gets the link's notice waker first.
    pub(crate) fn attach(&self, pm: &mut wasmhost::ProcessManager, kernel: wasmhost::KernelHandle) {
        pm.set_notice_waker(Some(self.notice_waker.clone()));
        let _ = self.out.send(Outgoing::Attach(kernel));
    }

    /// Tells `node` (if alive) to close `handle`, without waiting for
    /// its answer; drops the replies `file` still waits for.
    pub(crate) fn close_remote(&mut self, file: u64, node: &str, handle: Option<u64>) {
        let tickets: Vec<u64> =
            self.asked.iter().filter(|(_, a)| a.waiter == Waiter::File(file)).map(|(t, _)| *t).collect();
        for ticket in tickets {
            match self.asked.get_mut(&ticket) {
                // Its handle is closed when the reply comes.
                Some(a) if a.opening => a.orphaned = true,
                _ => {
                    self.asked.remove(&ticket);
                    let _ = self.out.send(Outgoing::Forget { ticket });
                }
            }
        }
        if let Some(handle) = handle {
            self.close_handle(node, handle);
        }
    }

    /// Closes `handle` on `node` (if alive), answered to nobody.
    pub(crate) fn close_handle(&mut self, node: &str, handle: u64) {
        if self.knows(node) {
            let ticket = self.next_ticket;
            self.next_ticket += 1;
            let request = Request::Close { handle };
            let timeout = Some(self.config.request_timeout);
            let _ = self.out.send(Outgoing::Request { ticket, node: node.into(), request, timeout });
        }
    }

    /// The names other nodes' processes hold: each with its node and pid
    /// there.
    pub(crate) fn cluster_names(&self) -> BTreeMap<String, (String, u32)> {
        self.peers.lock().unwrap_or_else(|e| e.into_inner()).names(self.config.node_timeout)
    }

    /// Tells the cluster the names this node's processes hold now (the
    /// first [`wire::MAX_SHARED_NAMES`]).
    pub(crate) fn share_names(&self, names: impl IntoIterator<Item = (String, u32)>) {
        let names = names.into_iter().take(wire::MAX_SHARED_NAMES).collect();
        let _ = self.out.send(Outgoing::Names(names));
    }

    /// Starts bridge `id` (a `bridge` file's) in the link: the channel in
    /// `ring` is read there and its frames sent into file `handle` of
    /// `node` ([`bridge`]); its news come as [`Event::Bridge`].
    pub(crate) fn start_bridge(
        &self,
        id: u64,
        node: &str,
        handle: u64,
        ring: HostRing,
        watcher: RegionWatcher,
    ) {
        let _ = self.out.send(Outgoing::Bridge { id, node: node.to_string(), handle, ring, watcher });
    }

    /// Stops bridge `id` (its file closed).
    pub(crate) fn stop_bridge(&self, id: u64) {
        let _ = self.out.send(Outgoing::StopBridge { id });
    }

    /// Ends bridge `id` once it sent what its channel holds now.
    pub(crate) fn drain_bridge(&self, id: u64) {
        let _ = self.out.send(Outgoing::DrainBridge { id });
    }

    /// Lets the frames of `from`'s bridges into its file `handle` here go
    /// into the channel in `ring` (`watcher` waits for room there).
    pub(crate) fn accept_frames(&self, from: &str, handle: u64, ring: HostRing, watcher: RegionWatcher) {
        let _ = self.out.send(Outgoing::AcceptFrames { from: from.to_string(), handle, ring, watcher });
    }

    /// Drops the frames of `from` into its file `handle` (closed).
    pub(crate) fn refuse_frames(&self, from: &str, handle: u64) {
        let _ = self.out.send(Outgoing::RefuseFrames { from: from.to_string(), handle });
    }

    /// Answers a request of another node.
    pub(crate) fn answer(&self, reply_to: async_nats::Subject, reply: Reply) {
        let _ = self.out.send(Outgoing::Answer { reply_to, reply });
    }

    /// Events since the last call: replies (with the file that asked;
    /// requests to a node that left fail here), requests from other
    /// nodes, and the nodes that left (which the link notices at its
    /// heartbeat ticks).
    pub(crate) fn take_events(&mut self) -> (Vec<(Option<Waiter>, Event)>, Vec<String>) {
        let events: Vec<Event> = self.events.try_iter().collect();
        let mut out: Vec<(Option<Waiter>, Event)> = Vec::with_capacity(events.len());
        let mut left = Vec::new();
        for e in events {
            let file = match &e {
                Event::Reply { ticket, reply } => {
                    let Some(asked) = self.asked.remove(ticket) else { continue };
                    if asked.orphaned {
                        if let Ok(Reply::Opened { handle }) = reply {
                            self.close_handle(&asked.node, *handle);
                        }
                        continue;
                    }
                    Some(asked.waiter)
                }
                Event::Incoming { .. } | Event::Names | Event::Bridge { .. } | Event::FramesEnded { .. } => {
                    None
                }
                Event::Left { node } => {
                    let theirs: Vec<u64> =
                        self.asked.iter().filter(|(_, a)| a.node == *node).map(|(t, _)| *t).collect();
                    for ticket in theirs {
                        let Some(asked) = self.asked.remove(&ticket) else { continue };
                        let _ = self.out.send(Outgoing::Forget { ticket });
                        let reply = Err((Errno::Io, format!("node {node} left the cluster")));
                        out.push((Some(asked.waiter), Event::Reply { ticket, reply }));
                    }
                    left.push(node.clone());
                    continue;
                }
            };
            out.push((file, e));
        }
        (out, left)
    }
}
