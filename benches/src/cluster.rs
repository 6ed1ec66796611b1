//! Two nodes joined through a real `nats-server` on loopback (two bench
//! daemons, this binary started with `--daemon SOCKET URL NODE`, each
//! with its own socket): a spawn on the other node (`node=b` in the spec,
//! timed by a client of node a until the pid `b/N` is read) beside the
//! same spawn on node a itself (`remote_spawn_ms`), and a read of an
//! open file of node b through node a (one request/reply over NATS, and
//! node b's daemon answering it) beside a bare `async-nats` request/reply
//! round trip of the same size through the same server
//! (`node_file_read_us`).
//!
//! Channel bridges (each node's `bridge` file): a 64-byte round trip
//! between a guest on node a and an echoing guest on node b, through a
//! bridge each way (`node_rtt64_us`), beside a bare `async-nats`
//! request/reply round trip of 64 bytes each way through the same server
//! (`node_rtt64_vs_nats`, target 1.3), and beside the same bare round
//! trip with each end handing each message to a thread of its own and
//! back, as a node hands frames to and from its guests
//! (`nats_handoff_rtt64_us`: the floor of any design that keeps the NATS
//! connection off the guests' threads; `node_rtt64_vs_handoff`, the
//! bridge's round trip over it, says what wasmd adds). The three are timed in
//! [`ROUNDS`] interleaved rounds, each block after a short pause: this
//! VM's speed drifts within seconds, and a block timed right after
//! another would share the tail of its threads' work (the daemons'
//! workers spin a little before they sleep). And a stream of 4 KiB frames from
//! a guest on a to a guest on b (`node_chan4k_mb_per_s`, measured by the
//! reader from its first frame to the end of the stream), beside bare
//! `async-nats` publishing of 4 KiB messages to a subscriber. The two
//! bench daemons act for the bench's own user on each other (their
//! remote user), so each may bridge into the other's channels.
//!
//! Mailboxes: a 64-byte round trip between a guest on a and a server on
//! b that it found by name, each message a NATS notice handled by both
//! daemons (`node_mail_rtt64_us`, beside the bare request/reply), and the
//! same fixture's round trip between two guests of node a
//! (`local_mail_rtt64_us`).
//!
//! Skipped, and said, without `nats-server`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use wasmd::client::ProcessRef;
use wasmd::sys::linux::client::Client;
use wasmd::sys::linux::protocol::{Reply, Request};
use wasmd_abi::scheme::flags;

use crate::report::{Figure, Target};

/// A child process killed on drop (and its socket removed).
struct Killed(Child, Option<PathBuf>);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        if let Some(p) = &self.1 {
            let _ = std::fs::remove_file(p);
        }
    }
}

fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ready() {
        assert!(Instant::now() < deadline, "{what} never came up");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A `nats-server` on loopback, or `None` without one.
fn nats() -> Option<(wasmd_tests::nats::NatsServer, String)> {
    let server = wasmd_tests::nats::NatsServer::start("nats", &[]).ok()?;
    let url = server.url.clone();
    Some((server, url))
}

/// A bench daemon joined as `node`.
fn node(url: &str, node: &str) -> (Killed, Client) {
    let socket = std::env::temp_dir().join(format!("wasmd-bench-{}-{node}.sock", std::process::id()));
    let _ = std::fs::remove_file(&socket);
    let child = Command::new(std::env::current_exe().expect("own path"))
        .arg("--daemon")
        .arg(&socket)
        .args([url, node])
        .stdin(Stdio::null())
        .spawn()
        .expect("starting a bench daemon");
    let child = Killed(child, Some(socket.clone()));
    let mut client = None;
    wait_for("a bench daemon", || {
        client = Client::connect(&socket).ok();
        client.is_some()
    });
    (child, client.expect("connected"))
}

/// Median of `samples` (sorted here).
fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// ms from writing `spec` to reading the pid, `k` times (each spawned
/// process returns at once).
fn spawn_ms(client: &mut Client, spec: &str, k: usize) -> f64 {
    median(
        (0..k)
            .map(|_| {
                let t = Instant::now();
                std::hint::black_box(client.spawn(spec).unwrap_or_else(|e| panic!("spawn {spec}: {e}")));
                t.elapsed().as_secs_f64() * 1e3
            })
            .collect(),
    )
}

/// µs per read of an open file of node b (`node/b/ps`, read again and
/// again at offset 0: a snapshot), through node a's client.
fn node_read_us(client: &mut Client, k: usize) -> (f64, usize) {
    let fd = client.open("/scheme/wasm/node/b/ps", flags::O_RDONLY).expect("open node/b/ps");
    let mut size = 0;
    let us = median(
        (0..k)
            .map(|_| {
                let t = Instant::now();
                match client.call(Request::Read { fd, offset: 0, len: 4096, nonblock: false }) {
                    Ok(Reply::Data(d)) => size = d.len(),
                    other => panic!("read of node/b/ps: {other:?}"),
                }
                t.elapsed().as_secs_f64() * 1e6
            })
            .collect(),
    );
    let _ = client.call(Request::Close { fd });
    (us, size)
}

/// µs per bare `async-nats` request/reply round trip with a `size`-byte
/// reply, a responder on its own thread (as a node's link is): the
/// median of `k`.
fn bare_nats_us(url: &str, size: usize, k: usize) -> f64 {
    let request = br#"{"from":"a","op":"read","handle":1,"offset":0,"len":4096}"#.to_vec();
    median(BareEcho::start(url, "bench.echo", request, size).block(k))
}

/// A bare `async-nats` request/reply pair: a responder on a thread of
/// its own answering `size` bytes, and a requester here, timed in
/// blocks.
struct BareEcho {
    runtime: tokio::runtime::Runtime,
    client: async_nats::Client,
    subject: &'static str,
    request: Vec<u8>,
}

impl BareEcho {
    fn start(url: &str, subject: &'static str, request: Vec<u8>, size: usize) -> BareEcho {
        let responder_url = url.to_string();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            rt.block_on(async move {
                let client = async_nats::connect(responder_url.as_str()).await.expect("responder connects");
                let mut sub = client.subscribe(subject).await.expect("subscribes");
                let reply = vec![b'x'; size];
                while let Some(msg) = sub.next().await {
                    if let Some(to) = msg.reply {
                        let _ = client.publish(to, reply.clone().into()).await;
                    }
                }
            });
        });
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let client = runtime.block_on(async {
            let client = async_nats::connect(url).await.expect("requester connects");
            // The responder may not be subscribed yet: ask until it answers.
            while !matches!(
                tokio::time::timeout(
                    Duration::from_millis(200),
                    client.request(subject, request.clone().into())
                )
                .await,
                Ok(Ok(_))
            ) {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            client
        });
        BareEcho { runtime, client, subject, request }
    }

    /// µs of each of `k` round trips (after an untimed one).
    fn block(&self, k: usize) -> Vec<f64> {
        self.runtime.block_on(async {
            let ask = || self.client.request(self.subject, self.request.clone().into());
            std::hint::black_box(ask().await.expect("reply"));
            let mut samples = Vec::with_capacity(k);
            for _ in 0..k {
                let t = Instant::now();
                std::hint::black_box(ask().await.expect("reply"));
                samples.push(t.elapsed().as_secs_f64() * 1e6);
            }
            samples
        })
    }
}

/// A 64-byte round trip of bare `async-nats` where each end, as a node's
/// does, hands each message between its NATS thread and a thread of its
/// own (the guest's worker, there): one-way publishes each way, the
/// requester's and the responder's app threads waking for each message,
/// as a bridge's readers and writers do. The least a design with the
/// NATS connection off the guests' threads pays. Timed in blocks.
struct Handoff {
    out: tokio::sync::mpsc::UnboundedSender<Vec<u8>>,
    back: std::sync::mpsc::Receiver<Vec<u8>>,
}

