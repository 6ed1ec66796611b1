//! Channel bridges, the daemon's side (see `nodes::bridge` for what a
//! bridge is, and [`crate::cluster::bridge`] for its two ends, both in
//! the cluster link): news of this node's bridges go to their `bridge`
//! files; a channel file opened for another node to write is offered to
//! the link for that node's bridges (their frames go straight into the
//! channel), and withdrawn when it closes.
//!
//! A guest's `chan_bridge` ([`wasmhost::RemoteOp::Bridge`]) is a `bridge`
//! file the daemon opens for the guest's owner ([`GuestBridges`]): its
//! write (answered once the other node opened its channel) answers the
//! guest, and a read waiting for the end of the stream keeps it open
//! until then. Both are the daemon's own requests, under tokens with
//! [`BRIDGE_TOKENS`] set.

use std::collections::HashMap;

use wasmd_abi::scheme::flags;
use wasmd_abi::Errno;
use wasmhost::{Owner, Pid};

use crate::cluster::BridgeNews;

use super::{Daemon, Poll, Token};

/// The tokens of the daemon's requests on guests' bridge files.
pub const BRIDGE_TOKENS: Token = 1 << 62;
/// Guests' bridges alive at a time, all guests together.
pub const MAX_GUEST_BRIDGES: usize = 1024;
/// Guests' bridges alive at a time that one process made.
pub const MAX_BRIDGES_PER_PROCESS: usize = 64;

/// Guests' bridges: the daemon's requests on their files.
#[derive(Debug, Default)]
pub(crate) struct GuestBridges {
    /// Request token → the bridge, and, while it is set up, the guest's
    /// call (`None`: waiting for the end of the stream).
    waiting: HashMap<Token, (GuestBridge, Option<u64>)>,
    /// Bridges alive by the process that made them.
    of: HashMap<Pid, usize>,
    next: u64,
}

/// A guest's bridge: its file, and the process that made it.
#[derive(Debug, Clone, Copy)]
struct GuestBridge {
    file: u64,
    by: Pid,
}

impl GuestBridges {
    fn token(&mut self) -> Token {
        self.next += 1;
        BRIDGE_TOKENS | self.next
    }

    /// Room for one more bridge of `by`, counted if so.
    fn admit(&mut self, by: Pid) -> bool {
        let mine = self.of.get(&by).copied().unwrap_or(0);
        if self.waiting.len() >= MAX_GUEST_BRIDGES || mine >= MAX_BRIDGES_PER_PROCESS {
            return false;
        }
        self.of.insert(by, mine + 1);
        true
    }

    /// A bridge of `by` ended.
    fn release(&mut self, by: Pid) {
        if let Some(n) = self.of.get_mut(&by) {
            *n -= 1;
            if *n == 0 {
                self.of.remove(&by);
            }
        }
    }
}

/// A guest's `chan_bridge` call, as the process manager asked it.
#[derive(Debug, Clone, Copy)]
pub(super) struct GuestBridgeCall {
    /// The call's token.
    pub token: u64,
    /// The guest.
    pub by: Pid,
    /// Whom it acts for.
    pub owner: Owner,
    /// Its channel's region here.
    pub region: u64,
    /// The channel there.
    pub chan: u64,
}

impl Daemon {
    /// News of the bridge of file `id`.
    pub(super) fn bridge_news(&mut self, id: u64, news: BridgeNews) {
        if let Some((open, mut cx)) = self.file_mut(id) {
            open.file.bridge_news(&mut cx, news);
        }
    }

    /// File `id` was opened for node `from`: if it is a channel opened
    /// for writing, that node's bridges may write into it.
    pub(super) fn offer_frames(&mut self, from: &str, id: u64) {
        let ring = self.files.get(&id).and_then(|open| open.file.frames_into());
        if let (Some(ring), Some(cluster)) = (ring, &self.cluster) {
            cluster.accept_frames(from, id, ring, self.kernel.lock().region_watcher());
        }
    }

    /// Closes file `id` of node `from` (the link drops its frames).
    pub(super) fn close_theirs(&mut self, from: &str, id: u64) {
        if let Some(cluster) = &self.cluster {
            cluster.refuse_frames(from, id);
        }
        self.remote.forget_file(id, from);
        self.close(id);
    }

