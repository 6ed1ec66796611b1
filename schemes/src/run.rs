//! `wasmd run`: run one guest (and whatever it spawns) to completion on
//! this thread, streaming output to the terminal.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use wasmd_abi::{Caps, ExitStatus};
use wasmhost::{Limits, ManagerConfig, ProcessManager, SpawnError, SpawnOptions};

use crate::loader::FsModuleLoader;
use crate::output::TerminalOutput;
use crate::sys::OsPlatform;

/// What to run.
#[derive(Debug, Clone)]
pub struct RunSpec {
    /// The module file (`.wasm` or `.wat`).
    pub module: PathBuf,
    /// Arguments after the program name.
    pub args: Vec<String>,
    /// Capabilities of the root process.
    pub caps: Caps,
    /// Limits of the root process.
    pub limits: Limits,
    /// Further directories guests may spawn modules from (the module's
    /// own directory is always allowed).
    pub module_dirs: Vec<PathBuf>,
    /// Fuel per time slice.
    pub slice_fuel: Option<u64>,
    /// Namespace grants of the root process.
    pub namespace: Vec<wasmhost::namespace::Grant>,
    /// The directory `file:` paths live in (none: `file:` is refused).
    pub fs_root: Option<PathBuf>,
}

/// Why a run could not start (bad input: exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The module file cannot be read.
    #[error("cannot read `{path}`: {source}")]
    Read {
        /// The path given.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The module is invalid or cannot be spawned.
    #[error("`{path}`: {source}")]
    Spawn {
        /// The path given.
        path: String,
        /// Why.
        source: SpawnError,
    },
    /// The OS platform could not be set up.
    #[error("cannot initialise the platform: {0}")]
    Platform(std::io::Error),
}

/// Runs the module to completion; returns the root process's status, or
/// a message when live processes deadlocked.
pub fn run(spec: &RunSpec) -> Result<(ExitStatus, Option<String>), RunError> {
    let shown = spec.module.display().to_string();
    let bytes =
        std::fs::read(&spec.module).map_err(|source| RunError::Read { path: shown.clone(), source })?;
    let dir = spec.module.parent().map(Path::to_path_buf).filter(|d| !d.as_os_str().is_empty());
    let roots = dir.clone().into_iter().chain(spec.module_dirs.iter().cloned()).chain(
        // A module given by a bare file name lives in the current directory.
        spec.module.parent().filter(|d| d.as_os_str().is_empty()).map(|_| PathBuf::from(".")),
    );
    let loader = FsModuleLoader::new(roots);
    let platform = OsPlatform::with_file_root(spec.fs_root.as_deref()).map_err(RunError::Platform)?;
    let mut config = ManagerConfig::default();
    if let Some(slice) = spec.slice_fuel {
        config.slice_fuel = slice;
    }
    let mut manager =
        ProcessManager::new(config, Arc::new(platform), Arc::new(loader), Arc::new(TerminalOutput));
    let spawn_err = |source| RunError::Spawn { path: shown.clone(), source };
    let module = manager.modules().compile(&bytes).map_err(spawn_err)?;
    let name =
        spec.module.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "wasm".into());
    let mut args = vec![name.clone()];
    args.extend(spec.args.iter().cloned());
    let opts = SpawnOptions {
        name,
        args,
        caps: spec.caps,
        limits: spec.limits,
        parent: None,
        module_path: Some(crate::loader::normalize(&spec.module)),
        namespace: spec.namespace.clone(),
        // `wasmd run` acts for whoever runs it.
        owner: crate::sys::current_owner(),
    };
    let pid = manager.spawn(module, opts).map_err(spawn_err)?;
    let deadlock = manager.run_to_completion().err().map(|d| d.to_string());
    let status = manager.process(pid).and_then(|p| p.status().cloned()).unwrap_or(ExitStatus::Killed);
    Ok((status, deadlock))
}
