//! The process manager's core: its configuration and state.
//!
//! [`ProcessManager`] owns the process table ([`crate::table`]: a
//! generational slab keyed by pid), the run queues and timers
//! ([`Scheduler`]), the module cache, the waits in flight and the worker
//! threads. This file holds the state and what every layer above shares
//! (lending a parked process's store, the relations between processes);
//! the rest is layered above it, each part naming only those below:
//!
//! - `lifecycle`: exits, waking, reaping and the control operations;
//! - `waits`: parking on a continuation and ending the wait;
//! - `admission`: a new process's pid and place in its tree;
//!   `region_directory`: every region by id;
//! - `context`: the narrow [`crate::context::Context`] services get;
//! - `services::{spawn, regions, io, schemes}`: what syscalls and the
//!   embedder ask for, one concept each, against that context;
//! - `dispatch`: one syscall or embedder request, routed to its service;
//! - `turn`: running a process's turn and the embedder's run loops;
//! - [`crate::Kernel`]: the scheduler threads.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, Weak};
use std::time::Instant;

use wasmd_abi::msg::TRAP_MESSAGE_MAX_LEN;
use wasmd_abi::{Caps, ExitStatus, ProcessInfo};
use wasmi::TrapCode;
use wasmi::{CompilationMode, Config, Store};

use crate::caller::Caller;
use crate::continuation::Pending;
use crate::error::SpawnError;
use crate::futex::{FutexTable, WaitSpin};
use crate::guest_scheme::SchemeTable;
use crate::limits::{Limits, MemoryBudget};
use crate::log::DEFAULT_LOG_CAPACITY;
use crate::module_cache::{CompiledModule, Generation, ModuleCache};
use crate::platform::{ModuleLoader, OutputSink, Platform};
use crate::process::{HostEnv, Process, ProcessState};
use crate::region::{Region, RegionAccounting};
use crate::scheduler::Scheduler;
use crate::table::ProcessTable;
use crate::worker::{Completion, Waker, Workers};
use crate::Pid;

/// A map keyed by ids the manager hands out itself (pids, wait tokens):
/// unique small integers, so they need no hashing against collisions an
/// outsider could choose (and SipHash showed in profiles).
pub(crate) type IdMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<IdHasher>>;

/// The hasher of [`IdMap`]: the id itself, spread by a multiplication.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0.wrapping_mul(0x9e37_79b9_7f4a_7c15)
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) | u64::from(*b);
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.0 = u64::from(n);
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// Tunables of a [`ProcessManager`].
#[derive(Debug, Clone)]
pub struct ManagerConfig {
    /// Fuel per time slice (about one unit per wasm instruction).
    pub slice_fuel: u64,
    /// Bytes kept per log stream per process.
    pub log_capacity: usize,
    /// Most live processes.
    pub max_processes: usize,
    /// Exited processes kept for inspection once nobody can wait for them.
    pub retained_exited: usize,
    /// Compiled modules kept when no process uses them.
    pub module_cache_capacity: usize,
    /// Worker threads for loading and compiling modules and creating
    /// shared memory.
    pub workers: usize,
    /// Worker threads for guests' file and socket operations.
    pub io_workers: usize,
    /// Scheduler threads running guests (see [`crate::Kernel`]); 0: the
    /// embedder runs them with [`ProcessManager::run`] on its own thread.
    pub sched_workers: usize,
    /// Most regions alive at once, all processes together.
    pub max_regions: u64,
    /// Most region bytes alive at once, all processes together.
    pub max_region_bytes: u64,
    /// Most region bytes one tree (a top-level process and its
    /// descendants) may have alive at once.
    pub max_tree_region_bytes: u64,
    /// The daemon-wide memory budget: guests' linear memory, tables,
    /// regions and logs together ([`crate::limits::MemoryBudget`]).
    pub memory_budget: u64,
    /// Most children one process may have, live or exited and not yet
    /// waited for.
    pub max_children: usize,
    /// Most live processes in one tree (a process spawned by the embedder
    /// and all its descendants).
    pub max_tree: usize,
    /// Bytes of each log stream a child keeps once it exited, until its
    /// parent waits for it.
    pub exit_log_capacity: usize,
}

