//! # wasmd-channel — many-writer, many-reader byte rings in one shared region
//!
//! The ring layout ([`layout`]) and the reader and writer protocol, over
//! any [`RingRegion`]: guests use it through region hostcalls (the guest
//! library's `channel` module), the daemon directly on the region's
//! mapping (its `chan/ID` files), so both read and write the very same
//! channels. `no_std` + `alloc`; it depends only on the ABI crate.
//!
//! A [`Channel`] is a handle to the ring (see [`layout`] for the bytes).
//! From it come [`Writer`]s and [`Reader`]s:
//!
//! - Every frame carries its writer's id and is delivered whole; frames
//!   of one writer arrive in the order written.
//! - **Backpressure** is chosen per channel: [`Backpressure::Park`] parks
//!   a writer (in the scheduler, via `region_wait`) until strong readers
//!   free space; [`Backpressure::Drop`] returns [`Sent::Dropped`] at once.
//! - **Strong readers** ([`ReaderKind::Strong`]) hold writers back: no
//!   frame they have not read is overwritten. **Weak readers** never hold
//!   anyone back; when they fall behind, the next read tells how many
//!   bytes they lost ([`Frame::lost`]) and continues from the oldest frame
//!   still in the ring.
//! - **Strong writers** keep the stream open: when the last one closes,
//!   the channel drains. **Weak writers** do not.
//! - [`Channel::drain`] refuses new frames and lets readers read what is
//!   there, then end-of-stream ([`ChannelError::Closed`]);
//!   [`Channel::terminate`] aborts everyone ([`ChannelError::Aborted`]).
//!
//! Costs, in hostcalls: a writer makes 2 per frame when unopposed (one
//! compare-and-swap on the tail word, which also tells it about a drain
//! and about parked readers; one `region_write2` of the frame's header and
//! its payload where it lies, the marker stored last by the host — or,
//! through a window, plain stores and then one atomic store of the
//! marker), plus a notify when readers are parked; a reader makes 1 (a
//! `region_read2` of the tail word, which also shows a termination, and of
//! the frame, sized by the previous batch) plus, for strong readers, one
//! position store per quarter ring. Both calls came from profiling:
//! `region_write2` saves a staging copy of every frame, `region_read2` a
//! hostcall per frame read (+15 % at 4 KiB, +20 % or more at 64 B, same-run
//! A/B on the 2-core development machine).
//!
//! **Batches** ([`Writer::write_batch`]) share those calls: the frames that
//! fit in the rest of a ring block are reserved by one compare-and-swap and
//! published by the first one's marker, its header's `batch` field telling
//! readers how many bytes of frames after it that marker published; a
//! reader reads the whole batch with its one `region_read2` (or from its
//! window) and hands out its frames with no further call. 64 B frames
//! went from 2–4 M/s one write each to 10–15 M/s in batches of 64
//! (`wasmd-bench`, two guests on 2 workers of the 2-core development
//! machine). Over a window, strong readers hand out frames of 512 bytes
//! and more in place, with no copy at all.
//! Shared state (the strong readers' floor) is refreshed only when the
//! cached view says "full".
//!
//! Measured design choices (`wasmd-bench`, which runs the `chan_layouts`
//! experiment guest: the per-frame hostcall pattern of each design, same
//! process, same run; numbers from one run on the 2-core development
//! machine, release build):
//!
//! | design | 64 B frame | 4 KiB frame |
//! |---|---|---|
//! | metadata inline with the payload (kept) | 204 ns | 433 ns |
//! | metadata in a separate ring | 318 ns | 546 ns |
//! | single-writer fast path (plain tail store instead of CAS) | 204 ns | 411 ns |
//!
//! Separating metadata costs a hostcall per frame on each side, so the
//! layout keeps them together. The single-writer path gains nothing
//! measurable at 64 B and ~5% at 4 KiB, and a plain store would lose the
//! state and "readers parked" bits the CAS carries, so there is no
//! separate single-writer or single-reader path.

