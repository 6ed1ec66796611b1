//! The process manager: its configuration, its state, and spawning.
//!
//! [`ProcessManager`] owns every [`Process`], the run queues and timers
//! ([`Scheduler`]), the module cache and the worker threads. Its methods
//! are spread by concept: turns and the embedder's run loops in
//! `turn.rs`, exits, waking and control operations in `lifecycle.rs`,
//! syscalls in `syscalls.rs`, file and socket operations in `io.rs`,
//! waits that end later in `continuation.rs`. The embedder drives it:
//! [`ProcessManager::run`] runs ready processes for a number of time
//! slices on the calling thread, or a [`crate::Kernel`] runs them on its
//! scheduler threads.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, Weak};
use std::time::Instant;

use wasmd_abi::msg::{self, TRAP_MESSAGE_MAX_LEN};
use wasmd_abi::{Caps, ExitStatus, ProcessInfo};
use wasmi::errors::ErrorKind;
use wasmi::TrapCode;
use wasmi::{CompilationMode, Config, Linker, Store};

use crate::continuation::{Continuation, Pending};
use crate::error::SpawnError;
use crate::futex::FutexTable;
use crate::guest_scheme::{self, SchemeEvent, SchemeTable};
use crate::handles::HandleTable;
use crate::limits::{Limits, MemoryBudget, MemoryLimiter};
use crate::log::{ProcessLog, DEFAULT_LOG_CAPACITY};
use crate::module_cache::{CompiledModule, Generation, ModuleCache};
use crate::platform::{ModuleLoader, OutputSink, Platform};
use crate::process::{BlockOn, HostEnv, Process, ProcessState, RegionHoldings, Resume, Sched};
use crate::region::{Region, RegionAccounting};
use crate::scheduler::Scheduler;
use crate::table::ProcessTable;
use crate::worker::{Completion, Waker, Workers};
use crate::{hostcalls, Pid};

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

/// How to spawn a process from a compiled module.
#[derive(Debug, Clone)]
pub struct SpawnOptions {
    /// Display name.
    pub name: String,
    /// Arguments (by convention the first is the program name).
    pub args: Vec<String>,
    /// Capability set.
    pub caps: Caps,
    /// Limits.
    pub limits: Limits,
    /// Parent process, if any.
    pub parent: Option<Pid>,
    /// The module file, if it came from one.
    pub module_path: Option<PathBuf>,
    /// Namespace grants for fs and socket hostcalls.
    pub namespace: Vec<crate::namespace::Grant>,
    /// The user it acts for (its children too).
    pub owner: Owner,
}

/// The user a process acts for: whoever spawned it through the daemon
/// (Redox: the caller's uid and gid; Linux: the client's socket peer), or
/// the owner of its parent. The embedder bounds what a process may do by
/// its owner; the manager only records and inherits it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Owner {
    /// User id.
    pub uid: u32,
    /// Group id.
    pub gid: u32,
}

impl Owner {
    /// The superuser.
    pub const ROOT: Owner = Owner { uid: 0, gid: 0 };

    /// True for the superuser.
    pub fn is_root(&self) -> bool {
        self.uid == 0
    }
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.uid, self.gid)
    }
}

impl SpawnOptions {
    /// Options with default limits and capabilities, no parent.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            args: Vec::new(),
            caps: Caps::DEFAULT,
            limits: Limits::default(),
            parent: None,
            module_path: None,
            namespace: Vec::new(),
            owner: Owner::ROOT,
        }
    }
}

/// A module loaded for the embedder: the compiled module and its file.
pub type LoadResult = Result<(Arc<CompiledModule>, PathBuf), SpawnError>;

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
    pub(crate) linkers: HashMap<u64, (Weak<Generation>, Linker<ProcessState>)>,
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
    pub(crate) pending: IdMap<u64, Pending>,
    pub(crate) waker: Arc<Mutex<Option<Waker>>>,
    /// Every region by id (weak: holders keep regions alive).
    pub(crate) regions: HashMap<u64, std::sync::Weak<Region>>,
    pub(crate) next_region_id: u64,
    /// Live processes per tree, by the tree's first pid.
    pub(crate) trees: IdMap<Pid, usize>,
}

