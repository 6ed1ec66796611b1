//! Spawning: a process made from a compiled module — for the embedder
//! ([`crate::ProcessManager::spawn`]) and for a guest's `spawn` syscall, whose
//! module a worker loads and compiles first when it is not cached (the
//! caller waits on a continuation meanwhile). A child's options narrow
//! its parent's: capabilities, limits and namespace grants can only
//! shrink.

mod start;

pub(crate) use start::Born;
pub use start::Unborn;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use wasmd_abi::Errno;

use wasmd_abi::Caps;

use crate::caller::Caller;
use crate::context::{in_context, Context, SyscallOutcome};
use crate::continuation::returning;
use crate::error::SpawnError;
use crate::limits::Limits;
use crate::module_cache::{CompiledModule, ModuleCache};
use crate::owner::Owner;
use crate::process::BlockOn;
use crate::syscall::{SpawnCall, SpawnModule};
use crate::Pid;

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
    /// Its environment, `K=V` each (what WASI programs see).
    pub env: Vec<String>,
    /// Its standard input (`None`: end of file at once).
    pub stdin: Option<Arc<crate::stdin::StdinPipe>>,
    /// Sockets it starts with (listening ones, for a WASI program's
    /// `sock_accept`): handles of its own, and WASI descriptors after its
    /// preopened directories.
    pub sockets: Vec<Arc<dyn crate::platform::HostSocket>>,
    /// Names its preopened directories go by other than their paths
    /// (WASI).
    pub preopens: Vec<crate::wasi::PreopenAlias>,
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
            env: Vec::new(),
            stdin: None,
            sockets: Vec::new(),
            preopens: Vec::new(),
        }
    }
}

/// A module loaded for the embedder: the compiled module and its file.
pub type LoadResult = Result<(Arc<CompiledModule>, PathBuf), SpawnError>;

/// Loads and compiles a module on a worker: the module and its file.
type LoadJob = Box<dyn FnOnce() -> Result<(Arc<CompiledModule>, Option<PathBuf>), SpawnError> + Send>;

/// A module for a guest's spawn or module handle.
enum Ready {
    /// At hand: the module and its file.
    Now(Arc<CompiledModule>, Option<PathBuf>),
    /// To be loaded first.
    Load(LoadJob),
}

