//! Syscalls: the hostcalls that need the whole process table (see
//! [`crate::process`]). Each handler runs under the manager's lock for
//! its [`Caller`] (whose record stays in the table) and returns a
//! `SyscallOutcome`: resume now with a value, park, yield or exit.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmd_abi::errno::{EAGAIN, ECHILD, ENOSPC, EPERM, ESRCH};
use wasmd_abi::msg;
use wasmd_abi::{Caps, ExitStatus, ProcessInfo, Rights};

use crate::continuation::Continuation;
use crate::error::SpawnError;
use crate::guest_buf::GuestBuf;
use crate::manager::{info_of, ProcessManager, SpawnOptions, SyscallOutcome};
use crate::module_cache::{CompiledModule, ModuleCache};
use crate::process::{
    BlockOn, Caller, HandleObject, SpawnCall, SpawnModule, Syscall, MAX_PENDING_SHARES, SHARES_FROM_OTHERS,
    SHARES_PER_SENDER,
};
use crate::region::{Region, RegionAccounting, SharedMemory};
use crate::Pid;

/// A timeout standing for "never" (a century).
const FOREVER: Duration = Duration::from_secs(100 * 365 * 86400);

fn errno(e: i32) -> SyscallOutcome {
    SyscallOutcome::Return(-i64::from(e))
}

impl ProcessManager {
    /// Handles one syscall of `caller`.
    pub(crate) fn syscall(&mut self, caller: &mut Caller<'_>, call: Syscall) -> SyscallOutcome {
        let me = caller.pid();
        match call {
            Syscall::Exit(code) => SyscallOutcome::Exit(ExitStatus::Exited(code)),
            Syscall::Yield => SyscallOutcome::Yield,
            Syscall::Sleep(nanos) => {
                let now = Instant::now();
                // A deadline past what Instant can hold is "never".
                let deadline = now.checked_add(Duration::from_nanos(nanos)).unwrap_or(now + FOREVER);
                let token = self.sched.token();
                self.sched.add_timer(deadline, me, token);
                SyscallOutcome::Park(BlockOn::Sleep { token })
            }
            Syscall::Spawn(call) => self.sys_spawn(caller, call),
            Syscall::Io(req) => self.sys_io(caller, req),
            Syscall::SchemeWait { name, buf } => {
                self.schemes().park(&name, me);
                SyscallOutcome::Park(BlockOn::SchemeNext { name, buf })
            }
            Syscall::RegionAlloc { size } => match self.procs.get(me) {
                Some(proc) => self.sys_region_alloc(me, proc.tree, proc.owner, size),
                None => errno(ESRCH),
            },
            Syscall::RegionShare { region, pid, rights } => self.sys_region_share(me, region, pid, rights),
            Syscall::FutexWait { region, offset, expected, timeout } => {
                let key = (region.id(), offset);
                let token = self.sched.token();
                {
                    let mut futex = self.futex();
                    let now = region.atomic_u32(offset).map(|w| w.load(std::sync::atomic::Ordering::SeqCst));
                    if now != Ok(expected) {
                        return errno(EAGAIN);
                    }
                    futex.wait(key, me, token);
                }
                if let Some(nanos) = timeout {
                    let now = Instant::now();
                    let deadline = now.checked_add(Duration::from_nanos(nanos)).unwrap_or(now + FOREVER);
                    self.sched.add_timer(deadline, me, token);
                }
                SyscallOutcome::Park(BlockOn::Futex { key, token })
            }
            Syscall::Wait { pid, buf } => self.sys_wait(caller, pid, buf),
            Syscall::Kill(pid) if pid == me => SyscallOutcome::Exit(ExitStatus::Killed),
            Syscall::Kill(pid) => {
                if !self.may_control(me, pid) {
                    return errno(if self.procs.contains(pid) { EPERM } else { ESRCH });
                }
                match self.kill(pid) {
                    Ok(()) => SyscallOutcome::Return(0),
                    Err(e) => errno(e.errno()),
                }
            }
            Syscall::Info { pid, buf } => {
                let info = if pid == 0 || pid == me {
                    let Some(proc) = self.procs.get(me) else { return errno(ESRCH) };
                    // Its store is with the caller: its memory is read there.
                    ProcessInfo { memory_pages: caller.memory_pages(), ..info_of(proc) }
                } else if !self.may_control(me, pid) {
                    return errno(if self.procs.contains(pid) { EPERM } else { ESRCH });
                } else {
                    match self.info(pid) {
                        Some(info) => info,
                        None => return errno(ESRCH),
                    }
                };
                // A sized reply: written only when it fits, its length
                // returned either way.
                let bytes = msg::encode(&info);
                let _ = caller.write(buf, &bytes);
                SyscallOutcome::Return(bytes.len() as i64)
            }
        }
    }

