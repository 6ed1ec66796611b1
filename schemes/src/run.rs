//! `wasmd run`: run one guest (and whatever it spawns) to completion on
//! this thread, streaming output to the terminal.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use wasmd_abi::{Caps, ExitStatus};
use wasmhost::{Limits, ManagerConfig, ProcessManager, SpawnError, SpawnOptions, StdinPipe};

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
    /// Environment variables of the root process, `KEY=VALUE` each.
    pub env: Vec<String>,
    /// TCP addresses the root process starts listening on.
    pub tcplisten: Vec<String>,
    /// Names of its WASI preopens other than their paths.
    pub preopens: Vec<wasmhost::wasi::PreopenAlias>,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    /// The root process's status.
    pub status: ExitStatus,
    /// Why live processes were left when nothing could wake them.
    pub deadlock: Option<String>,
    /// The reader of wasmd's stdout went away: every guest was killed.
    pub output_closed: bool,
}

impl Finished {
    /// wasmd's exit code: the guest's status as a shell code (see
    /// [`ExitStatus::shell_code`]), or 141 (as for `SIGPIPE`) when the
    /// output's reader went away.
    pub fn exit_code(&self) -> u8 {
        if self.output_closed {
            141
        } else {
            self.status.shell_code()
        }
    }
}

/// Why a run could not start.
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
    /// A `--tcplisten` address no grant covers, or that cannot be
    /// listened on.
    #[error("cannot listen on `{addr}`: {reason}")]
    Listen {
        /// The address.
        addr: String,
        /// Why.
        reason: String,
    },
    /// The OS platform could not be set up.
    #[error("cannot initialise the platform: {0}")]
    Platform(std::io::Error),
}

impl RunError {
    /// wasmd's exit code for it, apart from any a guest can give itself
    /// but as shells use them: 127 when the module file cannot be read
    /// (as for a command not found), 126 when it is not a module that
    /// can run (invalid, unknown imports; as for a file that cannot be
    /// executed), 1 when the platform cannot be set up.
    pub fn exit_code(&self) -> u8 {
        match self {
            RunError::Read { .. } => 127,
            RunError::Spawn { .. } => 126,
            RunError::Platform(_) | RunError::Listen { .. } => 1,
        }
    }
}

/// Listens on each of `addrs` (each covered by a `tcp:` grant).
fn listen_all(
    platform: &OsPlatform,
    addrs: &[String],
    grants: &[wasmhost::namespace::Grant],
) -> Result<Vec<Arc<dyn wasmhost::HostSocket>>, RunError> {
    use wasmhost::namespace;
    use wasmhost::Platform as _;
    addrs
        .iter()
        .map(|addr| {
            let failed = |reason: String| RunError::Listen { addr: addr.clone(), reason };
            let path = namespace::parse_path(&format!("tcp:{addr}")).map_err(|e| failed(e.to_string()))?;
            namespace::check(grants, &path, true)
                .map_err(|_| failed("no read-write `tcp:` grant covers it".into()))?;
            platform.net_listen("tcp", addr).map_err(|e| failed(e.to_string()))
        })
        .collect()
}

/// wasmd's own stdin as the root process's: a thread copies it into the
/// pipe when the guest asks for input (waiting for room as the guest
/// reads) and closes it at the end. A guest that never reads leaves
/// wasmd's stdin unread.
fn connect_stdin() -> Arc<StdinPipe> {
    let pipe = Arc::new(StdinPipe::new());
    let feeder = pipe.clone();
    let spawned = std::thread::Builder::new().name("stdin".into()).spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut chunk = vec![0u8; 64 * 1024];
        while feeder.wait_for_demand() {
            match std::io::Read::read(&mut stdin, &mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if !feeder.feed_all(&chunk[..n]) {
                        break;
                    }
                }
            }
        }
        feeder.close();
    });
    if spawned.is_err() {
        // No thread for it: the guest reads end of file.
        pipe.close();
    }
    pipe
}

/// Runs the module to completion (or until wasmd's stdout is closed:
/// then every guest is killed).
pub fn run(spec: &RunSpec) -> Result<Finished, RunError> {
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
    let sockets = listen_all(&platform, &spec.tcplisten, &spec.namespace)?;
    let mut config = ManagerConfig::default();
    if let Some(slice) = spec.slice_fuel {
        config.slice_fuel = slice;
    }
    let output = Arc::new(TerminalOutput::default());
    output.watch();
    let mut manager = ProcessManager::new(config, Arc::new(platform), Arc::new(loader), output.clone());
    let spawn_err = |source| RunError::Spawn { path: shown.clone(), source };
    let module = manager.modules().compile(&bytes).map_err(spawn_err)?;
    let name =
        spec.module.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "wasm".into());
    // The program name is the module as given, as a shell gives `$0`.
    let mut args = vec![shown.clone()];
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
        env: spec.env.clone(),
        stdin: Some(connect_stdin()),
        sockets,
        preopens: spec.preopens.clone(),
    };
    let pid = manager.spawn(module, opts).map_err(spawn_err)?;
    let deadlock = manager.run_to_completion_while(|| !output.closed()).err().map(|d| d.to_string());
    let output_closed = output.closed();
    if output_closed {
        for pid in manager.pids() {
            let _ = manager.kill(pid);
        }
    }
    let status = manager.process(pid).and_then(|p| p.status().cloned()).unwrap_or(ExitStatus::Killed);
    Ok(Finished { status, deadlock, output_closed })
}
