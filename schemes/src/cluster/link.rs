//! The link to the NATS server: a thread of its own running tokio's
//! current-thread runtime and the `async-nats` client, so neither the
//! thread serving the control tree nor the guests' workers ever wait on
//! the network.
//!
//! The daemon side talks to it through two queues: [`Outgoing`] (requests
//! to other nodes, answers to theirs) into the link, [`Event`] (replies,
//! requests from other nodes, the connection's state) out of it, each
//! followed by a call of the daemon's waker. Notices between processes
//! skip the daemon's serving thread: the link takes them from the
//! process manager and hands it other nodes' ones itself ([`notices`]).
//! Heartbeats are published and heard here; the nodes heard from are
//! kept in the shared [`Peers`], and at each heartbeat tick a node no
//! longer heard from is told as [`Event::Left`].

use std::collections::{BTreeMap, HashMap};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::sync::mpsc::UnboundedReceiver;
use wasmd_abi::Errno;
use wasmhost::worker::Waker;

use super::bridge::{self, BridgeNews, Bridges, Publish, Woken};
use super::notices;
use super::wire::{self, Envelope, Heartbeat, Notice, NoticeEnvelope, Reply, Request};
use super::ClusterConfig;
use crate::ring::HostRing;
use wasmhost::{KernelHandle, RegionWatcher};

/// What the daemon asks the link to do.
#[derive(Debug)]
pub(crate) enum Outgoing {
    /// Send `request` to `node`; its reply comes back as
    /// [`Event::Reply`] with `ticket`. With `timeout`, no reply within it
    /// is a failure; without, the request waits until it is answered or
    /// forgotten (a read of a file that waits: an exit, output).
    Request { ticket: u64, node: String, request: Request, timeout: Option<Duration> },
    /// The daemon no longer waits for the reply to `ticket`.
    Forget { ticket: u64 },
    /// Answer a request of another node.
    Answer { reply_to: async_nats::Subject, reply: Reply },
    /// The process manager: the link tells its notices to other nodes
    /// and hands it theirs from now on (see `notices`).
    Attach(KernelHandle),
    /// Start bridge `id`: the channel in `ring` read here, its frames
    /// sent into file `handle` of `node` ([`bridge`]); its news come
    /// back as [`Event::Bridge`].
    Bridge { id: u64, node: String, handle: u64, ring: HostRing, watcher: RegionWatcher },
    /// Stop bridge `id` (its file closed).
    StopBridge { id: u64 },
    /// Bridge `id` ends once it sent what its channel holds now.
    DrainBridge { id: u64 },
    /// Frames of `from`'s bridges into its file `handle` go into the
    /// channel in `ring` (`watcher` waits for room there).
    AcceptFrames { from: String, handle: u64, ring: HostRing, watcher: RegionWatcher },
    /// The file `handle` of `from` closed: its frames are dropped.
    RefuseFrames { from: String, handle: u64 },
    /// This node's registered names are now these: told in every
    /// heartbeat from now on, and in one at once.
    Names(BTreeMap<String, u32>),
}

/// What the link tells the daemon.
#[derive(Debug)]
pub(crate) enum Event {
    /// The reply to the request with `ticket`, or why none came (with
    /// the errno a local request would get: `ETIMEDOUT` for a timeout,
    /// `EIO` for a node gone or garbage).
    Reply { ticket: u64, reply: Result<Reply, (Errno, String)> },
    /// A request from node `from`, to answer to `reply_to`.
    Incoming { from: String, request: Request, reply_to: async_nats::Subject },
    /// News of bridge `id` of this node.
    Bridge { id: u64, news: BridgeNews },
    /// The stream of `from`'s bridge into its file `handle` here ended
    /// (written up to its end): the file is closed for it.
    FramesEnded { from: String, handle: u64 },
    /// The names another node holds changed (see [`Peers::names`]).
    Names,
    /// `node` was not heard from within the node timeout: it left.
    Left { node: String },
}

/// Nodes heard from, with when they last were and the names their
/// processes hold.
#[derive(Debug, Default)]
pub(crate) struct Peers {
    seen: HashMap<String, Instant>,
    names: HashMap<String, BTreeMap<String, u32>>,
}

