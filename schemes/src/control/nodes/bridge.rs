//! `bridge`: a channel of this node bridged into a channel of another.
//!
//! Writing `CHAN NODE/CHAN` to a `bridge` file (opened read-write) makes
//! it a bridge: the frames of this node's channel `CHAN` (read by a
//! strong reader, as a `chan/CHAN` file opened read-only would: the
//! caller must control the channel's process) are written by node `NODE`
//! into its channel `CHAN` (opened there write-only for this node's
//! remote user, under that node's policy). The frames themselves never
//! pass through this thread: once the other node opened its channel, the
//! cluster link reads this channel and node `NODE`'s link writes that one
//! ([`crate::cluster::bridge`] has both ends, Park as bounded credit,
//! Drop, and the end of the stream). Until then this file holds a strong
//! reader, so the channel's writers wait for the bridge from the start.
//!
//! The write waits until the other node opened its channel (a refusal
//! there is the write's error; a non-blocking write does not wait). A
//! read of the file waits until the stream ended and then says
//! `bridged N frames`; a failure (the open there refused, a channel that
//! is gone, the node leaving) is that read's error. Closing the file ends
//! the bridge: the other node closes its channel file (its writers
//! close).

use wasmd_abi::scheme::{flags, mode, Stat};
use wasmd_abi::Errno;

use crate::cluster::wire::{Reply, Request};
use crate::cluster::{BridgeNews, Waiter};
use crate::control::file::{Answer, Context, ControlFile, Failure};
use crate::control::shared_memory::{ChanFile, HostRing};

/// An open `bridge` file.
#[derive(Debug, Default)]
pub(crate) struct BridgeFile {
    /// Its one line was written (the write may still wait for the answer
    /// there).
    started: bool,
    /// That write was answered.
    answered: bool,
    bridge: Option<Bridge>,
    /// What ended it, told once by a read.
    outcome: Option<Result<u64, Failure>>,
    told: bool,
}

#[derive(Debug)]
struct Bridge {
    /// This node's channel, read by this file until the link reads it.
    local: Option<ChanFile>,
    ring: HostRing,
    node: String,
    /// The other node's handle of its channel file, once open.
    handle: Option<u64>,
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
        let ring = local.ring().clone();
        let id = cx.id;
        let cluster = cx
            .cluster
            .as_mut()
            .ok_or_else(|| Failure::new(Errno::NotFound, "this daemon is in no cluster"))?;
        let request = Request::Open { path: format!("chan/{remote_chan}"), flags: flags::O_WRONLY };
        cluster
            .ask(node, request, Waiter::File(id))
            .map_err(|e| Failure::new(e, format!("cannot ask node {node}: {e}")))?;
        self.bridge = Some(Bridge { local: Some(local), ring, node: node.to_string(), handle: None });
        Ok(())
    }

    /// The bridge ended with `outcome`; on a failure the other node's
    /// file is closed (at the end of the stream it closed it itself).
    fn end(&mut self, cx: &mut Context<'_>, outcome: Result<u64, Failure>) {
        if let Some(b) = self.bridge.take() {
            if let Some(cluster) = cx.cluster.as_mut() {
                cluster.stop_bridge(cx.id);
                if outcome.is_err() {
                    cluster.close_remote(cx.id, &b.node, b.handle);
                }
            }
        }
        self.outcome = Some(outcome);
    }
}

impl ControlFile for BridgeFile {
    fn stat(&mut self, cx: &mut Context<'_>) -> Answer<Stat> {
        cx.stat(mode::MODE_FILE | 0o600, 0)
    }

    /// Sets the bridge up; a blocking write then waits until the other
    /// node opened its channel (or refused: the write's error, and the
    /// read's).
    fn write(&mut self, cx: &mut Context<'_>, _offset: u64, data: &[u8]) -> Answer<usize> {
        if self.answered {
            return Answer::Ready(Err(Errno::Busy));
        }
        if !self.started {
            self.started = true;
            let line = String::from_utf8_lossy(data);
            if let Err(f) = self.start(cx, line.trim()) {
                let e = f.errno;
                self.outcome = Some(Err(f));
                self.told = true;
                self.answered = true;
                return Answer::Ready(Err(e));
            }
        }
        let answer = match (&self.bridge, &self.outcome) {
            (Some(b), _) if b.handle.is_some() => Ok(data.len()),
            (Some(_), None) if !cx.nonblock => return Answer::NotReady,
            (_, Some(Err(f))) => Err(f.errno),
            _ => Ok(data.len()),
        };
        self.answered = true;
        Answer::Ready(answer)
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

    fn remote_reply(&mut self, cx: &mut Context<'_>, reply: Result<Reply, Failure>) {
        let Some(b) = self.bridge.as_mut() else { return };
        match reply {
            Ok(Reply::Opened { handle }) => {
                b.handle = Some(handle);
                if let Some(cluster) = cx.cluster.as_mut() {
                    let watcher = cx.kernel.lock().region_watcher();
                    cluster.start_bridge(cx.id, &b.node, handle, b.ring.clone(), watcher);
                }
            }
            Ok(Reply::Failed { errno, reason }) => {
                self.end(cx, Err(Failure::new(Errno::from_errno(errno), reason)));
            }
            Ok(_) => {}
            Err(f) => self.end(cx, Err(f)),
        }
    }

    fn bridge_news(&mut self, cx: &mut Context<'_>, news: BridgeNews) {
        match news {
            BridgeNews::Attached => {
                if let Some(b) = self.bridge.as_mut() {
                    b.local = None;
                }
            }
            // The link stopped it already (a second stop does nothing).
            BridgeNews::Ended(outcome) => {
                self.end(cx, outcome.map_err(|(errno, reason)| Failure::new(errno, reason)));
            }
        }
    }

    fn close(mut self: Box<Self>, cx: &mut Context<'_>) {
        if self.bridge.is_some() {
            self.end(cx, Err(Failure::new(Errno::Io, "closed")));
        }
    }
}
