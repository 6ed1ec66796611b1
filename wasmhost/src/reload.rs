//! Hot code reload: a live process's module replaced by another, its pid
//! and everything the process holds kept.
//!
//! A reload is asked for by the embedder ([`ProcessManager::reload`], the
//! control tree's `ctl` write `reload PATH`) or by a guest (the `reload`
//! syscall, see [`crate::services::reload`]), with a compiled module. It
//! becomes a [`ReloadRequest`] on the process's record and takes effect at
//! the process's next *safe point*:
//!
//! - at once when the process has not run yet, is parked in `receive` or
//!   `scheme_next` (waits that have taken nothing: the wait is withdrawn,
//!   a message or request stays queued for the new instance), or was
//!   preempted between two instructions and keeps no state across the
//!   reload (its module exports no `wasmd_state_save`);
//! - otherwise at its next syscall (the syscall itself is not carried
//!   out): a process parked in any other blocking call (sleep, wait, file
//!   or socket I/O, a request to a scheme, a send to a full mailbox) first
//!   sees that call return, and a process that was preempted and saves
//!   state is never re-entered in the middle of its code. A request
//!   asked not to wait is refused instead ([`ReloadError::Busy`]).
//!
//! At the safe point [`swap`] makes the new instance: the old one's
//! `wasmd_state_save() -> (ptr, len)` runs (if exported), the handle
//! table, WASI descriptors and counters move to a new store, the new
//! module is instantiated in it (fresh linear memory within the same
//! limits), and the saved bytes are placed in freshly grown pages of the
//! new memory for its `wasmd_state_load(ptr, len)`. Only when all that
//! worked does the new instance take over, starting at `_start`; the old
//! store is dropped (its memory freed). Any failure moves everything back
//! and leaves the old instance exactly where it was. The pid, parent and
//! children, handles (regions, files, sockets, schemes served, process
//! handles), links, monitors, names, the mailbox with its queued
//! messages and notices, logs, limits and fuel used all stay the
//! process's own.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use wasmd_abi::hostcall::{ENTRY, MEMORY, STATE_LOAD, STATE_SAVE};
use wasmd_abi::Errno;
use wasmi::errors::ErrorKind;
use wasmi::{Func, Instance, Store, Val, ValType};

use crate::error::SpawnError;
use crate::handles::HandleTable;
use crate::limits::{MemoryLimiter, PAGE_SIZE};
use crate::manager::{set_fuel, ProcessManager};
use crate::module_cache::CompiledModule;
use crate::process::{lock, BlockOn, Process, ProcessState, Resume, Sched};
use crate::Pid;

/// Most fuel `wasmd_state_save` and `wasmd_state_load` may burn each
/// (they run under the manager's lock, so they are kept short).
pub const STATE_FUEL: u64 = 20_000_000;

/// Outcomes kept for the embedder at most (the oldest go first).
const MAX_OUTCOMES: usize = 1024;

/// Why a reload did not happen. The old instance runs on in every case.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReloadError {
    /// No such live process.
    #[error("no such process")]
    NoSuchProcess,
    /// The process ended before the reload took effect.
    #[error("the process ended before the reload took effect")]
    Ended,
    /// A process cannot reload itself.
    #[error("a process cannot reload itself (its supervisor or a person can)")]
    Myself,
    /// Another reload of the process is under way.
    #[error("another reload of this process is under way")]
    InProgress,
    /// Asked not to wait, and the process is parked in a blocking call.
    #[error("the process is parked in {0}; the reload would wait until that call returns")]
    Busy(&'static str),
    /// The new module cannot be loaded, or cannot be instantiated in place
    /// of the old one.
    #[error("{0}")]
    Module(SpawnError),
    /// The new instance's start function trapped.
    #[error("the new module's start function failed: {0}")]
    Start(String),
    /// The new instance does not fit in the process's memory limit (with
    /// the saved state) or in the memory budget.
    #[error("the new instance does not fit in the process's memory limit")]
    MemoryLimit,
    /// The old instance's `wasmd_state_save` failed.
    #[error("wasmd_state_save failed: {0}")]
    StateSave(String),
    /// The new instance's `wasmd_state_load` failed.
    #[error("wasmd_state_load failed: {0}")]
    StateLoad(String),
}