impl Peers {
    /// The names held by the nodes alive within `timeout`: each name
    /// with its node and pid there (a name two nodes claim is the first
    /// node's, by node name).
    pub(crate) fn names(&self, timeout: Duration) -> BTreeMap<String, (String, u32)> {
        let mut out = BTreeMap::new();
        for node in self.alive(timeout) {
            for (name, pid) in self.names.get(&node).into_iter().flatten() {
                out.entry(name.clone()).or_insert_with(|| (node.clone(), *pid));
            }
        }
        out
    }

    /// True when `node` was heard from within `timeout`.
    pub(crate) fn is_alive(&self, node: &str, timeout: Duration) -> bool {
        self.seen.get(node).is_some_and(|at| at.elapsed() <= timeout)
    }

    /// Nodes heard from within `timeout`, sorted.
    pub(crate) fn alive(&self, timeout: Duration) -> Vec<String> {
        let mut v: Vec<String> =
            self.seen.iter().filter(|(_, at)| at.elapsed() <= timeout).map(|(n, _)| n.clone()).collect();
        v.sort();
        v
    }
}

/// Most nodes remembered (a flood of forged heartbeats cannot grow the
/// table without end).
const MAX_PEERS: usize = 4096;

/// Most registry names of other nodes kept, all nodes together (a node
/// whose heartbeat would pass it is believed for as many as fit).
const MAX_NAMES: usize = 65_536;

/// Shared between the link thread and the daemon.
pub(crate) type SharedPeers = Arc<Mutex<Peers>>;

/// Publishes what the bridges have to publish, in order.
async fn flush(client: &async_nats::Client, publish: &mut Publish) {
    for (subject, bytes) in publish.drain(..) {
        if let Err(e) = client.publish(subject, bytes.into()).await {
            log::warn!("nats: bridge message not sent: {e}");
        }
    }
}

/// Tells the daemon `event` and wakes it.
fn tell(events: &Sender<Event>, waker: &Mutex<Option<Waker>>, event: Event) {
    if events.send(event).is_ok() {
        wake(waker);
    }
}

/// Tells the daemon what a bridge end's work came to, if anything.
fn tell_woken(events: &Sender<Event>, waker: &Mutex<Option<Waker>>, woken: Woken) {
    match woken {
        Woken::Out(Some((id, news))) => tell(events, waker, Event::Bridge { id, news }),
        Woken::In(Some((from, handle))) => tell(events, waker, Event::FramesEnded { from, handle }),
        Woken::Out(None) | Woken::In(None) => {}
    }
}

/// Calls the daemon's waker, if it has one yet.
fn wake(waker: &Mutex<Option<Waker>>) {
    if let Some(w) = waker.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
        w();
    }
}

/// The link thread's ends of what it shares with the daemon side.
pub(crate) struct Ends {
    /// Work from the daemon.
    pub(crate) out: UnboundedReceiver<Outgoing>,
    /// Events for the daemon, each followed by a call of its waker.
    pub(crate) events: Sender<Event>,
    pub(crate) waker: Arc<Mutex<Option<Waker>>>,
    pub(crate) peers: SharedPeers,
    /// Woken by the process manager's notice waker (see `notices`).
    pub(crate) notices_ready: Arc<tokio::sync::Notify>,
    /// Cleared when the link ends: the manager's notice waker says so
    /// from then on, and notices are dropped.
    pub(crate) running: Arc<std::sync::atomic::AtomicBool>,
}

/// Connects (waiting at most the connection timeout), then serves until
/// the daemon side goes away. Tells `connected` why it could not
/// connect.
pub(crate) fn run(config: ClusterConfig, ends: Ends, connected: std::sync::mpsc::Sender<Result<(), String>>) {
    let running = ends.running.clone();
    link(config, ends, connected);
    running.store(false, std::sync::atomic::Ordering::SeqCst);
}

fn link(config: ClusterConfig, ends: Ends, connected: std::sync::mpsc::Sender<Result<(), String>>) {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            let _ = connected.send(Err(format!("cannot start the NATS runtime: {e}")));
            return;
        }
    };
    runtime.block_on(async move {
        let client = match connect(&config).await {
            Ok(c) => c,
            Err(e) => {
                let _ = connected.send(Err(e));
                return;
            }
        };
        let _ = connected.send(Ok(()));
        serve(config, client, ends).await;
    });
}

