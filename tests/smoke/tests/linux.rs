//! The smoke checks against a real daemon on Linux: the daemon's control
//! tree served on a Unix socket (in a thread of this test), reached with
//! the `wasmd` client, which takes the same `/scheme/...` paths as the
//! files inside Redox. Checks that need a Redox program's own powers
//! report themselves skipped here, with the reason.
#![cfg(target_os = "linux")]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmd::client::ClientError;
use wasmd::sys::linux::client::Client;
use wasmd::sys::linux::protocol::{Reply, Request};
use wasmd_abi::scheme::{flags, mode};
use wasmd_smoke::{Outcome, Setup, Tree};

/// [`Tree`] over the control socket.
struct SocketTree(Client);

fn err(what: &str, path: &str) -> impl FnOnce(ClientError) -> String {
    let what = format!("{what} {path}");
    move |e| format!("{what}: {e}")
}

impl SocketTree {
    fn with_open<T>(
        &mut self,
        path: &str,
        open_flags: u32,
        f: impl FnOnce(&mut Client, u64) -> Result<T, ClientError>,
    ) -> Result<T, String> {
        let fd = self.0.open(path, open_flags).map_err(err("open", path))?;
        let result = f(&mut self.0, fd).map_err(err("on", path));
        let _ = self.0.call(Request::Close { fd });
        result
    }
}

/// A file of the tree read as it comes.
struct Stream {
    client: Client,
    fd: u64,
    offset: u64,
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let request =
            Request::Read { fd: self.fd, offset: self.offset, len: buf.len() as u32, nonblock: false };
        match self.client.call(request) {
            Ok(Reply::Data(data)) => {
                let n = data.len().min(buf.len());
                buf[..n].copy_from_slice(&data[..n]);
                self.offset += n as u64;
                Ok(n)
            }
            Ok(_) => Err(std::io::Error::other("unexpected reply")),
            Err(e) => Err(std::io::Error::other(e.to_string())),
        }
    }
}

impl Tree for SocketTree {
    fn list(&mut self, path: &str) -> Result<Vec<String>, String> {
        let entries = self.0.list(path).map_err(err("ls", path))?;
        Ok(entries.into_iter().map(|(name, _)| name).collect())
    }

    fn is_dir(&mut self, path: &str) -> Result<bool, String> {
        self.with_open(path, flags::O_RDONLY, |c, fd| match c.call(Request::Fstat { fd })? {
            Reply::Stat(s) => Ok(s.mode & mode::MODE_TYPE == mode::MODE_DIR),
            _ => Err(ClientError::Protocol),
        })
    }

    fn read(&mut self, path: &str) -> Result<Vec<u8>, String> {
        self.0.read_all(path).map_err(err("cat", path))
    }

    fn stream(&mut self, path: &str) -> Result<Box<dyn Read + Send>, String> {
        let socket = self.0.socket_path().to_path_buf();
        let mut client = Client::connect(&socket).map_err(|e| format!("connect: {e}"))?;
        let fd = client.open(path, flags::O_RDONLY).map_err(err("open", path))?;
        Ok(Box::new(Stream { client, fd, offset: 0 }))
    }

    fn write(&mut self, path: &str, data: &[u8]) -> Result<(), String> {
        self.0.write_file(path, data).map_err(err("write", path))
    }

    fn write_at(&mut self, path: &str, offset: u64, data: &[u8]) -> Result<(), String> {
        self.with_open(path, flags::O_WRONLY, |c, fd| {
            c.call(Request::Write { fd, offset, data: data.to_vec(), nonblock: false }).map(|_| ())
        })
    }

    fn send_frames(&mut self, path: &str, frames: &[&[u8]]) -> Result<(), String> {
        self.with_open(path, flags::O_WRONLY, |c, fd| {
            for frame in frames {
                c.call(Request::Write { fd, offset: 0, data: frame.to_vec(), nonblock: false })?;
            }
            Ok(())
        })
    }

