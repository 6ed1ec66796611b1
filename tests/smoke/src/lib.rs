//! # wasmd-smoke — the `wasm` scheme seen by a native program
//!
//! Every promise the README makes about `/scheme/wasm` on Redox, checked
//! the way any native program would use it: with files. [`CHECKS`] lists
//! them; [`run`] runs each one on its own thread, with a [`Tree`] of its
//! own and a time limit, so one failing or hanging check does not hide
//! the others. Each check reports a line; the last line is the verdict.
//!
//! The binary runs the checks inside Redox on the real files
//! ([`StdTree`]) and prints `WASMD-SMOKE: PASS ...` or
//! `WASMD-SMOKE: FAIL ...` for the QEMU harness; on Linux the tests run
//! the very same checks against the daemon's control socket. Checks that
//! need what only a Redox program has (mapping `shm/` pages, `fevent`
//! through an event queue, the `/scheme` listing, legacy `wasm:` URLs)
//! use [`Tree::native`]; where there is none (Linux) they report
//! themselves skipped, with the reason — never passed.

pub mod checks;
mod std_tree;

use std::io::Read;
use std::path::PathBuf;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

pub use checks::CHECKS;
pub use std_tree::StdTree;

/// The verdict's prefix on success.
pub const PASS: &str = "WASMD-SMOKE: PASS";
/// The verdict's prefix on failure (the failed checks follow).
pub const FAIL: &str = "WASMD-SMOKE: FAIL";
/// The prefix of each check's line.
pub const CHECK: &str = "wasmd-smoke: check";

/// File operations on the `wasm` tree and on guest schemes, with Redox
/// paths (`/scheme/...`). One per check (and per thread of a check).
pub trait Tree: Send {
    /// Names in a directory.
    fn list(&mut self, path: &str) -> Result<Vec<String>, String>;
    /// True when `path` is a directory (`fstat`).
    fn is_dir(&mut self, path: &str) -> Result<bool, String>;
    /// A whole file (reads until end of file).
    fn read(&mut self, path: &str) -> Result<Vec<u8>, String>;
    /// A file opened for reading, read as data comes (a stream).
    fn stream(&mut self, path: &str) -> Result<Box<dyn Read + Send>, String>;
    /// Writes `data` with one write, creating or truncating the file.
    fn write(&mut self, path: &str, data: &[u8]) -> Result<(), String>;
    /// Writes `data` at `offset` of an existing file, with one write.
    fn write_at(&mut self, path: &str, offset: u64, data: &[u8]) -> Result<(), String>;
    /// Opens `path` for writing once and writes each frame with one write.
    fn send_frames(&mut self, path: &str, frames: &[&[u8]]) -> Result<(), String>;
    /// Opens `path` read-write, resizes it to `len` (`ftruncate`), then
    /// flushes it (`fsync`).
    fn truncate_and_sync(&mut self, path: &str, len: u64) -> Result<(), String>;
    /// Removes a file (`unlink`).
    fn remove(&mut self, path: &str) -> Result<(), String>;
    /// Writes `spec` to `/scheme/wasm/spawn` and reads back the pid.
    fn spawn(&mut self, spec: &str) -> Result<u32, String>;
    /// Opens `path` read-write, writes `data` with one write, then reads
    /// until the end of file (what `spawn` and `bridge` answer).
    fn exchange(&mut self, path: &str, data: &[u8]) -> Result<Vec<u8>, String>;
    /// What only a native Redox program can do; `None` elsewhere.
    fn native(&mut self) -> Option<&mut dyn Native> {
        None
    }
}

/// What a native program inside Redox can do beyond plain file calls.
pub trait Native {
    /// Maps `len` bytes of `path` shared (`mmap` of a `shm/ID` file).
    fn map_shared(&mut self, path: &str, len: usize) -> Result<Box<dyn Mapping>, String>;
    /// Opens `path`, subscribes it for read readiness on an event queue,
    /// runs `between` and waits up to `timeout` for the event: whether it
    /// came, and whether one had come before `between` ran (which waits
    /// `quiet` first).
    fn readiness(
        &mut self,
        path: &str,
        quiet: Duration,
        between: &mut dyn FnMut() -> Result<(), String>,
        timeout: Duration,
    ) -> Result<(bool, bool), String>;
    /// Names in the current namespace (`ls /scheme`).
    fn schemes(&mut self) -> Result<Vec<String>, String>;
    /// A whole file by a legacy `scheme:path` URL (e.g. `wasm:ps`).
    fn read_url(&mut self, url: &str) -> Result<Vec<u8>, String>;
    /// Runs this program again as user `uid` (group `uid`) with `args`;
    /// its standard output.
    fn run_as_user(&mut self, uid: u32, args: &[String]) -> Result<String, String>;
}

