//! A process's standard input: a bounded pipe the embedder feeds and the
//! process reads (WASI descriptor 0).
//!
//! Feeders are `wasmd run`'s own stdin (a thread of its own copies it in
//! and may wait for room) and, in the daemon, writes to a `run/` file or
//! to `PID/stdin` (they take what fits and never wait: a write that finds
//! the pipe full is answered later). The pipe holds at most
//! [`STDIN_CAPACITY`] bytes. [`StdinPipe::close`] is the end of input:
//! reads then drain what is left and return end of file.
//!
//! A process whose read finds the pipe empty parks (only it: its worker
//! goes on with others) and leaves a waker, a one-shot callback that
//! hands its retry to the manager; the next feed or the close calls it.
//! Feeders take input only on demand ([`StdinPipe::wanted`],
//! [`StdinPipe::wait_for_demand`]): a guest that never reads its stdin
//! leaves the caller's input unread, as a native program would (a shell
//! loop feeding `wasmd run` line by line keeps its other lines).
//! The waker is taken under the pipe's lock together with the check for
//! data, so a feed that races with a reader going to sleep is never
//! missed. A process without a pipe reads end of file at once.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};

/// Most bytes a pipe holds.
pub const STDIN_CAPACITY: usize = 64 * 1024;

/// Wakes a parked reader (one-shot).
type Waker = Box<dyn FnOnce() + Send>;

#[derive(Default)]
struct Inner {
    data: VecDeque<u8>,
    closed: bool,
    reader: Option<Waker>,
}

/// A process's standard input (see the module docs).
#[derive(Default)]
pub struct StdinPipe {
    inner: Mutex<Inner>,
    room: Condvar,
    demand: Condvar,
}

impl std::fmt::Debug for StdinPipe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = self.lock();
        f.debug_struct("StdinPipe").field("queued", &inner.data.len()).field("closed", &inner.closed).finish()
    }
}