impl std::fmt::Debug for ProcessManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessManager")
            .field("live", &self.live)
            .field("records", &self.procs.len())
            .finish_non_exhaustive()
    }
}

/// What a syscall handler decided.
pub(crate) enum SyscallOutcome {
    /// Resume the caller at once with this value.
    Return(i64),
    /// Requeue the caller at the back, returning 0.
    Yield,
    /// Park the caller.
    Park(BlockOn),
    /// End the caller.
    Exit(ExitStatus),
}

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
        Self {
            modules: ModuleCache::new(wasmi_config, config.module_cache_capacity),
            linkers: HashMap::new(),
            env: Arc::new(HostEnv {
                platform,
                output,
                epoch: Instant::now(),
                futex: Mutex::new(FutexTable::default()),
                schemes: Mutex::new(SchemeTable::default()),
                kick: std::sync::OnceLock::new(),
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

    /// The hostcall linker for `generation`'s engine (made on first use;
    /// the linkers of generations no module holds any more are dropped,
    /// with their engines and code).
    pub(crate) fn linker(&mut self, generation: &Arc<Generation>) -> &Linker<ProcessState> {
        if !self.linkers.contains_key(&generation.id) {
            self.linkers.retain(|_, (g, _)| g.strong_count() > 0);
            let mut linker = Linker::new(&generation.engine);
            // Defining a fixed set of distinct names on a fresh linker cannot fail.
            if let Err(e) = hostcalls::define(&mut linker) {
                panic!("hostcall table is inconsistent: {e}");
            }
            self.linkers.insert(generation.id, (Arc::downgrade(generation), linker));
        }
        &self.linkers[&generation.id].1
    }

    /// Reads and compiles a module file on this thread (for start-up and
    /// tools; guests' spawns load on worker threads).
    pub fn load_module(&self, path: &str) -> Result<(Arc<CompiledModule>, PathBuf), SpawnError> {
        let loaded = self.loader.load(None, path)?;
        let module = self.modules.compile(&loaded.bytes)?;
        Ok((module, loaded.path))
    }

    /// Spawns a process running `module`. It starts on a later [`Self::run`].
    ///
    /// A start function that traps, exits or exceeds the memory limit still
    /// gives a pid, of an already exited process; instantiation errors
    /// (bad import types) are errors.
    pub fn spawn(&mut self, module: Arc<CompiledModule>, opts: SpawnOptions) -> Result<Pid, SpawnError> {
        let tree = opts.parent.and_then(|p| self.procs.get(p)).map(|p| p.tree);
        self.spawn_in(module, opts, tree)
    }

    /// Spawns into `tree` (a new tree of its own when `None`), within the
    /// process table's and the tree's limits.
    pub(crate) fn spawn_in(
        &mut self,
        module: Arc<CompiledModule>,
        opts: SpawnOptions,
        tree: Option<Pid>,
    ) -> Result<Pid, SpawnError> {
        if self.live >= self.config.max_processes {
            return Err(SpawnError::TooManyProcesses);
        }
        if tree.is_some_and(|t| self.trees.get(&t).is_some_and(|n| *n >= self.config.max_tree)) {
            return Err(SpawnError::TooManyProcesses);
        }
        let pid = self.procs.alloc_pid();
        let tree = tree.unwrap_or(pid);
        let args: Vec<&str> = opts.args.iter().map(String::as_str).collect();
        let account = self.env.memory.account(opts.owner.uid);
        let log = Arc::new(Mutex::new(ProcessLog::with_budget(self.config.log_capacity, &account)));
        let regions = Arc::new(Mutex::new(RegionHoldings {
            pending_shares: Vec::new(),
            bytes: 0,
            max_bytes: opts.limits.max_region_bytes,
        }));
        let state = ProcessState {
            pid,
            caps: opts.caps,
            memory: None,
            args: msg::encode(&args).into_boxed_slice(),
            log: log.clone(),
            env: self.env.clone(),
            limiter: MemoryLimiter::new(opts.limits.max_pages, account.clone()),
            syscall: None,
            handles: HandleTable::new(opts.limits.max_handles),
            regions: regions.clone(),
            namespace: opts.namespace.clone().into(),
        };
        let mut store = Store::new(&module.generation.engine, state);
        store.limiter(|s| &mut s.limiter);
        let given = slice_for(self.config.slice_fuel, &opts.limits, 0, 0);
        set_fuel(&mut store, given);
        let instantiated = self.linker(&module.generation).instantiate_and_start(&mut store, &module.module);
        let fuel_used = given - store.get_fuel().unwrap_or(0);
        let (sched, store) = match instantiated {
            Ok(instance) => {
                let Some(entry) = instance.get_func(&store, wasmd_abi::hostcall::ENTRY) else {
                    return Err(SpawnError::NoEntry);
                };
                store.data_mut().memory = instance.get_memory(&store, wasmd_abi::hostcall::MEMORY);
                (Sched::Ready(Resume::Start(entry)), Some(store))
            }
            Err(e) if matches!(e.kind(), ErrorKind::Linker(_) | ErrorKind::Instantiation(_)) => {
                if store.data().limiter.hit {
                    (Sched::Exited(ExitStatus::MemoryLimit), None)
                } else if store.data().limiter.budget_hit {
                    return Err(SpawnError::OutOfMemory);
                } else {
                    return Err(SpawnError::Instantiate(e.to_string()));
                }
            }
            Err(e) => {
                let status = match store.data_mut().syscall.take() {
                    Some(crate::process::Syscall::Exit(code)) => ExitStatus::Exited(code),
                    _ => trap_status(&store, &e),
                };
                (Sched::Exited(status), None)
            }
        };
        let exited = matches!(sched, Sched::Exited(_));
        let proc = Box::new(Process {
            pid,
            parent: opts.parent,
            name: opts.name,
            module_hash: module.hash_prefix(),
            module: Some(module),
            module_path: opts.module_path,
            caps: opts.caps,
            limits: opts.limits,
            store: store.map(Box::new),
            sched,
            fuel_used,
            exit_pages: 0,
            log,
            regions,
            stop: None,
            children: Vec::new(),
            owner: opts.owner,
            tree,
        });
        if let Some(parent) = opts.parent.and_then(|p| self.procs.get_mut(p)) {
            parent.children.push(pid);
        }
        if exited {
            *proc.log() = ProcessLog::new(0);
            if let Some(status) = proc.status() {
                self.env.output.exited(pid, status);
            }
            self.procs.insert(proc);
            if opts.parent.is_none() {
                self.retain_orphan(pid);
            }
        } else {
            self.live += 1;
            *self.trees.entry(tree).or_insert(0) += 1;
            self.procs.insert(proc);
            let home = self.home();
            self.sched.push_ready(pid, home);
        }
        Ok(pid)
    }

    /// The futex table (never poisoned in practice: holders do not panic).
    pub(crate) fn futex(&self) -> std::sync::MutexGuard<'_, FutexTable> {
        self.env.futex.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The guest scheme table.
    pub(crate) fn schemes(&self) -> std::sync::MutexGuard<'_, SchemeTable> {
        self.env.schemes.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Hands queued requests to providers parked in `scheme_next`.
    pub(crate) fn serve_scheme_providers(&mut self) {
        let ready = {
            let mut table = self.schemes();
            if !table.has_work() {
                return;
            }
            table.take_ready_providers()
        };
        for (name, pid) in ready {
            let Some(BlockOn::SchemeNext { name: waited, buf }) = self.blocked_on(pid).cloned() else {
                continue;
            };
            if waited != name {
                continue;
            }
            let next = self.schemes().next_request(&name, buf.len());
            let Some((len, bytes)) = next else { continue };
            // `next_request` hands out a request only when it fits.
            self.with_caller(pid, |_, caller| caller.write(buf, &bytes));
            self.wake(pid, len as i64);
        }
    }

    /// Sends a request to the guest scheme `name` on behalf of the
    /// embedder; the reply comes from [`Self::take_scheme_replies`] under
    /// the returned tag (`ENOENT`: no such scheme).
    pub fn scheme_request(&mut self, name: &str, op: wasmd_abi::scheme::SchemeOp<'_>) -> Result<u64, i32> {
        self.schemes().submit(name, 0, op, guest_scheme::Origin::External)
    }

    /// Replies to [`Self::scheme_request`]s, by tag.
    pub fn take_scheme_replies(&mut self) -> Vec<(u64, guest_scheme::Reply)> {
        self.schemes().take_external()
    }

    /// Schemes registered and gone since the last call.
    pub fn take_scheme_events(&mut self) -> Vec<SchemeEvent> {
        self.schemes().take_events()
    }

    /// Names of the guest schemes.
    pub fn scheme_names(&self) -> Vec<String> {
        self.schemes().names()
    }

    /// Registers a new region and returns it.
    pub(crate) fn new_region(
        &mut self,
        creator: Pid,
        owner: Owner,
        tree: Pid,
        memory: Box<dyn crate::region::SharedMemory>,
    ) -> Arc<Region> {
        let id = self.next_region_id;
        self.next_region_id += 1;
        let region = Arc::new(Region::new(id, creator, tree, owner, memory, self.env.regions.clone()));
        if self.regions.len() >= 64 && self.regions.len().is_power_of_two() {
            self.regions.retain(|_, r| r.strong_count() > 0);
        }
        self.regions.insert(id, Arc::downgrade(&region));
        region
    }

    /// A live region by id.
    pub fn region(&self, id: u64) -> Option<Arc<Region>> {
        self.regions.get(&id).and_then(std::sync::Weak::upgrade)
    }

    /// Ids of the live regions, ascending.
    pub fn region_ids(&self) -> Vec<u64> {
        let mut ids: Vec<u64> =
            self.regions.iter().filter(|(_, r)| r.strong_count() > 0).map(|(id, _)| *id).collect();
        ids.sort_unstable();
        ids
    }

    /// A function that wakes up to `count` guests waiting on an offset
    /// of a region (for native users of shared memory); they run on a
    /// later [`Self::run`].
    pub fn region_notifier(&self) -> RegionNotifier {
        let env = self.env.clone();
        Arc::new(move |region: &Region, offset: u64, count: u32| {
            let woken =
                env.futex.lock().unwrap_or_else(|e| e.into_inner()).notify((region.id(), offset), count);
            if woken > 0 {
                env.kick();
            }
            woken
        })
    }

    /// Regions and region bytes alive now, all processes together.
    pub fn regions_in_use(&self) -> (u64, u64) {
        self.env.regions.in_use()
    }

    /// Processes parked in `region_wait`.
    pub fn futex_waiters(&self) -> usize {
        self.futex().waiters()
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

    /// The earliest timer deadline, for an event loop's timeout.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.sched.next_deadline()
    }

    /// The OS platform guests run on.
    pub fn platform(&self) -> Arc<dyn Platform> {
        self.env.platform.clone()
    }

    /// True when scheduler threads have something to do: a process
    /// queued, a request for a parked provider, futex waiters woken.
    pub fn has_work_for_workers(&self) -> bool {
        !self.sched.is_idle() || self.schemes().has_work() || self.futex().has_woken()
    }

    /// True when something waits for the embedder: a scheme reply or
    /// registration event.
    pub fn has_news(&self) -> bool {
        self.schemes().has_news()
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
    log::debug!("pid {}: ended by {e:?}", store.data().pid);
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