impl Handoff {
    fn start(url: &str) -> Handoff {
        use std::sync::mpsc;
        use tokio::sync::mpsc::unbounded_channel;
        /// A NATS thread: what arrives on `from` goes to `arrived`, what
        /// comes from `send` is published on `to`.
        fn nats_thread(
            url: String,
            from: &'static str,
            to: &'static str,
            arrived: mpsc::Sender<Vec<u8>>,
            mut send: tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>,
        ) {
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
                rt.block_on(async move {
                    let client = async_nats::connect(url.as_str()).await.expect("connects");
                    let mut sub = client.subscribe(from).await.expect("subscribes");
                    loop {
                        tokio::select! {
                            Some(msg) = sub.next() => {
                                if arrived.send(msg.payload.to_vec()).is_err() {
                                    return;
                                }
                            }
                            next = send.recv() => match next {
                                Some(bytes) => {
                                    let _ = client.publish(to, bytes.into()).await;
                                }
                                None => return,
                            },
                        }
                    }
                });
            });
        }
        // The responder: its NATS thread and an app thread echoing.
        let (arrived_tx, arrived) = mpsc::channel();
        let (echo_tx, echo_rx) = unbounded_channel();
        nats_thread(url.to_string(), "bench.handoff.b", "bench.handoff.a", arrived_tx, echo_rx);
        std::thread::spawn(move || {
            while let Ok(msg) = arrived.recv() {
                if echo_tx.send(msg).is_err() {
                    return;
                }
            }
        });
        // The requester: its NATS thread and this thread.
        let (back_tx, back) = mpsc::channel();
        let (out, out_rx) = unbounded_channel();
        nats_thread(url.to_string(), "bench.handoff.a", "bench.handoff.b", back_tx, out_rx);
        // Until both subscribed, messages are lost: ask until one comes
        // back, then let stragglers arrive and drop them.
        loop {
            out.send(vec![7; 64]).expect("requester thread");
            if back.recv_timeout(Duration::from_millis(200)).is_ok() {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(300));
        while back.try_recv().is_ok() {}
        Handoff { out, back }
    }

    /// µs of `k` round trips together (after an untimed one).
    fn block(&self, k: usize) -> f64 {
        let trip = || {
            self.out.send(vec![7; 64]).expect("requester thread");
            std::hint::black_box(self.back.recv().expect("echo"));
        };
        trip();
        let start = Instant::now();
        (0..k).for_each(|_| trip());
        start.elapsed().as_secs_f64() * 1e6
    }
}

/// MB/s of bare `async-nats` publishing of `count` `size`-byte messages
/// to a subscriber (from the first message taken to the last).
fn bare_stream_mb_per_s(url: &str, count: usize, size: usize) -> f64 {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let url = url.to_string();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let sub_url = url.clone();
    let reader = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        rt.block_on(async move {
            let client = async_nats::connect(sub_url.as_str()).await.expect("subscriber connects");
            let mut sub = client.subscribe("bench.stream").await.expect("subscribes");
            client.flush().await.expect("flush");
            let _ = ready_tx.send(());
            let (mut n, mut bytes, mut first) = (0, 0, None);
            while let Some(msg) = sub.next().await {
                first.get_or_insert_with(Instant::now);
                n += 1;
                bytes += msg.payload.len();
                if n == count {
                    break;
                }
            }
            bytes as f64 / first.map_or(f64::NAN, |t| t.elapsed().as_secs_f64()) / 1e6
        })
    });
    let _ = ready_rx.recv();
    rt.block_on(async move {
        let client = async_nats::connect(url.as_str()).await.expect("publisher connects");
        let payload = bytes::Bytes::from(vec![7u8; size]);
        for _ in 0..count {
            client.publish("bench.stream", payload.clone()).await.expect("publish");
        }
        client.flush().await.expect("flush");
    });
    reader.join().expect("subscriber")
}

