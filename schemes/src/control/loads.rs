//! Module loads for spawns through the tree: read and compiled on the
//! daemon's own worker threads (on Redox the thread serving the scheme
//! must never open a path), each load under a ticket with the [`Load`]
//! it is for; the results come back on a channel and the frontend's
//! waker is called. [`spawn_loaded`] then makes the process.

use std::collections::HashMap;
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};

use wasmhost::worker::{Completion, Waker, Workers};
use wasmhost::{LoadResult, ModuleCache, ModuleLoader, Pid, SpawnError, SpawnOptions};

use super::file::Failure;
use super::{spec, Caller};

/// Threads loading modules.
const THREADS: usize = 2;

/// What a module load in flight is for.
#[derive(Debug)]
pub(crate) struct Load {
    /// The `spawn` or `run/` file told the outcome.
    pub file: u64,
    /// The spec, when from `spawn`.
    pub spec: Option<spec::SpawnSpec>,
    /// Whom the new process acts for.
    pub owner: Caller,
    /// The module path asked for.
    pub module: String,
    /// Set for a reload of a process (`reload` to `PID/ctl`) rather than
    /// a spawn.
    pub reload: Option<ReloadOf>,
}

/// A reload a load is for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReloadOf {
    /// The process reloaded.
    pub pid: Pid,
    /// Wait for a blocking call of it to return (else refuse).
    pub wait: bool,
}

/// Loads in flight and done.
pub struct Loads {
    workers: Workers<LoadResult>,
    done: Receiver<Completion<LoadResult>>,
    waker: Arc<Mutex<Option<Waker>>>,
    cache: ModuleCache,
    next_ticket: u64,
    /// Loads in flight, by ticket.
    waiting: HashMap<u64, Load>,
}

impl std::fmt::Debug for Loads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loads").field("next_ticket", &self.next_ticket).finish_non_exhaustive()
    }
}

impl Loads {
    /// Loads compiling into `cache` (the process manager's).
    pub fn new(cache: ModuleCache) -> Self {
        let (tx, done) = mpsc::channel();
        let waker: Arc<Mutex<Option<Waker>>> = Arc::default();
        // No I/O pool: one thread is the least `Workers` starts.
        let workers = Workers::start(THREADS, 1, tx, waker.clone());
        Self { workers, done, waker, cache, next_ticket: 1, waiting: HashMap::new() }
    }

    /// The function called after each load (from its thread).
    pub fn set_waker(&self, waker: Waker) {
        *self.waker.lock().unwrap_or_else(|e| e.into_inner()) = Some(waker);
    }

    /// Starts loading and compiling `path` with `loader` for `load`; its
    /// result comes from [`Loads::take_done`].
    /// A relative `path` is taken from `base` (else the loader's own
    /// directories).
    pub(crate) fn start(
        &mut self,
        loader: Arc<dyn ModuleLoader>,
        base: Option<std::path::PathBuf>,
        path: String,
        load: Load,
    ) {
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        self.waiting.insert(ticket, load);
        let cache = self.cache.clone();
        self.workers.submit(0, ticket, move || cache.load(loader.as_ref(), base.as_deref(), &path));
    }

    /// Loads finished since the last call, with what they are for (a load
    /// whose thread panicked is a refused module).
    pub(crate) fn take_done(&mut self) -> Vec<(Load, LoadResult)> {
        let done: Vec<Completion<LoadResult>> = self.done.try_iter().collect();
        done.into_iter()
            .filter_map(|c| {
                let result = c
                    .done
                    .unwrap_or_else(|| Err(SpawnError::InvalidModule("loading the module failed".into())));
                Some((self.waiting.remove(&c.token)?, result))
            })
            .collect()
    }
}

/// Spawns the module loaded from `path` as `load` asks.
pub(crate) fn spawn_loaded(
    kernel: &wasmhost::Kernel,
    module: Arc<wasmhost::CompiledModule>,
    path: std::path::PathBuf,
    load: Load,
) -> Result<Pid, Failure> {
    let stem = path.file_stem().map_or_else(|| "wasm".into(), |s| s.to_string_lossy().into_owned());
    let mut opts = SpawnOptions::new(stem.clone());
    opts.args = vec![stem];
    opts.module_path = Some(path.clone());
    opts.owner = load.owner;
    // A `run/` file's process reads what is written to the file (and to
    // `PID/stdin`); a `spawn`ed one only with `stdin=pipe`.
    let piped = load.spec.as_ref().is_none_or(|spec| spec.stdin_pipe);
    opts.stdin = piped.then(|| Arc::new(wasmhost::StdinPipe::new()));
    if let Some(spec) = load.spec {
        opts.args.extend(spec.args);
        opts.caps = spec.caps;
        opts.limits = spec.limits;
        opts.namespace =
            spec.grants.iter().filter_map(|g| wasmhost::namespace::parse_grant(g).ok()).collect();
        if let Some(name) = spec.name {
            opts.name = name;
        }
        opts.env = spec.env;
        opts.preopens = spec.preopens;
    }
    kernel.lock().spawn(module, opts).map_err(|e| {
        log::info!("spawn of {} failed: {e}", path.display());
        Failure::new(e.errno(), format!("`{}`: {e}", path.display()))
    })
}
