//! The smoke sequence against a real daemon on Linux: the daemon's control
//! tree served on a Unix socket (in a thread of this test), reached with
//! the `wasmd` client, which takes the same `/scheme/...` paths as the
//! files inside Redox.
#![cfg(target_os = "linux")]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmd::client::Client;
use wasmd_smoke::Tree;

/// [`Tree`] over the control socket.
struct SocketTree(Client);

impl Tree for SocketTree {
    fn list(&mut self, path: &str) -> Result<Vec<String>, String> {
        let entries = self.0.list(path).map_err(|e| format!("ls {path}: {e}"))?;
        Ok(entries.into_iter().map(|(name, _)| name).collect())
    }

    fn read(&mut self, path: &str) -> Result<Vec<u8>, String> {
        self.0.read_all(path).map_err(|e| format!("cat {path}: {e}"))
    }

    fn write(&mut self, path: &str, data: &[u8]) -> Result<(), String> {
        self.0.write_file(path, data).map_err(|e| format!("write {path}: {e}"))
    }

    fn spawn(&mut self, spec: &str) -> Result<u32, String> {
        self.0.spawn(spec).map_err(|e| format!("spawn: {e}"))
    }
}

/// Starts a daemon serving a fresh socket; returns the socket's path.
fn daemon(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wasmd-smoke-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let socket = dir.join("wasmd.sock");
    let path = socket.clone();
    // The daemon lives on its own thread (it is single-threaded and not `Send`).
    std::thread::spawn(move || {
        let platform = wasmd::sys::OsPlatform::with_file_root(None).unwrap();
        let loader =
            Arc::new(wasmd::loader::FsModuleLoader::new(vec![PathBuf::from(wasmd_tests::GUESTS_DIR)]));
        let pm = wasmhost::ProcessManager::new(
            wasmhost::ManagerConfig::default(),
            Arc::new(platform),
            loader.clone(),
            Arc::new(wasmhost::NoOutput),
        );
        wasmd::sys::serve(wasmd::control::Daemon::new(pm, loader), &path)
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while Client::connect(&socket).is_err() {
        assert!(Instant::now() < deadline, "the daemon did not come up");
        std::thread::sleep(Duration::from_millis(10));
    }
    socket
}

#[test]
fn the_smoke_sequence_passes_against_a_live_daemon() {
    let socket = daemon("pass");
    let mut tree = SocketTree(Client::connect(&socket).unwrap());
    let mut steps = Vec::new();
    let result = wasmd_smoke::run(&mut tree, wasmd_tests::GUESTS_DIR, &mut |s| steps.push(s.to_string()));
    assert_eq!(result, Ok(()), "after steps {steps:?}");
    assert_eq!(steps.len(), 7, "{steps:?}");
}

#[test]
fn the_smoke_sequence_fails_with_a_reason_without_guests() {
    let socket = daemon("fail");
    let mut tree = SocketTree(Client::connect(&socket).unwrap());
    let result = wasmd_smoke::run(&mut tree, "/nonexistent", &mut |_| {});
    let reason = result.unwrap_err();
    assert!(reason.contains("/nonexistent/hello.wasm"), "{reason}");
}