    fn truncate_and_sync(&mut self, path: &str, len: u64) -> Result<(), String> {
        self.with_open(path, flags::O_RDWR, |c, fd| {
            c.call(Request::Ftruncate { fd, len })?;
            c.call(Request::Fsync { fd }).map(|_| ())
        })
    }

    fn remove(&mut self, path: &str) -> Result<(), String> {
        self.0.remove(path, 0).map_err(err("rm", path))
    }

    fn spawn(&mut self, spec: &str) -> Result<u32, String> {
        self.0.spawn(spec).map(|p| p.pid).map_err(|e| format!("spawn: {e}"))
    }

    fn exchange(&mut self, path: &str, data: &[u8]) -> Result<Vec<u8>, String> {
        self.with_open(path, flags::O_RDWR, |c, fd| {
            c.call(Request::Write { fd, offset: 0, data: data.to_vec(), nonblock: false })?;
            let mut answer = Vec::new();
            loop {
                let request = Request::Read { fd, offset: answer.len() as u64, len: 4096, nonblock: false };
                match c.call(request)? {
                    Reply::Data(d) if d.is_empty() => return Ok(answer),
                    Reply::Data(d) => answer.extend_from_slice(&d),
                    _ => return Err(ClientError::Protocol),
                }
            }
        })
    }
}

/// Starts a daemon serving a fresh socket, its guests' `file:` paths
/// beneath `root`; returns the socket's path.
fn daemon(name: &str, root: &Path) -> PathBuf {
    daemon_in(name, root, None)
}

