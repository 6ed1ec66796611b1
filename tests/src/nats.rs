//! A real `nats-server` for the cluster tests and benchmarks: on
//! loopback, on a port it picks itself (`-p -1`, read back from its ports
//! file), so servers started side by side never race for a port; killed
//! on drop.

use std::io;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `nats-server`, killed (and its directory removed) on drop.
#[derive(Debug)]
pub struct NatsServer {
    child: Child,
    dir: PathBuf,
    /// `SCHEME://127.0.0.1:PORT`, where it listens.
    pub url: String,
}

impl NatsServer {
    /// Starts `nats-server` with `extra` arguments, to be reached by URLs
    /// of `scheme` (`nats` or `tls`). An error when there is no
    /// `nats-server` (Debian: `apt-get install nats-server`) or it did not
    /// come up within 30 s.
    pub fn start(scheme: &str, extra: &[&std::ffi::OsStr]) -> io::Result<NatsServer> {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("wasmd-nats-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let child = Command::new("nats-server")
            .args(["-a", "127.0.0.1", "-p", "-1", "--ports_file_dir"])
            .arg(&dir)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| io::Error::new(e.kind(), format!("cannot start nats-server ({e}): install it")))?;
        let mut server = NatsServer { child, dir, url: String::new() };
        let ports = server.dir.join(format!("nats-server_{}.ports", server.child.id()));
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            // {"nats":["nats://127.0.0.1:PORT"], ...} (`tls://` with TLS)
            let text = std::fs::read_to_string(&ports).unwrap_or_default();
            if let Some(port) = text.split("://127.0.0.1:").nth(1).and_then(|rest| {
                rest.split(|c: char| !c.is_ascii_digit()).next().and_then(|p| p.parse::<u16>().ok())
            }) {
                server.url = format!("{scheme}://127.0.0.1:{port}");
                return Ok(server);
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(io::Error::other(format!("nats-server exited ({status})")));
            }
            if Instant::now() > deadline {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "nats-server did not come up in 30 s"));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
