//! # wasmd-smoke — the `wasm` scheme seen by a native program
//!
//! [`run`] exercises a running wasmd the way any native program would,
//! through a [`Tree`] of files: it lists `/scheme/wasm`, runs the hello
//! guest through `run/` and reads its output, spawns a worker through
//! `spawn`, finds it in `ps` and `PID/status`, kills it through `PID/ctl`
//! and reads `PID/wait`, then starts the RAM filesystem guest as a scheme,
//! writes and reads a file in it from this (native) program, under its own
//! name and under `/scheme/wasm/scheme/`, and stops it.
//!
//! The binary runs it inside Redox on the real files ([`StdTree`]) and
//! prints `WASMD-SMOKE: PASS` or `WASMD-SMOKE: FAIL <reason>` for the QEMU
//! harness; on Linux the tests run the very same sequence against the
//! daemon's control socket.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

/// The marker printed on success.
pub const PASS: &str = "WASMD-SMOKE: PASS";
/// The prefix of the failure marker (followed by the reason).
pub const FAIL: &str = "WASMD-SMOKE: FAIL";

/// How long to wait for anything asynchronous (a scheme to appear, a
/// registration to reach the namespace).
const PATIENCE: Duration = Duration::from_secs(20);

/// File operations on the `wasm` tree, with Redox paths (`/scheme/...`).
pub trait Tree {
    /// Names in a directory (a trailing `/` is allowed, not required).
    fn list(&mut self, path: &str) -> Result<Vec<String>, String>;
    /// A whole file (reads until end of file).
    fn read(&mut self, path: &str) -> Result<Vec<u8>, String>;
    /// Writes `data` with one write (creating or truncating the file).
    fn write(&mut self, path: &str, data: &[u8]) -> Result<(), String>;
    /// Writes `spec` to `/scheme/wasm/spawn` and reads back the pid.
    fn spawn(&mut self, spec: &str) -> Result<u32, String>;
}

/// The real files (Redox).
#[derive(Debug, Default)]
pub struct StdTree;

impl Tree for StdTree {
    fn list(&mut self, path: &str) -> Result<Vec<String>, String> {
        let entries = std::fs::read_dir(path).map_err(|e| format!("ls {path}: {e}"))?;
        Ok(entries.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
    }

    fn read(&mut self, path: &str) -> Result<Vec<u8>, String> {
        std::fs::read(path).map_err(|e| format!("cat {path}: {e}"))
    }

    fn write(&mut self, path: &str, data: &[u8]) -> Result<(), String> {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .map_err(|e| format!("open {path} for writing: {e}"))?;
        file.write_all(data).map_err(|e| format!("write {path}: {e}"))
    }

    fn spawn(&mut self, spec: &str) -> Result<u32, String> {
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/scheme/wasm/spawn")
            .map_err(|e| format!("open /scheme/wasm/spawn: {e}"))?;
        file.write_all(spec.as_bytes()).map_err(|e| format!("write spawn spec: {e}"))?;
        let mut pid = String::new();
        file.read_to_string(&mut pid).map_err(|e| format!("read spawned pid: {e}"))?;
        pid.trim().parse().map_err(|_| format!("spawn answered {pid:?}, not a pid"))
    }
}

/// Runs the smoke sequence with the example guests in `guests` (e.g.
/// `/usr/share/wasmd`), reporting each passed step to `progress`.
pub fn run(tree: &mut dyn Tree, guests: &str, progress: &mut dyn FnMut(&str)) -> Result<(), String> {
    let guest = |name: &str| format!("{}/{name}.wasm", guests.trim_end_matches('/'));
    let text = |bytes: Vec<u8>| String::from_utf8_lossy(&bytes).into_owned();

    let root = names(tree.list("/scheme/wasm")?);
    for expected in ["ps", "spawn", "run", "shm", "chan", "scheme"] {
        if !root.iter().any(|n| n == expected) {
            return Err(format!("/scheme/wasm lacks {expected}: {root:?}"));
        }
    }
    progress("ls /scheme/wasm");

    let hello = text(tree.read(&format!("/scheme/wasm/run{}", guest("hello")))?);
    if !hello.contains("Hello from wasmd!") {
        return Err(format!("run/ of hello.wasm printed {hello:?}"));
    }
    progress("run/ hello.wasm");

    let pid = tree.spawn(&format!("cap=stdio,time {} sleep 600000", guest("worker")))?;
    progress("spawn");
    let ps = text(tree.read("/scheme/wasm/ps")?);
    if !ps.lines().any(|l| l.split_whitespace().next() == Some(&pid.to_string()) && l.contains("worker")) {
        return Err(format!("pid {pid} (worker) is not in ps:\n{ps}"));
    }
    if !names(tree.list("/scheme/wasm")?).contains(&pid.to_string()) {
        return Err(format!("no directory /scheme/wasm/{pid}"));
    }
    let status = text(tree.read(&format!("/scheme/wasm/{pid}/status"))?);
    if !status.contains("module: worker") || !status.contains("state:") {
        return Err(format!("{pid}/status reads {status:?}"));
    }
    progress("ps and status");
    tree.write(&format!("/scheme/wasm/{pid}/ctl"), b"kill")?;
    let ended = text(tree.read(&format!("/scheme/wasm/{pid}/wait"))?);
    if ended.trim() != "killed" {
        return Err(format!("{pid}/wait after kill reads {ended:?}"));
    }
    progress("ctl kill and wait");

    let provider = tree.spawn(&format!("cap=stdio,scheme {} smokefs", guest("ramfs")))?;
    eventually("the smokefs scheme to appear", || {
        Ok(names(tree.list("/scheme/wasm/scheme")?).iter().any(|n| n == "smokefs"))
    })?;
    let note = b"written by a native program, kept by a wasm guest";
    // The scheme's own name reaches the namespace a moment after wasmd
    // learns of it.
    eventually("/scheme/smokefs to accept a file", || {
        Ok(tree.write("/scheme/smokefs/note.txt", note).is_ok())
    })?;
    for path in ["/scheme/smokefs/note.txt", "/scheme/wasm/scheme/smokefs/note.txt"] {
        let back = tree.read(path)?;
        if back != note {
            return Err(format!("{path} reads {:?}", String::from_utf8_lossy(&back)));
        }
    }
    if !names(tree.list("/scheme/smokefs")?).iter().any(|n| n == "note.txt") {
        return Err("note.txt is not listed in /scheme/smokefs".into());
    }
    progress("guest-implemented scheme from a native program");
    tree.write(&format!("/scheme/wasm/{provider}/ctl"), b"kill")?;
    text(tree.read(&format!("/scheme/wasm/{provider}/wait"))?);
    eventually("the smokefs scheme to go away", || {
        Ok(!names(tree.list("/scheme/wasm/scheme")?).iter().any(|n| n == "smokefs"))
    })?;
    progress("provider stopped, scheme gone");
    Ok(())
}

/// Entry names without a trailing `/`.
fn names(list: Vec<String>) -> Vec<String> {
    list.into_iter().map(|n| n.trim_end_matches('/').to_string()).collect()
}

/// Retries `check` until it holds or [`PATIENCE`] runs out.
fn eventually(what: &str, mut check: impl FnMut() -> Result<bool, String>) -> Result<(), String> {
    let deadline = Instant::now() + PATIENCE;
    let mut last = None;
    loop {
        match check() {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(e) => last = Some(e),
        }
        if Instant::now() > deadline {
            let why = last.map(|e| format!(" (last error: {e})")).unwrap_or_default();
            return Err(format!("timed out waiting for {what}{why}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
