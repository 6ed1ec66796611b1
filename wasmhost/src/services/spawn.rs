//! Spawning: a process made from a compiled module — for the embedder
//! ([`ProcessManager::spawn`]) and for a guest's `spawn` syscall, whose
//! module a worker loads and compiles first when it is not cached (the
//! caller waits on a continuation meanwhile). A child's options narrow
//! its parent's: capabilities, limits and namespace grants can only
//! shrink.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use wasmd_abi::Errno;

use wasmd_abi::msg;
use wasmd_abi::{Caps, ExitStatus};
use wasmi::errors::ErrorKind;
use wasmi::{Linker, Store};

use crate::caller::{Caller, SyscallOutcome};
use crate::continuation::returning;
use crate::error::SpawnError;
use crate::handles::HandleTable;
use crate::limits::{Limits, MemoryLimiter};
use crate::log::ProcessLog;
use crate::manager::{set_fuel, slice_for, trap_status, Continuation, ProcessManager};
use crate::module_cache::{CompiledModule, Generation, ModuleCache};
use crate::owner::Owner;
use crate::process::{BlockOn, Process, ProcessState, RegionHoldings, Resume, Sched};
use crate::syscall::{SpawnCall, SpawnModule};
use crate::{hostcalls, Pid};

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

impl ProcessManager {
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
                    Some(crate::syscall::Syscall::Exit(code)) => ExitStatus::Exited(code),
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

    pub(crate) fn sys_spawn(&mut self, caller: &mut Caller<'_>, call: SpawnCall) -> SyscallOutcome {
        let me = caller.pid();
        let Some(proc) = self.procs.get(me) else { return SyscallOutcome::error(Errno::NoSuchProcess) };
        let caps = call.caps.unwrap_or(proc.caps);
        if !proc.caps.contains(caps) {
            return SyscallOutcome::error(Errno::PermissionDenied);
        }
        // Refuse limits above the caller's now, before any loading.
        if proc.limits.narrow(&call.limits, proc.fuel_left()).is_err() {
            return SyscallOutcome::error(Errno::PermissionDenied);
        }
        let base = proc.module_path.as_deref().and_then(Path::parent).map(Path::to_path_buf);
        let resolved = SpawnCall { caps: Some(caps), ..call };
        match &resolved.module {
            SpawnModule::Bytes(bytes) => {
                if let Some(module) = self.modules.get(&ModuleCache::hash(bytes)) {
                    return returning(self.spawn_child(caller, module, None, resolved));
                }
                let bytes = bytes.clone();
                let cache = self.modules.clone();
                self.park_on_spawn_job(me, resolved, move || cache.compile(&bytes).map(|m| (m, None)))
            }
            SpawnModule::Path(path) => {
                let path = path.clone();
                let loader = self.loader.clone();
                let cache = self.modules.clone();
                self.park_on_spawn_job(me, resolved, move || {
                    loader
                        .load(base.as_deref(), &path)
                        .map_err(Into::into)
                        .and_then(|loaded| cache.compile(&loaded.bytes).map(|m| (m, Some(loaded.path))))
                })
            }
        }
    }

    /// Parks `pid` until a worker has loaded and compiled the module
    /// (`load`); the child is then spawned from the rest of `spawn`.
    fn park_on_spawn_job(
        &mut self,
        pid: Pid,
        mut spawn: SpawnCall,
        load: impl FnOnce() -> Result<(Arc<CompiledModule>, Option<std::path::PathBuf>), SpawnError>
            + Send
            + 'static,
    ) -> SyscallOutcome {
        spawn.module = SpawnModule::Bytes(Vec::new());
        let token = self.pend_host(pid);
        self.workers.submit(pid, token, move || {
            let loaded = load();
            let then: Continuation =
                Box::new(move |pm: &mut ProcessManager, caller: &mut Caller<'_>| match loaded {
                    Ok((module, path)) => returning(pm.spawn_child(caller, module, path, spawn)),
                    Err(e) => {
                        log::info!("pid {}: spawn failed: {e}", caller.pid());
                        SyscallOutcome::error(Errno::from_errno(e.errno()))
                    }
                });
            then
        });
        SyscallOutcome::Park(BlockOn::Pending { token })
    }

    /// Spawns a child of `caller`; returns its pid.
    fn spawn_child(
        &mut self,
        caller: &mut Caller<'_>,
        module: Arc<CompiledModule>,
        path: Option<std::path::PathBuf>,
        call: SpawnCall,
    ) -> Result<i64, Errno> {
        let me = caller.pid();
        let proc = self.procs.get(me).ok_or(Errno::NoSuchProcess)?;
        if proc.children.len() >= self.config.max_children {
            return Err(Errno::WouldBlock);
        }
        let tree = proc.tree;
        let opts = child_options(proc, caller, path, &call)?;
        match self.spawn_in(module, opts, Some(tree)) {
            Ok(child) => {
                if let Some(proc) = self.procs.get_mut(me) {
                    proc.children.push(child);
                }
                if let Some(child) = self.procs.get(child).filter(|c| !c.is_exited()) {
                    let mut held = crate::process::lock(&child.regions);
                    for (region, rights) in call.grants {
                        held.bytes += region.len() as u64;
                        held.pending_shares.push(crate::process::PendingShare { region, rights, from: me });
                    }
                }
                Ok(i64::from(child))
            }
            Err(e) => {
                log::info!("pid {me}: spawn failed: {e}");
                Err(Errno::from_errno(e.errno()))
            }
        }
    }
}

/// The options of a child of `proc` (whose store is with `caller`).
fn child_options(
    proc: &crate::process::Process,
    caller: &Caller<'_>,
    path: Option<std::path::PathBuf>,
    call: &SpawnCall,
) -> Result<SpawnOptions, Errno> {
    let limits = proc.limits.narrow(&call.limits, proc.fuel_left()).map_err(|_| Errno::PermissionDenied)?;
    let name = match &path {
        Some(p) => p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "wasm".into()),
        None => call.args.first().cloned().unwrap_or_else(|| "wasm".into()),
    };
    let parent_ns = &caller.state().namespace;
    let namespace = match &call.namespace {
        None => parent_ns.to_vec(),
        Some(asked) if asked.iter().all(|g| parent_ns.iter().any(|p| g.within(p))) => asked.clone(),
        Some(_) => return Err(Errno::PermissionDenied),
    };
    Ok(SpawnOptions {
        name,
        args: call.args.clone(),
        caps: call.caps.unwrap_or(proc.caps),
        limits,
        parent: Some(proc.pid),
        module_path: path,
        namespace,
        owner: proc.owner,
    })
}