/// As [`daemon`], joined to the NATS server at `nats` as node `name`
/// when given.
fn daemon_in(name: &str, root: &Path, nats: Option<&str>) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wasmd-smoke-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let socket = dir.join("wasmd.sock");
    let path = socket.clone();
    let root = root.to_path_buf();
    let (name, nats) = (name.to_string(), nats.map(str::to_string));
    // The daemon lives on its own thread (it is single-threaded and not `Send`).
    std::thread::spawn(move || {
        let platform = wasmd::sys::OsPlatform::with_file_root(Some(&root)).unwrap();
        let loader = Arc::new(wasmd::loader::FsModuleLoader::new(vec![
            PathBuf::from(wasmd_tests::GUESTS_DIR),
            PathBuf::from(wasmd_tests::WASI_GUESTS_DIR),
        ]));
        let mut daemon = wasmd::control::Daemon::with_platform(Arc::new(platform), loader);
        if let Some(url) = nats {
            let mut config = wasmd::cluster::ClusterConfig::new(url, name.as_str());
            config.heartbeat = Duration::from_millis(50);
            config.node_timeout = Duration::from_millis(1000);
            daemon.join_cluster(wasmd::cluster::Cluster::join(config).expect("join the cluster"));
        }
        wasmd::sys::serve(daemon, &wasmd::sys::Config::with_socket(path))
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while Client::connect(&socket).is_err() {
        assert!(Instant::now() < deadline, "the daemon did not come up");
        std::thread::sleep(Duration::from_millis(10));
    }
    socket
}

fn setup(name: &str, guests: &str) -> Setup {
    let root = std::env::temp_dir().join(format!("wasmd-smoke-{}-{name}-root", std::process::id()));
    std::fs::create_dir_all(&root).unwrap();
    let socket = daemon(name, &root);
    Setup {
        trees: Arc::new(move || {
            Client::connect(&socket)
                .map(|c| Box::new(SocketTree(c)) as Box<dyn Tree>)
                .map_err(|e| format!("connect: {e}"))
        }),
        examples: guests.to_string(),
        fixtures: guests.to_string(),
        wasi: wasmd_tests::WASI_GUESTS_DIR.to_string(),
        wasi_suite: None,
        file_root: root,
        scratch: "/smoke".into(),
        peer: None,
        stop_peer: None,
    }
}

#[test]
fn every_check_passes_against_a_live_daemon_or_says_why_it_cannot_run_here() {
    let setup = setup("pass", wasmd_tests::GUESTS_DIR);
    let reports = wasmd_smoke::run(&setup, wasmd_smoke::CHECKS, &mut |_| {});
    let lines: Vec<String> = reports.iter().map(|r| r.line()).collect();
    for r in &reports {
        match (&r.outcome, r.name) {
            (Outcome::Pass(_), _) => {}
            // What only a Redox program has (tcp-hang: a Linux test covers it).
            // No wasi-testsuite is staged here.
            (
                Outcome::Skip(_),
                "fevent" | "legacy-url" | "user-identity" | "tcp-hang" | "cli" | "actors" | "reload"
                | "wasi-suite",
            ) => {}
            // No other node here (the test below gives it one).
            (Outcome::Skip(_), "cluster") => {}
            _ => panic!("{}\nall:\n{}", r.line(), lines.join("\n")),
        }
    }
    assert_eq!(reports.len(), wasmd_smoke::CHECKS.len());
    let verdict = wasmd_smoke::verdict(&reports);
    assert!(verdict.starts_with(wasmd_smoke::PASS), "{verdict}");
    assert!(
        verdict.contains(
            "skipped: fevent tcp-hang legacy-url user-identity cli actors reload cluster wasi-suite"
        ),
        "{verdict}"
    );
}

#[test]
fn checks_fail_with_a_reason_without_guests() {
    let setup = setup("fail", "/nonexistent");
    let spawn = wasmd_smoke::CHECKS.iter().filter(|c| c.name == "spawn").copied().collect::<Vec<_>>();
    let reports = wasmd_smoke::run(&setup, &spawn, &mut |_| {});
    match &reports[0].outcome {
        Outcome::Fail(why) => assert!(why.contains("spawn"), "{why}"),
        other => panic!("{other:?}"),
    }
    let verdict = wasmd_smoke::verdict(&reports);
    assert!(verdict.starts_with(wasmd_smoke::FAIL) && verdict.contains("spawn"), "{verdict}");
}

#[test]
fn the_cluster_check_uses_another_node_through_nats() {
    let server = wasmd_tests::nats::NatsServer::start("nats", &[])
        .unwrap_or_else(|e| panic!("{e} (Debian: apt-get install nats-server)"));
    let root = std::env::temp_dir().join(format!("wasmd-smoke-{}-there-root", std::process::id()));
    std::fs::create_dir_all(&root).unwrap();
    let _there = daemon_in("there", &root, Some(&server.url));
    let mut setup = setup("here", wasmd_tests::GUESTS_DIR);
    let here_root = setup.file_root.clone();
    let socket = daemon_in("here-node", &here_root, Some(&server.url));
    setup.trees = Arc::new(move || {
        Client::connect(&socket)
            .map(|c| Box::new(SocketTree(c)) as Box<dyn Tree>)
            .map_err(|e| format!("connect: {e}"))
    });
    let guests = wasmd_tests::GUESTS_DIR.to_string();
    // (Its daemon runs on a thread of this test, which cannot stop it: the
    // check's last part, the node's death, is left to the QEMU harness;
    // `schemes/tests/cluster.rs` kills nodes' daemons on Linux.)
    let peer = wasmd_smoke::Peer {
        node: "there".into(),
        examples: guests.clone(),
        fixtures: guests,
        stoppable: false,
    };
    setup.peer = Some(peer);
    let cluster = wasmd_smoke::CHECKS.iter().filter(|c| c.name == "cluster").copied().collect::<Vec<_>>();
    let reports = wasmd_smoke::run(&setup, &cluster, &mut |_| {});
    match &reports[0].outcome {
        Outcome::Pass(detail) => {
            assert!(detail.contains("frames=200 bytes=12800 writers=2 ordered=yes"), "{detail}")
        }
        _ => panic!("{}", reports[0].line()),
    }
    // Without a peer it says why it cannot run.
    setup.peer = None;
    let reports = wasmd_smoke::run(&setup, &cluster, &mut |_| {});
    assert!(
        matches!(&reports[0].outcome, Outcome::Skip(why) if why.contains("no cluster")),
        "{:?}",
        reports[0]
    );
}
