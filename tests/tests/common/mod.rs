//! Shared set-up for the in-process integration tests: a process manager
//! with the real OS platform, a module loader allowing the fixture
//! directories, and captured output.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use wasmd::loader::FsModuleLoader;
use wasmd::sys::OsPlatform;
use wasmd_abi::{Caps, ExitStatus};
use wasmd_tests::{CapturedOutput, GUESTS_DIR, WAT_DIR};
use wasmhost::{Limits, ManagerConfig, Pid, ProcessManager, SpawnOptions};

pub struct Harness {
    pub pm: ProcessManager,
    pub out: Arc<CapturedOutput>,
}

impl Harness {
    pub fn new() -> Self {
        Self::with_config(ManagerConfig::default())
    }

    pub fn with_config(config: ManagerConfig) -> Self {
        let out = Arc::new(CapturedOutput::default());
        let loader = FsModuleLoader::new([PathBuf::from(GUESTS_DIR), PathBuf::from(WAT_DIR)]);
        let pm =
            ProcessManager::new(config, Arc::new(OsPlatform::new().unwrap()), Arc::new(loader), out.clone());
        Self { pm, out }
    }

    /// Spawns a module file with `args` (program name added), `caps`, `limits`.
    pub fn spawn_file(&mut self, path: &Path, args: &[&str], caps: Caps, limits: Limits) -> Pid {
        let (module, resolved) = self.pm.load_module(path.to_str().unwrap()).expect("module loads");
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let mut all_args = vec![name.clone()];
        all_args.extend(args.iter().map(|s| s.to_string()));
        let opts =
            SpawnOptions { name, args: all_args, caps, limits, parent: None, module_path: Some(resolved) };
        self.pm.spawn(module, opts).expect("spawns")
    }

    /// Spawns a Rust guest with default caps and limits.
    pub fn guest(&mut self, name: &str, args: &[&str]) -> Pid {
        self.spawn_file(&wasmd_tests::guest(name), args, Caps::DEFAULT, Limits::default())
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