impl ReloadError {
    /// The errno a guest sees.
    pub fn errno(&self) -> Errno {
        match self {
            ReloadError::NoSuchProcess | ReloadError::Ended => Errno::NoSuchProcess,
            ReloadError::Myself => Errno::InvalidArgument,
            ReloadError::InProgress | ReloadError::Busy(_) => Errno::Busy,
            ReloadError::Module(e) => e.errno(),
            ReloadError::Start(_) => Errno::BadModule,
            ReloadError::MemoryLimit => Errno::OutOfMemory,
            ReloadError::StateSave(_) | ReloadError::StateLoad(_) => Errno::Canceled,
        }
    }
}

/// A reload the embedder asked for: its outcome comes from
/// [`ProcessManager::reload_outcome`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReloadTicket(u64);

/// Who waits for a reload's outcome.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Requester {
    /// A guest parked on a host wait under `token`.
    Guest {
        /// The guest.
        pid: Pid,
        /// Its wait token.
        token: u64,
    },
    /// The embedder, under a ticket.
    Embedder(ReloadTicket),
}

/// A reload waiting for its process's next safe point.
#[derive(Debug)]
pub(crate) struct ReloadRequest {
    /// The new module.
    pub module: Arc<CompiledModule>,
    /// Its file, when it came from one.
    pub path: Option<PathBuf>,
    /// Who is told the outcome.
    pub by: Requester,
}

/// Outcomes of the embedder's reloads, until it collects them.
#[derive(Debug, Default)]
pub(crate) struct Outcomes {
    next: u64,
    done: BTreeMap<ReloadTicket, Result<(), ReloadError>>,
}

/// A new instance, made and ready to take over.
pub(crate) struct Swapped {
    store: Box<Store<ProcessState>>,
    entry: Func,
    /// Whether saved state was handed to `wasmd_state_load`.
    state_loaded: bool,
}

/// When a reload of a process in `sched` can take effect.
fn ready_now(sched: &Sched, saves_state: bool) -> bool {
    match sched.beneath() {
        Sched::Ready(Resume::Start(_)) => true,
        Sched::Ready(Resume::Preempted(_)) => !saves_state,
        Sched::Blocked(_, on) => is_idle_wait(on),
        _ => false,
    }
}

/// True for the waits a reload withdraws: they have taken nothing yet.
fn is_idle_wait(on: &BlockOn) -> bool {
    matches!(on, BlockOn::Receive { .. } | BlockOn::SchemeNext { .. })
}

/// What a parked process waits in, for a person.
fn wait_name(on: &BlockOn) -> &'static str {
    match on {
        BlockOn::Sleep { .. } => "sleep",
        BlockOn::Child { .. } => "wait (for a child)",
        BlockOn::Pending { .. } => {
            "a call with work in flight (file, socket, scheme request, spawn or reload)"
        }
        BlockOn::SchemeNext { .. } => "scheme_next",
        BlockOn::Receive { .. } => "receive",
        BlockOn::Send { .. } => "send (to a full mailbox)",
        BlockOn::Futex { .. } => "region_wait",
    }
}

/// True when the instance of `proc` exports `wasmd_state_save`.
fn saves_state(proc: &Process) -> bool {
    proc.module.as_ref().is_some_and(|m| m.module.get_export(STATE_SAVE).is_some())
}