async fn connect(config: &ClusterConfig) -> Result<async_nats::Client, String> {
    let mut options = async_nats::ConnectOptions::new()
        .name(format!("wasmd {}", config.node))
        .connection_timeout(config.connect_timeout)
        // Each request has its own timeout, or none (see `Outgoing`).
        .request_timeout(None)
        // Reconnects are the client's; they are only said.
        .event_callback(|event| async move { log::info!("nats: {event}") });
    if let Some((user, password)) = &config.user_password {
        options = options.user_and_password(user.clone(), password.clone());
    }
    if let Some(token) = &config.token {
        options = options.token(token.clone());
    }
    if let Some(seed) = &config.nkey_seed {
        options = options.nkey(seed.clone());
    }
    if let Some(creds) = &config.creds {
        options = options.credentials(creds).map_err(|e| format!("bad NATS credentials: {e}"))?;
    }
    if config.tls.is_some() || config.url.starts_with("tls://") {
        // rustls needs its provider installed once per process (a second
        // install is refused, harmlessly).
        let _ = rustls_rustcrypto::provider().install_default();
        options = options.require_tls(true);
        let tls = config.tls.clone().unwrap_or_default();
        if let Some(ca) = tls.ca {
            options = options.add_root_certificates(ca);
        }
        if let Some((cert, key)) = tls.cert_key {
            options = options.add_client_certificate(cert, key);
        }
    }
    options
        .connect(config.url.as_str())
        .await
        .map_err(|e| format!("cannot reach NATS at {}: {e}", config.url))
}

