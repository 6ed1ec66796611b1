//! What the `daemon_*` tests share: a `wasmd daemon` on a private Unix
//! socket, driven by the `wasmd` client commands and by a raw client.

use std::path::PathBuf;
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

use wasmd::sys::linux::client::Client;

/// A daemon on a private socket, killed on drop.
pub struct Daemon {
    pub child: Child,
    pub socket: PathBuf,
    /// Holds the socket; removed on drop.
    pub _dir: TempDir,
}

/// A directory removed on drop.
pub struct TempDir(pub PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Daemon {
    /// Starts `wasmd daemon` with `extra` arguments and waits until it
    /// answers.
    pub fn start(extra: &[&str]) -> Daemon {
        let dir = std::env::temp_dir().join(format!(
            "wasmd-daemon-{}-{}",
            std::process::id(),
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let socket = dir.join("wasmd.sock");
        Self::serve(socket, dir, extra)
    }

    /// Starts `wasmd daemon` on `socket` (in a directory that goes when
    /// the daemon does).
    #[allow(dead_code, reason = "each test binary compiles this module; not all use it")]
    pub fn start_at(socket: &std::path::Path) -> Daemon {
        let dir = socket.parent().unwrap().to_path_buf();
        Self::serve(socket.to_path_buf(), dir, &[])
    }

    fn serve(socket: std::path::PathBuf, dir: std::path::PathBuf, extra: &[&str]) -> Daemon {
        // Its log, shown when a test fails (see `Drop`).
        let log = std::fs::File::create(dir.join("daemon.log")).expect("daemon log");
        let mut child = Command::new(env!("CARGO_BIN_EXE_wasmd"))
            .arg("daemon")
            .arg("--socket")
            .arg(&socket)
            .args(extra)
            // No config file of the user running the tests.
            .env("XDG_CONFIG_HOME", &dir)
            .stderr(log)
            .spawn()
            .expect("daemon starts");
        // Generous: CI runs test binaries on a loaded 2-core machine.
        let deadline = Instant::now() + Duration::from_secs(30);
        while Client::connect(&socket).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("daemon exited ({status}) before it served:\n{}", log_of(&dir));
            }
            assert!(Instant::now() < deadline, "daemon did not come up in 30 s:\n{}", log_of(&dir));
            std::thread::sleep(Duration::from_millis(10));
        }
        Daemon { child, socket, _dir: TempDir(dir) }
    }

    /// Runs the `wasmd` client command `args` against this daemon.
    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_wasmd"))
            .args(args)
            .env("WASMD_SOCKET", &self.socket)
            .output()
            .expect("client runs")
    }

    /// As [`Daemon::cli`], run in the directory `cwd`.
    #[allow(dead_code, reason = "each test binary compiles this module; not all use it")]
    pub fn cli_in(&self, cwd: &std::path::Path, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_wasmd"))
            .args(args)
            .current_dir(cwd)
            .env("WASMD_SOCKET", &self.socket)
            .output()
            .expect("client runs")
    }

    /// A raw client connection.
    #[allow(dead_code, reason = "each test binary compiles this module; not all use it")]
    pub fn client(&self) -> Client {
        Client::connect(&self.socket).unwrap()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("log of the daemon on {}:\n{}", self.socket.display(), log_of(&self._dir.0));
        }
    }
}

/// What the daemon whose directory is `dir` logged (its last 8 KiB).
fn log_of(dir: &std::path::Path) -> String {
    let log = std::fs::read(dir.join("daemon.log")).unwrap_or_default();
    String::from_utf8_lossy(&log[log.len().saturating_sub(8192)..]).into_owned()
}

/// A command's stdout as text.
pub fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Polls `f` every 10 ms until it holds; panics with `what` after 30 s
/// (generous: CI runs test binaries on a loaded 2-core machine).
#[allow(dead_code, reason = "each test binary compiles this module; not all use it")]
pub fn eventually(what: &str, f: impl FnMut() -> bool) {
    assert!(holds_soon(f), "{what}");
}

/// Polls `f` every 10 ms until it holds (true) or 30 s passed (false).
#[allow(dead_code, reason = "each test binary compiles this module; not all use it")]
pub fn holds_soon(mut f: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !f() {
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    true
}

/// A `chan/` frame (writer id, payload length, payload): the writer and
/// the payload as text.
#[allow(dead_code, reason = "each test binary compiles this module; not all use it")]
pub fn frame(bytes: &[u8]) -> (u32, String) {
    let writer = u32::from_le_bytes(bytes[..4].try_into().unwrap());
    let len = u32::from_le_bytes(bytes[4..8].try_into().unwrap()) as usize;
    assert_eq!(bytes.len(), 8 + len, "{bytes:?}");
    (writer, String::from_utf8(bytes[8..].to_vec()).unwrap())
}

/// Reads the `chan_native` guest's three frames (`frame-0` to `frame-2`,
/// one writer, not the daemon) from the channel file `path`, then its
/// end.
#[allow(dead_code, reason = "each test binary compiles this module; not all use it")]
pub fn guest_frames_then_end(c: &mut Client, path: &str) {
    use wasmd::sys::linux::protocol::{Reply, Request};
    let rd = c.open(path, wasmd_abi::scheme::flags::O_RDONLY).unwrap();
    let mut read = || match c.call(Request::Read { fd: rd, offset: 0, len: 256, nonblock: false }) {
        Ok(Reply::Data(d)) => d,
        other => panic!("{other:?}"),
    };
    let mut writers = Vec::new();
    for n in 0..3 {
        let (w, payload) = frame(&read());
        assert_eq!(payload, format!("frame-{n}"));
        writers.push(w);
    }
    assert!(writers.iter().all(|w| *w == writers[0] && *w != 0), "{writers:?}");
    assert!(read().is_empty(), "the end of the stream");
}
