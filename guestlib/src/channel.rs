//! Channels for guests: the rings of the `wasmd-channel` crate (layout,
//! reader and writer protocol) over this process's regions: payloads
//! through a region window where the handle and the OS allow one, else
//! through the copying region calls ([`RingMemory`]). See that crate for
//! the semantics (frames, batches, strong and weak readers and writers,
//! backpressure, draining) and the costs.

use core::time::Duration;

pub use wasmd_channel::{
    layout, Backpressure, ChannelError, ChannelOptions, Frame, Geometry, ReaderKind, Result, RingRegion,
    Sent, Start, SysResult, Wait, WriterKind, MAGIC, VERSION,
};

use crate::process::Pid;
use crate::region::{Region, RegionId, Rights};
use crate::window::Window;
use wasmd_abi::Errno;

/// A writer on a channel in a region of this process.
pub type Writer = wasmd_channel::Writer<RingMemory>;
/// A reader of a channel in a region of this process.
pub type Reader = wasmd_channel::Reader<RingMemory>;

/// A channel's region and, where possible, a window over all of it (see
/// [`crate::window`]): payloads then move through the window — plain
/// loads and stores, no copy through the host, and strong readers get
/// large frames in place — while the words that order them (the tail
/// word, each frame's or batch's marker) and every other shared word go
/// through the region's atomic calls, so the frame format and its publish
/// rule stay those `chan/ID` and native programs read. A handle without
/// `WRITE` (a weak reader), or a process whose memory cannot grow by the
/// region's size, has no window and copies.
///
/// Windows are the default: measured with `wasmd-bench` (the
/// `chan64_windows_vs_copy` and `chan4k_windows_vs_copy` figures, batches
/// on 2 workers of the 2-core development machine), 4 KiB frames move
/// 1.3–1.7 times as fast as through the copying calls, 64 B frames about
/// as fast (0.8–1.1).
#[derive(Debug)]
pub struct RingMemory {
    region: Region,
    window: Option<Window>,
}

impl RingMemory {
    /// `region`, with a window over it when `windowed` and possible (a
    /// window that cannot be had leaves the copying calls).
    pub fn new(region: Region, windowed: bool) -> RingMemory {
        let window = windowed
            .then(|| region.size().ok().and_then(|size| Window::map(&region, 0, size).ok()))
            .flatten();
        RingMemory { region, window }
    }

    /// The region.
    pub fn region(&self) -> &Region {
        &self.region
    }

    /// Whether payloads move through a window.
    pub fn is_windowed(&self) -> bool {
        self.window.is_some()
    }
}

impl RingRegion for RingMemory {
    fn load_u32(&self, offset: u64) -> SysResult<u32> {
        self.region.load_u32(offset)
    }
    fn store_u32(&self, offset: u64, value: u32) -> SysResult<()> {
        self.region.store_u32(offset, value)
    }
    fn fetch_add_u32(&self, offset: u64, value: u32) -> SysResult<u32> {
        self.region.fetch_add_u32(offset, value)
    }
    fn load_u64(&self, offset: u64) -> SysResult<u64> {
        self.region.load_u64(offset)
    }
    fn store_u64(&self, offset: u64, value: u64) -> SysResult<()> {
        self.region.store_u64(offset, value)
    }
    fn compare_exchange_u64(
        &self,
        offset: u64,
        current: u64,
        new: u64,
    ) -> SysResult<core::result::Result<u64, u64>> {
        self.region.compare_exchange_u64(offset, current, new)
    }
    fn read(&self, offset: u64, buf: &mut [u8]) -> SysResult<()> {
        self.region.read(offset, buf)
    }
    fn write(&self, offset: u64, data: &[u8]) -> SysResult<()> {
        self.write2(offset, data, &[])
    }
    fn read2(&self, off_a: u64, a: &mut [u8], off_b: u64, b: &mut [u8]) -> SysResult<()> {
        self.region.read2(off_a, a, off_b, b)
    }
    fn write2(&self, offset: u64, head: &[u8], body: &[u8]) -> SysResult<()> {
        let Some(w) = &self.window else { return self.region.write2(offset, head, body) };
        let at = offset as usize;
        if !offset.is_multiple_of(8) || head.len() < 8 {
            w.write(at, head)?;
            return w.write(at + head.len(), body);
        }
        w.write(at + 8, &head[8..])?;
        w.write(at + head.len(), body)?;
        // The marker last, atomically: a reader that sees it sees the rest.
        let marker = u64::from_le_bytes(head[..8].try_into().map_err(|_| Errno::InvalidArgument)?);
        self.region.store_u64(offset, marker)
    }
    fn view(&self, offset: u64, len: usize) -> Option<&[u8]> {
        let w = self.window.as_ref()?;
        let start = usize::try_from(offset).ok()?;
        if start.checked_add(len)? > w.len() {
            return None;
        }
        // SAFETY: `start..start + len` lies in the window, mapped memory
        // of this process for as long as `self` (which owns the window)
        // is borrowed. Other holders may store to it meanwhile: the ring
        // protocol reads only bytes an atomic load ordered, and a wasm
        // guest's loads of shared bytes are plain memory reads.
        Some(unsafe { core::slice::from_raw_parts(w.as_ptr().add(start), len) })
    }
    fn write_plain(&self, offset: u64, data: &[u8]) -> SysResult<()> {
        match &self.window {
            Some(w) => w.write(offset as usize, data),
            None => self.region.write(offset, data),
        }
    }
    fn wait(&self, offset: u64, expected: u32, timeout: Option<Duration>) -> SysResult<Wait> {
        self.region.wait(offset, expected, timeout)
    }
    fn notify(&self, offset: u64, count: u32) -> SysResult<u32> {
        self.region.notify(offset, count)
    }
    fn size(&self) -> SysResult<usize> {
        self.region.size()
    }
    fn yield_now(&self) {
        crate::process::yield_now();
    }
}

