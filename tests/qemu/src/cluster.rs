//! A cluster around the booted Redox: a `nats-server` and a wasmd node
//! on the Linux host, which the daemon inside Redox joins over QEMU's
//! user-mode network (`WASMD_QEMU_CLUSTER=1`).
//!
//! QEMU's user network shows the host's loopback to the guest as
//! `10.0.2.2`, so the server listens on `127.0.0.1:PORT` and the Redox
//! daemon's config (`/etc/wasmd/daemon.toml`, staged by [`stage_files`])
//! says `nats://10.0.2.2:PORT`, node `redox`. The host node is the
//! Linux build of wasmd, node `host`, whose modules are the staging
//! tree's own guests (its paths are host paths: the smoke test learns
//! them from `/etc/wasmd/smoke-peer`). Both processes are killed when the
//! [`HostNode`] is dropped.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::HarnessError;

/// The Redox node's name.
pub const REDOX_NODE: &str = "redox";
/// The host node's name.
pub const HOST_NODE: &str = "host";
/// Heartbeats of both nodes (TCG is slow: generous).
const HEARTBEAT_MS: u32 = 1000;
/// A node not heard from for this long is gone.
const NODE_TIMEOUT_MS: u32 = 20_000;

/// A child process killed on drop.
#[derive(Debug)]
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The NATS server and the host's node, while they run.
#[derive(Debug)]
pub struct HostNode {
    port: u16,
    daemon: Killed,
    _server: Killed,
    /// The host daemon's log.
    pub log: PathBuf,
}

impl HostNode {
    /// Starts `nats_server` on a free loopback port and `wasmd` (a Linux
    /// build) as node `host`, its state under `work`, its modules those
    /// of the staging tree `stage`.
    pub fn start(
        nats_server: &Path,
        wasmd: &Path,
        work: &Path,
        stage: &Path,
    ) -> Result<HostNode, HarnessError> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(HarnessError::io("finding a free port"))?
            .port();
        let server = Command::new(nats_server)
            .args(["-a", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(HarnessError::io(format!("starting {}", nats_server.display())))?;
        let server = Killed(server);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                return Err(HarnessError::Tool("nats-server did not come up".into()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let dir = work.join("host");
        let root = dir.join("root");
        std::fs::create_dir_all(&root).map_err(HarnessError::io("creating the host node's directory"))?;
        let log = dir.join("daemon.log");
        let log_file =
            std::fs::File::create(&log).map_err(HarnessError::io("creating the host node's log"))?;
        let modules = stage.join("usr/share/wasmd");
        let daemon = Command::new(wasmd)
            .arg("daemon")
            .arg("--socket")
            .arg(dir.join("wasmd.sock"))
            .arg("--fs-root")
            .arg(&root)
            .arg("--module-dir")
            .arg(&modules)
            .args(["--nats", &format!("nats://127.0.0.1:{port}"), "--node", HOST_NODE])
            .args(["--heartbeat-ms", &HEARTBEAT_MS.to_string()])
            .args(["--node-timeout-ms", &NODE_TIMEOUT_MS.to_string()])
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .map_err(HarnessError::io(format!("starting {}", wasmd.display())))?;
        Ok(HostNode { port, daemon: Killed(daemon), _server: server, log })
    }

    /// Kills the host's daemon (the NATS server stays): node `host` dies.
    pub fn stop(&mut self) {
        let _ = self.daemon.0.kill();
        let _ = self.daemon.0.wait();
    }

    /// The files to stage in the Redox root: the daemon's config, which
    /// joins this cluster, and the smoke test's note of the host node
    /// (`NODE EXAMPLES FIXTURES`, host paths).
    pub fn stage_files(&self, stage: &Path) -> Vec<(String, Vec<u8>)> {
        let config = format!(
            "# Written by the QEMU harness: join the host's cluster.\n[cluster]\nnats = \
             \"nats://10.0.2.2:{}\"\nnode = \"{REDOX_NODE}\"\nheartbeat_ms = {HEARTBEAT_MS}\nnode_timeout_ms = \
             {NODE_TIMEOUT_MS}\n",
            self.port
        );
        let modules = stage.join("usr/share/wasmd");
        // `stoppable`: the harness stops the host node when asked (see
        // `boot::STOP_NODE`).
        let peer =
            format!("{HOST_NODE} {} {} stoppable\n", modules.display(), modules.join("smoke").display());
        vec![
            ("etc/wasmd/daemon.toml".to_string(), config.into_bytes()),
            ("etc/wasmd/smoke-peer".to_string(), peer.into_bytes()),
        ]
    }
}

/// The Linux build of wasmd for the host node: `WASMD_HOST_BIN`, else
/// `cargo build --release -p wasmd` of this workspace.
pub fn host_wasmd(workspace: &Path) -> Result<PathBuf, HarnessError> {
    if let Some(given) = std::env::var_os("WASMD_HOST_BIN").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(given));
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(workspace)
        .args(["build", "--release", "--locked", "-p", "wasmd"])
        .status()
        .map_err(HarnessError::io("running cargo"))?;
    if !status.success() {
        return Err(HarnessError::Tool(format!("the host build of wasmd failed ({status})")));
    }
    Ok(crate::redox_build::target_dir(workspace).join("release").join("wasmd"))
}
