//! Channels for guests: the rings of the `wasmd-channel` crate (layout,
//! reader and writer protocol) over this process's regions, through
//! region hostcalls. See that crate for the semantics (frames, strong and
//! weak readers and writers, backpressure, draining) and the costs.

use core::time::Duration;

pub use wasmd_channel::{
    layout, Backpressure, ChannelError, ChannelOptions, Frame, Geometry, ReaderKind, Result, RingRegion,
    Sent, Start, SysResult, Wait, WriterKind, MAGIC, VERSION,
};

use crate::process::Pid;
use crate::region::{Region, RegionId, Rights};

/// A writer on a channel in a region of this process.
pub type Writer = wasmd_channel::Writer<Region>;
/// A reader of a channel in a region of this process.
pub type Reader = wasmd_channel::Reader<Region>;

impl RingRegion for Region {
    fn load_u32(&self, offset: u64) -> SysResult<u32> {
        Region::load_u32(self, offset)
    }
    fn store_u32(&self, offset: u64, value: u32) -> SysResult<()> {
        Region::store_u32(self, offset, value)
    }
    fn fetch_add_u32(&self, offset: u64, value: u32) -> SysResult<u32> {
        Region::fetch_add_u32(self, offset, value)
    }
    fn load_u64(&self, offset: u64) -> SysResult<u64> {
        Region::load_u64(self, offset)
    }
    fn store_u64(&self, offset: u64, value: u64) -> SysResult<()> {
        Region::store_u64(self, offset, value)
    }
    fn compare_exchange_u64(
        &self,
        offset: u64,
        current: u64,
        new: u64,
    ) -> SysResult<core::result::Result<u64, u64>> {
        Region::compare_exchange_u64(self, offset, current, new)
    }
    fn read(&self, offset: u64, buf: &mut [u8]) -> SysResult<()> {
        Region::read(self, offset, buf)
    }
    fn write(&self, offset: u64, data: &[u8]) -> SysResult<()> {
        Region::write(self, offset, data)
    }
    fn write2(&self, offset: u64, head: &[u8], body: &[u8]) -> SysResult<()> {
        Region::write2(self, offset, head, body)
    }
    fn read2(&self, off_a: u64, a: &mut [u8], off_b: u64, b: &mut [u8]) -> SysResult<()> {
        Region::read2(self, off_a, a, off_b, b)
    }
    fn wait(&self, offset: u64, expected: u32, timeout: Option<Duration>) -> SysResult<Wait> {
        Region::wait(self, offset, expected, timeout)
    }
    fn notify(&self, offset: u64, count: u32) -> SysResult<u32> {
        Region::notify(self, offset, count)
    }
    fn size(&self) -> SysResult<usize> {
        Region::size(self)
    }
    fn yield_now(&self) {
        crate::process::yield_now();
    }
}

/// A handle to a channel in a region of this process.
#[derive(Debug, Clone)]
pub struct Channel(wasmd_channel::Channel<Region>);

impl Channel {
    /// Creates a channel in a new region.
    pub fn create(opts: ChannelOptions) -> Result<Channel> {
        let size = wasmd_channel::Channel::<Region>::region_size(&opts);
        let region = Region::alloc(size)?;
        Ok(Channel(wasmd_channel::Channel::create_in(region, opts)?))
    }

    /// Attaches a channel shared with this process, checking its header.
    pub fn attach(id: RegionId) -> Result<Channel> {
        Self::from_region(Region::attach(id)?)
    }

    /// Wraps a region that holds a channel, checking its header.
    pub fn from_region(region: Region) -> Result<Channel> {
        Ok(Channel(wasmd_channel::Channel::from_region(region)?))
    }

    /// Lets process `pid` attach this channel with `rights` (writers and
    /// strong readers need `WRITE`; weak readers only `READ`).
    pub fn share(&self, pid: Pid, rights: Rights) -> Result<RegionId> {
        Ok(self.0.region().share(pid, rights)?)
    }

    /// The channel's id (its region's id), for [`Channel::attach`].
    pub fn id(&self) -> Result<RegionId> {
        Ok(self.0.region().id()?)
    }

    /// The underlying region.
    pub fn region(&self) -> &Region {
        self.0.region()
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