#![no_std]

extern crate alloc;

pub mod layout;
mod reader;
mod room;
mod writer;

use alloc::rc::Rc;

pub use layout::{Geometry, MAGIC, VERSION};
pub use reader::{Frame, Reader, ReaderKind, Start};
pub use room::RoomWait;
pub use writer::{Sent, Writer, WriterKind};

use core::time::Duration;

use layout::off;
use wasmd_abi::Errno;

/// A region operation's result.
pub type SysResult<T> = core::result::Result<T, Errno>;

/// How a [`RingRegion::wait`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    /// Woken by a notify.
    Woken,
    /// The value was not the expected one; nothing was waited for.
    Changed,
    /// The timeout passed.
    TimedOut,
}

/// The region operations a channel needs. The guest library implements
/// it with region hostcalls; the daemon directly on the mapping, so
/// native programs read and write the very same channels.
#[allow(missing_docs)]
pub trait RingRegion {
    fn load_u32(&self, offset: u64) -> SysResult<u32>;
    fn store_u32(&self, offset: u64, value: u32) -> SysResult<()>;
    fn fetch_add_u32(&self, offset: u64, value: u32) -> SysResult<u32>;
    fn load_u64(&self, offset: u64) -> SysResult<u64>;
    fn store_u64(&self, offset: u64, value: u64) -> SysResult<()>;
    fn compare_exchange_u64(
        &self,
        offset: u64,
        current: u64,
        new: u64,
    ) -> SysResult<core::result::Result<u64, u64>>;
    fn read(&self, offset: u64, buf: &mut [u8]) -> SysResult<()>;
    fn write(&self, offset: u64, data: &[u8]) -> SysResult<()>;
    /// `read` at `off_a` into `a`, then at `off_b` into `b`.
    fn read2(&self, off_a: u64, a: &mut [u8], off_b: u64, b: &mut [u8]) -> SysResult<()> {
        self.read(off_a, a)?;
        self.read(off_b, b)
    }
    /// `head` then `body` at `offset`, as `write` of their concatenation.
    fn write2(&self, offset: u64, head: &[u8], body: &[u8]) -> SysResult<()>;
    /// The `len` bytes at `offset` in place, when the region is mapped
    /// into this process's memory (a window): strong readers then hand
    /// out payloads without copying them, and writers fill batches in
    /// place ([`RingRegion::write_plain`]). The bytes are shared: only
    /// bytes ordered by an atomic load (a marker) are read this way.
    /// `None` (the default): not mapped, readers copy.
    fn view(&self, offset: u64, len: usize) -> Option<&[u8]> {
        let _ = (offset, len);
        None
    }
    /// Copies `data` to `offset` with no ordering of its own: for bytes a
    /// later atomic store (a batch head's marker) publishes. Writers call
    /// it only where [`RingRegion::view`] works, where it is a plain copy.
    fn write_plain(&self, offset: u64, data: &[u8]) -> SysResult<()> {
        self.write(offset, data)
    }
    fn wait(&self, offset: u64, expected: u32, timeout: Option<Duration>) -> SysResult<Wait>;
    fn notify(&self, offset: u64, count: u32) -> SysResult<u32>;
    fn size(&self) -> SysResult<usize>;
    /// Lets a writer that is half-way through a frame go on (a reader
    /// found a frame reserved but not yet published).
    fn yield_now(&self) {
        core::hint::spin_loop();
    }
}

/// Full-channel behaviour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backpressure {
    /// Writers wait for strong readers to free space.
    Park,
    /// Writes to a full channel return [`Sent::Dropped`].
    Drop,
}

/// How to create a channel.
#[derive(Clone, Copy, Debug)]
pub struct ChannelOptions {
    /// Ring bytes (rounded down to a power of two, at least 4 KiB).
    pub capacity: usize,
    /// Largest frame payload the channel must carry.
    pub max_frame: usize,
    /// Full-channel behaviour.
    pub backpressure: Backpressure,
}

