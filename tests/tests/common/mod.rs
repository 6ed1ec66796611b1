//! Shared set-up for the in-process integration tests: a process manager
//! with the real OS platform, a module loader allowing the fixture
//! directories, and captured output.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmd::loader::FsModuleLoader;
use wasmd::sys::OsPlatform;
use wasmd_abi::{Caps, ExitStatus};
use wasmd_tests::{CapturedOutput, GUESTS_DIR, WAT_DIR};
use wasmhost::{Limits, ManagerConfig, Pid, ProcessManager, SpawnOptions};

/// A process manager with `platform`, loading modules from the fixture
/// directories, its output captured in `out`.
pub fn manager(
    config: ManagerConfig,
    platform: impl wasmhost::Platform,
    out: Arc<CapturedOutput>,
) -> ProcessManager {
    let loader = FsModuleLoader::new([PathBuf::from(GUESTS_DIR), PathBuf::from(WAT_DIR)]);
    ProcessManager::new(config, Arc::new(platform), Arc::new(loader), out)
}

/// Spawns a module file in `pm` with `args` (program name added), `caps`,
/// `limits` and namespace `grants`, owned by root, with no parent.
pub fn spawn_file_in(
    pm: &mut ProcessManager,
    path: &Path,
    args: &[&str],
    caps: Caps,
    limits: Limits,
    grants: &[&str],
) -> Pid {
    let (module, resolved) = pm.load_module(path.to_str().unwrap()).expect("module loads");
    let name = path.file_stem().unwrap().to_string_lossy().into_owned();
    let mut all_args = vec![name.clone()];
    all_args.extend(args.iter().map(|s| s.to_string()));
    let opts = SpawnOptions {
        name,
        args: all_args,
        caps,
        limits,
        parent: None,
        module_path: Some(resolved),
        namespace: grants.iter().map(|g| wasmhost::namespace::parse_grant(g).unwrap()).collect(),
        owner: wasmhost::Owner::ROOT,
        ..SpawnOptions::new("")
    };
    pm.spawn(module, opts).expect("spawns")
}

pub struct Harness {
    pub pm: ProcessManager,
    pub out: Arc<CapturedOutput>,
}

impl Harness {
    pub fn new() -> Self {
        Self::with_config(ManagerConfig::default())
    }

    pub fn with_config(config: ManagerConfig) -> Self {
        Self::with_platform(config, OsPlatform::new().unwrap())
    }

    /// A harness whose guests' `file:` paths live in `root`.
    pub fn with_fs_root(root: &Path) -> Self {
        Self::with_platform(ManagerConfig::default(), OsPlatform::with_file_root(Some(root)).unwrap())
    }

    pub fn with_platform(config: ManagerConfig, platform: impl wasmhost::Platform) -> Self {
        let out = Arc::new(CapturedOutput::default());
        let pm = manager(config, platform, out.clone());
        Self { pm, out }
    }

    /// Spawns a module file with `args` (program name added), `caps`, `limits`.
    pub fn spawn_file(&mut self, path: &Path, args: &[&str], caps: Caps, limits: Limits) -> Pid {
        self.spawn_file_ns(path, args, caps, limits, &[])
    }

    /// As `spawn_file`, with namespace grants.
    pub fn spawn_file_ns(
        &mut self,
        path: &Path,
        args: &[&str],
        caps: Caps,
        limits: Limits,
        grants: &[&str],
    ) -> Pid {
        spawn_file_in(&mut self.pm, path, args, caps, limits, grants)
    }

    /// Spawns a Rust guest with default caps and limits.
    pub fn guest(&mut self, name: &str, args: &[&str]) -> Pid {
        self.spawn_file(&wasmd_tests::guest(name), args, Caps::DEFAULT, Limits::default())
    }

    /// Spawns a Rust guest with capabilities and namespace grants.
    pub fn guest_with(&mut self, name: &str, args: &[&str], caps: Caps, grants: &[&str]) -> Pid {
        self.spawn_file_ns(&wasmd_tests::guest(name), args, caps, Limits::default(), grants)
    }

