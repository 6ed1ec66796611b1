//! Wait queues for `region_wait`/`region_notify` (futex-like).
//!
//! A waiter is keyed by `(region id, offset)`. `region_wait` checks the
//! value in the guest's hostcall, then the manager parks the process and
//! queues it here with a token. `region_notify` runs inside the notifying
//! guest's hostcall: it moves up to `count` waiters to the `woken` list
//! and returns at once; the manager wakes them after the turn. A waiter
//! that timed out or died is removed by the manager; a stale token is
//! ignored.

use std::collections::{HashMap, VecDeque};

use crate::Pid;

/// A wait-queue key: region id and byte offset.
pub type FutexKey = (u64, u64);

/// All wait queues, and the waiters notified but not yet woken.
#[derive(Debug, Default)]
pub struct FutexTable {
    queues: HashMap<FutexKey, VecDeque<(Pid, u64)>>,
    woken: Vec<(Pid, u64)>,
}

impl FutexTable {
    /// Queues a parked waiter.
    pub fn wait(&mut self, key: FutexKey, pid: Pid, token: u64) {
        self.queues.entry(key).or_default().push_back((pid, token));
    }

    /// Moves up to `count` waiters of `key` to the woken list; returns how
    /// many.
    pub fn notify(&mut self, key: FutexKey, count: u32) -> u32 {
        let Some(queue) = self.queues.get_mut(&key) else { return 0 };
        let n = (count as usize).min(queue.len());
        self.woken.extend(queue.drain(..n));
        if queue.is_empty() {
            self.queues.remove(&key);
        }
        n as u32
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