impl Default for ChannelOptions {
    fn default() -> Self {
        Self { capacity: 256 * 1024, max_frame: 8192, backpressure: Backpressure::Park }
    }
}

/// Channel errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChannelError {
    /// A region operation (a hostcall) failed.
    Sys(Errno),
    /// The region does not hold a channel (bad magic).
    NotAChannel,
    /// The channel's layout version is not one this library knows.
    UnsupportedVersion(u32),
    /// End of stream (readers) or the channel no longer takes frames
    /// (writers).
    Closed,
    /// The channel was terminated.
    Aborted,
    /// Non-blocking: nothing to read, or no room to write.
    WouldBlock,
    /// The frame is larger than the channel's largest frame.
    TooLarge,
    /// All strong reader slots are taken.
    NoReaderSlot,
}

impl From<Errno> for ChannelError {
    fn from(e: Errno) -> Self {
        ChannelError::Sys(e)
    }
}

impl core::fmt::Display for ChannelError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ChannelError::Sys(e) => write!(f, "{e}"),
            ChannelError::NotAChannel => f.write_str("the region does not hold a channel"),
            ChannelError::UnsupportedVersion(v) => {
                write!(
                    f,
                    "channel layout version {v} is not supported (this library reads version {VERSION})"
                )
            }
            ChannelError::Closed => f.write_str("channel closed"),
            ChannelError::Aborted => f.write_str("channel terminated"),
            ChannelError::WouldBlock => f.write_str("channel operation would block"),
            ChannelError::TooLarge => f.write_str("frame larger than the channel allows"),
            ChannelError::NoReaderSlot => f.write_str("no free strong reader slot"),
        }
    }
}

/// A channel result.
pub type Result<T> = core::result::Result<T, ChannelError>;

/// What every handle onto one channel shares in this process.
#[derive(Debug)]
pub(crate) struct Shared<R> {
    pub(crate) region: R,
    pub(crate) geo: Geometry,
    pub(crate) drop_when_full: bool,
}

/// A handle to a channel.
#[derive(Debug)]
pub struct Channel<R: RingRegion> {
    shared: Rc<Shared<R>>,
}

impl<R: RingRegion> Clone for Channel<R> {
    fn clone(&self) -> Self {
        Channel { shared: self.shared.clone() }
    }
}

impl<R: RingRegion> Channel<R> {
    /// The region bytes a channel made with `opts` needs.
    pub fn region_size(opts: &ChannelOptions) -> usize {
        let geo = Geometry::new(opts.capacity as u64, opts.max_frame as u64);
        (layout::HEADER + geo.capacity) as usize
    }

    /// Makes a new channel in `region` (fresh, at least
    /// [`Channel::region_size`] bytes): writes its header, the magic last.
    pub fn create_in(region: R, opts: ChannelOptions) -> Result<Channel<R>> {
        let geo = Geometry::new(opts.capacity as u64, opts.max_frame as u64);
        let mut header = [0u8; layout::HEADER as usize];
        let flags = if opts.backpressure == Backpressure::Drop { layout::FLAG_DROP } else { 0 };
        let put32 =
            |h: &mut [u8], at: u64, v: u32| h[at as usize..at as usize + 4].copy_from_slice(&v.to_le_bytes());
        put32(&mut header, off::VERSION, VERSION);
        put32(&mut header, off::FLAGS, flags);
        put32(&mut header, off::CAPACITY, geo.capacity as u32);
        put32(&mut header, off::BLOCK, geo.block as u32);
        put32(&mut header, off::NEXT_WRITER, 1);
        for slot in 0..layout::READER_SLOTS as u64 {
            let at = (off::READERS + slot * 8) as usize;
            header[at..at + 8].copy_from_slice(&layout::FREE_SLOT.to_le_bytes());
        }
        region.write(0, &header)?;
        // The magic goes last: a channel is valid once it is there.
        region.store_u32(off::MAGIC, layout::MAGIC)?;
        Ok(Channel {
            shared: Rc::new(Shared { region, geo, drop_when_full: flags & layout::FLAG_DROP != 0 }),
        })
    }

