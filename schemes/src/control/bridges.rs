//! Channel bridges, the daemon's side (see `nodes::bridge` for what a
//! bridge is): this node's `bridge` files are pumped at each step, and
//! the frames other nodes' bridges send are written into the channel
//! files opened here for them, in order.
//!
//! A frame whose channel here is full (a `Park` channel) waits in its
//! file's backlog, tried again at each step; the frames written (or
//! dropped by a `Drop` channel) are granted back to the sender as credit
//! after the step, one notice per file. A sender keeps within its
//! credit, so a backlog holds at most [`MAX_BACKLOG`] frames; frames
//! beyond it, and frames for a file that is not that node's, are
//! dropped and logged (a peer that ignores credit loses frames, nobody
//! else does).

use std::collections::{HashMap, VecDeque};

use crate::cluster::wire::{Frame, Notice};

use super::nodes::bridge::WINDOW;
use super::{Daemon, Poll};

/// Most frames waiting for room in one bridged channel file.
pub const MAX_BACKLOG: usize = 2 * WINDOW as usize;

/// Frames of other nodes' bridges not yet written, and credit not yet
/// granted.
#[derive(Debug, Default)]
pub(crate) struct Arrivals {
    /// Waiting frames, by the file they go to.
    backlog: HashMap<u64, VecDeque<Frame>>,
    /// Frames taken since the last grant: (node, file) → count.
    taken: HashMap<(String, u64), u32>,
}

impl Daemon {
    /// Moves what this node's bridges can move now.
    pub(super) fn pump_bridges(&mut self) {
        let ids: Vec<u64> = self.bridges.iter().copied().collect();
        for id in ids {
            if let Some((open, mut cx)) = self.file_mut(id) {
                open.file.pump(&mut cx);
            }
        }
    }

    /// Credit another node granted to one of this node's bridges.
    pub(super) fn take_credit(&mut self, from: &str, handle: u64, frames: u32) {
        for id in self.bridges.clone() {
            if let Some(open) = self.files.get_mut(&id) {
                open.file.credit(from, handle, frames);
            }
        }
    }

    /// A frame of another node's bridge.
    pub(super) fn take_frame(&mut self, frame: Frame) {
        if !self.remote.is_theirs(frame.handle, &frame.from) {
            log::info!(
                "node {}: a bridged frame for file {}, which is not its own, dropped",
                frame.from,
                frame.handle
            );
            return;
        }
        let waiting = self.bridged.backlog.entry(frame.handle).or_default();
        if waiting.len() >= MAX_BACKLOG {
            log::warn!("node {}: bridged frames beyond its credit dropped", frame.from);
            return;
        }
        waiting.push_back(frame);
    }

    /// Writes the waiting frames that fit now, and grants their credit.
    pub(super) fn write_bridged(&mut self) {
        let handles: Vec<u64> = self.bridged.backlog.keys().copied().collect();
        for handle in handles {
            let Some(mut waiting) = self.bridged.backlog.remove(&handle) else { continue };
            while let Some(frame) = waiting.front() {
                let Some(open) = self.files.get_mut(&handle) else {
                    waiting.clear();
                    break;
                };
                if frame.end {
                    open.file.bridged_end();
                    let from = frame.from.clone();
                    waiting.clear();
                    // Its stream ended: the file is closed for it.
                    self.remote.forget_file(handle, &from);
                    self.close(handle);
                    break;
                }
                match open.file.bridged_write(frame.writer, &frame.data) {
                    Poll::Pending => break,
                    Poll::Ready(result) => {
                        if let Err(e) = result {
                            log::info!("node {}: a bridged frame refused here: {e}", frame.from);
                        }
                        *self.bridged.taken.entry((frame.from.clone(), handle)).or_default() += 1;
                        waiting.pop_front();
                    }
                }
            }
            if !waiting.is_empty() {
                self.bridged.backlog.insert(handle, waiting);
            }
        }
        let Some(cluster) = self.cluster.as_ref() else { return };
        for ((node, handle), frames) in self.bridged.taken.drain() {
            cluster.notify(&node, Notice::Credit { handle, frames });
        }
    }
}
