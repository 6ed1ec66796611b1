//! Run queues and timers.
//!
//! Each scheduler thread (worker) has its own run queue: two FIFO queues
//! of pids, `woken` for processes whose blocking hostcall just completed
//! and `ready` for preempted and yielding ones. Woken processes go first,
//! so a guest answering a message or a timer does so within one time
//! slice even while many guests spin; to keep spinners from starving, at
//! most [`WOKEN_BURST`] woken processes run in a row while `ready` is
//! non-empty. A process is queued where it last ran (a woken one where it
//! was woken, next to its waker); a worker whose queue is empty steals
//! the oldest entry of the longest other queue. Timers are a min-heap of
//! `(deadline, pid, token)`; a timer whose token no longer matches the
//! process's wait is stale and ignored.
//!
//! The queues hold pids only; the manager checks each popped pid is still
//! ready (a process killed while queued is skipped). The length of each
//! worker's queue is also published without the manager's lock
//! ([`Scheduler::queued_hint`]), for a waiting guest deciding whether its
//! worker is needed elsewhere; [`current_worker`] tells a guest's
//! hostcall which worker runs it.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crate::Pid;

/// A timeout standing for "never" (a century).
const FOREVER: std::time::Duration = std::time::Duration::from_secs(100 * 365 * 86400);

/// The deadline `nanos` from now (one past what `Instant` can hold is
/// "never").
pub fn deadline_after(nanos: u64) -> Instant {
    let now = Instant::now();
    now.checked_add(std::time::Duration::from_nanos(nanos)).unwrap_or(now + FOREVER)
}

std::thread_local! {
    static WORKER: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(None) };
}

/// Marks the calling thread as scheduler thread `id`.
pub(crate) fn set_current_worker(id: usize) {
    WORKER.with(|w| w.set(Some(id)));
}

/// The scheduler thread the caller runs on (`None` off them).
pub(crate) fn current_worker() -> Option<usize> {
    WORKER.with(|w| w.get())
}

/// Most woken processes run in a row while preempted ones wait.
pub const WOKEN_BURST: u32 = 8;

/// One worker's run queue.
#[derive(Debug, Default)]
struct RunQueue {
    woken: VecDeque<Pid>,
    ready: VecDeque<Pid>,
    burst: u32,
}

impl RunQueue {
    fn len(&self) -> usize {
        self.woken.len() + self.ready.len()
    }

    fn pop(&mut self) -> Option<Pid> {
        let take_woken = !self.woken.is_empty() && (self.ready.is_empty() || self.burst < WOKEN_BURST);
        if take_woken {
            self.burst += 1;
            self.woken.pop_front()
        } else {
            self.burst = 0;
            self.ready.pop_front()
        }
    }

    /// The entry a thief takes: the oldest preempted one, else the oldest
    /// woken one.
    fn steal(&mut self) -> Option<Pid> {
        self.ready.pop_front().or_else(|| self.woken.pop_front())
    }
}

/// Run queues and timers.
#[derive(Debug)]
pub struct Scheduler {
    queues: Vec<RunQueue>,
    queued: usize,
    /// Each queue's length, readable without the manager's lock.
    hint: Arc<[AtomicUsize]>,
    steals: u64,
    timers: BinaryHeap<Reverse<(Instant, Pid, u64)>>,
    next_token: u64,
}

impl Default for Scheduler {
    fn default() -> Self {
        Self::with_workers(1)
    }
}

impl Scheduler {
    /// Run queues for `workers` scheduler threads (at least one).
    pub fn with_workers(workers: usize) -> Self {
        Self {
            queues: (0..workers.max(1)).map(|_| RunQueue::default()).collect(),
            queued: 0,
            hint: (0..workers.max(1)).map(|_| AtomicUsize::new(0)).collect(),
            steals: 0,
            timers: BinaryHeap::new(),
            next_token: 0,
        }
    }

    /// Number of run queues.
    pub fn workers(&self) -> usize {
        self.queues.len()
    }

    fn queue(&mut self, worker: usize) -> &mut RunQueue {
        let n = self.queues.len();
        &mut self.queues[worker % n]
    }

    /// The worker with the shortest run queue.
    pub fn least_loaded(&self) -> usize {
        (0..self.queues.len()).min_by_key(|w| self.queues[*w].len()).unwrap_or(0)
    }

    /// Queues a process that was just woken from a blocking call, on
    /// `worker`'s queue.
    pub fn push_woken(&mut self, pid: Pid, worker: usize) {
        self.queue(worker).woken.push_back(pid);
        self.queued += 1;
        self.publish(worker);
    }

