//! A process's WASI state, kept in its store: its descriptors (made from
//! its grants on the first WASI call), the sockets it started with, its
//! environment, and the [`Finish`] of a call it is parked in — what
//! turns the native value the call resumes with into the WASI result.

use std::sync::Arc;

use super::fds::{Fd, FdTable, PreopenAlias};
use super::types::{event, WasiErrno, EVENT_SIZE};
use crate::guest_buf::GuestBuf;

/// A process's WASI state: its descriptors (made from its grants on the
/// first WASI call) and the finish of a parked call.
#[derive(Debug, Default)]
pub struct WasiState {
    pub(super) fds: Option<FdTable>,
    pub(super) finish: Option<Finish>,
    /// Its environment, `K=V` each.
    pub environ: Arc<[String]>,
    /// Handles of the sockets it started with (descriptors after the
    /// preopened directories).
    pub(super) sockets: Vec<u32>,
    /// Names for its preopens other than their paths.
    pub(super) aliases: Vec<PreopenAlias>,
}

impl WasiState {
    /// A state with `environ` and preopen `aliases`; descriptors come on
    /// first use.
    pub fn new(environ: Arc<[String]>, aliases: Vec<PreopenAlias>) -> WasiState {
        WasiState { fds: None, finish: None, environ, sockets: Vec::new(), aliases }
    }

    /// Takes the state out, leaving an empty one with the same environment
    /// (a reload moves it to the new instance, see `crate::reload`).
    pub(crate) fn take(&mut self) -> WasiState {
        let empty = WasiState::new(self.environ.clone(), Vec::new());
        std::mem::replace(self, empty)
    }

    /// Gives the process the socket `handle` as a descriptor.
    pub(crate) fn preopen_socket(&mut self, handle: u32) {
        self.sockets.push(handle);
    }
}

/// How a parked WASI call's native value becomes its result.
#[derive(Debug)]
pub(crate) enum Finish {
    /// 0 is success; `-errno` fails.
    Status,
    /// A byte count, written as a `u32`.
    Count(GuestBuf),
    /// A file offset, written as a `u64`.
    Offset(GuestBuf),
    /// A native handle: a new descriptor (`fd`, its handle filled in)
    /// whose number is written as a `u32`.
    NewFd { out: GuestBuf, fd: Fd },
    /// `poll_oneoff`'s events (`count` of them, encoded in `bytes`),
    /// written when the wait ends, and their count.
    Events { events: GuestBuf, bytes: Vec<u8>, count_out: GuestBuf, count: u32 },
    /// A `poll_oneoff` that waited: the events of what woke it (the
    /// value says what: see [`poll_events`]).
    Poll { subs: Vec<Subscription>, events: GuestBuf, count_out: GuestBuf },
}

/// One decoded subscription.
#[derive(Debug)]
pub(crate) struct Subscription {
    pub(super) userdata: u64,
    pub(super) kind: u8,
    /// When it is ready: now, after a time, or when a source is.
    pub(super) when: When,
    /// The error its event carries (`EBADF` for a descriptor that is not
    /// there, `ENOTCAPABLE` for a clock without `time`).
    pub(super) error: WasiErrno,
}

/// When a subscription is ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum When {
    /// Now (a file, a standard output, an error to report).
    Now,
    /// After this many nanoseconds (a clock).
    After(u64),
    /// When the wait's source with this index is (stdin, a socket).
    Source(usize),
}

impl Subscription {
    pub(super) fn event(&self) -> [u8; EVENT_SIZE] {
        event(self.userdata, self.error, self.kind, 0, false)
    }
}

/// The events of `subs` that a wake `value` makes ready (see
/// [`IoRequest::WaitReady`]: 0 the time limit, `k` the source `k - 1`).
pub(crate) fn poll_events(subs: &[Subscription], value: i64) -> (Vec<u8>, u32) {
    let soonest = subs.iter().filter_map(|s| if let When::After(t) = s.when { Some(t) } else { None }).min();
    let ready = |s: &&Subscription| match (s.when, value) {
        (When::After(t), 0) => Some(t) == soonest,
        (When::Source(i), v) => v == i as i64 + 1,
        _ => false,
    };
    let mut bytes = Vec::new();
    let mut count = 0;
    for s in subs.iter().filter(ready) {
        bytes.extend_from_slice(&s.event());
        count += 1;
    }
    (bytes, count)
}