    /// True when `me` may inspect or kill `target`: it is a descendant,
    /// or `me` holds `PROC`.
    fn may_control(&self, me: Pid, target: Pid) -> bool {
        if self.procs.get(me).is_some_and(|p| p.caps.contains(Caps::PROC)) {
            return true;
        }
        self.is_ancestor(me, target)
    }

    /// True when `ancestor` is an ancestor of `pid`.
    fn is_ancestor(&self, ancestor: Pid, pid: Pid) -> bool {
        let mut cur = self.procs.get(pid).and_then(|p| p.parent);
        while let Some(p) = cur {
            if p == ancestor {
                return true;
            }
            cur = self.procs.get(p).and_then(|p| p.parent);
        }
        false
    }

    fn sys_spawn(&mut self, caller: &mut Caller<'_>, call: SpawnCall) -> SyscallOutcome {
        let me = caller.pid();
        let Some(proc) = self.procs.get(me) else { return errno(ESRCH) };
        let caps = call.caps.unwrap_or(proc.caps);
        if !proc.caps.contains(caps) {
            return errno(EPERM);
        }
        // Refuse limits above the caller's now, before any loading.
        if proc.limits.narrow(&call.limits, proc.fuel_left()).is_err() {
            return errno(EPERM);
        }
        let base = proc.module_path.as_deref().and_then(Path::parent).map(Path::to_path_buf);
        let resolved = SpawnCall { caps: Some(caps), ..call };
        match &resolved.module {
            SpawnModule::Bytes(bytes) => {
                if let Some(module) = self.modules.get(&ModuleCache::hash(bytes)) {
                    let value = self.spawn_child(caller, module, None, resolved);
                    return SyscallOutcome::Return(value);
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
                    Ok((module, path)) => SyscallOutcome::Return(pm.spawn_child(caller, module, path, spawn)),
                    Err(e) => {
                        log::info!("pid {}: spawn failed: {e}", caller.pid());
                        errno(e.errno())
                    }
                });
            then
        });
        SyscallOutcome::Park(BlockOn::Pending { token })
    }

    /// `region_alloc`: reserve in the global accounting, then create the
    /// OS shared memory on a worker.
    fn sys_region_alloc(
        &mut self,
        pid: Pid,
        tree: Pid,
        owner: crate::manager::Owner,
        size: u64,
    ) -> SyscallOutcome {
        let uid = owner.uid;
        if let Err(e) = self.env.regions.reserve(size, tree, uid) {
            return errno(e);
        }
        let reserved = Reservation { regions: self.env.regions.clone(), size, tree, uid, owner };
        let platform = self.env.platform.clone();
        let token = self.pend_host(pid);
        self.workers.submit(pid, token, move || {
            let memory = platform.create_shared_memory(size as usize);
            let then: Continuation = Box::new(move |pm, caller| match memory {
                Ok(memory) => SyscallOutcome::Return(pm.finish_region_alloc(caller, memory, reserved)),
                Err(e) => errno(e),
            });
            then
        });
        SyscallOutcome::Park(BlockOn::Pending { token })
    }

    /// Finishes a `region_alloc` of `caller`. Returns the value for its
    /// hostcall.
    fn finish_region_alloc(
        &mut self,
        caller: &mut Caller<'_>,
        memory: Box<dyn SharedMemory>,
        reserved: Reservation,
    ) -> i64 {
        let owner = reserved.owner;
        let region = self.new_region(caller.pid(), owner, reserved.keep(), memory);
        let size = region.len() as u64;
        let state = caller.state_mut();
        match state.handles.insert(HandleObject::Region(region), Rights::ALL) {
            Ok(handle) => {
                crate::process::lock(&state.regions).bytes += size;
                i64::from(handle)
            }
            Err(e) => -i64::from(e),
        }
    }

    /// `region_share`: queue the region for `pid` to attach. Only along
    /// one's own line (oneself, an ancestor, a descendant) unless the
    /// caller holds `PROC`. A target's parent may fill all
    /// [`MAX_PENDING_SHARES`] slots; any other sender at most
    /// [`SHARES_PER_SENDER`], and all others together at most
    /// [`SHARES_FROM_OTHERS`], so nobody can deny a parent's shares. The
    /// pending bytes count against the target's region bytes at once (a
    /// region kept alive by a pending share is held by someone).
    fn sys_region_share(&mut self, me: Pid, region: Arc<Region>, pid: Pid, rights: Rights) -> SyscallOutcome {
        let id = region.id() as i64;
        let related = pid == me || self.is_ancestor(pid, me) || self.may_control(me, pid);
        if !related {
            return errno(if self.procs.contains(pid) { EPERM } else { ESRCH });
        }
        let from = me;
        // The target may be running on another scheduler thread: its
        // region accounting is reachable through the record.
        let Some(target) = self.procs.get(pid).filter(|p| !p.is_exited()) else { return errno(ESRCH) };
        let parent = target.parent;
        let mut state = crate::process::lock(&target.regions);
        let size = region.len() as u64;
        let pending = &state.pending_shares;
        let room = if Some(from) == parent {
            pending.len() < MAX_PENDING_SHARES
        } else {
            pending.iter().filter(|s| s.from == from).count() < SHARES_PER_SENDER
                && pending.iter().filter(|s| Some(s.from) != parent).count() < SHARES_FROM_OTHERS
        };
        if !room || state.bytes.saturating_add(size) > state.max_bytes {
            return errno(ENOSPC);
        }
        state.bytes += size;
        state.pending_shares.push(crate::process::PendingShare { region, rights, from });
        SyscallOutcome::Return(id)
    }

    /// Spawns a child of `caller`; returns its pid or `-errno`.
    fn spawn_child(
        &mut self,
        caller: &mut Caller<'_>,
        module: Arc<CompiledModule>,
        path: Option<std::path::PathBuf>,
        call: SpawnCall,
    ) -> i64 {
        let me = caller.pid();
        let Some(proc) = self.procs.get(me) else { return -i64::from(ESRCH) };
        if proc.children.len() >= self.config.max_children {
            return -i64::from(EAGAIN);
        }
        let tree = proc.tree;
        let opts = match child_options(proc, caller, path, &call) {
            Ok(o) => o,
            Err(e) => return -i64::from(e),
        };
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
                i64::from(child)
            }
            Err(e) => {
                log::info!("pid {me}: spawn failed: {e}");
                -i64::from(e.errno())
            }
        }
    }

    fn sys_wait(&mut self, caller: &mut Caller<'_>, pid: Pid, buf: Option<GuestBuf>) -> SyscallOutcome {
        let me = caller.pid();
        let Some(proc) = self.procs.get(me) else { return errno(ESRCH) };
        let exited = |c: &Pid| self.procs.get(*c).is_some_and(|p| p.is_exited());
        let exited_child = if pid == 0 {
            proc.children.iter().copied().find(exited)
        } else if !proc.children.contains(&pid) {
            return errno(ECHILD);
        } else {
            Some(pid).filter(exited)
        };
        if let Some(child) = exited_child {
            return match self.reap(me, child) {
                Some(status) => {
                    if let Some(buf) = buf {
                        // Statuses are truncated to fit EXIT_STATUS_MAX_LEN.
                        let _ = caller.write(buf, &msg::encode(&status));
                    }
                    SyscallOutcome::Return(i64::from(child))
                }
                None => errno(ECHILD),
            };
        }
        if proc.children.is_empty() {
            return errno(ECHILD);
        }
        SyscallOutcome::Park(BlockOn::Child { pid, buf })
    }

    /// `child` of `parent` exited: if the parent waits for it, reap it,
    /// write its status and wake the parent.
    pub(crate) fn deliver_to_waiting_parent(&mut self, parent: Pid, child: Pid) {
        let buf = match self.blocked_on(parent) {
            Some(BlockOn::Child { pid, buf }) if *pid == 0 || *pid == child => *buf,
            _ => return,
        };
        let Some(status) = self.reap(parent, child) else { return };
        if let Some(buf) = buf {
            self.with_caller(parent, |_, caller| caller.write(buf, &msg::encode(&status)));
        }
        self.wake(parent, i64::from(child));
    }
}

