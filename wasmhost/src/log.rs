//! Bounded stdout/stderr logs.
//!
//! Each process has a [`ProcessLog`]: one [`LogRing`] per stream. A ring
//! keeps the newest `capacity` bytes and counts every byte ever written, so
//! a reader holding an absolute offset can follow the stream while the
//! process runs and after it exits, and learns how many bytes it missed
//! when it fell behind.

use std::collections::VecDeque;

/// Default bytes kept per stream.
pub const DEFAULT_LOG_CAPACITY: usize = 64 * 1024;

/// The newest bytes of one stream.
#[derive(Debug, Clone)]
pub struct LogRing {
    bytes: VecDeque<u8>,
    capacity: usize,
    /// Bytes ever written; the ring holds `total - len .. total`.
    total: u64,
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
    /// An empty ring keeping at most `capacity` bytes.
    pub fn new(capacity: usize) -> Self {
        Self { bytes: VecDeque::new(), capacity, total: 0 }
    }

    /// Appends bytes, dropping the oldest beyond capacity.
    pub fn push(&mut self, data: &[u8]) {
        self.total += data.len() as u64;
        let data = if data.len() > self.capacity { &data[data.len() - self.capacity..] } else { data };
        let overflow = (self.bytes.len() + data.len()).saturating_sub(self.capacity);
        self.bytes.drain(..overflow);
        self.bytes.extend(data);
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

/// The two log streams of a process.
#[derive(Debug, Clone)]
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
}