/// The first line of `pid`'s output starting with `prefix`, once there
/// is one.
fn line_of(client: &mut Client, pid: &ProcessRef, prefix: &str) -> String {
    let mut found = String::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while found.is_empty() {
        assert!(Instant::now() < deadline, "process {pid} never said {prefix}");
        let log = client.read_all(&format!("{}/log", pid.dir())).unwrap_or_default();
        let log = String::from_utf8_lossy(&log);
        found = log.lines().find(|l| l.starts_with(prefix)).unwrap_or("").to_string();
        std::thread::sleep(Duration::from_millis(5));
    }
    found[prefix.len()..].to_string()
}

/// Bridges `chan` of `client`'s node into `to` (`NODE/CHAN`); the file
/// stays open for the bridge's life.
fn bridge(client: &mut Client, chan: &str, to: &str) -> u64 {
    let fd = client.open("/scheme/wasm/bridge", flags::O_RDWR).expect("open bridge");
    let line = format!("{chan} {to}").into_bytes();
    match client.call(Request::Write { fd, offset: 0, data: line, nonblock: false }) {
        Ok(Reply::Count(_)) => fd,
        other => panic!("bridge {chan} {to}: {other:?}"),
    }
}

/// The 64-byte round trips of three kinds, `k` of each, in [`ROUNDS`]
/// interleaved rounds (so a machine that slows or speeds up meanwhile
/// moves all three alike): a guest on a and an echoing guest on b
/// through a bridge each way, bare `async-nats` request/reply, and the
/// bare hand-off floor ([`Handoff`]). Their means in µs, in that order.
fn rtt64_us(a: &mut Client, b: &mut Client, url: &str, k: usize) -> (f64, f64, f64) {
    let rtt = wasmd_tests::guest("chan_rtt").display().to_string();
    let per = (k / ROUNDS).max(1);
    let echo = b.spawn(&format!("cap=stdio,time,shm {rtt} node-echo")).expect("echo on b");
    let ping = a.spawn(&format!("cap=stdio,time,shm {rtt} node-ping {per} 64 {ROUNDS}")).expect("ping on a");
    let echo_chans = line_of(b, &echo, "chans ");
    let ping_chans = line_of(a, &ping, "chans ");
    let (echo_in, echo_out) = echo_chans.split_once(' ').expect("two channels");
    let [ping_out, ping_back, go, done] = ping_chans.split(' ').collect::<Vec<_>>()[..] else {
        panic!("four channels: {ping_chans}");
    };
    let there = bridge(a, ping_out, &format!("b/{echo_in}"));
    let back = bridge(b, echo_out, &format!("a/{ping_back}"));
    let done = a.open(&format!("/scheme/wasm/chan/{done}"), flags::O_RDONLY).expect("open done");
    let go = a.open(&format!("/scheme/wasm/chan/{go}"), flags::O_WRONLY).expect("open go");
    let bare = BareEcho::start(url, "bench.echo64", vec![7; 64], 64);
    let handoff = Handoff::start(url);
    let (mut node_us, mut bare_us, mut handoff_us) = (0.0, 0.0, 0.0);
    // Each block starts once what ran before (the daemons' workers spin
    // a little before they sleep) has settled.
    let settle = || std::thread::sleep(SETTLE);
    for round in 0..ROUNDS {
        settle();
        let round_bare: f64 = bare.block(per).iter().sum();
        settle();
        let round_handoff = handoff.block(per);
        settle();
        match a.call(Request::Write { fd: go, offset: 0, data: b"go".to_vec(), nonblock: false }) {
            Ok(Reply::Count(_)) => {}
            other => panic!("go: {other:?}"),
        }
        let ns = match a.call(Request::Read { fd: done, offset: 0, len: 64, nonblock: false }) {
            Ok(Reply::Data(d)) if d.len() == 16 => u64::from_le_bytes(d[8..].try_into().expect("8 bytes")),
            other => panic!("done: {other:?}"),
        };
        let round_node = ns as f64 / 1e3;
        eprintln!(
            "  cluster: 64 B round {round}: bridge {:.0} µs, bare {:.0} µs ({:.2}), hand-off {:.0} µs",
            round_node / per as f64,
            round_bare / per as f64,
            round_node / round_bare,
            round_handoff / per as f64,
        );
        (node_us, bare_us, handoff_us) =
            (node_us + round_node, bare_us + round_bare, handoff_us + round_handoff);
    }
    eprintln!("  cluster: node_rtt64 round trips (ns): {}", line_of(a, &ping, "rtt_spread "));
    line_of(a, &ping, "end");
    for fd in [go, done] {
        let _ = a.call(Request::Close { fd });
    }
    let _ = a.call(Request::Close { fd: there });
    let _ = b.call(Request::Close { fd: back });
    let n = (per * ROUNDS) as f64;
    (node_us / n, bare_us / n, handoff_us / n)
}

