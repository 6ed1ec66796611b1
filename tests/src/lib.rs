//! # wasmd-tests — fixtures for the wasmd test suite
//!
//! The build script compiles the guest workspaces (`guests/` and
//! `guests/wasi/`) once per build; this library tells tests where the
//! results are: [`guest`] gives the path of a Rust guest (`guests/examples`
//! and `guests/fixtures` binaries), [`wasi_guest`] that of a WASI program
//! (`guests/wasi`: Rust std for `wasm32-wasip1`), [`wasi_c_guest`] that of
//! a C program built with wasi-libc (`guests/wasi/c`), [`wat`] the path of a
//! WAT fixture in `tests/wat/`. [`CapturedOutput`] collects guest output in memory.
//! [`nats::NatsServer`] runs a real `nats-server` for the cluster tests.
//! The integration tests live in `tests/tests/`; the CLI tests in
//! `schemes/tests/`.

pub mod nats;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

use wasmd_abi::ExitStatus;
use wasmhost::{OutputSink, Pid};

/// Directory of the compiled guests.
pub const GUESTS_DIR: &str = env!("WASMD_GUESTS_DIR");
/// Directory of the compiled WASI guests.
pub const WASI_GUESTS_DIR: &str = env!("WASMD_WASI_GUESTS_DIR");
/// Directory of the compiled WASI C guests; empty when there was no C
/// toolchain for WASI to build them with.
pub const WASI_C_GUESTS_DIR: &str = env!("WASMD_WASI_C_GUESTS_DIR");
/// Directory of the WAT fixtures.
pub const WAT_DIR: &str = env!("WASMD_WAT_DIR");

/// Path of the compiled Rust guest `name` (without `.wasm`).
pub fn guest(name: &str) -> PathBuf {
    let path = PathBuf::from(GUESTS_DIR).join(format!("{name}.wasm"));
    assert!(path.exists(), "guest {name} was not built: {}", path.display());
    path
}

/// Path of the compiled WASI guest `name` (without `.wasm`).
pub fn wasi_guest(name: &str) -> PathBuf {
    let path = PathBuf::from(WASI_GUESTS_DIR).join(format!("{name}.wasm"));
    assert!(path.exists(), "WASI guest {name} was not built: {}", path.display());
    path
}

/// Path of the compiled WASI C guest `name` (without `.wasm`); `None` when
/// the build had no C toolchain for WASI (its warning says why).
pub fn wasi_c_guest(name: &str) -> Option<PathBuf> {
    if WASI_C_GUESTS_DIR.is_empty() {
        return None;
    }
    let path = PathBuf::from(WASI_C_GUESTS_DIR).join(format!("{name}.wasm"));
    assert!(path.exists(), "WASI C guest {name} was not built: {}", path.display());
    Some(path)
}

/// Path of the WAT fixture `name` (without `.wat`).
pub fn wat(name: &str) -> PathBuf {
    let path = PathBuf::from(WAT_DIR).join(format!("{name}.wat"));
    assert!(path.exists(), "no WAT fixture {name}: {}", path.display());
    path
}

/// Guest output and exits, kept in memory.
#[derive(Debug, Default)]
pub struct CapturedOutput {
    streams: Mutex<HashMap<(Pid, i32), Vec<u8>>>,
    exits: Mutex<Vec<(Pid, ExitStatus)>>,
    /// Exits are not kept (see [`CapturedOutput::output_only`]).
    skip_exits: bool,
}

impl CapturedOutput {
    /// Keeps output only, as the daemon's own sink does: a benchmark of
    /// many short-lived guests would otherwise time the growth of a list
    /// of their exits, which the daemon does not keep.
    pub fn output_only() -> Self {
        Self { skip_exits: true, ..Self::default() }
    }

    /// What `pid` wrote to `stream` (1 stdout, 2 stderr) so far.
    pub fn text(&self, pid: Pid, stream: i32) -> String {
        let streams = self.streams.lock().unwrap();
        String::from_utf8_lossy(streams.get(&(pid, stream)).map(Vec::as_slice).unwrap_or(&[])).into_owned()
    }

    /// Every stdout byte of every process, in write order per process.
    pub fn all_stdout(&self) -> String {
        let streams = self.streams.lock().unwrap();
        let mut keys: Vec<_> = streams.keys().filter(|(_, s)| *s == 1).copied().collect();
        keys.sort_unstable();
        keys.iter().map(|k| String::from_utf8_lossy(&streams[k]).into_owned()).collect()
    }

    /// Exits seen so far, in order.
    pub fn exits(&self) -> Vec<(Pid, ExitStatus)> {
        self.exits.lock().unwrap().clone()
    }
}

impl OutputSink for CapturedOutput {
    fn output(&self, pid: Pid, stream: i32, bytes: &[u8]) {
        self.streams.lock().unwrap().entry((pid, stream)).or_default().extend_from_slice(bytes);
    }

    fn exited(&self, pid: Pid, status: &ExitStatus) {
        if self.skip_exits {
            return;
        }
        self.exits.lock().unwrap().push((pid, status.clone()));
    }
}