    /// Wraps a region that holds a channel, checking its header.
    pub fn from_region(region: R) -> Result<Channel<R>> {
        if region.load_u32(off::MAGIC)? != layout::MAGIC {
            return Err(ChannelError::NotAChannel);
        }
        let version = region.load_u32(off::VERSION)?;
        if version != VERSION {
            return Err(ChannelError::UnsupportedVersion(version));
        }
        let capacity = u64::from(region.load_u32(off::CAPACITY)?);
        let block = u64::from(region.load_u32(off::BLOCK)?);
        let size = region.size()? as u64;
        let sane = capacity.is_power_of_two()
            && block.is_power_of_two()
            && block <= capacity
            && block > layout::FRAME_HEADER
            && layout::HEADER + capacity <= size;
        if !sane {
            return Err(ChannelError::NotAChannel);
        }
        let flags = region.load_u32(off::FLAGS)?;
        let geo = Geometry { capacity, block };
        Ok(Channel {
            shared: Rc::new(Shared { region, geo, drop_when_full: flags & layout::FLAG_DROP != 0 }),
        })
    }

    /// The underlying region.
    pub fn region(&self) -> &R {
        &self.shared.region
    }

    /// The ring geometry.
    pub fn geometry(&self) -> Geometry {
        self.shared.geo
    }

    /// Largest payload a frame may carry.
    pub fn max_payload(&self) -> usize {
        self.shared.geo.max_payload() as usize
    }

    /// A new writer.
    pub fn writer(&self, kind: WriterKind) -> Result<Writer<R>> {
        Writer::new(self.shared.clone(), kind)
    }

    /// A new reader.
    pub fn reader(&self, kind: ReaderKind, start: Start) -> Result<Reader<R>> {
        Reader::new(self.shared.clone(), kind, start)
    }

    /// Refuses new frames; readers see end-of-stream after the last one.
    pub fn drain(&self) -> Result<()> {
        set_state(&self.shared.region, layout::DRAINING)
    }

    /// Aborts every reader and writer at once.
    pub fn terminate(&self) -> Result<()> {
        set_state(&self.shared.region, layout::TERMINATED)
    }

    /// True once draining or terminated.
    pub fn is_closed(&self) -> Result<bool> {
        let (_, state) = layout::split_tail(self.shared.region.load_u64(off::TAIL)?);
        Ok(state != layout::OPEN)
    }
}

/// Moves the channel to `state` (states only go forward) and wakes
/// everyone parked on it.
pub(crate) fn set_state<R: RingRegion>(r: &R, state: u64) -> Result<()> {
    let mut word = r.load_u64(off::TAIL)?;
    loop {
        let (position, current) = layout::split_tail(word);
        if current >= state {
            break;
        }
        let new = layout::tail_word(position, state) | (word & layout::READERS_WAITING);
        match r.compare_exchange_u64(off::TAIL, word, new)? {
            Ok(_) => break,
            Err(actual) => word = actual,
        }
    }
    wake_all(r)
}

/// Wakes every parked reader and writer (state changed).
fn wake_all<R: RingRegion>(r: &R) -> Result<()> {
    r.fetch_add_u32(off::DATA_SEQ, 1)?;
    r.fetch_add_u32(off::SPACE_SEQ, 1)?;
    r.notify(off::DATA_SEQ, u32::MAX)?;
    r.notify(off::SPACE_SEQ, u32::MAX)?;
    Ok(())
}

/// The channel state as an error, if it is not open.
pub(crate) fn state_error(state: u64) -> Option<ChannelError> {
    match state {
        layout::OPEN => None,
        layout::DRAINING => Some(ChannelError::Closed),
        _ => Some(ChannelError::Aborted),
    }
}

#[cfg(test)]
mod tests;
