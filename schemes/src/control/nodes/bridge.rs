//! `bridge`: a channel of this node bridged into a channel of another.
//!
//! Writing `CHAN NODE/CHAN` to a `bridge` file (opened read-write) makes
//! it a bridge: it reads the frames of this node's channel `CHAN` (a
//! strong reader, as a `chan/CHAN` file opened read-only would: the
//! caller must control the channel's process) and has node `NODE` write
//! them into its channel `CHAN` (opened there write-only for this node's
//! remote user, under that node's policy). Each frame crosses as one
//! binary NATS message ([`crate::cluster::wire::Frame`]) with its
//! writer: there, each writer of this channel gets a strong writer of
//! its own, so frames keep their writer (one there per one here) and
//! their order. When this channel's stream ends, the end crosses after
//! the last frame and the writers there close.
//!
//! **Park** across the bridge is bounded credit: at most [`WINDOW`]
//! frames are in flight; the other node grants more as its channel takes
//! them ([`crate::cluster::wire::Notice::Credit`]). While there is no
//! credit the bridge reads nothing here, so this channel fills and its
//! writers park, as with a slow local reader. **Drop** keeps its meaning
//! too: a full channel there drops the frame (and grants its credit),
//! and the bridge, a strong reader here, never lets this channel drop
//! frames it has not read.
//!
//! A read of the file waits until the stream ended and then says
//! `bridged N frames`; a failure (the open there refused, a channel that
//! is gone) is that read's error. Closing the file ends the bridge: the
//! other node closes its channel file (its writers close).

use wasmd_abi::scheme::{flags, mode, Stat};
use wasmd_abi::Errno;

use crate::cluster::wire::{Reply, Request};
use crate::cluster::Waiter;
use crate::control::file::{Answer, Context, ControlFile, Failure};
use crate::control::shared_memory::ChanFile;
use crate::control::{Poll, MAX_READ};

/// Frames a bridge has in flight at most.
pub const WINDOW: u32 = 64;

/// An open `bridge` file.
#[derive(Debug, Default)]
pub(crate) struct BridgeFile {
    bridge: Option<Bridge>,
    /// What ended it, told once by a read.
    outcome: Option<Result<u64, Failure>>,
    told: bool,
}

#[derive(Debug)]
struct Bridge {
    local: ChanFile,
    node: String,
    /// The other node's handle of its channel file, once open.
    handle: Option<u64>,
    in_flight: u32,
    sent: u64,
}

impl BridgeFile {
    /// Sets the bridge up from `CHAN NODE/CHAN`.
    fn start(&mut self, cx: &mut Context<'_>, line: &str) -> Result<(), Failure> {
        let bad = || Failure::new(Errno::InvalidArgument, format!("not `CHAN NODE/CHAN`: {line:?}"));
        let mut words = line.split_whitespace();
        let (Some(chan), Some(there), None) = (words.next(), words.next(), words.next()) else {
            return Err(bad());
        };
        let (node, remote_chan) = there.split_once('/').ok_or_else(bad)?;
        if remote_chan.parse::<u64>().is_err() {
            return Err(bad());
        }
        let mut local = ChanFile::open_region(cx, chan, flags::O_RDONLY)
            .map_err(|e| Failure::new(e, format!("cannot read channel {chan}: {e}")))?;
        // Its strong reader from now on: the channel's writers wait for
        // the bridge from the start, not only once the other node opened.
        local.readable();
        let id = cx.id;
        let cluster = cx
            .cluster
            .as_mut()
            .ok_or_else(|| Failure::new(Errno::NotFound, "this daemon is in no cluster"))?;
        let request = Request::Open { path: format!("chan/{remote_chan}"), flags: flags::O_WRONLY };
        cluster
            .ask(node, request, Waiter::File(id))
            .map_err(|e| Failure::new(e, format!("cannot ask node {node}: {e}")))?;
        self.bridge = Some(Bridge { local, node: node.to_string(), handle: None, in_flight: 0, sent: 0 });
        cx.bridges.insert(id);
        Ok(())
    }

