//! The kernel: a [`ProcessManager`] shared by a pool of scheduler threads
//! that run its guests in parallel.
//!
//! Each scheduler thread (worker) loops: take the manager's lock, handle
//! due events (timers, worker completions, futex and scheme wake-ups),
//! pop a process from its run queue (or steal one, see
//! [`crate::Scheduler`]) and take its execution state out of the table
//! ([`ProcessManager::begin_turn`]); then **release the lock** and run
//! the guest's wasm for one fuel slice. A syscall takes the lock for
//! just its handling ([`ProcessManager::turn_syscall`]); the end of the
//! slice takes it to put the process back. So guests run on every core,
//! and whoever else takes the lock — the control plane answering a
//! request, another worker's syscall — waits at most for one syscall's
//! handling, never for a slice.
//!
//! A process runs on one worker at a time (its `Store` moves with its
//! turn); its record stays in the table, marked running, so `ps`, kill
//! and suspend see it: a kill or suspension of a running process is
//! applied when its turn ends (at the latest after one slice).
//!
//! Idle workers spin briefly on an epoch counter (bumped whenever work
//! may have appeared: a process queued, a worker job done, a request
//! from the embedder), then sleep on a condition variable until the next
//! timer. The embedder (the daemon) is woken through its waker when a
//! turn ends in a way it may care about (an exit, a park, output).

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::manager::ProcessManager;
use crate::turn::{run_slice, serve_syscall, ManagerAccess};
use crate::worker::Waker;

/// How long an idle worker spins before it sleeps.
const SPIN: Duration = Duration::from_micros(50);
/// Least time between two wake-ups of the embedder for output only.
const OUTPUT_POKE: Duration = Duration::from_micros(500);
/// How often a busy worker yields the CPU between two turns.
const YIELD_EVERY: Duration = Duration::from_micros(500);
/// Longest sleep of an idle worker with no timer armed.
const IDLE_SLEEP: Duration = Duration::from_millis(100);

/// Counters of the scheduler threads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KernelStats {
    /// Turns run by each worker.
    pub turns: Vec<u64>,
    /// Processes taken from another worker's run queue.
    pub steals: u64,
}

struct Shared {
    pm: Mutex<ProcessManager>,
    /// Bumped whenever work may have appeared.
    epoch: Signal,
    stop: AtomicBool,
    turns: Vec<AtomicU64>,
    embedder: Mutex<Option<Waker>>,
    /// The embedder was woken and has not looked yet.
    poked: AtomicBool,
    /// Counts guests' answers to the embedder (see [`Kernel::wait_news`]).
    news: Signal,
}

/// A counter that threads wait on until it moves: the kernel's epoch
/// (idle workers), the guests' answers to the embedder (an embedder
/// thread waiting for a guest scheme's reply).
#[derive(Default)]
struct Signal {
    count: AtomicU64,
    waiters: AtomicUsize,
    lock: Mutex<()>,
    moved: Condvar,
}

impl Signal {
    fn get(&self) -> u64 {
        self.count.load(Ordering::SeqCst)
    }

    /// Moves the counter and wakes whoever waits on it.
    fn raise(&self) {
        self.count.fetch_add(1, Ordering::SeqCst);
        if self.waiters.load(Ordering::SeqCst) > 0 {
            let _lock = self.lock.lock().unwrap_or_else(|e| e.into_inner());
            self.moved.notify_all();
        }
    }

    /// Waits until the counter is no longer `seen`, or until `deadline`.
    /// (A waiter counts itself under the lock before it looks, and a raise
    /// moves the counter before it looks for waiters: no raise is missed.)
    fn wait(&self, seen: u64, deadline: Instant) {
        let mut lock = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        self.waiters.fetch_add(1, Ordering::SeqCst);
        loop {
            let now = Instant::now();
            if self.get() != seen || now >= deadline {
                break;
            }
            lock = self.moved.wait_timeout(lock, deadline - now).unwrap_or_else(|e| e.into_inner()).0;
        }
        self.waiters.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, ProcessManager> {
        self.pm.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Work may have appeared: wake idle workers.
    fn bump(&self) {
        self.epoch.raise();
    }

    /// Wakes the embedder once until it looks.
    fn poke(&self) {
        if !self.poked.swap(true, Ordering::SeqCst) {
            if let Some(w) = self.embedder.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
                w();
            }
        }
    }
}

/// A process manager and the scheduler threads running its guests (see
/// the module docs). With no threads (`sched_workers == 0` in its
/// config) it is a plain shared manager whose embedder runs guests with
/// [`ProcessManager::run`].
pub struct Kernel {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Kernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kernel").field("workers", &self.threads.len()).finish_non_exhaustive()
    }
}

/// The manager, locked. Dropping it tells idle workers when the holder
/// made work for them (a spawn, a request to a guest scheme, a resume).
pub struct KernelGuard<'a> {
    guard: MutexGuard<'a, ProcessManager>,
    shared: &'a Shared,
    /// Processes queued when the lock was taken.
    queued_before: usize,
}

impl std::fmt::Debug for KernelGuard<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.guard.fmt(f)
    }
}