/// µs per 64-byte mailbox round trip between a guest on a and a server
/// on b that it found by name (messages through both daemons).
fn node_mail_rtt64_us(a: &mut Client, k: usize) -> f64 {
    let actors = wasmd_tests::guest("actors").display().to_string();
    let server = a.spawn(&format!("node=b cap=stdio {actors} serve bench-echo")).expect("server on b");
    line_of(a, &server, "serving");
    wait_for("the name bench-echo, seen from a", || {
        a.read_all("/scheme/wasm/name/bench-echo").is_ok_and(|v| v.starts_with(b"b/"))
    });
    let caller =
        a.spawn(&format!("cap=stdio,time,proc {actors} call bench-echo {k} 64 stop")).expect("caller on a");
    let ns: f64 = line_of(a, &caller, "called bench-echo rtt_ns=").parse().expect("rtt_ns");
    ns / 1e3
}

/// µs per 64-byte mailbox round trip between two guests of one node
/// (the same fixture's `rtt`), for comparison.
fn local_mail_rtt64_us(a: &mut Client, k: usize) -> f64 {
    let actors = wasmd_tests::guest("actors").display().to_string();
    let rtt = a.spawn(&format!("cap=stdio,time,spawn {actors} rtt {k} 64")).expect("rtt on a");
    let ns: f64 = line_of(a, &rtt, "rtt_ns=").parse().expect("rtt_ns");
    ns / 1e3
}

/// MB/s of `count` 4 KiB frames from a guest on a to a guest on b,
/// through a bridge (as the reader there measures it).
fn node_chan4k_mb_per_s(a: &mut Client, count: usize) -> f64 {
    let rtt = wasmd_tests::guest("chan_rtt").display().to_string();
    let sink = a.spawn(&format!("node=b cap=stdio,time,shm {rtt} node-sink 0")).expect("sink on b");
    let source =
        a.spawn(&format!("cap=stdio,time,shm {rtt} node-source {count} 4096 1 200")).expect("source");
    let inbound = line_of(a, &sink, "chans ");
    let out = line_of(a, &source, "chans ");
    let fd = bridge(a, &out, &format!("b/{inbound}"));
    let said = line_of(a, &sink, "frames=");
    let _ = a.call(Request::Close { fd });
    let field = |key: &str| -> f64 {
        said.split(' ').find_map(|kv| kv.strip_prefix(key)).and_then(|v| v.parse().ok()).unwrap_or(f64::NAN)
    };
    assert_eq!(field("") as usize, count, "every frame came: {said}");
    field("bytes=") / field("ns=") * 1e3
}

/// Rounds the 64-byte round trips are timed in, interleaved.
const ROUNDS: usize = 20;
/// The pause before each block of a round.
const SETTLE: Duration = Duration::from_millis(2);

