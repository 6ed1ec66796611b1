//! Two nodes joined through a real `nats-server` on loopback (two bench
//! daemons, this binary started with `--daemon SOCKET URL NODE`, each
//! with its own socket): a spawn on the other node (`node=b` in the spec,
//! timed by a client of node a until the pid `b/N` is read) beside the
//! same spawn on node a itself (`remote_spawn_ms`), and a read of an
//! open file of node b through node a (one request/reply over NATS, and
//! node b's daemon answering it) beside a bare `async-nats` request/reply
//! round trip of the same size through the same server
//! (`node_file_read_us`). Skipped, and said, without `nats-server`.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use wasmd::sys::linux::client::Client;
use wasmd::sys::linux::protocol::{Reply, Request};
use wasmd_abi::scheme::flags;

use crate::report::Figure;

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

/// A `nats-server` on a free loopback port, or `None` without one.
fn nats() -> Option<(Killed, String)> {
    let port = TcpListener::bind("127.0.0.1:0").ok()?.local_addr().ok()?.port();
    let child = Command::new("nats-server")
        .args(["-a", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let server = Killed(child, None);
    wait_for("nats-server", || TcpStream::connect(("127.0.0.1", port)).is_ok());
    Some((server, format!("nats://127.0.0.1:{port}")))
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
/// reply, a responder on its own thread (as a node's link is).
fn bare_nats_us(url: &str, size: usize, k: usize) -> f64 {
    let url = url.to_string();
    let responder_url = url.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        rt.block_on(async move {
            let client = async_nats::connect(responder_url.as_str()).await.expect("responder connects");
            let mut sub = client.subscribe("bench.echo").await.expect("subscribes");
            let reply = vec![b'x'; size];
            while let Some(msg) = sub.next().await {
                if let Some(to) = msg.reply {
                    let _ = client.publish(to, reply.clone().into()).await;
                }
            }
        });
    });
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async move {
        let client = async_nats::connect(url.as_str()).await.expect("requester connects");
        let request = br#"{"from":"a","op":"read","handle":1,"offset":0,"len":4096}"#.to_vec();
        // The responder may not be subscribed yet: ask until it answers.
        while !matches!(
            tokio::time::timeout(
                Duration::from_millis(200),
                client.request("bench.echo", request.clone().into())
            )
            .await,
            Ok(Ok(_))
        ) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let mut samples = Vec::with_capacity(k);
        for _ in 0..k {
            let t = Instant::now();
            std::hint::black_box(client.request("bench.echo", request.clone().into()).await.expect("reply"));
            samples.push(t.elapsed().as_secs_f64() * 1e6);
        }
        median(samples)
    })
}

/// `remote_spawn_ms`, `node_file_read_us`.
pub fn figures(quick: bool) -> Vec<Figure> {
    let Some((_server, url)) = nats() else {
        eprintln!("  cluster: skipped: no nats-server on the PATH (Debian: apt-get install nats-server)");
        return Vec::new();
    };
    let (_a, mut a) = node(&url, "a");
    let (_b, _) = node(&url, "b");
    wait_for("node b, seen from a", || {
        a.list("/scheme/wasm/node").is_ok_and(|v| v.iter().any(|(n, _)| n == "b"))
    });
    let k = if quick { 100 } else { 1000 };
    let tiny = wasmd_tests::wat("tiny").display().to_string();
    let local = spawn_ms(&mut a, &tiny, k);
    let remote = spawn_ms(&mut a, &format!("node=b {tiny}"), k);
    let (read, size) = node_read_us(&mut a, k);
    let bare = bare_nats_us(&url, size, k);
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
    ]
}
