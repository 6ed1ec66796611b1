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
use wasmhost::Owner;

use crate::cluster::BridgeNews;

use super::{Daemon, Poll, Token};

/// The tokens of the daemon's requests on guests' bridge files.
pub const BRIDGE_TOKENS: Token = 1 << 62;

/// Guests' bridges: the daemon's requests on their files.
#[derive(Debug, Default)]
pub(crate) struct GuestBridges {
    /// Request token → the bridge file and, while it is set up, the
    /// guest's call (`None`: waiting for the end of the stream).
    waiting: HashMap<Token, (u64, Option<u64>)>,
    next: u64,
}

impl GuestBridges {
    fn token(&mut self) -> Token {
        self.next += 1;
        BRIDGE_TOKENS | self.next
    }
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
    pub(super) fn bridge_for_guest(&mut self, token: u64, owner: Owner, region: u64, node: &str, chan: u64) {
        let id = match self.open("bridge", flags::O_RDWR, owner) {
            Ok(id) => id,
            Err(e) => return self.kernel.lock().remote_bridged(token, Err(e)),
        };
        let request = self.guest_bridges.token();
        let line = format!("{region} {node}/{chan}");
        match self.write(id, 0, line.as_bytes(), false, request) {
            Poll::Ready(Ok(_)) => self.guest_bridge_attached(id, token),
            Poll::Ready(Err(e)) => {
                self.close(id);
                self.kernel.lock().remote_bridged(token, Err(e));
            }
            Poll::Pending => {
                self.guest_bridges.waiting.insert(request, (id, Some(token)));
            }
        }
    }

    /// The guest's bridge of file `id` holds both channels: the guest is
    /// answered, and the file stays open until the stream ended.
    fn guest_bridge_attached(&mut self, id: u64, token: u64) {
        self.kernel.lock().remote_bridged(token, Ok(()));
        let request = self.guest_bridges.token();
        match self.read(id, 0, 64, false, request) {
            Poll::Pending => {
                self.guest_bridges.waiting.insert(request, (id, None));
            }
            Poll::Ready(_) => self.close(id),
        }
    }

    /// Takes the completions of guests' bridge files.
    pub(super) fn answer_guest_bridges(&mut self) {
        if self.guest_bridges.waiting.is_empty() {
            return;
        }
        let (mine, theirs): (Vec<_>, Vec<_>) = std::mem::take(&mut self.completions)
            .into_iter()
            .partition(|c| c.token & BRIDGE_TOKENS != 0 && self.guest_bridges.waiting.contains_key(&c.token));
        self.completions = theirs;
        for c in mine {
            match self.guest_bridges.waiting.remove(&c.token) {
                Some((id, Some(token))) => match c.result {
                    Ok(_) => self.guest_bridge_attached(id, token),
                    Err(e) => {
                        self.close(id);
                        self.kernel.lock().remote_bridged(token, Err(e));
                    }
                },
                Some((id, None)) => self.close(id),
                None => {}
            }
        }
    }
}