impl std::ops::Deref for KernelGuard<'_> {
    type Target = ProcessManager;
    fn deref(&self) -> &ProcessManager {
        &self.guard
    }
}

impl std::ops::DerefMut for KernelGuard<'_> {
    fn deref_mut(&mut self) -> &mut ProcessManager {
        &mut self.guard
    }
}

impl<'a> KernelGuard<'a> {
    fn of(shared: &'a Shared) -> KernelGuard<'a> {
        let mut guard = shared.lock();
        guard.here = None;
        let queued_before = guard.queued();
        KernelGuard { guard, shared, queued_before }
    }
}

/// A [`Kernel`]'s manager, for another thread of the embedder (see
/// [`Kernel::handle`]). It keeps the manager, not the scheduler threads:
/// once the kernel is dropped, what it locks runs no more.
#[derive(Clone)]
pub struct KernelHandle {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for KernelHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KernelHandle")
    }
}

impl KernelHandle {
    /// Locks the manager (see [`Kernel::lock`]).
    pub fn lock(&self) -> KernelGuard<'_> {
        KernelGuard::of(&self.shared)
    }
}

impl Drop for KernelGuard<'_> {
    fn drop(&mut self) {
        // Work the holder made: more processes queued than before (not
        // those already queued, which the workers know of: waking an idle
        // worker for them would only have it steal a guest another worker
        // was about to run, moving the guest onto the core the control
        // plane needs), a request for a provider, futex waiters woken.
        let pm = &self.guard;
        if pm.queued() > self.queued_before || pm.has_unqueued_work() {
            self.shared.bump();
        }
    }
}

impl Kernel {
    /// Starts `pm`'s scheduler threads (as many as its config's
    /// `sched_workers`).
    pub fn new(mut pm: ProcessManager) -> Self {
        let workers = pm.config.sched_workers;
        let shared = Arc::new_cyclic(|me: &std::sync::Weak<Shared>| {
            let weak = me.clone();
            pm.set_waker(Arc::new(move || {
                if let Some(shared) = weak.upgrade() {
                    shared.bump();
                    if let Some(w) = shared.embedder.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
                        w();
                    }
                }
            }));
            let weak = me.clone();
            let _ = pm.env.kick.set(Arc::new(move || {
                if let Some(shared) = weak.upgrade() {
                    shared.bump();
                }
            }));
            let weak = me.clone();
            let _ = pm.env.news.set(Arc::new(move || {
                if let Some(shared) = weak.upgrade() {
                    shared.news.raise();
                }
            }));
            Shared {
                pm: Mutex::new(pm),
                epoch: Signal::default(),
                stop: AtomicBool::new(false),
                turns: (0..workers).map(|_| AtomicU64::new(0)).collect(),
                embedder: Mutex::new(None),
                poked: AtomicBool::new(false),
                news: Signal::default(),
            }
        });
        let platform = shared.lock().platform();
        let threads = (0..workers)
            .filter_map(|id| {
                let shared = shared.clone();
                let platform = platform.clone();
                std::thread::Builder::new()
                    .name(format!("wasmd-sched-{id}"))
                    .spawn(move || {
                        crate::scheduler::set_current_worker(id);
                        platform.scheduler_thread_started();
                        worker(&shared, id)
                    })
                    .map_err(|e| log::error!("cannot start scheduler thread {id}: {e}"))
                    .ok()
            })
            .collect();
        Self { shared, threads }
    }

    /// The manager, locked (see [`KernelGuard`]).
    pub fn lock(&self) -> KernelGuard<'_> {
        KernelGuard::of(&self.shared)
    }

    /// The manager for another thread of the embedder (the cluster's
    /// link): it locks it as [`Kernel::lock`] does.
    pub fn handle(&self) -> KernelHandle {
        KernelHandle { shared: self.shared.clone() }
    }

    /// Number of scheduler threads (0: the embedder runs guests).
    pub fn workers(&self) -> usize {
        self.threads.len()
    }

    /// Sets the function called (from any thread) when the embedder
    /// should look: a worker job finished, a process exited or parked,
    /// output was written.
    pub fn set_waker(&self, waker: Waker) {
        *self.shared.embedder.lock().unwrap_or_else(|e| e.into_inner()) = Some(waker);
    }

    /// The embedder looks now: later events wake it again.
    pub fn looked(&self) {
        self.shared.poked.store(false, Ordering::SeqCst);
    }

    /// How many times guests answered the embedder so far (a scheme
    /// provider's reply to a request it sent).
    pub fn news(&self) -> u64 {
        self.shared.news.get()
    }

    /// Waits until a guest answers the embedder after [`Kernel::news`]
    /// gave `seen`, or until `deadline` (for an embedder that expects a
    /// guest scheme's reply soon, such as to an open).
    pub fn wait_news(&self, seen: u64, deadline: Instant) {
        self.shared.news.wait(seen, deadline);
    }

    /// Turns per worker and steals so far.
    pub fn stats(&self) -> KernelStats {
        KernelStats {
            turns: self.shared.turns.iter().map(|t| t.load(Ordering::Relaxed)).collect(),
            steals: self.shared.lock().sched.steals(),
        }
    }
}