/// `remote_spawn_ms`, `node_file_read_us`, `node_rtt64_us`,
/// `node_rtt64_vs_nats`, `nats_handoff_rtt64_us`, `node_rtt64_vs_handoff`,
/// `node_mail_rtt64_us`, `local_mail_rtt64_us`, `node_chan4k_mb_per_s`.
pub fn figures(quick: bool) -> Vec<Figure> {
    let Some((_server, url)) = nats() else {
        eprintln!("  cluster: skipped: no nats-server on the PATH (Debian: apt-get install nats-server)");
        return Vec::new();
    };
    let (_a, mut a) = node(&url, "a");
    let (_b, mut b) = node(&url, "b");
    wait_for("node b, seen from a", || {
        a.list("/scheme/wasm/node").is_ok_and(|v| v.iter().any(|(n, _)| n == "b"))
    });
    let k = if quick { 100 } else { 1000 };
    let tiny = wasmd_tests::wat("tiny").display().to_string();
    let local = spawn_ms(&mut a, &tiny, k);
    let remote = spawn_ms(&mut a, &format!("node=b {tiny}"), k);
    let (read, size) = node_read_us(&mut a, k);
    let bare = bare_nats_us(&url, size, k);
    // The guest times its round trips as a mean: so are the baselines.
    let (rtt, bare_rtt, handoff) = rtt64_us(&mut a, &mut b, &url, k);
    let mail = node_mail_rtt64_us(&mut a, k);
    let local_mail = local_mail_rtt64_us(&mut a, k);
    let frames = if quick { 2_000 } else { 20_000 };
    let stream = node_chan4k_mb_per_s(&mut a, frames);
    let bare_stream = bare_stream_mb_per_s(&url, frames, 4096);
    vec![
        Figure::info(
            "remote_spawn_ms",
            format!(
                "spawn on node b through node a, until the pid is read (NATS on loopback, median of {k})"
            ),
            remote,
            "ms",
        )
        .against(local, "the same spawn on node a itself"),
        Figure::info(
            "node_file_read_us",
            format!("read of an open file of node b through node a ({size} B of node/b/ps, median of {k})"),
            read,
            "µs",
        )
        .against(bare, "bare async-nats request/reply, same reply size"),
        Figure::info(
            "node_rtt64_us",
            format!(
                "64 B round trip, guest on a to an echoing guest on b, a bridge each way (mean of {k}, in \
                 {ROUNDS} rounds between its baselines)"
            ),
            rtt,
            "µs",
        )
        .against(bare_rtt, "bare async-nats request/reply, 64 B each way (mean)"),
        Figure::info("node_rtt64_vs_nats", "node_rtt64_us over a bare async-nats round trip", rtt, "µs")
            .against(bare_rtt, "bare async-nats request/reply, 64 B each way (mean)")
            .target(Target::RatioAtMost(1.3)),
        Figure::info(
            "nats_handoff_rtt64_us",
            "bare async-nats 64 B round trip, each end handing each message to a thread of its own and back \
             (mean)",
            handoff,
            "µs",
        )
        .against(bare_rtt, "bare async-nats request/reply, 64 B each way (mean)"),
        Figure::info(
            "node_rtt64_vs_handoff",
            "node_rtt64_us over the hand-off floor (nats_handoff_rtt64_us)",
            rtt,
            "µs",
        )
        .against(handoff, "bare async-nats 64 B round trip, each end handing off to a thread of its own"),
        Figure::info(
            "node_mail_rtt64_us",
            format!("64 B mailbox round trip, guest on a to a server on b found by name (mean of {k})"),
            mail,
            "µs",
        )
        .against(bare_rtt, "bare async-nats request/reply, 64 B each way (mean)"),
        Figure::info(
            "local_mail_rtt64_us",
            format!("64 B mailbox round trip between two guests of node a (mean of {k})"),
            local_mail,
            "µs",
        ),
        Figure::info(
            "node_chan4k_mb_per_s",
            format!("{frames} frames of 4 KiB, guest on a to a guest on b through a bridge"),
            stream,
            "MB/s",
        )
        .against(bare_stream, "bare async-nats publish to a subscriber, 4 KiB messages"),
    ]
}