/// A shared mapping of a file's pages.
pub trait Mapping: Send {
    /// The bytes, as they are now (volatile reads).
    fn read(&self, offset: usize, len: usize) -> Vec<u8>;
    /// Stores bytes (volatile writes).
    fn write(&mut self, offset: usize, data: &[u8]);
}

/// Makes a fresh [`Tree`] (each check and each thread of a check gets
/// its own).
pub type Trees = Arc<dyn Fn() -> Result<Box<dyn Tree>, String> + Send + Sync>;

/// What the checks need to know about the system under test.
#[derive(Clone)]
pub struct Setup {
    /// Makes trees.
    pub trees: Trees,
    /// Where the example guests are (`/usr/share/wasmd`).
    pub examples: String,
    /// Where the smoke test's own guests are (`/usr/share/wasmd/smoke`).
    pub fixtures: String,
    /// Where the WASI guests are (`/usr/share/wasmd/smoke/wasi`).
    pub wasi: String,
    /// Where the wasi-testsuite's tests were staged
    /// (`/usr/share/wasmd/smoke/wasi-suite`), if they were.
    pub wasi_suite: Option<String>,
    /// Where a guest's `file:/P` lands on this system's files: `/` inside
    /// Redox, the daemon's `--fs-root` on Linux.
    pub file_root: PathBuf,
    /// A directory, below `file_root`, that the smoke test may use, as the
    /// guest sees it (e.g. `/tmp/wasmd-smoke`).
    pub scratch: String,
    /// The other node of a cluster the daemon joined for the test, if any
    /// (the `cluster` check runs only with one).
    pub peer: Option<Peer>,
    /// Stops the other node's daemon (it dies), for the `cluster` check's
    /// last part; without it that part is not run (and said).
    pub stop_peer: Option<Arc<dyn Fn() + Send + Sync>>,
}

/// What the smoke test prints, followed by the node's name, to ask the
/// QEMU harness to stop the other node (its daemon on the host).
pub const STOP_NODE: &str = "wasmd-smoke: stop node ";

/// Another node of the daemon's cluster, for the `cluster` check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    /// Its node name.
    pub node: String,
    /// Where the example guests are on it (its paths, not this system's).
    pub examples: String,
    /// Where the smoke test's own guests are on it.
    pub fixtures: String,
    /// Whoever runs the test stops it when asked ([`STOP_NODE`]).
    pub stoppable: bool,
}

impl Peer {
    /// `NODE EXAMPLES FIXTURES [stoppable]` on one line (what the QEMU
    /// harness stages in `/etc/wasmd/smoke-peer`); `None` for anything
    /// else.
    pub fn parse(line: &str) -> Option<Peer> {
        let mut words = line.split_whitespace();
        let mut peer = Peer {
            node: words.next()?.to_string(),
            examples: words.next()?.to_string(),
            fixtures: words.next()?.to_string(),
            stoppable: false,
        };
        match words.next() {
            None => Some(peer),
            Some("stoppable") if words.next().is_none() => {
                peer.stoppable = true;
                Some(peer)
            }
            Some(_) => None,
        }
    }
}

impl std::fmt::Debug for Setup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Setup").field("examples", &self.examples).field("fixtures", &self.fixtures).finish()
    }
}

impl Setup {
    /// An example guest's path.
    pub fn example(&self, name: &str) -> String {
        format!("{}/{name}.wasm", self.examples.trim_end_matches('/'))
    }

    /// A fixture guest's path.
    pub fn fixture(&self, name: &str) -> String {
        format!("{}/{name}.wasm", self.fixtures.trim_end_matches('/'))
    }

    /// A fresh tree.
    pub fn tree(&self) -> Result<Box<dyn Tree>, String> {
        (self.trees)()
    }
}

/// One check: its name, its time limit and what it does.
#[derive(Debug, Clone, Copy)]
pub struct Check {
    /// Short name, e.g. `ls`.
    pub name: &'static str,
    /// The longest it may take.
    pub limit: Duration,
    /// The check; `Ok` with an optional detail for the report.
    pub run: fn(&Setup) -> Outcome,
}

