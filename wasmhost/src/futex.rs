//! Wait queues for `region_wait`/`region_notify` (futex-like).
//!
//! A waiter is keyed by `(region id, offset)`. `region_wait` checks the
//! value in the guest's hostcall; on a machine with more than one
//! scheduler thread and nothing else queued it first spins briefly
//! ([`WaitSpin`]), as adaptive mutexes do, since a peer running on
//! another core often changes the value within a microsecond or two; if
//! the value changes, the wait returns at once without parking. Else the
//! manager parks the process and queues it here with a token. `region_notify` runs inside the notifying
//! guest's hostcall: it moves up to `count` waiters to the `woken` list
//! and returns at once; the manager wakes them after the turn. A waiter
//! that timed out or died is removed by the manager; a stale token is
//! ignored.
//!
//! Threads of the embedder (not guests) wait too, without parking: a
//! *watch* is a callback ([`NativeWake`]) queued under a key like a
//! waiter. A notify that reaches it removes it and hands it out
//! ([`FutexTable::take_fired`]); the notifier calls it after letting go
//! of the table. The cluster link's channel bridges wait on channel
//! words this way.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::Pid;

/// A wait-queue key: region id and byte offset.
pub type FutexKey = (u64, u64);

/// What a notify calls for a watch of the embedder's (see the module
/// docs): it must be quick and must not block.
pub type NativeWake = Arc<dyn Fn() + Send + Sync>;

/// All wait queues, and the waiters notified but not yet woken.
#[derive(Default)]
pub struct FutexTable {
    queues: HashMap<FutexKey, VecDeque<(Pid, u64)>>,
    woken: Vec<(Pid, u64)>,
    /// Watches of the embedder's threads, by key: (id, callback).
    watches: HashMap<FutexKey, Vec<(u64, NativeWake)>>,
    next_watch: u64,
    /// Watches notified, to call once the table is let go of.
    fired: Vec<NativeWake>,
}

impl std::fmt::Debug for FutexTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FutexTable")
            .field("waiters", &self.waiters())
            .field("woken", &self.woken.len())
            .field("watches", &self.watches())
            .finish()
    }
}

impl FutexTable {
    /// Queues a parked waiter.
    pub fn wait(&mut self, key: FutexKey, pid: Pid, token: u64) {
        self.queues.entry(key).or_default().push_back((pid, token));
    }

    /// Moves up to `count` waiters of `key` to the woken list and its
    /// watches to the fired list, watches first; returns how many guests
    /// and watches that was.
    pub fn notify(&mut self, key: FutexKey, count: u32) -> u32 {
        let mut n = 0usize;
        if count > 0 {
            if let Some(watches) = self.watches.remove(&key) {
                n = watches.len();
                self.fired.extend(watches.into_iter().map(|(_, wake)| wake));
            }
        }
        let Some(queue) = self.queues.get_mut(&key) else { return n as u32 };
        let guests = (count as usize).saturating_sub(n).min(queue.len());
        self.woken.extend(queue.drain(..guests));
        if queue.is_empty() {
            self.queues.remove(&key);
        }
        (n + guests) as u32
    }

    /// Queues a watch of the embedder's on `key`; returns its id (for
    /// [`FutexTable::unwatch`]). The next notify of `key` fires it, once.
    pub fn watch(&mut self, key: FutexKey, wake: NativeWake) -> u64 {
        self.next_watch += 1;
        self.watches.entry(key).or_default().push((self.next_watch, wake));
        self.next_watch
    }

    /// Removes the watch `id` of `key`, if it did not fire.
    pub fn unwatch(&mut self, key: FutexKey, id: u64) {
        if let Some(watches) = self.watches.get_mut(&key) {
            watches.retain(|(w, _)| *w != id);
            if watches.is_empty() {
                self.watches.remove(&key);
            }
        }
    }

    /// Takes the watches notified, for the caller to call once it let go
    /// of the table.
    pub fn take_fired(&mut self) -> Vec<NativeWake> {
        std::mem::take(&mut self.fired)
    }

    /// Number of watches queued.
    pub fn watches(&self) -> usize {
        self.watches.values().map(Vec::len).sum()
    }

    /// Removes a waiter (timeout, kill).
    pub fn cancel(&mut self, key: FutexKey, pid: Pid, token: u64) {
        if let Some(queue) = self.queues.get_mut(&key) {
            queue.retain(|w| *w != (pid, token));
            if queue.is_empty() {
                self.queues.remove(&key);
            }
        }
    }

    /// Takes the notified waiters.
    pub fn take_woken(&mut self) -> Vec<(Pid, u64)> {
        std::mem::take(&mut self.woken)
    }

    /// True when waiters were notified and not yet taken.
    pub fn has_woken(&self) -> bool {
        !self.woken.is_empty()
    }

    /// Number of parked waiters.
    pub fn waiters(&self) -> usize {
        self.queues.values().map(VecDeque::len).sum()
    }
}

/// Longest spin of a `region_wait` (or a `receive`) before it parks. Once
/// a waiter parks, its peer's next answer must wake a scheduler thread
/// through the kernel, which on a busy VM takes tens of microseconds; a
/// spin shorter than that makes two guests answering each other park at
/// every message for good (measured: 20 µs gave 35–48 µs mailbox round
/// trips on 2 workers; 100 µs gives under 1 µs).
pub const WAIT_SPIN: Duration = Duration::from_micros(100);

