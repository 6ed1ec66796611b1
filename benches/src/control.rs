//! Control-plane latency: reading `ps` (open, read to the end, close)
//! through the daemon's Linux socket, timed by a client, while guests keep
//! the daemon busy — one guest flooding its output with 64 KiB writes
//! (`ps_flood_p99_ms`), and that plus 100 guests spinning without a single
//! hostcall (`ps_busy_p99_ms`, also reported as `ps_p99_under_load_ms`).
//! The daemon runs its guests on one scheduler thread per core, as `wasmd
//! daemon` does. The baseline is the same read from the same daemon with
//! no guest running, in the same run.
//!
//! The daemon is this binary started with a hidden flag (`--daemon
//! SOCKET`), built exactly as `wasmd daemon` builds it, so the figure is
//! the real socket, the real loop and the real scheduler.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmd::sys::linux::client::Client;

use crate::report::{Figure, Target};

/// Spinning guests beside the flood in the busy case.
const SPINNERS: usize = 100;

/// Runs the daemon on `socket` (the hidden `--daemon` flag), joined to
/// the cluster of the NATS server `nats` as `node` when given.
pub fn daemon(socket: &Path, cluster: Option<(&str, &str)>) {
    let platform = wasmd::sys::OsPlatform::with_file_root(None).expect("platform");
    let loader = Arc::new(wasmd::loader::FsModuleLoader::new(Vec::new()));
    let mut daemon = wasmd::control::Daemon::with_platform(Arc::new(platform), loader);
    if let Some((url, node)) = cluster {
        let mut config = wasmd::cluster::ClusterConfig::new(url, node);
        config.heartbeat = Duration::from_millis(100);
        config.node_timeout = Duration::from_millis(500);
        // Both bench nodes act for the bench's own user on each other.
        let (uid, gid) = (rustix::process::getuid().as_raw(), rustix::process::getgid().as_raw());
        config.remote_user = wasmhost::Owner { uid, gid };
        match wasmd::cluster::Cluster::join(config) {
            Ok(c) => daemon.join_cluster(c),
            Err(e) => {
                eprintln!("bench daemon: {e}");
                return;
            }
        }
    }
    if let Err(e) = wasmd::sys::serve(daemon, &wasmd::sys::Config::with_socket(socket)) {
        eprintln!("bench daemon: {e}");
    }
}

/// The daemon child, killed on drop.
struct DaemonChild(Child, PathBuf);

impl Drop for DaemonChild {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        let _ = std::fs::remove_file(&self.1);
    }
}

fn start() -> (DaemonChild, Client) {
    let socket = std::env::temp_dir().join(format!("wasmd-bench-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&socket);
    let child = Command::new(std::env::current_exe().expect("own path"))
        .arg("--daemon")
        .arg(&socket)
        .stdin(Stdio::null())
        .spawn()
        .expect("starting the bench daemon");
    let child = DaemonChild(child, socket.clone());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(client) = Client::connect(&socket) {
            return (child, client);
        }
        assert!(Instant::now() < deadline, "the bench daemon never listened");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// `k` reads of `ps`: (p50, p99, max) in ms.
fn ps_ms(client: &mut Client, k: usize) -> (f64, f64, f64) {
    let mut samples: Vec<f64> = (0..k)
        .map(|_| {
            let t = Instant::now();
            let table = client.read_all("/scheme/wasm/ps").expect("ps");
            std::hint::black_box(table);
            let ms = t.elapsed().as_secs_f64() * 1e3;
            std::thread::sleep(Duration::from_millis(1));
            ms
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.99), at(1.0))
}

fn spawn(client: &mut Client, spec: &str) {
    client.spawn(spec).unwrap_or_else(|e| panic!("spawn {spec}: {e}"));
}

/// `ps_flood_p99_ms`, `ps_busy_p99_ms` and their p50s.
pub fn figures(quick: bool) -> Vec<Figure> {
    let k = if quick { 200 } else { 1000 };
    let (_daemon, mut client) = start();
    let (idle50, idle99, _) = ps_ms(&mut client, k);
    let flood = wasmd_tests::wat("flood").display().to_string();
    spawn(&mut client, &format!("cap=stdio {flood}"));
    let (flood50, flood99, flood_max) = ps_ms(&mut client, k);
    let spin = wasmd_tests::wat("loop").display().to_string();
    for _ in 0..SPINNERS {
        spawn(&mut client, &spin);
    }
    let (busy50, busy99, busy_max) = ps_ms(&mut client, k);
    vec![
        Figure::info(
            "ps_flood_p99_ms",
            format!("read of ps p99 while a guest floods its output (max {flood_max:.2} ms)"),
            flood99,
            "ms",
        )
        .against(idle99, "ps p99, no guest running")
        .target(Target::AtMost(10.0)),
        Figure::info("ps_flood_p50_ms", "read of ps p50 while a guest floods its output", flood50, "ms")
            .against(idle50, "ps p50, no guest running"),
        Figure::info(
            "ps_busy_p99_ms",
            format!(
                "read of ps p99 while {SPINNERS} guests spin and one floods (101 processes; max {busy_max:.2} ms)"
            ),
            busy99,
            "ms",
        )
        .against(idle99, "ps p99, no guest running")
        .target(Target::AtMost(5.0)),
        Figure::info(
            "ps_p99_under_load_ms",
            format!("read of ps p99 while {SPINNERS} guests spin and one floods, guests on every core"),
            busy99,
            "ms",
        )
        .against(idle99, "ps p99, no guest running")
        .target(Target::AtMost(5.0)),
        Figure::info(
            "ps_busy_p50_ms",
            format!("read of ps p50 while {SPINNERS} guests spin and one floods"),
            busy50,
            "ms",
        )
        .against(idle50, "ps p50, no guest running"),
    ]
}

/// For a profiler: how long one slice of the flood guest takes (µs, best/median of `n`).
pub fn flood_slice_us(n: usize) -> (f64, f64) {
    let mut pm = crate::guests::manager();
    let m = pm.modules().compile(&crate::guests::wat("flood")).expect("compiles");
    let _pid = pm.spawn(m, wasmhost::SpawnOptions::new("flood")).expect("spawns");
    let mut v: Vec<f64> = (0..n)
        .map(|_| {
            let t = Instant::now();
            pm.run(1);
            t.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    v.sort_by(f64::total_cmp);
    (v[0], v[n / 2])
}