/// What a check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It held; a detail (measurements) may follow.
    Pass(String),
    /// It did not hold: why.
    Fail(String),
    /// It cannot run here: why (only off Redox).
    Skip(String),
}

impl From<Result<String, String>> for Outcome {
    fn from(r: Result<String, String>) -> Outcome {
        match r {
            Ok(detail) => Outcome::Pass(detail),
            Err(why) => Outcome::Fail(why),
        }
    }
}

/// A check's outcome and how long it took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The check's name.
    pub name: &'static str,
    /// Its outcome (a time-out is a failure).
    pub outcome: Outcome,
    /// How long it ran.
    pub took: Duration,
}

impl Report {
    /// The line printed for it.
    pub fn line(&self) -> String {
        let ms = self.took.as_millis();
        match &self.outcome {
            Outcome::Pass(d) if d.is_empty() => format!("{CHECK} {}: ok ({ms} ms)", self.name),
            Outcome::Pass(d) => format!("{CHECK} {}: ok ({ms} ms) {d}", self.name),
            Outcome::Fail(why) => format!("{CHECK} {}: FAILED ({ms} ms) {why}", self.name),
            Outcome::Skip(why) => format!("{CHECK} {}: skipped, {why}", self.name),
        }
    }
}

/// Runs `checks` one after another, each on its own thread within its
/// time limit, reporting each as it ends; returns the reports.
pub fn run(setup: &Setup, checks: &[Check], report: &mut dyn FnMut(&Report)) -> Vec<Report> {
    let mut reports = Vec::new();
    for check in checks {
        let (tx, rx) = mpsc::channel();
        let own = setup.clone();
        let run = check.run;
        let started = Instant::now();
        let spawned = std::thread::Builder::new().name(format!("check-{}", check.name)).spawn(move || {
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(&own)))
                .unwrap_or_else(|_| Outcome::Fail("the check panicked".into()));
            let _ = tx.send(outcome);
        });
        let outcome = match spawned {
            Ok(_) => rx.recv_timeout(check.limit).unwrap_or_else(|_| {
                Outcome::Fail(format!("no answer within {} s (left running)", check.limit.as_secs()))
            }),
            Err(e) => Outcome::Fail(format!("no thread: {e}")),
        };
        let r = Report { name: check.name, outcome, took: started.elapsed() };
        report(&r);
        reports.push(r);
    }
    reports
}

/// The verdict line for a set of reports: `PASS` when none failed.
pub fn verdict(reports: &[Report]) -> String {
    let failed: Vec<&str> =
        reports.iter().filter(|r| matches!(r.outcome, Outcome::Fail(_))).map(|r| r.name).collect();
    let skipped: Vec<&str> =
        reports.iter().filter(|r| matches!(r.outcome, Outcome::Skip(_))).map(|r| r.name).collect();
    let skipped =
        if skipped.is_empty() { String::new() } else { format!(", skipped: {}", skipped.join(" ")) };
    if failed.is_empty() {
        format!("{PASS} {} checks{skipped}", reports.len())
    } else {
        format!("{FAIL} {} of {} checks failed: {}{skipped}", failed.len(), reports.len(), failed.join(" "))
    }
}

/// Retries `check` every 20 ms until it holds or `patience` runs out.
pub(crate) fn eventually(
    what: &str,
    patience: Duration,
    mut check: impl FnMut() -> Result<bool, String>,
) -> Result<(), String> {
    let deadline = Instant::now() + patience;
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

#[cfg(test)]
mod tests {
    use super::Peer;

    #[test]
    fn the_peer_line_of_the_harness_is_read_and_anything_else_refused() {
        let peer = Peer::parse("host /a /a/smoke\n").unwrap();
        assert_eq!(
            (peer.node.as_str(), peer.examples.as_str(), peer.fixtures.as_str()),
            ("host", "/a", "/a/smoke")
        );
        assert!(!peer.stoppable);
        assert!(Peer::parse("host /a /a/smoke stoppable").unwrap().stoppable);
        for bad in ["", "host /a", "host /a /a/smoke maybe", "host /a /a/smoke stoppable more"] {
            assert_eq!(Peer::parse(bad), None, "{bad:?}");
        }
    }
}