/// Whether and how long a `region_wait` (or a `receive`) spins before it
/// parks: only on a scheduler thread of a kernel with more than one (with
/// one, the peer that would change the value cannot run meanwhile) and
/// only while that thread's own run queue is empty (it is not needed
/// elsewhere). A peer just woken onto another worker's queue does not
/// stop the spin: that worker runs it (or an idle one steals it), and
/// two guests answering each other on two workers never park.
#[derive(Debug)]
pub struct WaitSpin {
    enabled: bool,
    queued: Arc<[AtomicUsize]>,
}

impl WaitSpin {
    /// The policy for `workers` scheduler threads whose scheduler
    /// publishes each run queue's length in `queued`.
    pub fn new(workers: usize, queued: Arc<[AtomicUsize]>) -> Self {
        Self { enabled: workers > 1, queued }
    }

    /// Spins until `word` is no longer `expected` (true), or for at most
    /// [`WAIT_SPIN`] (and `timeout_ns`), or until a process is queued on
    /// the caller's worker (false).
    pub fn until_changed(&self, word: &AtomicU32, expected: u32, timeout_ns: Option<u64>) -> bool {
        let own = match crate::scheduler::current_worker().and_then(|w| self.queued.get(w)) {
            Some(own) if self.enabled => own,
            _ => return false,
        };
        let limit = timeout_ns.map_or(WAIT_SPIN, |ns| WAIT_SPIN.min(Duration::from_nanos(ns)));
        let start = Instant::now();
        loop {
            for _ in 0..32 {
                if word.load(Ordering::SeqCst) != expected {
                    return true;
                }
                std::hint::spin_loop();
            }
            if own.load(Ordering::Relaxed) > 0 || start.elapsed() >= limit {
                return false;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wait_spins_only_on_a_worker_of_several_with_nothing_queued_there() {
        let queued: Arc<[AtomicUsize]> = (0..2).map(|_| AtomicUsize::new(0)).collect();
        let word = Arc::new(AtomicU32::new(7));
        crate::scheduler::set_current_worker(1);
        assert!(!WaitSpin::new(1, queued.clone()).until_changed(&word, 7, None), "one worker: no spin");
        let spin = WaitSpin::new(2, queued.clone());
        assert!(!spin.until_changed(&word, 7, Some(1_000)), "nothing changes: gives up");
        let changer = {
            let word = word.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_micros(5));
                word.store(8, Ordering::SeqCst);
            })
        };
        // Spins until the other thread stores (or gives up after WAIT_SPIN:
        // then try again, the thread may not have been scheduled yet).
        let start = Instant::now();
        while !spin.until_changed(&word, 7, None) {
            assert!(start.elapsed() < Duration::from_secs(10), "the change was never seen");
        }
        changer.join().unwrap();
        assert_eq!(word.load(Ordering::SeqCst), 8);
        word.store(7, Ordering::SeqCst);
        queued[1].store(1, Ordering::Relaxed);
        let start = Instant::now();
        assert!(!spin.until_changed(&word, 7, Some(10_000_000_000)), "its own worker has work: no spin");
        assert!(start.elapsed() < Duration::from_secs(1));
        queued[1].store(0, Ordering::Relaxed);
        queued[0].store(3, Ordering::Relaxed);
        assert!(!spin.until_changed(&word, 7, Some(1_000)), "work elsewhere does not stop it: it times out");
        let off_worker = std::thread::spawn(move || spin.until_changed(&word, 7, Some(10_000_000_000)));
        assert!(!off_worker.join().unwrap(), "off the scheduler threads: no spin");
    }

    #[test]
    fn notify_wakes_in_order_and_cancel_removes() {
        let mut f = FutexTable::default();
        let key = (1, 8);
        for pid in 1..=4 {
            f.wait(key, pid, u64::from(pid) * 10);
        }
        f.cancel(key, 2, 20);
        assert_eq!(f.notify(key, 2), 2);
        assert_eq!(f.notify((1, 16), 5), 0);
        assert_eq!(f.take_woken(), vec![(1, 10), (3, 30)]);
        assert_eq!(f.waiters(), 1);
        assert_eq!(f.notify(key, u32::MAX), 1);
        assert_eq!(f.waiters(), 0);
        assert!(f.has_woken());
    }

    #[test]
    fn watches_fire_once_first_and_unwatch_removes() {
        let mut f = FutexTable::default();
        let key = (2, 8);
        let calls = Arc::new(AtomicUsize::new(0));
        let wake: NativeWake = {
            let calls = calls.clone();
            Arc::new(move || {
                calls.fetch_add(1, Ordering::SeqCst);
            })
        };
        f.wait(key, 1, 10);
        let first = f.watch(key, wake.clone());
        let second = f.watch(key, wake.clone());
        f.unwatch(key, second);
        assert_eq!(f.watches(), 1);
        assert_eq!(f.notify(key, 0), 0, "a notify of none wakes nothing");
        assert_eq!(f.notify(key, 1), 1, "the watch comes first");
        assert_eq!(f.waiters(), 1, "the guest still waits");
        for w in f.take_fired() {
            w();
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(f.notify(key, u32::MAX), 1, "fired once: now only the guest");
        assert!(f.take_fired().is_empty());
        f.unwatch(key, first);
        f.watch((2, 16), wake);
        assert_eq!(f.notify((2, 16), u32::MAX), 1);
        assert_eq!(f.watches(), 0);
    }
}