impl StdinPipe {
    /// An empty, open pipe.
    pub fn new() -> StdinPipe {
        StdinPipe::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds as much of `bytes` as fits; returns how much (0 when full or
    /// closed). Never waits.
    pub fn feed(&self, bytes: &[u8]) -> usize {
        let mut inner = self.lock();
        if inner.closed {
            return 0;
        }
        let n = bytes.len().min(STDIN_CAPACITY - inner.data.len());
        inner.data.extend(&bytes[..n]);
        let reader = if n > 0 { inner.reader.take() } else { None };
        drop(inner);
        if let Some(wake) = reader {
            wake();
        }
        n
    }

    /// Adds all of `bytes`, waiting for room as the process reads (for a
    /// feeder thread of its own). Returns false if the pipe was closed
    /// first.
    pub fn feed_all(&self, mut bytes: &[u8]) -> bool {
        while !bytes.is_empty() {
            let n = self.feed(bytes);
            bytes = &bytes[n..];
            if n == 0 {
                let inner = self.lock();
                if inner.closed {
                    return false;
                }
                if inner.data.len() >= STDIN_CAPACITY {
                    drop(self.room.wait_while(inner, |i| i.data.len() >= STDIN_CAPACITY && !i.closed));
                }
            }
        }
        true
    }

    /// Bytes that fit now.
    pub fn room(&self) -> usize {
        let inner = self.lock();
        if inner.closed {
            0
        } else {
            STDIN_CAPACITY - inner.data.len()
        }
    }

    /// True when a read would not wait: data is queued or the input
    /// ended.
    pub fn readable(&self) -> bool {
        let inner = self.lock();
        !inner.data.is_empty() || inner.closed
    }

    /// True when the process waits for input the pipe does not hold.
    pub fn wanted(&self) -> bool {
        let inner = self.lock();
        inner.reader.is_some() && inner.data.is_empty() && !inner.closed
    }

    /// Waits until the process wants input (true) or the input ended
    /// (false): for a feeder that must not read its own source before the
    /// process asks.
    pub fn wait_for_demand(&self) -> bool {
        let inner = self.lock();
        let inner = self
            .demand
            .wait_while(inner, |i| !(i.closed || i.reader.is_some() && i.data.is_empty()))
            .unwrap_or_else(|e| e.into_inner());
        !inner.closed
    }

    /// True once the input has ended.
    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// The end of input: what is queued is still read, then end of file.
    pub fn close(&self) {
        let mut inner = self.lock();
        inner.closed = true;
        let reader = inner.reader.take();
        drop(inner);
        self.room.notify_all();
        self.demand.notify_all();
        if let Some(wake) = reader {
            wake();
        }
    }

    /// Up to `len` bytes: `Some` with data, or empty at end of input;
    /// `None` when the reader must wait.
    pub(crate) fn take(&self, len: usize) -> Option<Vec<u8>> {
        let mut inner = self.lock();
        if inner.data.is_empty() {
            return inner.closed.then(Vec::new);
        }
        let n = len.min(inner.data.len());
        let out: Vec<u8> = inner.data.drain(..n).collect();
        drop(inner);
        self.room.notify_all();
        Some(out)
    }

    /// Leaves `wake` to be called once data or the end of input comes
    /// (at once, if it already has).
    pub(crate) fn wait(&self, wake: Waker) {
        let mut inner = self.lock();
        if !inner.data.is_empty() || inner.closed {
            drop(inner);
            wake();
        } else {
            inner.reader = Some(wake);
            drop(inner);
            self.demand.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[test]
    fn bounded_fed_drained_and_closed() {
        let pipe = StdinPipe::new();
        assert_eq!(pipe.take(10), None, "empty and open: wait");
        assert_eq!(pipe.feed(&vec![1; STDIN_CAPACITY + 5]), STDIN_CAPACITY, "bounded");
        assert_eq!(pipe.feed(b"x"), 0);
        assert_eq!(pipe.take(3), Some(vec![1, 1, 1]));
        assert_eq!(pipe.room(), 3);
        pipe.close();
        assert_eq!(pipe.feed(b"late"), 0, "nothing after the end");
        assert_eq!(pipe.take(usize::MAX).map(|d| d.len()), Some(STDIN_CAPACITY - 3), "drained after close");
        assert_eq!(pipe.take(10), Some(Vec::new()), "then end of file");
    }

    #[test]
    fn a_waiting_reader_is_woken_once_by_a_feed_or_the_close() {
        let pipe = StdinPipe::new();
        let woken = Arc::new(AtomicUsize::new(0));
        let w = woken.clone();
        pipe.wait(Box::new(move || {
            w.fetch_add(1, Ordering::SeqCst);
        }));
        assert_eq!(woken.load(Ordering::SeqCst), 0);
        pipe.feed(b"a");
        pipe.feed(b"b");
        assert_eq!(woken.load(Ordering::SeqCst), 1, "one-shot");
        let w = woken.clone();
        pipe.wait(Box::new(move || {
            w.fetch_add(1, Ordering::SeqCst);
        }));
        assert_eq!(woken.load(Ordering::SeqCst), 2, "data already there: at once");
        pipe.take(10);
        let w = woken.clone();
        pipe.wait(Box::new(move || {
            w.fetch_add(1, Ordering::SeqCst);
        }));
        pipe.close();
        assert_eq!(woken.load(Ordering::SeqCst), 3, "the close wakes");
    }

    #[test]
    fn input_is_wanted_only_by_a_waiting_reader_of_an_empty_pipe() {
        let pipe = Arc::new(StdinPipe::new());
        assert!(!pipe.wanted(), "nobody reads yet");
        let feeder = {
            let pipe = pipe.clone();
            std::thread::spawn(move || pipe.wait_for_demand())
        };
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(!feeder.is_finished(), "the feeder waits for a reader");
        pipe.wait(Box::new(|| {}));
        assert!(pipe.wanted());
        assert!(feeder.join().unwrap(), "demand, not the end");
        pipe.feed(b"x");
        assert!(!pipe.wanted(), "fed");
        let late = {
            let pipe = pipe.clone();
            std::thread::spawn(move || pipe.wait_for_demand())
        };
        pipe.close();
        assert!(!late.join().unwrap(), "the end of input ends the wait");
    }

    #[test]
    fn a_feeder_waits_for_room_as_the_reader_drains() {
        let pipe = Arc::new(StdinPipe::new());
        let feeder = {
            let pipe = pipe.clone();
            std::thread::spawn(move || pipe.feed_all(&vec![7; 3 * STDIN_CAPACITY]))
        };
        let mut got = 0;
        while got < 3 * STDIN_CAPACITY {
            got += pipe.take(4096).map_or(0, |d| d.len());
        }
        assert!(feeder.join().unwrap());
        assert_eq!(got, 3 * STDIN_CAPACITY);
    }
}