async fn serve(config: ClusterConfig, client: async_nats::Client, ends: Ends) {
    let Ends { mut out, events, waker, peers, notices_ready, running: _ } = ends;
    let subscribe = |subject: String| {
        let client = client.clone();
        async move { client.subscribe(subject).await }
    };
    let (mut requests, mut their_notices, mut frames, mut beats) = match (
        subscribe(wire::request_subject(&config.node)).await,
        subscribe(wire::notice_subject(&config.node)).await,
        subscribe(wire::frames_subject(&config.node)).await,
        subscribe(wire::HEARTBEAT.into()).await,
    ) {
        (Ok(r), Ok(n), Ok(f), Ok(b)) => (r, n, f, b),
        (Err(e), _, _, _) | (_, Err(e), _, _) | (_, _, Err(e), _) | (_, _, _, Err(e)) => {
            log::error!("nats: cannot subscribe: {e}; this node stays alone");
            return;
        }
    };
    // This node's heartbeat with its names, and without them (see
    // `Heartbeat::names`), and the beats to go until one has them anyway.
    let mut named_beat =
        serde_json::to_vec(&Heartbeat { node: config.node.clone(), names: Some(BTreeMap::new()) })
            .unwrap_or_default();
    let bare_beat =
        serde_json::to_vec(&Heartbeat { node: config.node.clone(), names: None }).unwrap_or_default();
    let mut bare_beats_left: u64 = 0;
    let mut tick = tokio::time::interval(config.heartbeat);
    // Requests in flight, to abort when forgotten; each tells `done` when
    // it ends.
    let mut flying: HashMap<u64, tokio::task::AbortHandle> = HashMap::new();
    let (done_tx, mut done) = tokio::sync::mpsc::unbounded_channel::<u64>();
    // The nodes alive at the last tick: one that left is told to the
    // daemon, which fails what waits for it.
    let mut alive: Vec<String> = Vec::new();
    // The channel bridges' ends here, and what they publish next.
    let mut bridges = Bridges::new(&config.node);
    let ready = bridges.ready.clone();
    let mut publish: Publish = Vec::new();
    let mut later = tokio::time::interval(bridge::MID_FRAME_RETRY);
    later.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The process manager, once the daemon attached it.
    let mut kernel: Option<KernelHandle> = None;
    loop {
        tokio::select! {
            _ = tick.tick() => {
                // Who joined and who left since the last tick (under the
                // peers' lock, let go of before the publish below).
                let (joined, told) = {
                    let mut p = peers.lock().unwrap_or_else(|e| e.into_inner());
                    let now = p.alive(config.node_timeout);
                    let mut told = false;
                    let mut joined = false;
                    for node in now.iter().filter(|n| !alive.contains(n)) {
                        log::info!("node {node} joined");
                        joined = true;
                    }
                    for node in alive.iter().filter(|n| !now.contains(n)) {
                        log::info!("node {node} left: not heard from within {:?}", config.node_timeout);
                        // Its names go with it (and come back with its next
                        // heartbeat that has them: it sends them when it sees
                        // this node join).
                        p.names.remove(node);
                        for (id, news) in bridges.node_left(node) {
                            told |= events.send(Event::Bridge { id, news }).is_ok();
                        }
                        told |= events.send(Event::Left { node: node.clone() }).is_ok();
                    }
                    alive = now;
                    (joined, told)
                };
                if told {
                    wake(&waker);
                }
                // A node that joined learns this one's names now.
                let beat = if joined || bare_beats_left == 0 {
                    bare_beats_left = wire::NAMES_EVERY - 1;
                    &named_beat
                } else {
                    bare_beats_left -= 1;
                    &bare_beat
                };
                if let Err(e) = client.publish(wire::HEARTBEAT, beat.clone().into()).await {
                    log::warn!("nats: heartbeat not sent: {e}");
                }
            }
            Some(msg) = beats.next() => {
                let Ok(Heartbeat { node, names }) = serde_json::from_slice::<Heartbeat>(&msg.payload) else {
                    continue;
                };
                if node == config.node || wire::check_node_name(&node).is_err() {
                    continue;
                }
                let mut p = peers.lock().unwrap_or_else(|e| e.into_inner());
                if p.seen.len() < MAX_PEERS || p.seen.contains_key(&node) {
                    p.seen.insert(node.clone(), Instant::now());
                    // Without names: the same as before.
                    let Some(mut names) = names else { continue };
                    names.retain(|name, pid| {
                        wasmhost::check_name(name).is_ok() && *pid != 0 && *pid < wasmhost::REMOTE_PID_BASE
                    });
                    while names.len() > wire::MAX_SHARED_NAMES {
                        names.pop_last();
                    }
                    // All nodes' names together stay within MAX_NAMES.
                    let before = p.names.get(&node).map_or(0, BTreeMap::len);
                    let others = p.names.values().map(BTreeMap::len).sum::<usize>() - before;
                    while others + names.len() > MAX_NAMES {
                        names.pop_last();
                    }
                    let changed = p.names.get(&node).is_none_or(|n| *n != names);
                    if changed {
                        p.names.insert(node, names);
                        drop(p);
                        if events.send(Event::Names).is_err() {
                            return;
                        }
                        wake(&waker);
                    }
                }
            }
            Some(msg) = their_notices.next() => {
                match serde_json::from_slice::<NoticeEnvelope>(&msg.payload) {
                    Ok(NoticeEnvelope { from, notice: Notice::Credit { handle, frames } })
                        if wire::check_node_name(&from).is_ok() =>
                    {
                        if let Some(id) = bridges.credit(&from, handle, frames) {
                            let woken = bridges.woken_end(id, &mut publish);
                            flush(&client, &mut publish).await;
                            tell_woken(&events, &waker, woken);
                        }
                    }
                    Ok(NoticeEnvelope { from, notice }) if wire::check_node_name(&from).is_ok() => match &kernel {
                        Some(k) => notices::deliver(k, config.remote_user, &from, notice),
                        None => log::info!("nats: a notice of node {from} came before this node was ready: dropped"),
                    },
                    _ => log::info!("nats: a notice that is not a wasmd notice was dropped"),
                }
            }
            Some(msg) = frames.next() => {
                match wire::Frame::decode(&msg.payload) {
                    Some(frame) => {
                        let woken = Woken::In(bridges.take(frame, &mut publish));
                        flush(&client, &mut publish).await;
                        tell_woken(&events, &waker, woken);
                    }
                    None => log::info!("nats: a bridged frame that is not one was dropped"),
                }
            }
            _ = later.tick(), if bridges.has_later() => {
                for id in bridges.take_later() {
                    let woken = bridges.woken_end(id, &mut publish);
                    flush(&client, &mut publish).await;
                    tell_woken(&events, &waker, woken);
                }
            }
            _ = notices_ready.notified(), if kernel.is_some() => {
                if let Some(k) = &kernel {
                    notices::tell(&client, &config, k, &peers).await;
                }
            }
            _ = ready.notify.notified() => {
                for id in bridges.woken() {
                    let woken = bridges.woken_end(id, &mut publish);
                    flush(&client, &mut publish).await;
                    tell_woken(&events, &waker, woken);
                }
            }
            Some(ticket) = done.recv() => {
                flying.remove(&ticket);
            }
            Some(msg) = requests.next() => {
                let Some(reply_to) = msg.reply else { continue };
                match serde_json::from_slice::<Envelope>(&msg.payload) {
                    Ok(Envelope { from, request }) if wire::check_node_name(&from).is_ok() => {
                        if events.send(Event::Incoming { from, request, reply_to }).is_err() {
                            return;
                        }
                        wake(&waker);
                    }
                    other => {
                        let why = match other {
                            Err(e) => format!("not a wasmd request: {e}"),
                            Ok(_) => "not a wasmd request: a bad node name in `from`".to_string(),
                        };
                        let reply = Reply::Failed { errno: Errno::InvalidArgument.errno(), reason: why };
                        let _ = client.publish(reply_to, serde_json::to_vec(&reply).unwrap_or_default().into()).await;
                    }
                }
            }
            next = out.recv() => match next {
                None => return,
                Some(Outgoing::Answer { reply_to, reply }) => {
                    let bytes = serde_json::to_vec(&reply).unwrap_or_default();
                    if let Err(e) = client.publish(reply_to, bytes.into()).await {
                        log::warn!("nats: answer not sent: {e}");
                    }
                }
                Some(Outgoing::Bridge { id, node, handle, ring, watcher }) => {
                    let news = bridges.start(id, node, handle, &ring, watcher, &mut publish);
                    flush(&client, &mut publish).await;
                    for news in news {
                        tell(&events, &waker, Event::Bridge { id, news });
                    }
                }
                Some(Outgoing::StopBridge { id }) => bridges.stop(id),
                Some(Outgoing::DrainBridge { id }) => {
                    let news = bridges.drain(id, &mut publish);
                    flush(&client, &mut publish).await;
                    if let Some(news) = news {
                        tell(&events, &waker, Event::Bridge { id, news });
                    }
                }
                Some(Outgoing::AcceptFrames { from, handle, ring, watcher }) => {
                    bridges.accept(from, handle, &ring, watcher);
                }
                Some(Outgoing::RefuseFrames { from, handle }) => bridges.refuse(&from, handle),
                Some(Outgoing::Names(names)) => {
                    let names = Some(names);
                    named_beat = serde_json::to_vec(&Heartbeat { node: config.node.clone(), names }).unwrap_or_default();
                    if let Err(e) = client.publish(wire::HEARTBEAT, named_beat.clone().into()).await {
                        log::warn!("nats: heartbeat not sent: {e}");
                    }
                }
                Some(Outgoing::Attach(k)) => {
                    // What the manager queued before is told now.
                    notices::tell(&client, &config, &k, &peers).await;
                    kernel = Some(k);
                }
                Some(Outgoing::Forget { ticket }) => {
                    if let Some(task) = flying.remove(&ticket) {
                        task.abort();
                    }
                }
                Some(Outgoing::Request { ticket, node, request, timeout }) => {
                    let client = client.clone();
                    let events = events.clone();
                    let waker = waker.clone();
                    let done = done_tx.clone();
                    let bytes = serde_json::to_vec(&Envelope { from: config.node.clone(), request }).unwrap_or_default();
                    let task = tokio::spawn(async move {
                        let asked = client.request(wire::request_subject(&node), bytes.into());
                        let answer = match timeout {
                            Some(t) => tokio::time::timeout(t, asked)
                                .await
                                .map_err(|_| (Errno::TimedOut, format!("node {node} did not answer within {t:?}"))),
                            None => Ok(asked.await),
                        };
                        let reply = match answer {
                            Ok(Ok(msg)) => serde_json::from_slice::<Reply>(&msg.payload)
                                .map_err(|e| (Errno::Io, format!("node {node} answered garbage: {e}"))),
                            Ok(Err(e)) => Err((Errno::Io, format!("node {node} did not answer: {e}"))),
                            Err(e) => Err(e),
                        };
                        let _ = events.send(Event::Reply { ticket, reply });
                        let _ = done.send(ticket);
                        wake(&waker);
                    });
                    flying.insert(ticket, task.abort_handle());
                }
            },
        }
    }
}
