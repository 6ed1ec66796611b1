//! Channel bridges in the link thread: frames move between channels here
//! and NATS without the thread that serves the control tree.
//!
//! A bridge (the control tree's `bridge` file sets it up, see
//! `crate::control`) has two ends, one per node:
//!
//! - `Outbound`, on the node of the channel read: a strong reader of
//!   that channel, made here in the link thread over a
//!   `HostRing::watched_by` ring. With nothing to read, the reader flags
//!   the channel as read-waited (as a guest reader does) and its wait
//!   becomes a watch: the writer's notify calls back into
//!   `Ready`, which wakes the link's loop, which reads and publishes.
//!   So a frame goes from the writing guest's thread to the link thread
//!   to NATS, one thread wake-up.
//! - `Inbound`, on the node of the channel written: the frames of one
//!   bridge, written by the link thread into the channel file the other
//!   node opened there, each writer of that node with a strong writer of
//!   its own (so frames keep their writer and order); the write wakes the
//!   reading guest directly.
//!
//! **Park** is bounded credit: an outbound end has at most [`WINDOW`]
//! frames in flight; the inbound end grants them back
//! ([`Notice::Credit`]) in batches of [`CREDIT_BATCH`] as its channel
//! takes them. A frame that does not fit a full `Park` channel waits in
//! the inbound end's backlog (at most [`MAX_BACKLOG`], which a sender
//! keeping to its credit never passes) while the end waits for room as a
//! parked writer does: counted among the channel's waiting writers, with
//! a watch on its space sequence, so the reader that frees room wakes
//! the link. **Drop**: a full `Drop` channel drops the frame (and grants
//! its credit). The end of the stream crosses after the last frame; the
//! writers there close.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use wasmd_abi::Errno;
use wasmd_channel::{Channel, ChannelError, Reader, ReaderKind, RoomWait, Sent, Start, Writer, WriterKind};
use wasmhost::{NativeWake, RegionWatcher};

use super::wire::{self, Frame, Notice, NoticeEnvelope};
use crate::ring::{channel_errno, HostRing};

/// Frames a bridge has in flight at most.
pub const WINDOW: u32 = 64;
/// Frames taken into a channel before their credit is granted back.
pub const CREDIT_BATCH: u32 = WINDOW / 4;
/// Most frames waiting for room in one bridged channel.
pub const MAX_BACKLOG: usize = 2 * WINDOW as usize;
/// Writers of another node's channel one bridged channel keeps apart
/// (later ones share the last).
pub const MAX_BRIDGED_WRITERS: usize = 64;
/// How soon an outbound end that found a writer mid-frame (who will not
/// wake it) looks again.
pub const MID_FRAME_RETRY: Duration = Duration::from_millis(1);
/// The ids of inbound ends (in `Ready`) have this bit; outbound ends'
/// are their `bridge` files' ids.
const INBOUND: u64 = 1 << 63;

/// What an outbound end tells the daemon.
#[derive(Debug)]
pub(crate) enum BridgeNews {
    /// Its reader is made: the daemon's own (which held the channel's
    /// writers back until now) may go.
    Attached,
    /// It ended: the frames sent, when the stream ended; else why not.
    Ended(Result<u64, (Errno, String)>),
}

/// The outbound ends woken by their channels' writers, and the wake-up of
/// the link's loop.
#[derive(Default)]
pub(crate) struct Ready {
    ids: Mutex<Vec<u64>>,
    pub(crate) notify: tokio::sync::Notify,
}

