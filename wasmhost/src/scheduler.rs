//! Run queues and timers.
//!
//! Two FIFO queues of pids: `woken` holds processes whose blocking
//! hostcall just completed, `ready` holds preempted and yielding ones.
//! Woken processes go first, so a guest answering a message or a timer
//! does so within one time slice even while many guests spin; to keep
//! spinners from starving, at most [`WOKEN_BURST`] woken processes run
//! in a row while `ready` is non-empty. Timers are a min-heap of
//! `(deadline, pid, token)`; a timer whose token no longer matches the
//! process's sleep is stale and ignored.
//!
//! The queues hold pids only; the manager checks each popped pid is still
//! ready (a process killed while queued is skipped).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::time::Instant;

use crate::Pid;

/// Most woken processes run in a row while preempted ones wait.
pub const WOKEN_BURST: u32 = 8;

/// Run queues and timers.
#[derive(Debug, Default)]
pub struct Scheduler {
    woken: VecDeque<Pid>,
    ready: VecDeque<Pid>,
    burst: u32,
    timers: BinaryHeap<Reverse<(Instant, Pid, u64)>>,
    next_token: u64,
}

impl Scheduler {
    /// Queues a process that was just woken from a blocking call.
    pub fn push_woken(&mut self, pid: Pid) {
        self.woken.push_back(pid);
    }

    /// Queues a process that was preempted, yielded or is new.
    pub fn push_ready(&mut self, pid: Pid) {
        self.ready.push_back(pid);
    }

    /// The next process to run.
    pub fn pop(&mut self) -> Option<Pid> {
        let take_woken = !self.woken.is_empty() && (self.ready.is_empty() || self.burst < WOKEN_BURST);
        if take_woken {
            self.burst += 1;
            self.woken.pop_front()
        } else {
            self.burst = 0;
            self.ready.pop_front()
        }
    }

    /// True when no process is queued.
    pub fn is_idle(&self) -> bool {
        self.woken.is_empty() && self.ready.is_empty()
    }

    /// Queued processes.
    pub fn queued(&self) -> usize {
        self.woken.len() + self.ready.len()
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
            s.push_ready(p);
        }
        for p in 10..30 {
            s.push_woken(p);
        }
        let order: Vec<Pid> = (0..12).filter_map(|_| s.pop()).collect();
        assert_eq!(&order[..8], &[10, 11, 12, 13, 14, 15, 16, 17]);
        assert_eq!(order[8], 1);
        assert_eq!(&order[9..], &[18, 19, 20]);
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