impl Default for ManagerConfig {
    fn default() -> Self {
        Self {
            slice_fuel: 100_000,
            log_capacity: DEFAULT_LOG_CAPACITY,
            max_processes: 1_000_000,
            retained_exited: 1024,
            module_cache_capacity: 256,
            workers: 2,
            io_workers: 4,
            sched_workers: 0,
            max_regions: 65536,
            max_region_bytes: 4 << 30,
            max_tree_region_bytes: 1 << 30,
            memory_budget: 16 << 30,
            max_children: 4096,
            max_tree: 16_384,
            exit_log_capacity: 4096,
        }
    }
}

/// Why [`ProcessManager::run_to_completion`] stopped early.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("deadlock: {0} live processes are all blocked and nothing can wake them")]
pub struct Deadlock(pub usize);

/// Wakes up to `count` guests waiting on `offset` of a region; returns
/// how many were woken. See [`ProcessManager::region_notifier`].
pub type RegionNotifier = Arc<dyn Fn(&Region, u64, u32) -> u32 + Send + Sync>;

/// The process manager. Lives on one thread (the scheduler thread).
pub struct ProcessManager {
    /// The hostcall linker of each live engine generation (see
    /// [`crate::module_cache`]), dropped with its generation.
    pub(crate) linkers: HashMap<u64, (Weak<Generation>, Arc<crate::instantiate::Linkers>)>,
    pub(crate) modules: ModuleCache,
    pub(crate) env: Arc<HostEnv>,
    pub(crate) loader: Arc<dyn ModuleLoader>,
    pub(crate) config: ManagerConfig,
    pub(crate) procs: ProcessTable,
    pub(crate) sched: Scheduler,
    /// The scheduler thread holding the manager now, if one does.
    pub(crate) here: Option<usize>,
    pub(crate) live: usize,
    /// Exited processes no parent will reap, oldest first.
    pub(crate) orphans: VecDeque<Pid>,
    pub(crate) completions: Receiver<Completion<Continuation>>,
    pub(crate) workers: Workers<Continuation>,
    /// Waits in flight by token (see [`crate::continuation`]).
    pub(crate) pending: IdMap<u64, Pending<ProcessManager>>,
    pub(crate) waker: Arc<Mutex<Option<Waker>>>,
    /// Every region by id (weak: holders keep regions alive).
    pub(crate) regions: HashMap<u64, std::sync::Weak<Region>>,
    pub(crate) next_region_id: u64,
    /// Live processes per tree, by the tree's first pid.
    pub(crate) trees: IdMap<Pid, usize>,
    /// The last monitor reference handed out.
    pub(crate) next_ref: u64,
    /// Processes a link dooms, to be killed (see [`crate::links`]).
    pub(crate) doomed: Vec<Pid>,
    /// True while the doomed are being killed.
    pub(crate) killing_doomed: bool,
    /// The name registry (see [`crate::names`]).
    pub(crate) names: crate::names::NameTable,
    /// Outcomes of the embedder's reloads (see [`crate::reload`]).
    pub(crate) reloads: crate::reload::Outcomes,
    /// Parks noted for giving memory back (see [`crate::trim`]).
    pub(crate) parks: crate::trim::Parks,
    pub(crate) remote: crate::remote::StandIns,
}

impl std::fmt::Debug for ProcessManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessManager")
            .field("live", &self.live)
            .field("records", &self.procs.len())
            .finish_non_exhaustive()
    }
}

/// Finishes a parked wait of a process of this manager (see
/// [`crate::continuation`]).
pub(crate) type Continuation = crate::continuation::Continuation<ProcessManager>;

/// What a syscall of a process of this manager decided (see
/// [`crate::continuation::Outcome`]).
pub(crate) type SyscallOutcome = crate::continuation::Outcome<ProcessManager>;