impl Drop for Kernel {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.bump();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// A scheduler thread's loop (see the module docs).
fn worker(shared: &Shared, id: usize) {
    // Output-only wake-ups of the embedder are spaced by OUTPUT_POKE; one
    // held back is owed until paid (at a later turn's end or before
    // idling), so none is lost.
    let mut last_poke = Instant::now();
    let mut owed = false;
    let mut last_yield = Instant::now();
    // The lock a turn's end took, kept to look for the next turn.
    let mut held = None;
    loop {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        // Read before looking for work: anything that appears later bumps it.
        let epoch = shared.epoch.get();
        let mut pm = held.take().unwrap_or_else(|| shared.lock());
        pm.here = Some(id);
        pm.poll_events();
        let news = pm.has_news();
        let next = pm.sched.pop(id);
        let Some(pid) = next else {
            let deadline = pm.next_deadline();
            drop(pm);
            if news || owed {
                owed = false;
                shared.poke();
            }
            idle(shared, epoch, deadline);
            continue;
        };
        let Some(mut turn) = pm.begin_turn(pid) else { continue };
        let output_before = pm.process(pid).map(|p| p.log().total());
        let more = !pm.sched.is_idle();
        drop(pm);
        if more {
            shared.bump();
        }
        let end = run_slice(&mut turn, &mut |turn, call, syscall| {
            serve_syscall(&mut Locking { shared, id }, turn, call, syscall)
        });
        shared.turns[id].fetch_add(1, Ordering::Relaxed);
        turn.bury(&end);
        let mut pm = shared.lock();
        pm.here = Some(id);
        if let Some(end) = end {
            pm.end_turn(turn, end);
        }
        // Anything but a plain requeue (an exit, a park, a suspension)
        // may matter to the embedder.
        let ended = pm.process(pid).is_none_or(|p| p.info_state() != wasmd_abi::RunState::Ready);
        let wrote = pm.process(pid).map(|p| p.log().total()) != output_before || pm.has_news();
        // This worker takes the next queued process itself at once: wake
        // the others only for more than that (waking one for the process
        // this turn just requeued would have it stolen back and forth,
        // spinning both cores for one guest).
        if pm.sched.queued() > 1 {
            shared.bump();
        }
        owed |= wrote;
        let poke =
            (ended || (owed && last_poke.elapsed() >= OUTPUT_POKE)) && !shared.poked.load(Ordering::SeqCst);
        if ended {
            owed = false;
        }
        // Let the control plane (and other threads of a machine with
        // fewer cores than workers) have the CPU now and then.
        let pause = last_yield.elapsed() >= YIELD_EVERY;
        if !poke && !pause {
            // Straight on to the next turn, under the same lock.
            held = Some(pm);
            continue;
        }
        drop(pm);
        if poke {
            owed = false;
            last_poke = Instant::now();
            shared.poke();
        }
        if pause {
            std::thread::yield_now();
            last_yield = Instant::now();
        }
    }
}

/// A scheduler thread's way to the manager during a turn: the lock is
/// taken for each part of a syscall and released between (for its
/// costly part, see [`crate::turn::Step::Unlocked`]); idle workers are
/// told when the syscall queued work.
struct Locking<'a> {
    shared: &'a Shared,
    id: usize,
}

impl ManagerAccess for Locking<'_> {
    fn locked<R>(&mut self, f: impl FnOnce(&mut ProcessManager) -> R) -> R {
        let mut pm = self.shared.lock();
        pm.here = Some(self.id);
        let result = f(&mut pm);
        let queued = !pm.sched.is_idle();
        drop(pm);
        if queued {
            self.shared.bump();
        }
        result
    }
}

/// Waits for work: spins on the epoch for [`SPIN`], then sleeps until it
/// changes, `deadline` (a timer) passes or [`IDLE_SLEEP`] is over.
fn idle(shared: &Shared, epoch: u64, deadline: Option<Instant>) {
    let spin_until = Instant::now() + SPIN;
    while Instant::now() < spin_until {
        if shared.epoch.get() != epoch || shared.stop.load(Ordering::SeqCst) {
            return;
        }
        std::hint::spin_loop();
    }
    let longest = Instant::now() + IDLE_SLEEP;
    shared.epoch.wait(epoch, deadline.map_or(longest, |d| d.min(longest)));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SpawnOptions;

    #[test]
    fn the_control_plane_wakes_workers_only_for_work_it_made() {
        // No scheduler threads: what is queued stays queued.
        let k = Kernel::new(crate::testing::manager());
        let epoch = || k.shared.epoch.get();
        let before = epoch();
        drop(k.lock());
        assert_eq!(epoch(), before, "a look changes nothing");
        let module = k.lock().modules().compile(b"(module (func (export \"_start\")))").expect("compiles");
        k.lock().spawn(module, SpawnOptions::new("a")).expect("spawns");
        let queued = epoch();
        assert!(queued > before, "a spawn queues work: the workers are told");
        drop(k.lock());
        assert_eq!(epoch(), queued, "work already queued is not news (an idle worker would steal it)");
    }
}