    /// Queues a process that was preempted, yielded or is new, on
    /// `worker`'s queue.
    pub fn push_ready(&mut self, pid: Pid, worker: usize) {
        self.queue(worker).ready.push_back(pid);
        self.queued += 1;
        self.publish(worker);
    }

    /// The next process for `worker`: from its own queue, else stolen
    /// from the longest other queue.
    pub fn pop(&mut self, worker: usize) -> Option<Pid> {
        if self.queued == 0 {
            return None;
        }
        let own = worker % self.queues.len();
        let (pid, from) = match self.queues[own].pop() {
            Some(pid) => (Some(pid), own),
            None => {
                let victim = (0..self.queues.len()).max_by_key(|w| self.queues[*w].len())?;
                let stolen = self.queues[victim].steal();
                if stolen.is_some() {
                    self.steals += 1;
                }
                (stolen, victim)
            }
        };
        if pid.is_some() {
            self.queued -= 1;
            self.publish(from);
        }
        pid
    }

    fn publish(&mut self, worker: usize) {
        let w = worker % self.queues.len();
        self.hint[w].store(self.queues[w].len(), Ordering::Relaxed);
    }

    /// The length of each worker's queue, kept up to date for readers
    /// without the manager's lock (it may be a moment old).
    pub fn queued_hint(&self) -> Arc<[AtomicUsize]> {
        self.hint.clone()
    }

    /// How many processes were taken from another worker's queue.
    pub fn steals(&self) -> u64 {
        self.steals
    }

    /// True when no process is queued.
    pub fn is_idle(&self) -> bool {
        self.queued == 0
    }

    /// Queued processes.
    pub fn queued(&self) -> usize {
        self.queued
    }

    /// A fresh timer token.
    pub fn token(&mut self) -> u64 {
        self.next_token += 1;
        self.next_token
    }

    /// Arms a timer for `pid`.
    pub fn add_timer(&mut self, deadline: Instant, pid: Pid, token: u64) {
        self.timers.push(Reverse((deadline, pid, token)));
    }

    /// The earliest armed deadline.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse((d, _, _))| *d)
    }

    /// Removes and returns one timer due at `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<(Pid, u64)> {
        match self.timers.peek() {
            Some(Reverse((d, _, _))) if *d <= now => self.timers.pop().map(|Reverse((_, p, t))| (p, t)),
            _ => None,
        }
    }

    /// Number of armed timers (stale ones included).
    pub fn timers(&self) -> usize {
        self.timers.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn woken_first_but_bounded() {
        let mut s = Scheduler::default();
        for p in 1..=3 {
            s.push_ready(p, 0);
        }
        for p in 10..30 {
            s.push_woken(p, 0);
        }
        let order: Vec<Pid> = (0..12).filter_map(|_| s.pop(0)).collect();
        assert_eq!(&order[..8], &[10, 11, 12, 13, 14, 15, 16, 17]);
        assert_eq!(order[8], 1);
        assert_eq!(&order[9..], &[18, 19, 20]);
    }

    #[test]
    fn an_idle_worker_steals_the_oldest_entry_of_the_longest_queue() {
        let mut s = Scheduler::with_workers(3);
        for p in 1..=4 {
            s.push_ready(p, 0);
        }
        s.push_ready(9, 1);
        // Worker 2 has nothing: it takes pid 1 from worker 0 (4 queued).
        assert_eq!(s.pop(2), Some(1));
        assert_eq!(s.steals(), 1);
        // Worker 1 runs its own first.
        assert_eq!(s.pop(1), Some(9));
        assert_eq!(s.pop(1), Some(2));
        assert_eq!(s.queued(), 2);
        assert_eq!(s.pop(0), Some(3));
        assert_eq!(s.pop(0), Some(4));
        assert_eq!(s.pop(0), None);
        assert!(s.is_idle());
    }

    #[test]
    fn timers_in_deadline_order() {
        let mut s = Scheduler::default();
        let now = Instant::now();
        s.add_timer(now + Duration::from_millis(5), 2, 1);
        s.add_timer(now + Duration::from_millis(1), 1, 2);
        assert_eq!(s.next_deadline(), Some(now + Duration::from_millis(1)));
        assert_eq!(s.pop_due(now), None);
        assert_eq!(s.pop_due(now + Duration::from_millis(2)), Some((1, 2)));
        assert_eq!(s.pop_due(now + Duration::from_millis(2)), None);
        assert_eq!(s.pop_due(now + Duration::from_millis(9)), Some((2, 1)));
    }
}