impl Ready {
    fn take(&self) -> Vec<u64> {
        std::mem::take(&mut *self.ids.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// The callback of bridge `id`'s watch.
    fn wake_for(self: &Arc<Self>, id: u64) -> NativeWake {
        let ready = self.clone();
        Arc::new(move || {
            ready.ids.lock().unwrap_or_else(|e| e.into_inner()).push(id);
            ready.notify.notify_one();
        })
    }
}

/// The reading end of a bridge of this node.
struct Outbound {
    node: String,
    /// `node`'s frames subject.
    subject: async_nats::Subject,
    handle: u64,
    ring: HostRing,
    reader: Reader<HostRing>,
    in_flight: u32,
    sent: u64,
    /// It ends once nothing more is published (its guest ended).
    draining: bool,
}

/// The writing end of another node's bridge into a channel here.
struct Inbound {
    /// Its id in [`Ready`].
    id: u64,
    /// Over a watched ring: a wait for room becomes a watch.
    channel: Channel<HostRing>,
    writers: Vec<(u32, Writer<HostRing>)>,
    /// Frames waiting for room, and the end of the stream once it came.
    backlog: VecDeque<Waiting>,
    /// Frames taken since credit was last granted.
    taken: u32,
    /// Its wait for room (the ring's watch on the channel's space
    /// sequence, counted among the channel's waiting writers).
    room: RoomWait,
}

/// A frame waiting for room in an inbound end's channel (copied out of
/// its message), or the end of the stream behind them.
enum Waiting {
    Frame { writer: u32, data: Vec<u8> },
    End,
}

impl Inbound {
    /// Waits for room as a parked writer does, without parking. False
    /// when room may have come meanwhile: try again now (a failed wait
    /// counts as queued: the next frame or credit looks again).
    fn wait_for_room(&mut self) -> bool {
        self.room.arm(&self.channel).unwrap_or(true)
    }

    /// No longer waits for room.
    fn stop_waiting(&mut self) {
        self.channel.region().unwatch();
        let _ = self.room.disarm(&self.channel);
    }

    /// Writes the frames of `from`'s file `handle` that fit now (waiting
    /// for room for the rest); grants their credit (as `node`). True when
    /// the end of the stream came.
    fn write_waiting(&mut self, from: &str, handle: u64, node: &str, publish: &mut Publish) -> bool {
        let mut ended = false;
        let mut armed = false;
        loop {
            let mut full = false;
            while let Some(waiting) = self.backlog.front() {
                let Waiting::Frame { writer, data } = waiting else {
                    ended = true;
                    break;
                };
                match write(&self.channel, &mut self.writers, *writer, data) {
                    Err(ChannelError::WouldBlock) => {
                        full = true;
                        break;
                    }
                    Ok(_) => {}
                    Err(e) => log::info!("node {from}: a bridged frame refused here: {e}"),
                }
                self.taken += 1;
                self.backlog.pop_front();
            }
            if !full {
                self.stop_waiting();
                break;
            }
            // Full: wait for room, then look once more (room freed before
            // the wait was counted woke nobody).
            if armed {
                break;
            }
            armed = self.wait_for_room();
        }
        if self.taken >= CREDIT_BATCH || (ended && self.taken > 0) {
            let notice = Notice::Credit { handle, frames: std::mem::take(&mut self.taken) };
            let envelope = NoticeEnvelope { from: node.to_string(), notice };
            let subject = wire::notice_subject(from).into();
            publish.push((subject, serde_json::to_vec(&envelope).unwrap_or_default()));
        }
        ended
    }
}

impl Drop for Inbound {
    fn drop(&mut self) {
        self.stop_waiting();
        self.channel.region().region().remove_remote_writer();
    }
}

/// Every bridge end of this node, owned by the link thread.
pub(crate) struct Bridges {
    node: String,
    out: HashMap<u64, Outbound>,
    /// Outbound ends by their node, then that node's handle (looked up
    /// by a credit notice without building a key).
    by_handle: HashMap<String, HashMap<u64, u64>>,
    /// Inbound ends by their node, then that node's handle.
    into: HashMap<String, HashMap<u64, Inbound>>,
    /// Inbound ends by their id.
    into_ids: HashMap<u64, (String, u64)>,
    next_inbound: u64,
    /// Outbound ends that found a writer mid-frame.
    later: Vec<u64>,
    pub(crate) ready: Arc<Ready>,
}

/// What the link publishes for the bridges: (subject, bytes).
pub(crate) type Publish = Vec<(async_nats::Subject, Vec<u8>)>;

impl Bridges {
    pub(crate) fn new(node: &str) -> Bridges {
        Bridges {
            node: node.to_string(),
            out: HashMap::new(),
            by_handle: HashMap::new(),
            into: HashMap::new(),
            into_ids: HashMap::new(),
            next_inbound: 0,
            later: Vec::new(),
            ready: Arc::default(),
        }
    }

    /// Starts bridge `id`: the channel in `ring` read here, into file
    /// `handle` of `node`. Its news for the daemon, and what to publish.
    pub(crate) fn start(
        &mut self,
        id: u64,
        node: String,
        handle: u64,
        ring: &HostRing,
        watcher: RegionWatcher,
        publish: &mut Publish,
    ) -> Vec<BridgeNews> {
        let ring = ring.watched_by(watcher, self.ready.wake_for(id));
        let reader =
            Channel::from_region(ring.clone()).and_then(|c| c.reader(ReaderKind::Strong, Start::Oldest));
        let reader = match reader {
            Ok(r) => r,
            Err(e) => {
                return vec![BridgeNews::Ended(Err((channel_errno(&e), format!("this node's channel: {e}"))))]
            }
        };
        self.by_handle.entry(node.clone()).or_default().insert(handle, id);
        let subject = wire::frames_subject(&node).into();
        let end = Outbound { node, subject, handle, ring, reader, in_flight: 0, sent: 0, draining: false };
        self.out.insert(id, end);
        let mut news = vec![BridgeNews::Attached];
        news.extend(self.pump(id, publish));
        news
    }

    /// Stops bridge `id` (its file closed).
    pub(crate) fn stop(&mut self, id: u64) {
        if let Some(b) = self.out.remove(&id) {
            b.ring.unwatch();
            if let Some(ends) = self.by_handle.get_mut(&b.node) {
                ends.remove(&b.handle);
                if ends.is_empty() {
                    self.by_handle.remove(&b.node);
                }
            }
        }
    }

    /// Bridge `id` ends once it sent what its channel holds now (the
    /// guest that made it ended); its end, if that is now.
    pub(crate) fn drain(&mut self, id: u64, publish: &mut Publish) -> Option<BridgeNews> {
        self.out.get_mut(&id)?.draining = true;
        self.pump(id, publish)
    }

    /// Reads what bridge `id` may send now into `publish`; its end, if it
    /// ended.
    fn pump(&mut self, id: u64, publish: &mut Publish) -> Option<BridgeNews> {
        let b = self.out.get_mut(&id)?;
        let ended = loop {
            if b.in_flight >= WINDOW {
                return None;
            }
            match b.reader.poll() {
                Ok(frame) => {
                    let bytes = Frame::encode(&self.node, b.handle, frame.writer, false, frame.payload);
                    publish.push((b.subject.clone(), bytes));
                    b.in_flight += 1;
                    b.sent += 1;
                }
                // The end of the stream; or, draining, nothing more now
                // (a frame a writer has mid-way is not waited for).
                Err(
                    e @ (ChannelError::Closed
                    | ChannelError::WouldBlock
                    | ChannelError::Sys(Errno::WouldBlock)),
                ) if b.draining || matches!(e, ChannelError::Closed) => {
                    publish.push((b.subject.clone(), Frame::encode(&self.node, b.handle, 0, true, &[])));
                    break Ok(b.sent);
                }
                // Waited for: the watch calls back.
                Err(ChannelError::Sys(Errno::WouldBlock)) => return None,
                // A writer mid-frame, which will not call back: looked at
                // again after `MID_FRAME_RETRY`.
                Err(ChannelError::WouldBlock) => {
                    self.later.push(id);
                    return None;
                }
                Err(e) => break Err((channel_errno(&e), format!("this node's channel: {e}"))),
            }
        };
        self.stop(id);
        Some(BridgeNews::Ended(ended))
    }

    /// The outbound ends woken since the last call.
    pub(crate) fn woken(&self) -> Vec<u64> {
        self.ready.take()
    }

    /// True when an outbound end waits to look again at a writer that
    /// was mid-frame.
    pub(crate) fn has_later(&self) -> bool {
        !self.later.is_empty()
    }

    /// The outbound ends to look at again (see [`Bridges::has_later`]).
    pub(crate) fn take_later(&mut self) -> Vec<u64> {
        std::mem::take(&mut self.later)
    }

    /// Node `node` took `frames` frames of its file `handle`: the bridge
    /// into it may send as many more. The bridge's id, to pump.
    pub(crate) fn credit(&mut self, node: &str, handle: u64, frames: u32) -> Option<u64> {
        let id = *self.by_handle.get(node)?.get(&handle)?;
        let b = self.out.get_mut(&id)?;
        b.in_flight = b.in_flight.saturating_sub(frames);
        Some(id)
    }

    /// Node `node` left: the bridges into it end.
    pub(crate) fn node_left(&mut self, node: &str) -> Vec<(u64, BridgeNews)> {
        let gone: Vec<u64> = self.out.iter().filter(|(_, b)| b.node == node).map(|(id, _)| *id).collect();
        self.into.remove(node);
        self.into_ids.retain(|_, (from, _)| from != node);
        gone.into_iter()
            .map(|id| {
                self.stop(id);
                (id, BridgeNews::Ended(Err((Errno::Io, format!("node {node} left the cluster")))))
            })
            .collect()
    }

    /// Frames of `from` for its file `handle` here go into the channel
    /// in `ring` (a channel file opened for that node to write).
    pub(crate) fn accept(&mut self, from: String, handle: u64, ring: &HostRing, watcher: RegionWatcher) {
        self.next_inbound += 1;
        let id = INBOUND | self.next_inbound;
        let Ok(channel) = Channel::from_region(ring.watched_by(watcher, self.ready.wake_for(id))) else {
            return;
        };
        // Its readers wait for frames from afar: without a spin.
        channel.region().region().add_remote_writer();
        let end = Inbound {
            id,
            channel,
            writers: Vec::new(),
            backlog: VecDeque::new(),
            taken: 0,
            room: RoomWait::new(),
        };
        self.into_ids.insert(id, (from.clone(), handle));
        self.into.entry(from).or_default().insert(handle, end);
    }

    /// The inbound end of `from`'s file `handle`, taken out.
    fn remove_into(&mut self, from: &str, handle: u64) -> Option<Inbound> {
        let of_node = self.into.get_mut(from)?;
        let end = of_node.remove(&handle)?;
        if of_node.is_empty() {
            self.into.remove(from);
        }
        self.into_ids.remove(&end.id);
        Some(end)
    }

    /// The file `handle` of `from` is closed: its frames are not taken.
    pub(crate) fn refuse(&mut self, from: &str, handle: u64) {
        self.remove_into(from, handle);
    }

    /// A frame of another node's bridge: written into the channel at once
    /// when nothing waits for room there (else kept, copied, behind what
    /// waits). Its stream's end, if it ended: (node, handle) of the file
    /// it ended, for the daemon to close.
    pub(crate) fn take(&mut self, frame: Frame<'_>, publish: &mut Publish) -> Option<(String, u64)> {
        let Some(end) = self.into.get_mut(frame.from).and_then(|m| m.get_mut(&frame.handle)) else {
            log::info!(
                "node {}: a bridged frame for file {}, not its own, dropped",
                frame.from,
                frame.handle
            );
            return None;
        };
        if end.backlog.len() >= MAX_BACKLOG {
            log::warn!("node {}: bridged frames beyond its credit dropped", frame.from);
            return None;
        }
        let written = !frame.end
            && end.backlog.is_empty()
            && match write(&end.channel, &mut end.writers, frame.writer, frame.data) {
                Err(ChannelError::WouldBlock) => false,
                Ok(_) => true,
                Err(e) => {
                    log::info!("node {}: a bridged frame refused here: {e}", frame.from);
                    true
                }
            };
        if written {
            end.taken += 1;
        } else if frame.end {
            end.backlog.push_back(Waiting::End);
        } else {
            end.backlog.push_back(Waiting::Frame { writer: frame.writer, data: frame.data.to_vec() });
        }
        if !end.write_waiting(frame.from, frame.handle, &self.node, publish) {
            return None;
        }
        self.end_stream(frame.from, frame.handle)
    }

    /// An end woken by its channel (`id` from [`Bridges::woken`]): an
    /// outbound end reads, an inbound end writes what waited for room.
    /// News of an outbound end, or the end of an inbound stream.
    pub(crate) fn woken_end(&mut self, id: u64, publish: &mut Publish) -> Woken {
        if id & INBOUND == 0 {
            return Woken::Out(self.pump(id, publish).map(|news| (id, news)));
        }
        let Some((from, handle)) = self.into_ids.get(&id) else { return Woken::In(None) };
        let Some(end) = self.into.get_mut(from.as_str()).and_then(|m| m.get_mut(handle)) else {
            return Woken::In(None);
        };
        if !end.write_waiting(from, *handle, &self.node, publish) {
            return Woken::In(None);
        }
        let (from, handle) = (from.clone(), *handle);
        Woken::In(self.end_stream(&from, handle))
    }

    /// The stream of `from`'s file `handle` crossed its end: the writers
    /// close (the channel drains when they were its last strong
    /// writers). The (node, handle) of the file it ended.
    fn end_stream(&mut self, from: &str, handle: u64) -> Option<(String, u64)> {
        let mut end = self.remove_into(from, handle)?;
        for (_, writer) in std::mem::take(&mut end.writers) {
            let _ = writer.close();
        }
        Some((from.to_string(), handle))
    }
}

/// What a woken end did: an outbound end's news (with its id), an
/// inbound stream's end (its node and handle).
pub(crate) enum Woken {
    Out(Option<(u64, BridgeNews)>),
    In(Option<(String, u64)>),
}

/// Writes a frame of the other node's writer `source` into `channel`,
/// with that writer's strong writer here.
fn write(
    channel: &Channel<HostRing>,
    writers: &mut Vec<(u32, Writer<HostRing>)>,
    source: u32,
    data: &[u8],
) -> Result<Sent, ChannelError> {
    let at = match writers.iter().position(|(s, _)| *s == source) {
        Some(i) => i,
        None if writers.len() < MAX_BRIDGED_WRITERS => {
            writers.push((source, channel.writer(WriterKind::Strong)?));
            writers.len() - 1
        }
        None => writers.len() - 1,
    };
    writers[at].1.try_write(data)
}