impl ProcessManager {
    /// Replaces the module of live process `pid` with `module` (from
    /// `path`, if a file), keeping its pid and all it holds (see the
    /// module docs of `reload`). Takes effect at the process's next safe
    /// point; with `wait` false a process parked in a blocking call is
    /// refused at once ([`ReloadError::Busy`]). The outcome comes from
    /// [`Self::reload_outcome`] under the returned ticket (the embedder's
    /// waker is called when it is there).
    pub fn reload(
        &mut self,
        pid: Pid,
        module: Arc<CompiledModule>,
        path: Option<PathBuf>,
        wait: bool,
    ) -> Result<ReloadTicket, ReloadError> {
        self.reloads.next += 1;
        let ticket = ReloadTicket(self.reloads.next);
        let request = ReloadRequest { module, path, by: Requester::Embedder(ticket) };
        if let Some(outcome) = self.request_reload(pid, request, wait)? {
            self.store_outcome(ticket, outcome);
        }
        Ok(ticket)
    }

    /// The outcome of the reload under `ticket`, once there (taken: asked
    /// again it is `None`).
    pub fn reload_outcome(&mut self, ticket: ReloadTicket) -> Option<Result<(), ReloadError>> {
        self.reloads.done.remove(&ticket)
    }

    /// True when the process has a reload waiting for a safe point.
    pub fn reload_pending(&self, pid: Pid) -> bool {
        self.procs.get(pid).is_some_and(|p| p.reload.is_some())
    }

    fn store_outcome(&mut self, ticket: ReloadTicket, outcome: Result<(), ReloadError>) {
        self.reloads.done.insert(ticket, outcome);
        while self.reloads.done.len() > MAX_OUTCOMES {
            self.reloads.done.pop_first();
        }
        if let Some(waker) = lock(&self.waker).as_ref() {
            waker();
        }
    }

    /// Asks for a reload of `pid`: applied now (its outcome returned) or
    /// kept for the process's next safe point (`None`); an error when it
    /// cannot be asked for at all.
    pub(crate) fn request_reload(
        &mut self,
        pid: Pid,
        request: ReloadRequest,
        wait: bool,
    ) -> Result<Option<Result<(), ReloadError>>, ReloadError> {
        let proc = self.procs.get_mut(pid).filter(|p| !p.is_exited()).ok_or(ReloadError::NoSuchProcess)?;
        if proc.reload.is_some() {
            return Err(ReloadError::InProgress);
        }
        if ready_now(&proc.sched, saves_state(proc)) && proc.store.is_some() {
            return Ok(Some(self.reload_now(pid, request)));
        }
        if let Some(on) = proc.sched.blocked_on().filter(|on| !is_idle_wait(on)) {
            if !wait {
                return Err(ReloadError::Busy(wait_name(on)));
            }
        }
        log::debug!("pid {pid}: reload waits for a safe point");
        proc.reload = Some(Box::new(request));
        Ok(None)
    }

    /// Applies `request` to `pid`, whose store is in its record and which
    /// is at a safe point; returns the outcome (nothing is told).
    fn reload_now(&mut self, pid: Pid, request: ReloadRequest) -> Result<(), ReloadError> {
        let Some(proc) = self.procs.get_mut(pid) else { return Err(ReloadError::NoSuchProcess) };
        let Some(mut store) = proc.store.take() else { return Err(ReloadError::NoSuchProcess) };
        let swapped = self.swap_for(pid, &mut store, &request.module);
        match swapped {
            Ok(swapped) => {
                drop(store);
                self.take_over(pid, swapped, request);
                Ok(())
            }
            Err(e) => {
                if let Some(proc) = self.procs.get_mut(pid) {
                    proc.store = Some(store);
                }
                log::info!("pid {pid}: reload failed: {e}");
                Err(e)
            }
        }
    }