/// The options of a child of `proc` (whose store is with `caller`).
fn child_options(
    proc: &crate::process::Process,
    caller: &Caller<'_>,
    path: Option<std::path::PathBuf>,
    call: &SpawnCall,
) -> Result<SpawnOptions, i32> {
    let limits = proc.limits.narrow(&call.limits, proc.fuel_left()).map_err(|_| EPERM)?;
    let name = match &path {
        Some(p) => p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "wasm".into()),
        None => call.args.first().cloned().unwrap_or_else(|| "wasm".into()),
    };
    let parent_ns = &caller.state().namespace;
    let namespace = match &call.namespace {
        None => parent_ns.to_vec(),
        Some(asked) if asked.iter().all(|g| parent_ns.iter().any(|p| g.within(p))) => asked.clone(),
        Some(_) => return Err(EPERM),
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

/// Region bytes reserved for a `region_alloc` in flight: given back when
/// dropped (the allocation failed, or its process died meanwhile) unless
/// a region took them over.
struct Reservation {
    regions: Arc<RegionAccounting>,
    size: u64,
    tree: Pid,
    uid: u32,
    owner: crate::manager::Owner,
}

impl Reservation {
    /// The region now holds the bytes; returns its tree.
    fn keep(self) -> Pid {
        let tree = self.tree;
        std::mem::forget(self);
        tree
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.regions.release(self.size, self.tree, self.uid);
    }
}
