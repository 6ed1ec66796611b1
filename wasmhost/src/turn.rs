//! Turns: how a process runs. One turn of a ready process takes its
//! execution state (store and resumable call) out of the table
//! ([`ProcessManager::begin_turn`]), runs its wasm for one fuel slice
//! without needing the table ([`run_slice`]; on a scheduler thread this
//! runs without the manager's lock), hands each syscall to the manager
//! ([`ProcessManager::turn_syscall`]) and puts the process back in the
//! state the turn ended in ([`ProcessManager::end_turn`]): requeued,
//! parked, suspended or exited. The embedder's loops
//! ([`ProcessManager::run`] and friends) and the event polling between
//! turns live here too.

use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};
use wasmd_abi::Errno;

use wasmd_abi::ExitStatus;
use wasmi::{ResumableCall, ResumableCallHostTrap, Store};

use crate::caller::Caller;
use crate::context::Context;
use crate::continuation::Unlocked;
use crate::manager::SyscallOutcome;
use crate::manager::{set_fuel, slice_for, trap_status, truncate, Continuation, Deadlock, ProcessManager};
use crate::process::{BlockOn, Process, ProcessState, Resume, Sched, Stop};
use crate::services::spawn::Born;
use crate::syscall::Syscall;
use crate::Pid;

/// How a turn ended.
pub(crate) enum TurnEnd {
    Preempted(wasmi::ResumableCallOutOfFuel),
    Yield(wasmi::ResumableCallHostTrap),
    Park(wasmi::ResumableCallHostTrap, BlockOn),
    Exit(ExitStatus),
}

/// Where a syscall of a running turn leaves it.
pub(crate) enum Step {
    /// Resume the guest with this value.
    Resume(ResumableCallHostTrap, i64),
    /// Run this without the lock, then [`ProcessManager::turn_continue`].
    Unlocked(ResumableCallHostTrap, Unlocked<ProcessManager>),
    /// The turn ended (the process is back in the table).
    Ended,
}

/// A process's turn: its execution state, out of the table while it runs
/// (on a scheduler thread, without the manager's lock).
pub(crate) struct Turn {
    pid: Pid,
    store: Option<Box<Store<ProcessState>>>,
    resume: Option<Resume>,
    given: u64,
    /// Fuel in the store not yet counted in the process's `fuel_used`.
    unaccounted: u64,
    /// Since when its CPU time is not yet counted.
    since: Instant,
    /// What its store left when the turn dropped it ([`Turn::bury`]).
    remains: Option<Remains>,
}

/// What the store of a turn that ended its process leaves for the
/// record: the store itself is dropped before the manager's lock is
/// taken ([`Turn::bury`]), so freeing the instance, its memory and its
/// handles holds up no other worker.
struct Remains {
    /// Fuel left in the store.
    left: u64,
    /// Its hostcall and byte counts, and its handles.
    counts: crate::counters::Activity,
    /// Memory pages at the end.
    pages: u32,
    /// Its files in guest schemes, for their providers to close.
    guest_files: Vec<(String, u64)>,
}

impl Turn {
    /// Drops the store of a turn whose process ended (`end` says so),
    /// keeping what its record needs; the turn then ends as usual
    /// ([`ProcessManager::end_turn`]). Called without the manager's lock.
    pub(crate) fn bury(&mut self, end: &Option<TurnEnd>) {
        if !matches!(end, Some(TurnEnd::Exit(_))) {
            return;
        }
        let Some(store) = self.store.take() else { return };
        let state = store.data();
        let mut counts = crate::counters::Activity::default();
        state.counters.publish(&mut counts);
        counts.handles = state.handles.len();
        self.remains = Some(Remains {
            left: store.get_fuel().unwrap_or(0),
            counts,
            pages: crate::process::pages(&store),
            guest_files: crate::lifecycle::guest_files(state),
        });
        drop(store);
    }
}

/// How a turn's syscalls reach the manager: directly on the embedder's
/// thread, or through the kernel's lock on a scheduler thread.
pub(crate) trait ManagerAccess {
    /// Runs `f` on the manager (under its lock, if it has one).
    fn locked<R>(&mut self, f: impl FnOnce(&mut ProcessManager) -> R) -> R;
}

impl ManagerAccess for ProcessManager {
    fn locked<R>(&mut self, f: impl FnOnce(&mut ProcessManager) -> R) -> R {
        f(self)
    }
}

