//! What a process has done: hostcalls made, bytes read and written, CPU
//! time, handles held.
//!
//! Hostcalls bump [`Counters`] in the process's own store data (a plain
//! cell each: a hostcall runs on the thread that holds the store, so no
//! atomic is needed on that hot path). The manager publishes them into
//! the record as an [`Activity`] snapshot whenever it accounts a running
//! turn's fuel (each syscall and the turn's end) and adds the turn's CPU
//! time; a parked process's numbers are read from its store directly.

use std::cell::Cell;

/// Counters kept in a process's store data.
#[derive(Debug, Default)]
pub struct Counters {
    hostcalls: Cell<u64>,
    bytes_in: Cell<u64>,
    bytes_out: Cell<u64>,
}

impl Counters {
    /// One more hostcall.
    #[inline]
    pub fn hostcall(&self) {
        self.hostcalls.set(self.hostcalls.get().wrapping_add(1));
    }

    /// `n` bytes came in (files, sockets).
    #[inline]
    pub fn read(&self, n: u64) {
        self.bytes_in.set(self.bytes_in.get().saturating_add(n));
    }

    /// `n` bytes went out (stdout, stderr, files, sockets).
    #[inline]
    pub fn wrote(&self, n: u64) {
        self.bytes_out.set(self.bytes_out.get().saturating_add(n));
    }

    /// The counts now, into `activity` (its CPU time and handles are the
    /// caller's to fill).
    pub fn publish(&self, activity: &mut Activity) {
        activity.hostcalls = self.hostcalls.get();
        activity.bytes_in = self.bytes_in.get();
        activity.bytes_out = self.bytes_out.get();
    }
}

/// A process's activity, as `ps` and `PID/status` show it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Activity {
    /// Hostcalls made.
    pub hostcalls: u64,
    /// Bytes read from files and sockets.
    pub bytes_in: u64,
    /// Bytes written to stdout, stderr, files and sockets.
    pub bytes_out: u64,
    /// Time spent running its turns (wasm and the hostcalls in them).
    pub cpu_ns: u64,
    /// Handles held.
    pub handles: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_published() {
        let c = Counters::default();
        c.hostcall();
        c.hostcall();
        c.read(10);
        c.wrote(7);
        c.wrote(u64::MAX);
        let mut a = Activity { cpu_ns: 5, ..Activity::default() };
        c.publish(&mut a);
        assert_eq!(a, Activity { hostcalls: 2, bytes_in: 10, bytes_out: u64::MAX, cpu_ns: 5, handles: 0 });
    }
}
