//! Bounded stdout/stderr logs.
//!
//! Each process has a [`ProcessLog`]: one [`LogRing`] per stream. A ring
//! keeps the newest `capacity` bytes and counts every byte ever written, so
//! a reader holding an absolute offset can follow the stream while the
//! process runs and after it exits, and learns how many bytes it missed
//! when it fell behind. The bytes a ring keeps are reserved from the
//! daemon's memory budget as it fills (a ring whose growth is refused
//! keeps fewer bytes: output is never refused) and given back when it
//! shrinks or goes.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::limits::Account;

/// Default bytes kept per stream.
pub const DEFAULT_LOG_CAPACITY: usize = 64 * 1024;

/// The newest bytes of one stream.
#[derive(Debug)]
pub struct LogRing {
    bytes: VecDeque<u8>,
    capacity: usize,
    /// Bytes ever written; the ring holds `total - len .. total`.
    total: u64,
    /// Where its bytes are reserved, and how many are.
    budget: Option<Arc<Account>>,
    charged: usize,
}

/// What [`LogRing::read_from`] returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRead {
    /// The bytes from the requested offset (or the oldest kept) on.
    pub bytes: Vec<u8>,
    /// Offset to ask for next time.
    pub next: u64,
    /// Bytes between the requested offset and the oldest kept byte.
    pub lost: u64,
}

impl LogRing {
    /// An empty ring keeping at most `capacity` bytes (none reserved
    /// from any budget).
    pub fn new(capacity: usize) -> Self {
        Self { bytes: VecDeque::new(), capacity, total: 0, budget: None, charged: 0 }
    }

    /// An empty ring keeping at most `capacity` bytes, reserved from
    /// `budget` as it fills.
    pub fn with_budget(capacity: usize, budget: Arc<Account>) -> Self {
        Self { bytes: VecDeque::new(), capacity, total: 0, budget: Some(budget), charged: 0 }
    }

    /// Appends bytes, dropping the oldest beyond capacity (or beyond what
    /// the budget grants).
    pub fn push(&mut self, data: &[u8]) {
        self.total += data.len() as u64;
        let wanted = (self.bytes.len() + data.len()).min(self.capacity);
        if wanted > self.charged {
            let more = wanted - self.charged;
            self.charged += match &self.budget {
                Some(budget) => budget.reserve_up_to(more as u64) as usize,
                None => more,
            };
        }
        let room = self.charged;
        let data = if data.len() > room { &data[data.len() - room..] } else { data };
        let overflow = (self.bytes.len() + data.len()).saturating_sub(room);
        self.bytes.drain(..overflow);
        self.bytes.extend(data);
    }

    /// Keeps only the newest `capacity` bytes from now on.
    pub fn shrink(&mut self, capacity: usize) {
        let overflow = self.bytes.len().saturating_sub(capacity);
        self.bytes.drain(..overflow);
        self.bytes.shrink_to_fit();
        self.capacity = capacity;
        let keep = self.bytes.len();
        if let Some(budget) = &self.budget {
            budget.release(self.charged.saturating_sub(keep) as u64);
        }
        self.charged = keep;
    }

    /// Bytes ever written.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Everything still kept.
    pub fn contents(&self) -> Vec<u8> {
        self.bytes.iter().copied().collect()
    }

    /// Reads from absolute offset `from` (at most `max` bytes).
    pub fn read_from(&self, from: u64, max: usize) -> LogRead {
        let oldest = self.total - self.bytes.len() as u64;
        let start = from.max(oldest).min(self.total);
        let lost = start - from.min(start);
        let skip = (start - oldest) as usize;
        let bytes: Vec<u8> = self.bytes.iter().skip(skip).take(max).copied().collect();
        let next = start + bytes.len() as u64;
        LogRead { bytes, next, lost }
    }
}

impl Drop for LogRing {
    fn drop(&mut self) {
        if let Some(budget) = &self.budget {
            budget.release(self.charged as u64);
        }
    }
}

/// The two log streams of a process.
#[derive(Debug)]
pub struct ProcessLog {
    /// Standard output.
    pub stdout: LogRing,
    /// Standard error.
    pub stderr: LogRing,
}

impl ProcessLog {
    /// Empty logs of the given capacity per stream.
    pub fn new(capacity: usize) -> Self {
        Self { stdout: LogRing::new(capacity), stderr: LogRing::new(capacity) }
    }

    /// Empty logs of the given capacity per stream, reserved from
    /// `budget` as they fill.
    pub fn with_budget(capacity: usize, budget: &Arc<Account>) -> Self {
        Self {
            stdout: LogRing::with_budget(capacity, budget.clone()),
            stderr: LogRing::with_budget(capacity, budget.clone()),
        }
    }

    /// Bytes written to both streams so far.
    pub fn total(&self) -> u64 {
        self.stdout.total() + self.stderr.total()
    }

    /// Keeps only the last `capacity` bytes of each stream.
    pub fn shrink(&mut self, capacity: usize) {
        self.stdout.shrink(capacity);
        self.stderr.shrink(capacity);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_newest_and_counts_loss() {
        let mut r = LogRing::new(4);
        r.push(b"ab");
        r.push(b"cdef");
        assert_eq!(r.contents(), b"cdef");
        assert_eq!(r.total(), 6);
        let read = r.read_from(0, 100);
        assert_eq!(read, LogRead { bytes: b"cdef".to_vec(), next: 6, lost: 2 });
        let read = r.read_from(5, 100);
        assert_eq!(read.bytes, b"f");
        assert_eq!(read.lost, 0);
        assert_eq!(r.read_from(6, 100).bytes, b"");
        r.push(b"0123456789");
        assert_eq!(r.contents(), b"6789");
        assert_eq!(r.read_from(6, 2), LogRead { bytes: b"67".to_vec(), next: 14, lost: 6 });
    }

    #[test]
    fn rings_reserve_what_they_keep_and_give_it_back() {
        let budget = Arc::new(crate::limits::MemoryBudget::new(10));
        let mut a = LogRing::with_budget(8, budget.account(0));
        a.push(b"123456");
        assert_eq!(budget.used(), 6);
        let mut b = LogRing::with_budget(8, budget.account(0));
        b.push(b"abcdefgh");
        // Only 4 bytes were left: b keeps its newest 4.
        assert_eq!(b.contents(), b"efgh");
        assert_eq!(b.total(), 8);
        assert_eq!(budget.used(), 10);
        a.shrink(2);
        assert_eq!(a.contents(), b"56");
        assert_eq!(budget.used(), 6);
        drop(a);
        drop(b);
        assert_eq!(budget.used(), 0);
    }
}