    /// Spawns a WAT fixture with default caps and limits.
    pub fn wat(&mut self, name: &str) -> Pid {
        self.spawn_file(&wasmd_tests::wat(name), &[], Caps::DEFAULT, Limits::default())
    }

    pub fn status(&self, pid: Pid) -> Option<ExitStatus> {
        self.pm.process(pid).and_then(|p| p.status().cloned())
    }

    pub fn run_all(&mut self) {
        self.pm.run_to_completion().expect("no deadlock");
    }

    /// Runs until `pid` exits (or panics after `secs` seconds).
    pub fn run_until_exit(&mut self, pid: Pid, secs: u64) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !self.pm.process(pid).unwrap().is_exited() {
            assert!(Instant::now() < deadline, "pid {pid} did not finish");
            self.pm.run(64);
            self.pm.wait_for_events(Some(Duration::from_millis(1)));
        }
    }

    pub fn stdout(&self, pid: Pid) -> String {
        self.out.text(pid, 1)
    }

    pub fn stderr(&self, pid: Pid) -> String {
        self.out.text(pid, 2)
    }

    /// `key=value` lines of a process's stdout.
    pub fn kv(&self, pid: Pid) -> std::collections::HashMap<String, String> {
        self.stdout(pid)
            .lines()
            .filter_map(|l| l.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
            .collect()
    }
}

/// A fresh directory under the system's temporary directory.
pub fn temp_dir(tag: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let dir = std::env::temp_dir().join(format!("wasmd-{tag}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Checks what the `fs_client` fixture reports after its session (make a
/// directory, write, read, seek, list, unlink, remove the directory).
pub fn expect_fs_session(h: &Harness, pid: u32) {
    assert_eq!(h.status(pid), Some(ExitStatus::Exited(0)), "{}", h.stderr(pid));
    let kv = h.kv(pid);
    let expect = [
        ("mkdir", "ok:()"),
        ("write", "ok:()"),
        ("read", "ok:\"hello, world\""),
        ("seek_write_read", "ok:(7, \"WORLD\", 12)"),
        ("readdir", "ok:[(\"hello.txt\", 8)]"),
        ("missing", "err:2"),
        ("unlink", "ok:()"),
        ("after_unlink", "ok:[]"),
        ("rmdir", "ok:()"),
    ];
    for (key, value) in expect {
        assert_eq!(kv.get(key).map(String::as_str), Some(value), "{key}");
    }
}

/// Runs the guest `name` once per argument list in `runs`, all at once on
/// a kernel of `workers` scheduler threads, `caps` each; asserts that
/// every one exits 0 within two minutes. Their captured output.
pub fn all_exit_zero_on_kernel(
    name: &str,
    runs: &[&[&str]],
    caps: Caps,
    workers: usize,
) -> (Vec<Pid>, Arc<CapturedOutput>) {
    let out = Arc::new(CapturedOutput::default());
    let config = ManagerConfig { sched_workers: workers, ..ManagerConfig::default() };
    let k = wasmhost::Kernel::new(manager(config, OsPlatform::new().unwrap(), out.clone()));
    let pids: Vec<Pid> = runs
        .iter()
        .map(|args| {
            spawn_file_in(&mut k.lock(), &wasmd_tests::guest(name), args, caps, Limits::default(), &[])
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    for (pid, args) in pids.iter().zip(runs) {
        loop {
            if let Some(status) = k.lock().process(*pid).and_then(|p| p.status().cloned()) {
                let why = format!("{name} {args:?}: {}{}", out.text(*pid, 1), out.text(*pid, 2));
                assert_eq!(status, ExitStatus::Exited(0), "{why}");
                break;
            }
            assert!(Instant::now() < deadline, "{name} {args:?} did not finish: {}", out.text(*pid, 1));
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    (pids, out)
}