impl ProcessManager {
    /// A manager using `platform`, `loader` for module files and `output`
    /// for guest output.
    pub fn new(
        config: ManagerConfig,
        platform: Arc<dyn Platform>,
        loader: Arc<dyn ModuleLoader>,
        output: Arc<dyn OutputSink>,
    ) -> Self {
        let mut wasmi_config = Config::default();
        wasmi_config.consume_fuel(true);
        // Eager: modules are compiled once and cached, and wasmi 2.0's lazy
        // translation charges its fuel through a non-resumable error, which
        // would turn an ordinary preemption into an "out of fuel" exit.
        wasmi_config.compilation_mode(CompilationMode::Eager);
        let memory = Arc::new(MemoryBudget::new(config.memory_budget));
        let (done_tx, done_rx): (Sender<Completion<Continuation>>, _) = mpsc::channel();
        let waker: Arc<Mutex<Option<Waker>>> = Arc::default();
        let workers = Workers::start(config.workers, config.io_workers, done_tx, waker.clone());
        let sched = Scheduler::with_workers(config.sched_workers);
        let arena = platform.virtual_memory().map(crate::arena::Arena::new);
        Self {
            modules: ModuleCache::new(wasmi_config, config.module_cache_capacity),
            linkers: HashMap::new(),
            env: Arc::new(HostEnv {
                platform,
                output,
                epoch: Instant::now(),
                futex: Mutex::new(FutexTable::default()),
                wait_spin: WaitSpin::new(config.sched_workers, sched.queued_hint()),
                schemes: Mutex::new(SchemeTable::default()),
                kick: std::sync::OnceLock::new(),
                news: std::sync::OnceLock::new(),
                mail: Default::default(),
                arena,
                regions: Arc::new(RegionAccounting::new(
                    config.max_regions,
                    config.max_region_bytes,
                    config.max_tree_region_bytes,
                    memory.clone(),
                )),
                memory,
            }),
            loader,
            config,
            procs: ProcessTable::default(),
            sched,
            here: None,
            live: 0,
            orphans: VecDeque::new(),
            completions: done_rx,
            workers,
            pending: IdMap::default(),
            waker,
            regions: HashMap::new(),
            next_region_id: 1,
            trees: IdMap::default(),
            next_ref: 0,
            doomed: Vec::new(),
            killing_doomed: false,
            names: Default::default(),
            reloads: Default::default(),
            parks: Default::default(),
            remote: Default::default(),
        }
    }

    /// Sets the function workers call after posting a completion (from
    /// their thread), so an event loop knows to call [`Self::run`].
    pub fn set_waker(&mut self, waker: Waker) {
        *self.waker.lock().unwrap_or_else(|e| e.into_inner()) = Some(waker);
    }

    /// The module cache (shareable with other threads for compiling).
    pub fn modules(&self) -> &ModuleCache {
        &self.modules
    }

    /// Reads and compiles a module file on this thread (for start-up and
    /// tools; guests' spawns load on worker threads).
    pub fn load_module(&self, path: &str) -> Result<(Arc<CompiledModule>, PathBuf), SpawnError> {
        self.modules.load(self.loader.as_ref(), None, path)
    }

    /// True when `me` may inspect or kill `target`: it is a descendant,
    /// or `me` holds `PROC`.
    pub(crate) fn may_control(&self, me: Pid, target: Pid) -> bool {
        if self.procs.get(me).is_some_and(|p| p.caps.contains(Caps::PROC)) {
            return true;
        }
        self.is_ancestor(me, target)
    }

    /// True when `ancestor` is an ancestor of `pid`.
    pub(crate) fn is_ancestor(&self, ancestor: Pid, pid: Pid) -> bool {
        let mut cur = self.procs.get(pid).and_then(|p| p.parent);
        while let Some(p) = cur {
            if p == ancestor {
                return true;
            }
            cur = self.procs.get(p).and_then(|p| p.parent);
        }
        false
    }