    /// Applies the reload `pid` waits with at its syscall (a safe point),
    /// its store being `store` (its turn's): on success the new store
    /// replaces it and the process is queued to start (`true`: the
    /// syscall is dropped, the turn is over); on failure the requester is
    /// told and the old instance goes on with its syscall (`false`).
    pub(crate) fn reload_at_syscall(
        &mut self,
        pid: Pid,
        store: &mut Option<Box<Store<ProcessState>>>,
    ) -> bool {
        let Some(request) = self.procs.get_mut(pid).and_then(|p| p.reload.take()) else { return false };
        let Some(old) = store.as_mut() else { return false };
        match self.swap_for(pid, old, &request.module) {
            Ok(swapped) => {
                *store = None;
                let by = request.by;
                self.take_over(pid, swapped, *request);
                self.tell(by, Ok(()));
                true
            }
            Err(e) => {
                log::info!("pid {pid}: reload failed: {e}");
                self.tell(request.by, Err(e));
                false
            }
        }
    }

    /// After a turn of `pid` ended: applies its waiting reload if it is at
    /// a safe point now.
    pub(crate) fn reload_if_ready(&mut self, pid: Pid) {
        let Some(proc) = self.procs.get_mut(pid) else { return };
        if proc.reload.is_none() || proc.store.is_none() || !ready_now(&proc.sched, saves_state(proc)) {
            return;
        }
        if let Some(request) = proc.reload.take() {
            let by = request.by;
            let outcome = self.reload_now(pid, *request);
            self.tell(by, outcome);
        }
    }

    /// The process ended with a reload waiting: its requester is told.
    pub(crate) fn reload_ended(&mut self, pid: Pid) {
        if let Some(request) = self.procs.get_mut(pid).and_then(|p| p.reload.take()) {
            self.tell(request.by, Err(ReloadError::Ended));
        }
    }

    /// Tells a requester the outcome of its reload.
    fn tell(&mut self, by: Requester, outcome: Result<(), ReloadError>) {
        match by {
            Requester::Embedder(ticket) => self.store_outcome(ticket, outcome),
            Requester::Guest { pid, token } => {
                if matches!(self.blocked_on(pid), Some(BlockOn::Pending { token: t }) if *t == token) {
                    self.pending.remove(&token);
                    let value = match outcome {
                        Ok(()) => 0,
                        Err(e) => -i64::from(e.errno().errno()),
                    };
                    self.wake(pid, value);
                }
            }
        }
    }

    /// Makes the new instance of `pid` from `module` beside its old store
    /// (see [`swap`]).
    fn swap_for(
        &mut self,
        pid: Pid,
        old: &mut Store<ProcessState>,
        module: &Arc<CompiledModule>,
    ) -> Result<Swapped, ReloadError> {
        let linker = self.linker(&module.generation);
        let Some(proc) = self.procs.get_mut(pid) else { return Err(ReloadError::NoSuchProcess) };
        let limiter = MemoryLimiter::new(proc.limits.max_pages, self.env.memory.account(proc.owner.uid));
        let fuel = proc.fuel_left().unwrap_or(u64::MAX).min(STATE_FUEL);
        let mut used = 0;
        let result = swap(old, module, &linker, limiter, fuel, &mut used);
        proc.fuel_used += used;
        result
    }

    /// The new instance takes over `pid`: its store, module and start.
    fn take_over(&mut self, pid: Pid, swapped: Swapped, request: ReloadRequest) {
        let home = self.here.unwrap_or_else(|| self.sched.least_loaded());
        let Some(proc) = self.procs.get_mut(pid) else { return };
        let withdrawn = proc.sched.blocked_on().cloned();
        let queued = matches!(proc.sched, Sched::Ready(_));
        let start = Sched::Ready(Resume::Start(swapped.entry));
        let suspended = matches!(proc.sched, Sched::Suspended(_));
        proc.sched = if suspended { Sched::Suspended(Box::new(start)) } else { start };
        proc.store = Some(swapped.store);
        proc.module_hash = request.module.hash_prefix();
        proc.module = Some(request.module);
        if request.path.is_some() {
            proc.module_path = request.path;
        }
        proc.reloads += 1;
        let mailbox = proc.mailbox.clone();
        match withdrawn {
            Some(BlockOn::Receive { token, .. }) => mailbox.unpark_receiver(token),
            Some(BlockOn::SchemeNext { name, .. }) => self.schemes().unpark(&name, pid),
            _ => {}
        }
        if !swapped.state_loaded {
            // Requests the old instance took and never answered: the new
            // one cannot know them (with state, it may have been told).
            self.schemes().fail_in_flight(pid);
        }
        if !suspended && !queued {
            self.sched.push_woken(pid, home);
        }
        log::info!("pid {pid}: reloaded");
    }
}