    /// A guest's `chan_bridge` (its call `token`, for `owner`): channel
    /// `region` here into `chan` of `node`.
    /// (At most [`MAX_GUEST_BRIDGES`] at a time, [`MAX_BRIDGES_PER_PROCESS`]
    /// of one process: beyond, `EBUSY`.)
    pub(super) fn bridge_for_guest(&mut self, call: GuestBridgeCall, node: &str) {
        let GuestBridgeCall { token, by, owner, region, chan } = call;
        if !self.guest_bridges.admit(by) {
            return self.kernel.lock().remote_bridged(token, Err(Errno::Busy));
        }
        let id = match self.open("bridge", flags::O_RDWR, owner) {
            Ok(id) => id,
            Err(e) => {
                self.guest_bridges.release(by);
                return self.kernel.lock().remote_bridged(token, Err(e));
            }
        };
        let bridge = GuestBridge { file: id, by };
        let request = self.guest_bridges.token();
        let line = format!("{region} {node}/{chan}");
        match self.write(id, 0, line.as_bytes(), false, request) {
            Poll::Ready(Ok(_)) => self.guest_bridge_attached(bridge, token),
            Poll::Ready(Err(e)) => self.guest_bridge_failed(bridge, token, e),
            Poll::Pending => {
                self.guest_bridges.waiting.insert(request, (bridge, Some(token)));
            }
        }
    }

    /// The guest's bridge could not be made: the guest is told why.
    fn guest_bridge_failed(&mut self, bridge: GuestBridge, token: u64, e: Errno) {
        self.guest_bridge_ended(bridge);
        self.kernel.lock().remote_bridged(token, Err(e));
    }

    /// The guest's bridge is over: its file closes.
    fn guest_bridge_ended(&mut self, bridge: GuestBridge) {
        self.close(bridge.file);
        self.guest_bridges.release(bridge.by);
    }

    /// The guest's bridge holds both channels: the guest is answered,
    /// and the file stays open until the stream ended.
    fn guest_bridge_attached(&mut self, bridge: GuestBridge, token: u64) {
        self.kernel.lock().remote_bridged(token, Ok(()));
        let request = self.guest_bridges.token();
        match self.read(bridge.file, 0, 64, false, request) {
            Poll::Pending => {
                self.guest_bridges.waiting.insert(request, (bridge, None));
            }
            Poll::Ready(_) => self.guest_bridge_ended(bridge),
        }
    }

    /// The guest `by` ended: its bridges end once they sent what their
    /// channels hold now (one still being set up ends at once).
    pub(super) fn end_guest_bridges(&mut self, by: Pid) {
        if !self.guest_bridges.of.contains_key(&by) {
            return;
        }
        let theirs: Vec<(Token, bool)> = self
            .guest_bridges
            .waiting
            .iter()
            .filter(|(_, (b, _))| b.by == by)
            .map(|(t, (_, call))| (*t, call.is_some()))
            .collect();
        for (token, setting_up) in theirs {
            if !setting_up {
                let file = self.guest_bridges.waiting.get(&token).map(|(b, _)| b.file);
                if let (Some(file), Some(cluster)) = (file, &self.cluster) {
                    cluster.drain_bridge(file);
                }
                continue;
            }
            if let Some((bridge, call)) = self.guest_bridges.waiting.remove(&token) {
                self.cancel(token);
                if let Some(call) = call {
                    self.kernel.lock().remote_bridged(call, Err(Errno::Canceled));
                }
                self.guest_bridge_ended(bridge);
            }
        }
    }

    /// Takes the completions of guests' bridge files (those of requests
    /// no longer wanted are dropped).
    pub(super) fn answer_guest_bridges(&mut self) {
        if !self.completions.iter().any(|c| c.token & BRIDGE_TOKENS != 0) {
            return;
        }
        let (mine, theirs): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.completions).into_iter().partition(|c| c.token & BRIDGE_TOKENS != 0);
        self.completions = theirs;
        for c in mine {
            match self.guest_bridges.waiting.remove(&c.token) {
                Some((bridge, Some(token))) => match c.result {
                    Ok(_) => self.guest_bridge_attached(bridge, token),
                    Err(e) => self.guest_bridge_failed(bridge, token, e),
                },
                Some((bridge, None)) => self.guest_bridge_ended(bridge),
                None => {}
            }
        }
    }
}