impl Context<'_> {
    /// Spawns a process running `module` for the embedder (see
    /// [`crate::ProcessManager::spawn`]).
    pub(crate) fn spawn(
        &mut self,
        module: Arc<CompiledModule>,
        opts: SpawnOptions,
    ) -> Result<Pid, SpawnError> {
        let tree = opts.parent.and_then(|p| self.process(p)).map(|p| p.tree);
        let start = self.reserve_start(module, opts, tree)?;
        self.commit_start(start.instantiate())
    }

    pub(crate) fn sys_spawn(&mut self, caller: &mut Caller<'_>, call: SpawnCall) -> SyscallOutcome {
        let me = caller.pid();
        let Some(proc) = self.process(me) else { return SyscallOutcome::error(Errno::NoSuchProcess) };
        let caps = call.caps.unwrap_or(proc.caps);
        if !proc.caps.contains(caps) {
            return SyscallOutcome::error(Errno::PermissionDenied);
        }
        // Refuse limits above the caller's now, before any loading.
        if proc.limits.narrow(&call.limits, proc.fuel_left()).is_err() {
            return SyscallOutcome::error(Errno::PermissionDenied);
        }
        let resolved = SpawnCall { caps: Some(caps), ..call };
        match self.ready_module(me, &resolved.module) {
            Ready::Now(module, path) => self.spawn_child(caller, module, path, resolved),
            Ready::Load(load) => self.park_on_spawn_job(me, resolved, load),
        }
    }

    /// The module `source` names for `me`: at hand (a module handle's, or
    /// bytes already compiled), or a job that loads it (a path: its
    /// identity checked or its file read, relative to `me`'s module).
    fn ready_module(&self, me: Pid, source: &SpawnModule) -> Ready {
        let cache = self.modules().clone();
        match source {
            SpawnModule::Compiled(module, path) => Ready::Now(module.clone(), path.clone()),
            SpawnModule::Bytes(bytes) => match cache.get(&ModuleCache::hash(bytes)) {
                Some(module) => Ready::Now(module, None),
                None => {
                    let bytes = bytes.clone();
                    Ready::Load(Box::new(move || cache.compile(&bytes).map(|m| (m, None))))
                }
            },
            SpawnModule::Path(path) => {
                let base = self
                    .process(me)
                    .and_then(|p| p.module_path.as_deref())
                    .and_then(Path::parent)
                    .map(Path::to_path_buf);
                let (path, loader) = (path.clone(), self.loader().clone());
                Ready::Load(Box::new(move || {
                    cache.load(loader.as_ref(), base.as_deref(), &path).map(|(m, path)| (m, Some(path)))
                }))
            }
        }
    }

    /// `module_open(path)` or `module_load(bytes)`: a module handle for
    /// `caller`, once the module is compiled (on a worker unless cached).
    pub(crate) fn sys_module_open(&mut self, caller: &mut Caller<'_>, source: SpawnModule) -> SyscallOutcome {
        let me = caller.pid();
        let give = |caller: &mut Caller<'_>, module: Arc<CompiledModule>, path| {
            let state = caller.state_mut();
            let bytes = (module.size as u64).saturating_mul(crate::process::MODULE_CHARGE_FACTOR);
            let Some(charge) = crate::limits::Charge::take(state.limiter.account(), bytes) else {
                return SyscallOutcome::error(Errno::OutOfMemory);
            };
            let held = crate::process::ModuleHandle { module, path, charge };
            let object = crate::process::HandleObject::Module(Arc::new(held));
            let rights = wasmd_abi::Rights::READ.union(wasmd_abi::Rights::GRANT);
            returning(state.handles.insert(object, rights).map(i64::from))
        };
        match self.ready_module(me, &source) {
            Ready::Now(module, path) => give(caller, module, path),
            Ready::Load(load) => {
                let token = self.pend_host(me);
                self.workers().submit(me, token, move || {
                    let loaded = load();
                    in_context(move |_, caller| match loaded {
                        Ok((module, path)) => give(caller, module, path),
                        Err(e) => {
                            log::info!("pid {}: module_open failed: {e}", caller.pid());
                            SyscallOutcome::error(e.errno())
                        }
                    })
                });
                SyscallOutcome::Park(BlockOn::Pending { token })
            }
        }
    }

    /// Parks `pid` until a worker has loaded and compiled the module
    /// (`load`); the child is then spawned from the rest of `spawn`.
    fn park_on_spawn_job(&mut self, pid: Pid, mut spawn: SpawnCall, load: LoadJob) -> SyscallOutcome {
        spawn.module = SpawnModule::Bytes(Vec::new());
        let token = self.pend_host(pid);
        self.workers().submit(pid, token, move || {
            let loaded = load();
            in_context(move |cx, caller| match loaded {
                Ok((module, path)) => cx.spawn_child(caller, module, path, spawn),
                Err(e) => {
                    log::info!("pid {}: spawn failed: {e}", caller.pid());
                    SyscallOutcome::error(e.errno())
                }
            })
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
    ) -> SyscallOutcome {
        let me = caller.pid();
        let max_children = self.config().max_children;
        let Some(proc) = self.process(me) else { return SyscallOutcome::error(Errno::NoSuchProcess) };
        if proc.children.len() >= max_children {
            return SyscallOutcome::error(Errno::WouldBlock);
        }
        let tree = proc.tree;
        let opts = match child_options(proc, caller, path, &call) {
            Ok(opts) => opts,
            Err(e) => return SyscallOutcome::error(e),
        };
        let start = match self.reserve_start(module, opts, Some(tree)) {
            Ok(start) => start,
            Err(e) => return spawn_failed(me, &e),
        };
        let (grants, watch) = (call.grants, call.watch);
        let admit =
            move |cx: &mut Context<'_>, caller: &mut Caller<'_>, started| match cx.commit_start(started) {
                Ok(child) => {
                    cx.grant_regions(me, child, grants);
                    // Under the same lock as the admission: the child has
                    // not run yet.
                    if watch.link {
                        if let Err(e) = cx.link(me, child) {
                            return SyscallOutcome::error(e);
                        }
                    }
                    if let Some(buf) = watch.monitor {
                        match cx.monitor(me, child) {
                            Ok(reference) => {
                                let _ = caller.write(buf, &reference.to_le_bytes());
                            }
                            Err(e) => return SyscallOutcome::error(e),
                        }
                    }
                    SyscallOutcome::Return(i64::from(child))
                }
                Err(e) => spawn_failed(me, &e),
            };
        // The child acts for its parent's user: the parent's account is
        // the child's.
        let account = caller.state().limiter.account();
        if start.can_defer(&account) {
            // The child's first turn makes its instance, on the worker
            // that runs it.
            return admit(self, caller, start.defer(account));
        }
        // Instantiating (and the start function) runs without the lock;
        // the caller keeps its turn meanwhile.
        SyscallOutcome::Unlocked(Box::new(move || {
            let started = start.instantiate();
            in_context(move |cx, caller| admit(cx, caller, started))
        }))
    }

    /// Queues the regions a spawn passes for its new `child` to attach.
    fn grant_regions(
        &mut self,
        from: Pid,
        child: Pid,
        grants: Vec<(Arc<crate::region::Region>, wasmd_abi::Rights)>,
    ) {
        if let Some(child) = self.process(child).filter(|c| !c.is_exited()) {
            let mut held = crate::process::lock(&child.regions);
            for (region, rights) in grants {
                held.bytes += region.len() as u64;
                held.pending_shares.push(crate::process::PendingShare { region, rights, from });
            }
        }
    }
}

/// A spawn of `pid` failed with `e`.
fn spawn_failed(pid: Pid, e: &SpawnError) -> SyscallOutcome {
    log::info!("pid {pid}: spawn failed: {e}");
    SyscallOutcome::error(e.errno())
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
        // A child inherits its parent's environment, as on Unix.
        env: caller.state().wasi.environ.to_vec(),
        // Its own input is its parent's to give; it has none.
        stdin: None,
        sockets: Vec::new(),
        preopens: Vec::new(),
    })
}