/// Handles a syscall of a running turn until the guest goes on (`Some`)
/// or the turn ended (`None`); the [`Step::Unlocked`] work in between
/// runs outside [`ManagerAccess::locked`].
pub(crate) fn serve_syscall(
    pm: &mut impl ManagerAccess,
    turn: &mut Turn,
    call: ResumableCallHostTrap,
    syscall: Syscall,
) -> Option<(ResumableCallHostTrap, i64)> {
    let mut step = pm.locked(|pm| pm.turn_syscall(turn, call, syscall));
    loop {
        match step {
            Step::Resume(call, value) => return Some((call, value)),
            Step::Ended => return None,
            Step::Unlocked(call, work) => {
                let then = work();
                step = pm.locked(|pm| pm.turn_continue(turn, call, then));
            }
        }
    }
}

/// Handles a syscall of a running turn; `None` when the turn ended there.
pub(crate) type OnSyscall<'a> =
    dyn FnMut(&mut Turn, ResumableCallHostTrap, Syscall) -> Option<(ResumableCallHostTrap, i64)> + 'a;

/// Runs a turn's wasm until its slice ends, the guest ends, or a syscall
/// ends the turn (`None`: `on_syscall` already put the process back).
/// Needs no access to the process table: this is what runs in parallel.
pub(crate) fn run_slice(turn: &mut Turn, on_syscall: &mut OnSyscall<'_>) -> Option<TurnEnd> {
    let no_store = || Some(TurnEnd::Exit(ExitStatus::Trapped("internal: a turn without a store".into())));
    let mut result = match turn.resume.take() {
        None => return no_store(),
        // Its instance is made here, with the turn's fuel (its start
        // function burns some).
        Some(Resume::Instantiate(unborn)) => match unborn.instantiate(turn.given) {
            (Born::Ready(store, entry), _) => {
                entry.call_resumable(&mut **turn.store.insert(store), &[], &mut [])
            }
            // Without a store, what the turn burnt is counted as what
            // is unaccounted: the start function's fuel.
            (Born::Ended(status), used) => {
                turn.unaccounted = used;
                return Some(TurnEnd::Exit(status));
            }
            (Born::Failed(e), used) => {
                turn.unaccounted = used;
                return Some(TurnEnd::Exit(Born::failure_status(&e)));
            }
        },
        Some(Resume::Start(entry)) => {
            let Some(store) = fueled(turn) else { return no_store() };
            entry.call_resumable(&mut **store, &[], &mut [])
        }
        Some(Resume::Preempted(call)) => {
            let Some(store) = fueled(turn) else { return no_store() };
            call.resume(&mut **store, &mut [])
        }
        Some(Resume::Return(call, value)) => {
            let Some(store) = fueled(turn) else { return no_store() };
            let value = crate::wasi::resume_value(store, value);
            call.resume(&mut **store, &[value], &mut [])
        }
    };
    loop {
        match result {
            Ok(ResumableCall::Finished) => return Some(TurnEnd::Exit(ExitStatus::Exited(0))),
            Ok(ResumableCall::OutOfFuel(call)) => return Some(TurnEnd::Preempted(call)),
            Ok(ResumableCall::HostTrap(call)) => {
                let syscall = turn.store.as_mut().and_then(|s| s.data_mut().syscall.take());
                let Some(syscall) = syscall else {
                    return Some(TurnEnd::Exit(ExitStatus::Trapped(truncate(call.host_error().to_string()))));
                };
                let (call, value) = on_syscall(turn, call, syscall)?;
                let Some(store) = turn.store.as_mut() else {
                    return Some(TurnEnd::Exit(ExitStatus::Killed));
                };
                let value = crate::wasi::resume_value(store, value);
                result = call.resume(&mut **store, &[value], &mut []);
            }
            Err(e) => {
                let status = match turn.store.as_ref() {
                    Some(store) => trap_status(store, &e),
                    None => ExitStatus::Trapped(truncate(e.to_string())),
                };
                return Some(TurnEnd::Exit(status));
            }
        }
    }
}

/// The turn's store, given the turn's fuel.
fn fueled(turn: &mut Turn) -> Option<&mut Box<Store<ProcessState>>> {
    let store = turn.store.as_mut()?;
    set_fuel(store, turn.given);
    Some(store)
}

