//! The narrow context services work in.
//!
//! A service (`services::{spawn, regions, io, schemes}`) is handed a
//! [`Context`] — never the whole [`ProcessManager`] — and reaches the
//! manager only through the few operations below: look a process up and
//! check who may act on whom; park the caller on a wait answered later
//! (a worker job, a provider's reply, a timer) and wake a parked process;
//! lend a parked process's memory; reserve, admit or give back a new
//! process's place; register a region; and the shared host environment.
//! The process table, the run queues, the waits in flight and the
//! process and tree counts stay behind it, in the manager's core, so no
//! service can queue, count or drop a process on its own.
//!
//! A service's continuation (the end of a wait) is made with
//! [`in_context`], so it too sees only a context.

use std::sync::{Arc, MutexGuard};
use std::time::Instant;

use crate::admission::Place;
use crate::caller::Caller;
use crate::continuation::ReplyThen;
use crate::error::SpawnError;
use crate::futex::FutexTable;
use crate::guest_scheme::SchemeTable;
pub(crate) use crate::manager::{Continuation, SyscallOutcome};
use crate::manager::{ManagerConfig, ProcessManager};
use crate::module_cache::{Generation, ModuleCache};
use crate::owner::Owner;
use crate::platform::ModuleLoader;
use crate::process::{BlockOn, HostEnv, Process};
use crate::region::{Region, SharedMemory};
use crate::worker::Workers;
use crate::Pid;

/// A continuation that goes on in the services' context.
pub(crate) fn in_context(
    f: impl FnOnce(&mut Context<'_>, &mut Caller<'_>) -> SyscallOutcome + Send + 'static,
) -> Continuation {
    Box::new(move |pm, caller| f(&mut Context::new(pm), caller))
}

/// What a service may use of the manager (see the module docs).
pub(crate) struct Context<'a> {
    pm: &'a mut ProcessManager,
}

impl<'a> Context<'a> {
    /// The context of `pm`'s services.
    pub(crate) fn new(pm: &'a mut ProcessManager) -> Self {
        Self { pm }
    }

    /// A process's record (live, or exited and not yet reaped).
    pub(crate) fn process(&self, pid: Pid) -> Option<&Process> {
        self.pm.procs.get(pid)
    }

    /// True when `me` may inspect or kill `target`.
    pub(crate) fn may_control(&self, me: Pid, target: Pid) -> bool {
        self.pm.may_control(me, target)
    }

    /// Asks for a reload of `pid` (see [`crate::reload`]): its outcome now,
    /// or `None` when the requester is told later.
    pub(crate) fn request_reload(
        &mut self,
        pid: Pid,
        request: crate::reload::ReloadRequest,
        wait: bool,
    ) -> Result<Option<Result<(), crate::reload::ReloadError>>, crate::reload::ReloadError> {
        self.pm.request_reload(pid, request, wait)
    }

    /// True when `ancestor` is an ancestor of `pid`.
    pub(crate) fn is_ancestor(&self, ancestor: Pid, pid: Pid) -> bool {
        self.pm.is_ancestor(ancestor, pid)
    }

    /// What a parked process waits for.
    pub(crate) fn blocked_on(&self, pid: Pid) -> Option<&BlockOn> {
        self.pm.blocked_on(pid)
    }

    /// What a parked process waits for, to change it.
    pub(crate) fn blocked_on_mut(&mut self, pid: Pid) -> Option<&mut BlockOn> {
        match self.pm.procs.get_mut(pid)?.sched.beneath_mut() {
            crate::process::Sched::Blocked(_, on) => Some(on),
            _ => None,
        }
    }

    /// Links `me` and `target` (see [`crate::links`]).
    pub(crate) fn link(&mut self, me: Pid, target: Pid) -> Result<(), wasmd_abi::Errno> {
        self.pm.link(me, target)
    }

    /// Monitors `target` for `me`: the reference (see [`crate::links`]).
    pub(crate) fn monitor(&mut self, me: Pid, target: Pid) -> Result<u64, wasmd_abi::Errno> {
        self.pm.monitor(me, target)
    }

    /// Ends a parked process's wait with `value`.
    pub(crate) fn wake(&mut self, pid: Pid, value: i64) {
        self.pm.wake(pid, value);
    }

    /// Runs `f` on a parked process's memory (its store lent from its
    /// record); `None` when it has none.
    pub(crate) fn with_store<R>(&mut self, pid: Pid, f: impl FnOnce(&mut Caller<'_>) -> R) -> Option<R> {
        self.pm.with_caller(pid, |_, caller| f(caller))
    }

    /// A new wait of `pid` answered by the host (a worker job or the
    /// poller): its token.
    pub(crate) fn pend_host(&mut self, pid: Pid) -> u64 {
        self.pm.pend_host(pid)
    }

    /// A new wait of `pid` answered by a provider's reply under `token`.
    pub(crate) fn pend_reply(&mut self, pid: Pid, token: u64, then: ReplyThen<ProcessManager>) {
        self.pm.pend_reply(pid, token, then);
    }

    /// Drops the wait `token` made with [`Self::pend_host`] when it is not
    /// needed after all.
    pub(crate) fn forget_wait(&mut self, token: u64) {
        self.pm.pending.remove(&token);
    }

    /// A fresh wait token.
    pub(crate) fn token(&mut self) -> u64 {
        self.pm.sched.token()
    }

    /// Ends `pid`'s wait `token` at `deadline` (if it still waits).
    pub(crate) fn add_timer(&mut self, deadline: Instant, pid: Pid, token: u64) {
        self.pm.sched.add_timer(deadline, pid, token);
    }

    /// The worker threads (loading, compiling, shared memory, I/O).
    pub(crate) fn workers(&self) -> &Workers<Continuation> {
        &self.pm.workers
    }

    /// The host environment every process shares.
    pub(crate) fn env(&self) -> &Arc<HostEnv> {
        &self.pm.env
    }

    /// The guest scheme table.
    pub(crate) fn schemes(&self) -> MutexGuard<'_, SchemeTable> {
        self.pm.schemes()
    }

    /// The region wait queues.
    pub(crate) fn futex(&self) -> MutexGuard<'_, FutexTable> {
        self.pm.futex()
    }

    /// The manager's tunables.
    pub(crate) fn config(&self) -> &ManagerConfig {
        &self.pm.config
    }

    /// The module cache.
    pub(crate) fn modules(&self) -> &ModuleCache {
        &self.pm.modules
    }

    /// The module loader.
    pub(crate) fn loader(&self) -> &Arc<dyn ModuleLoader> {
        &self.pm.loader
    }

    /// See [`ProcessManager::reserve_place`].
    pub(crate) fn reserve_place(&mut self, tree: Option<Pid>) -> Result<Place, SpawnError> {
        self.pm.reserve_place(tree)
    }

    /// See [`ProcessManager::give_back`].
    pub(crate) fn give_back(&mut self, place: Place) {
        self.pm.give_back(place);
    }

    /// See [`ProcessManager::admit`].
    pub(crate) fn admit(&mut self, proc: Box<Process>) {
        self.pm.admit(proc);
    }

    /// See [`ProcessManager::linker`].
    pub(crate) fn linker(&mut self, generation: &Arc<Generation>) -> Arc<crate::instantiate::Linkers> {
        self.pm.linker(generation)
    }

    /// Registers a new region (see [`ProcessManager::new_region`]).
    pub(crate) fn new_region(
        &mut self,
        creator: Pid,
        owner: Owner,
        tree: Pid,
        memory: Box<dyn SharedMemory>,
    ) -> Arc<Region> {
        self.pm.new_region(creator, owner, tree, memory)
    }
}