/// Makes a new instance of `module` for the process of store `old`: its
/// state saved from the old instance, its handles moved over, the module
/// instantiated and its state loaded (see the module docs). On failure
/// everything is moved back and `old` is as it was. `fuel` bounds each of
/// the guest's calls; what they burnt is added to `used`.
pub(crate) fn swap(
    old: &mut Store<ProcessState>,
    module: &Arc<CompiledModule>,
    linker: &crate::instantiate::Linkers,
    limiter: MemoryLimiter,
    fuel: u64,
    used: &mut u64,
) -> Result<Swapped, ReloadError> {
    let state = save_state(old, fuel, used)?;
    let data = old.data_mut();
    let moved = ProcessState {
        pid: data.pid,
        caps: data.caps,
        memory: None,
        instance: None,
        args: data.args.clone(),
        log: data.log.clone(),
        env: data.env.clone(),
        limiter,
        syscall: None,
        handles: std::mem::replace(&mut data.handles, HandleTable::new(0)),
        regions: data.regions.clone(),
        namespace: data.namespace.clone(),
        counters: std::mem::take(&mut data.counters),
        wasi: data.wasi.take(),
        stdin: data.stdin.clone(),
        mailbox: data.mailbox.clone(),
    };
    let mut store = Box::new(Store::new(&module.generation.engine, moved));
    store.limiter(|s| &mut s.limiter);
    match start_new(&mut store, module, linker, state.as_deref(), fuel, used) {
        Ok((entry, state_loaded)) => Ok(Swapped { store, entry, state_loaded }),
        Err(e) => {
            let back = store.into_data();
            let data = old.data_mut();
            data.handles = back.handles;
            data.counters = back.counters;
            data.wasi = back.wasi;
            Err(e)
        }
    }
}

/// Calls the old instance's `wasmd_state_save`, if it has one: the bytes
/// it names, copied out (`None` without the export or for an empty
/// state).
fn save_state(
    old: &mut Store<ProcessState>,
    fuel: u64,
    used: &mut u64,
) -> Result<Option<Vec<u8>>, ReloadError> {
    let Some(instance) = old.data().instance else { return Ok(None) };
    let Some(save) = instance.get_func(&*old, STATE_SAVE) else { return Ok(None) };
    let ty = save.ty(&*old);
    let mut results = [Val::I32(0), Val::I32(0)];
    let results = match (ty.params(), ty.results()) {
        ([], [ValType::I32, ValType::I32]) => &mut results[..],
        ([], [ValType::I64]) => {
            results[0] = Val::I64(0);
            &mut results[..1]
        }
        _ => return Err(ReloadError::StateSave("it must be `() -> (i32, i32)` or `() -> i64`".into())),
    };
    call(old, save, &[], results, fuel, used).map_err(ReloadError::StateSave)?;
    let (ptr, len) = match *results {
        [Val::I32(ptr), Val::I32(len)] => (ptr as u32, len as u32),
        [Val::I64(packed)] => (packed as u32, (packed as u64 >> 32) as u32),
        _ => return Err(ReloadError::StateSave("unexpected results".into())),
    };
    if len == 0 {
        return Ok(None);
    }
    let memory =
        old.data().memory.ok_or_else(|| ReloadError::StateSave("the module has no memory".into()))?;
    let bytes = memory.data(&*old);
    let range = (ptr as usize)..(ptr as usize).saturating_add(len as usize);
    let state = bytes.get(range).ok_or_else(|| {
        ReloadError::StateSave(format!(
            "{len} bytes at {ptr} are outside its memory of {} bytes",
            bytes.len()
        ))
    })?;
    Ok(Some(state.to_vec()))
}