/// Counts the fuel the turn burnt since the last count into the
/// process's `fuel_used` (kept current across syscalls: process_info,
/// spawn budgets).
fn account(proc: &mut Process, turn: &mut Turn) {
    let left = match (&turn.store, &turn.remains) {
        (Some(store), _) => store.get_fuel().unwrap_or(0),
        (None, Some(remains)) => remains.left,
        (None, None) => 0,
    };
    proc.fuel_used += turn.unaccounted.saturating_sub(left);
    turn.unaccounted = left;
    if let Some(store) = &turn.store {
        let state = store.data();
        state.counters.publish(&mut proc.activity);
        proc.activity.handles = state.handles.len();
    } else if let Some(remains) = &turn.remains {
        let cpu_ns = proc.activity.cpu_ns;
        proc.activity = crate::counters::Activity { cpu_ns, ..remains.counts };
    }
    let now = Instant::now();
    proc.activity.cpu_ns += now.duration_since(turn.since).as_nanos() as u64;
    turn.since = now;
}

impl ProcessManager {
    /// Runs up to `max_turns` time slices of ready processes, handling due
    /// timers and worker completions between them. Returns the number of
    /// turns run (0 when nothing was ready).
    pub fn run(&mut self, max_turns: usize) -> usize {
        self.run_bounded(max_turns, || true)
    }

    /// As [`ProcessManager::run`], for as many time slices as start before
    /// `deadline`: an embedder that must also serve requests bounds its
    /// time away from them by the clock, not by a count of slices (a slice
    /// is bounded by fuel, and hostcalls that copy pay fuel too, see
    /// [`crate::hostcalls::BYTES_PER_FUEL`]).
    pub fn run_until(&mut self, deadline: Instant) -> usize {
        self.run_while(|| Instant::now() < deadline)
    }

    /// As [`ProcessManager::run`], for as long as `go_on` (asked after each
    /// time slice) says so: an embedder stops as soon as a request waits
    /// for it, or when its time is up.
    pub fn run_while(&mut self, go_on: impl FnMut() -> bool) -> usize {
        self.run_bounded(usize::MAX, go_on)
    }

    pub(crate) fn run_bounded(&mut self, max_turns: usize, mut go_on: impl FnMut() -> bool) -> usize {
        let mut turns = 0;
        self.poll_events();
        while turns < max_turns {
            let Some(pid) = self.sched.pop(self.here.unwrap_or(0)) else { break };
            if self.run_turn(pid) {
                turns += 1;
            }
            self.poll_events();
            if !go_on() {
                break;
            }
        }
        turns
    }

    /// Handles due timers and finished worker jobs.
    pub fn poll_events(&mut self) {
        while let Ok(done) = self.completions.try_recv() {
            self.complete(done);
        }
        self.wake_futex_waiters();
        Context::new(self).serve_scheme_providers();
        Context::new(self).wake_mail();
        self.deliver_guest_replies();
        if self.sched.next_deadline().is_some() {
            let now = Instant::now();
            while let Some((pid, token)) = self.sched.pop_due(now) {
                self.fire_timer(pid, token);
            }
        }
        if let Some(due) = self.parks.next_deadline() {
            let now = Instant::now();
            if due <= now {
                self.trim_idle(now);
            }
        }
    }