/// A handle to a channel in a region of this process.
#[derive(Debug, Clone)]
pub struct Channel(wasmd_channel::Channel<RingMemory>);

impl Channel {
    /// Creates a channel in a new region.
    pub fn create(opts: ChannelOptions) -> Result<Channel> {
        let size = wasmd_channel::Channel::<RingMemory>::region_size(&opts);
        let region = Region::alloc(size)?;
        Ok(Channel(wasmd_channel::Channel::create_in(RingMemory::new(region, true), opts)?))
    }

    /// Attaches a channel shared with this process, checking its header.
    pub fn attach(id: RegionId) -> Result<Channel> {
        Self::from_region(Region::attach(id)?)
    }

    /// As [`Channel::attach`], but payloads always move through the
    /// copying region calls, never a window (to compare the two).
    pub fn attach_copying(id: RegionId) -> Result<Channel> {
        Ok(Channel(wasmd_channel::Channel::from_region(RingMemory::new(Region::attach(id)?, false))?))
    }

    /// Wraps a region that holds a channel, checking its header.
    pub fn from_region(region: Region) -> Result<Channel> {
        Ok(Channel(wasmd_channel::Channel::from_region(RingMemory::new(region, true))?))
    }

    /// Whether this handle moves payloads through a window.
    pub fn is_windowed(&self) -> bool {
        self.0.region().is_windowed()
    }

    /// Lets process `pid` attach this channel with `rights` (writers and
    /// strong readers need `WRITE`; weak readers only `READ`).
    pub fn share(&self, pid: Pid, rights: Rights) -> Result<RegionId> {
        Ok(self.region().share(pid, rights)?)
    }

    /// The channel's id (its region's id), for [`Channel::attach`].
    pub fn id(&self) -> Result<RegionId> {
        Ok(self.region().id()?)
    }

    /// The underlying region.
    pub fn region(&self) -> &Region {
        self.0.region().region()
    }

    /// The ring geometry.
    pub fn geometry(&self) -> Geometry {
        self.0.geometry()
    }

    /// Largest payload a frame may carry.
    pub fn max_payload(&self) -> usize {
        self.0.max_payload()
    }

    /// A new writer.
    pub fn writer(&self, kind: WriterKind) -> Result<Writer> {
        self.0.writer(kind)
    }

    /// A new reader.
    pub fn reader(&self, kind: ReaderKind, start: Start) -> Result<Reader> {
        self.0.reader(kind, start)
    }

    /// Refuses new frames; readers see end-of-stream after the last one.
    pub fn drain(&self) -> Result<()> {
        self.0.drain()
    }

    /// Aborts every reader and writer at once.
    pub fn terminate(&self) -> Result<()> {
        self.0.terminate()
    }

    /// True once draining or terminated.
    pub fn is_closed(&self) -> Result<bool> {
        self.0.is_closed()
    }
}