    /// Runs `f` for the parked process `pid`, its store lent from its
    /// record for the call (`None`: no such process, or it has no store).
    pub(crate) fn with_caller<R>(
        &mut self,
        pid: Pid,
        f: impl FnOnce(&mut ProcessManager, &mut Caller<'_>) -> R,
    ) -> Option<R> {
        let mut store = self.procs.get_mut(pid)?.store.take()?;
        let result = f(self, &mut Caller::new(&mut store));
        if let Some(proc) = self.procs.get_mut(pid) {
            proc.store = Some(store);
        }
        Some(result)
    }

    /// The run queue for processes queued now: the worker holding the
    /// manager, else the least loaded.
    pub(crate) fn home(&self) -> usize {
        self.here.unwrap_or_else(|| self.sched.least_loaded())
    }

    /// The futex table (never poisoned in practice: holders do not panic).
    pub(crate) fn futex(&self) -> std::sync::MutexGuard<'_, FutexTable> {
        self.env.futex.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The guest scheme table.
    pub(crate) fn schemes(&self) -> std::sync::MutexGuard<'_, SchemeTable> {
        self.env.schemes.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A snapshot of a process (live, or exited and not yet reaped).
    pub fn info(&self, pid: Pid) -> Option<ProcessInfo> {
        self.procs.get(pid).map(info_of)
    }

    /// Pids of every known process, ascending.
    pub fn pids(&self) -> Vec<Pid> {
        let mut pids: Vec<Pid> = self.procs.iter().map(|p| p.pid).collect();
        pids.sort_unstable();
        pids
    }

    /// A process's record.
    pub fn process(&self, pid: Pid) -> Option<&Process> {
        self.procs.get(pid)
    }

    /// Live (not exited) processes.
    pub fn live(&self) -> usize {
        self.live
    }

    /// Processes queued to run.
    pub fn queued(&self) -> usize {
        self.sched.queued()
    }

    /// The earliest guest timer (a `sleep`, a wait's timeout).
    pub fn next_timer(&self) -> Option<Instant> {
        self.sched.next_deadline()
    }

    /// When the manager next has timed work, for an event loop's timeout:
    /// the earliest guest timer, or a parked process's memory trim (see
    /// [`crate::trim`]).
    pub fn next_deadline(&self) -> Option<Instant> {
        match (self.sched.next_deadline(), self.parks.next_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// What the arena of guests' memories holds (`None` without one).
    pub fn arena_stats(&self) -> Option<crate::ArenaStats> {
        self.env.arena.as_ref().map(|a| a.stats())
    }

    /// The OS platform guests run on.
    pub fn platform(&self) -> Arc<dyn Platform> {
        self.env.platform.clone()
    }

    /// True when scheduler threads have work that no run queue shows: a
    /// request for a parked provider, futex waiters woken.
    pub fn has_unqueued_work(&self) -> bool {
        self.schemes().has_work() || self.futex().has_woken() || self.env.mail.any()
    }

    /// True when something waits for the embedder: a scheme reply or
    /// registration event.
    pub fn has_news(&self) -> bool {
        self.schemes().has_news() || self.remote.has_ops()
    }
}

/// The fuel to give for one slice: at least `required`, at most the
/// budget left.
pub(crate) fn slice_for(slice_fuel: u64, limits: &Limits, fuel_used: u64, required: u64) -> u64 {
    let slice = slice_fuel.max(required);
    match limits.fuel {
        Some(budget) => slice.min(budget.saturating_sub(fuel_used)),
        None => slice,
    }
}

/// Sets the fuel of a store (fuel metering is always on).
pub(crate) fn set_fuel(store: &mut Store<ProcessState>, fuel: u64) {
    // Fuel metering is enabled in the engine config, so this cannot fail.
    let _ = store.set_fuel(fuel);
}

/// The exit status for an error that ended a process.
pub(crate) fn trap_status(store: &Store<ProcessState>, e: &wasmi::Error) -> ExitStatus {
    if store.data().limiter.hit {
        return ExitStatus::MemoryLimit;
    }
    log::debug!("pid {}: ended by {e}", store.data().pid);
    if e.as_trap_code() == Some(TrapCode::OutOfFuel) {
        return ExitStatus::OutOfFuel;
    }
    ExitStatus::Trapped(truncate(e.to_string()))
}

/// Cuts a message to the ABI's trap message limit at a char boundary.
pub(crate) fn truncate(mut s: String) -> String {
    if s.len() > TRAP_MESSAGE_MAX_LEN {
        let mut end = TRAP_MESSAGE_MAX_LEN;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

/// The ABI snapshot of a process.
pub(crate) fn info_of(p: &Process) -> ProcessInfo {
    ProcessInfo {
        pid: p.pid,
        parent: p.parent.unwrap_or(0),
        state: p.sched.run_state(),
        name: p.name.clone(),
        module_hash: p.module_hash,
        memory_pages: p.memory_pages(),
        fuel_used: p.fuel_used,
        caps: p.caps,
        status: p.status().cloned(),
    }
}