/// Instantiates `module` in `store` and hands it `state`: its entry, and
/// whether it took the state.
fn start_new(
    store: &mut Store<ProcessState>,
    module: &Arc<CompiledModule>,
    linker: &crate::instantiate::Linkers,
    state: Option<&[u8]>,
    fuel: u64,
    used: &mut u64,
) -> Result<(Func, bool), ReloadError> {
    set_fuel(store, fuel);
    let instance = linker.instantiate(store, module);
    *used += fuel.saturating_sub(store.get_fuel().unwrap_or(0));
    let instance = instance.map_err(|e| instantiate_error(store, &e))?;
    let entry = instance.get_func(&*store, ENTRY).ok_or(ReloadError::Module(SpawnError::NoEntry))?;
    let memory = instance.get_memory(&*store, MEMORY);
    store.data_mut().memory = memory;
    store.data_mut().instance = Some(instance);
    let (Some(state), Some(load)) = (state, load_func(store, instance)) else { return Ok((entry, false)) };
    let memory = memory.ok_or_else(|| ReloadError::StateLoad("the new module has no memory".into()))?;
    let pages = (state.len() as u64).div_ceil(PAGE_SIZE as u64);
    let first = memory.grow(&mut *store, pages).map_err(|_| ReloadError::MemoryLimit)?;
    let ptr = first * PAGE_SIZE as u64;
    memory.write(&mut *store, ptr as usize, state).map_err(|_| ReloadError::MemoryLimit)?;
    let params = [Val::I32(ptr as u32 as i32), Val::I32(state.len() as u32 as i32)];
    call(store, load, &params, &mut [], fuel, used).map_err(ReloadError::StateLoad)?;
    Ok((entry, true))
}

/// The new instance's `wasmd_state_load: (i32, i32) -> ()`, if it has one
/// of that type.
fn load_func(store: &Store<ProcessState>, instance: Instance) -> Option<Func> {
    let load = instance.get_func(store, STATE_LOAD)?;
    let ty = load.ty(store);
    (ty.params() == [ValType::I32, ValType::I32] && ty.results().is_empty()).then_some(load)
}

/// Calls a state function of the guest with `fuel` (a syscall in it fails
/// the call: it cannot block here).
fn call(
    store: &mut Store<ProcessState>,
    func: Func,
    params: &[Val],
    results: &mut [Val],
    fuel: u64,
    used: &mut u64,
) -> Result<(), String> {
    set_fuel(store, fuel);
    let outcome = func.call(&mut *store, params, results);
    *used += fuel.saturating_sub(store.get_fuel().unwrap_or(0));
    let syscall = store.data_mut().syscall.take();
    match outcome {
        Ok(()) => Ok(()),
        Err(_) if syscall.is_some() => Err("it made a blocking call (not allowed here)".into()),
        Err(e) => Err(crate::manager::truncate(e.to_string())),
    }
}

/// What a failed instantiation of the new module means.
fn instantiate_error(store: &mut Store<ProcessState>, e: &wasmi::Error) -> ReloadError {
    if store.data().limiter.hit || store.data().limiter.budget_hit {
        return ReloadError::MemoryLimit;
    }
    store.data_mut().syscall = None;
    match e.kind() {
        ErrorKind::Linker(_) | ErrorKind::Instantiation(_) | ErrorKind::Memory(_) => {
            ReloadError::Module(SpawnError::instantiation(e))
        }
        _ => ReloadError::Start(crate::manager::truncate(e.to_string())),
    }
}