    fn end(&mut self, cx: &mut Context<'_>, outcome: Result<u64, Failure>) {
        if let (Some(b), Err(_)) = (&self.bridge, &outcome) {
            if let Some(cluster) = cx.cluster.as_mut() {
                cluster.close_remote(cx.id, &b.node, b.handle);
            }
        }
        self.bridge = None;
        self.outcome = Some(outcome);
        cx.bridges.remove(&cx.id);
    }
}

impl ControlFile for BridgeFile {
    fn stat(&mut self, cx: &mut Context<'_>) -> Answer<Stat> {
        cx.stat(mode::MODE_FILE | 0o600, 0)
    }

    fn write(&mut self, cx: &mut Context<'_>, _offset: u64, data: &[u8]) -> Answer<usize> {
        if self.bridge.is_some() || self.outcome.is_some() {
            return Answer::Ready(Err(Errno::Busy));
        }
        let line = String::from_utf8_lossy(data);
        match self.start(cx, line.trim()) {
            Ok(()) => Answer::Ready(Ok(data.len())),
            Err(f) => {
                let e = f.errno;
                self.outcome = Some(Err(f));
                self.told = true;
                Answer::Ready(Err(e))
            }
        }
    }

    fn read(&mut self, _cx: &mut Context<'_>, _offset: u64, _len: usize) -> Answer<Vec<u8>> {
        match &self.outcome {
            None if self.bridge.is_some() => Answer::NotReady,
            None => Answer::Ready(Err(Errno::InvalidArgument)),
            Some(_) if self.told => Answer::Ready(Ok(Vec::new())),
            Some(Ok(sent)) => {
                self.told = true;
                Answer::Ready(Ok(format!("bridged {sent} frames\n").into_bytes()))
            }
            Some(Err(f)) => {
                self.told = true;
                Answer::Ready(Err(f.errno))
            }
        }
    }

    fn reason(&self) -> Option<&str> {
        match &self.outcome {
            Some(Err(f)) => Some(&f.reason),
            _ => None,
        }
    }

    fn remote_reply(&mut self, reply: Result<Reply, Failure>) {
        let Some(b) = self.bridge.as_mut() else { return };
        match reply {
            Ok(Reply::Opened { handle }) => b.handle = Some(handle),
            Ok(Reply::Failed { errno, reason }) => {
                self.outcome = Some(Err(Failure::new(Errno::from_errno(errno), reason)));
                self.bridge = None;
            }
            Ok(_) => {}
            Err(f) => {
                self.outcome = Some(Err(f));
                self.bridge = None;
            }
        }
    }

    fn pump(&mut self, cx: &mut Context<'_>) {
        let Some(b) = self.bridge.as_mut() else {
            cx.bridges.remove(&cx.id);
            return;
        };
        let Some(handle) = b.handle else { return };
        let Some(cluster) = cx.cluster.as_mut() else { return };
        if !cluster.knows(&b.node) {
            let why = format!("node {} left the cluster", b.node);
            return self.end(cx, Err(Failure::new(Errno::Io, why)));
        }
        while b.in_flight < WINDOW {
            match b.local.read(MAX_READ) {
                Poll::Ready(Ok(frame)) if frame.is_empty() => {
                    cluster.send_frame(&b.node, handle, 0, true, &[]);
                    let sent = b.sent;
                    return self.end(cx, Ok(sent));
                }
                Poll::Ready(Ok(frame)) => {
                    let writer = u32::from_le_bytes([frame[0], frame[1], frame[2], frame[3]]);
                    cluster.send_frame(&b.node, handle, writer, false, &frame[8..]);
                    b.in_flight += 1;
                    b.sent += 1;
                }
                Poll::Pending => return,
                Poll::Ready(Err(e)) => {
                    return self.end(cx, Err(Failure::new(e, format!("this node's channel: {e}"))));
                }
            }
        }
    }

    fn credit(&mut self, node: &str, handle: u64, frames: u32) {
        if let Some(b) = self.bridge.as_mut().filter(|b| b.node == node && b.handle == Some(handle)) {
            b.in_flight = b.in_flight.saturating_sub(frames);
        }
    }

    fn close(self: Box<Self>, cx: &mut Context<'_>) {
        if let Some(b) = &self.bridge {
            if let Some(cluster) = cx.cluster.as_mut() {
                cluster.close_remote(cx.id, &b.node, b.handle);
            }
        }
    }
}