    /// When nothing is ready, sleeps until the next timer, a worker
    /// completion or `timeout`, whichever comes first, and handles it.
    pub fn wait_for_events(&mut self, timeout: Option<Duration>) {
        if !self.sched.is_idle() {
            return;
        }
        let now = Instant::now();
        let mut deadline = self.next_deadline();
        if let Some(t) = timeout {
            let d = now + t;
            deadline = Some(deadline.map_or(d, |x| x.min(d)));
        }
        let received = match deadline {
            Some(d) => self.completions.recv_timeout(d.saturating_duration_since(now)),
            None => self.completions.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        if let Ok(done) = received {
            self.complete(done);
        }
        self.poll_events();
    }

    /// Runs until every process has exited. Fails when live processes
    /// remain but none is ready, no timer is armed and no job is running.
    pub fn run_to_completion(&mut self) -> Result<(), Deadlock> {
        self.run_to_completion_while(|| true)
    }

    /// As [`Self::run_to_completion`], stopping early (with `Ok`) as soon
    /// as `go_on` (asked after each time slice) says so.
    pub fn run_to_completion_while(&mut self, mut go_on: impl FnMut() -> bool) -> Result<(), Deadlock> {
        loop {
            while self.run_bounded(1024, &mut go_on) > 0 && go_on() {}
            if self.live == 0 || !go_on() {
                return Ok(());
            }
            if self.sched.is_idle() && self.sched.next_deadline().is_none() && !self.host_work_pending() {
                return Err(Deadlock(self.live));
            }
            self.wait_for_events(None);
        }
    }

    /// Runs one turn of `pid` on the calling thread; false if it was not
    /// ready.
    pub(crate) fn run_turn(&mut self, pid: Pid) -> bool {
        let Some(mut turn) = self.begin_turn(pid) else {
            return false;
        };
        let end = run_slice(&mut turn, &mut |turn, call, syscall| serve_syscall(self, turn, call, syscall));
        turn.bury(&end);
        if let Some(end) = end {
            self.end_turn(turn, end);
        }
        true
    }

    /// Starts a turn of `pid`: its execution state leaves the table (the
    /// record stays, `Running`). `None` when it is not ready (or ran out
    /// of fuel, which ends it here).
    pub(crate) fn begin_turn(&mut self, pid: Pid) -> Option<Turn> {
        let slice_fuel = self.config.slice_fuel;
        let proc = self.procs.get_mut(pid)?;
        let resume = match std::mem::replace(&mut proc.sched, Sched::Running) {
            Sched::Ready(r) => r,
            other => {
                proc.sched = other;
                return None;
            }
        };
        let required = match &resume {
            Resume::Preempted(call) => call.required_fuel(),
            _ => 0,
        };
        let given = slice_for(slice_fuel, &proc.limits, proc.fuel_used, required);
        proc.exit_pages = proc.memory_pages();
        let unborn = matches!(resume, Resume::Instantiate(_));
        if given < required.max(1) || (proc.store.is_none() && !unborn) {
            proc.sched = Sched::Ready(resume);
            let status = if given < required.max(1) {
                ExitStatus::OutOfFuel
            } else {
                ExitStatus::Trapped("internal: live process without a store".into())
            };
            self.close_turn(pid, TurnEnd::Exit(status));
            return None;
        }
        Some(Turn {
            pid,
            store: proc.store.take(),
            resume: Some(resume),
            given,
            unaccounted: given,
            since: Instant::now(),
            remains: None,
        })
    }

    /// A syscall of a running turn, handled for its caller (whose record
    /// stays in the table). The turn goes on with a value, or does some
    /// work without the lock first, or ends here (parked, yielded,
    /// exited) in one step so no wake-up is lost.
    pub(crate) fn turn_syscall(
        &mut self,
        turn: &mut Turn,
        call: ResumableCallHostTrap,
        syscall: Syscall,
    ) -> Step {
        let Some(proc) = self.procs.get_mut(turn.pid) else { return Step::Ended };
        account(proc, turn);
        let killed = proc.stop == Some(Stop::Kill);
        // A syscall is a safe point for a waiting reload: the new instance
        // takes over and this syscall is not carried out.
        if proc.reload.is_some() && !killed && self.reload_at_syscall(turn.pid, &mut turn.store) {
            return Step::Ended;
        }
        let outcome = match turn.store.as_mut() {
            Some(_) if killed => SyscallOutcome::Exit(ExitStatus::Killed),
            Some(store) => self.syscall(&mut Caller::new(store), syscall),
            None => SyscallOutcome::Exit(ExitStatus::Trapped("internal: a turn without a store".into())),
        };
        self.turn_outcome(turn, call, outcome)
    }

    /// Goes on with a syscall after its [`Step::Unlocked`] work: `then`
    /// runs for the turn's caller under the lock.
    pub(crate) fn turn_continue(
        &mut self,
        turn: &mut Turn,
        call: ResumableCallHostTrap,
        then: Continuation,
    ) -> Step {
        let outcome = match turn.store.as_mut() {
            Some(store) => then(self, &mut Caller::new(store)),
            None => SyscallOutcome::Exit(ExitStatus::Trapped("internal: a turn without a store".into())),
        };
        self.turn_outcome(turn, call, outcome)
    }

    fn turn_outcome(
        &mut self,
        turn: &mut Turn,
        call: ResumableCallHostTrap,
        outcome: SyscallOutcome,
    ) -> Step {
        let end = match outcome {
            SyscallOutcome::Return(value) => return Step::Resume(call, value),
            SyscallOutcome::Unlocked(work) => return Step::Unlocked(call, work),
            SyscallOutcome::Yield => TurnEnd::Yield(call),
            SyscallOutcome::Park(on) => TurnEnd::Park(call, on),
            SyscallOutcome::Exit(status) => TurnEnd::Exit(status),
        };
        if let Some(proc) = self.procs.get_mut(turn.pid) {
            proc.store = turn.store.take();
        }
        self.close_turn(turn.pid, end);
        Step::Ended
    }

    /// Ends a turn: its store goes back to the record, which takes the
    /// state the turn ended in.
    pub(crate) fn end_turn(&mut self, mut turn: Turn, end: TurnEnd) {
        let Some(proc) = self.procs.get_mut(turn.pid) else { return };
        account(proc, &mut turn);
        proc.store = turn.store.take();
        if let Some(remains) = turn.remains.take() {
            proc.exit_pages = remains.pages;
            self.close_files_of(turn.pid, remains.guest_files);
        }
        self.close_turn(turn.pid, end);
    }

    /// Puts a process whose turn ended (its store back in its record) in
    /// the state `end` says (or as a kill or suspension asked meanwhile
    /// says).
    pub(crate) fn close_turn(&mut self, pid: Pid, end: TurnEnd) {
        let Some(proc) = self.procs.get_mut(pid) else { return };
        let end = match end {
            TurnEnd::Preempted(call)
                if proc.fuel_left().is_some_and(|left| left < call.required_fuel().max(1)) =>
            {
                TurnEnd::Exit(ExitStatus::OutOfFuel)
            }
            end => end,
        };
        let stop = proc.stop.take();
        let end = match end {
            TurnEnd::Exit(status) => TurnEnd::Exit(status),
            _ if stop == Some(Stop::Kill) => TurnEnd::Exit(ExitStatus::Killed),
            end => end,
        };
        let next = match end {
            TurnEnd::Preempted(call) => Sched::Ready(Resume::Preempted(call)),
            TurnEnd::Yield(call) => Sched::Ready(Resume::Return(call, 0)),
            TurnEnd::Park(call, on) => {
                proc.parks += 1;
                self.parks.note(pid, proc.parks);
                Sched::Blocked(call, on)
            }
            TurnEnd::Exit(status) => {
                self.end(pid, status);
                return;
            }
        };
        let ready = matches!(next, Sched::Ready(_));
        // Rare: the lookup of a waiting reload is made only when there is one.
        let reloading = proc.reload.is_some();
        if stop == Some(Stop::Suspend) {
            proc.sched = Sched::Suspended(Box::new(next));
        } else {
            proc.sched = next;
            if ready {
                let home = self.home();
                self.sched.push_ready(pid, home);
            }
        }
        if reloading {
            self.reload_if_ready(pid);
        }
    }

    pub(crate) fn fire_timer(&mut self, pid: Pid, token: u64) {
        match self.blocked_on(pid) {
            Some(BlockOn::Sleep { token: t }) if *t == token => self.wake(pid, 0),
            // A wait with a time limit (`poll_oneoff`): its time is up; a
            // later answer for the token is dropped.
            Some(BlockOn::Pending { token: t }) if *t == token => {
                self.pending.remove(&token);
                self.wake(pid, 0);
            }
            Some(BlockOn::Receive { token: t, .. }) if *t == token => {
                if let Some(proc) = self.procs.get(pid) {
                    proc.mailbox.unpark_receiver(token);
                }
                self.wake(pid, -i64::from(Errno::TimedOut.errno()));
            }
            Some(BlockOn::Futex { key, token: t }) if *t == token => {
                let key = *key;
                self.futex().cancel(key, pid, token);
                self.wake(pid, -i64::from(Errno::TimedOut.errno()));
            }
            _ => {}
        }
    }

    /// Wakes the waiters `region_notify` moved to the woken list.
    pub(crate) fn wake_futex_waiters(&mut self) {
        let woken = {
            let mut futex = self.futex();
            if !futex.has_woken() {
                return;
            }
            futex.take_woken()
        };
        for (pid, token) in woken {
            if matches!(self.blocked_on(pid), Some(BlockOn::Futex { token: t, .. }) if *t == token) {
                self.wake(pid, 0);
            }
        }
    }
}
