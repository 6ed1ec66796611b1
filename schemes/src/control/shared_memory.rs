//! `shm/` and `chan/`: regions and channels, for native programs.
//!
//! `shm/ID` is a region as a file: positioned reads and writes of its
//! bytes, `fstat` gives its size; on Redox it can also be `mmap`ed (the
//! daemon's own shared mapping is lent to the caller). `shm/index` lists
//! `ID SIZE OS-NAME` lines: on Linux the OS name is the region's memfd as
//! `/proc/PID/fd/N`, which a native program of the same user can open and
//! map itself.
//!
//! `chan/ID` is a channel (a region holding one) as a file, driven by the
//! very same channel code guests use ([`wasmd_channel`]) over
//! [`HostRing`]: each read returns one frame — an 8-byte header (writer
//! id and payload length, little-endian `u32`s) and the payload — or waits
//! for one (`Errno::WouldBlock` with `O_NONBLOCK`); end-of-stream is a 0-byte read;
//! a terminated channel is `Errno::BrokenPipe`. Each write is one frame, from a weak
//! writer; on a full `Park` channel it waits. A frame larger than the
//! read buffer is kept for the next read, which gets `Errno::MessageTooLong` until the
//! buffer is large enough. The reader is strong, so a native reader holds
//! writers back like a guest reader does; a file opened read-only gets
//! only a reader and one opened write-only only a writer (reads or writes
//! the other way are `Errno::BadHandle`). Readiness (`fevent`): readable when a frame
//! (or the end) is there, writable when a frame of the largest size fits.
//!
//! Both are control files (`ControlFile`): `ShmFile` and [`ChanFile`]. Opening
//! either needs the caller to own the region's process (or be
//! privileged).

use std::sync::Arc;
use std::time::Duration;

use wasmd_abi::scheme::{flags, mode, Stat};
use wasmd_abi::Errno;
use wasmd_channel::{
    Channel, ChannelError, Reader, ReaderKind, RingRegion, Sent, Start, SysResult, Wait, Writer, WriterKind,
};
use wasmhost::region::Region;

use super::file::{Answer, Context, ControlFile};
use super::{Poll, EVENT_READ, EVENT_WRITE};

/// The live region named `id` (decimal), if the caller may reach it.
fn region(cx: &Context<'_>, id: &str) -> Result<Arc<Region>, Errno> {
    let id: u64 = id.parse().map_err(|_| Errno::NotFound)?;
    let region = cx.lock().region(id).ok_or(Errno::NotFound)?;
    cx.may_control(region.owner())?;
    Ok(region)
}

/// An open `shm/ID` file: the region's bytes.
#[derive(Debug)]
pub(crate) struct ShmFile {
    region: Arc<Region>,
}

impl ShmFile {
    /// Opens the region named `id`.
    pub(crate) fn open(cx: &Context<'_>, id: &str) -> Result<ShmFile, Errno> {
        region(cx, id).map(|region| ShmFile { region })
    }
}

impl ControlFile for ShmFile {
    fn stat(&mut self, cx: &mut Context<'_>) -> Answer<Stat> {
        cx.stat(mode::MODE_FILE | 0o600, self.region.len() as u64)
    }

    fn read(&mut self, _cx: &mut Context<'_>, offset: u64, len: usize) -> Answer<Vec<u8>> {
        Answer::Ready(shm_read(&self.region, offset, len))
    }

    fn write(&mut self, _cx: &mut Context<'_>, offset: u64, data: &[u8]) -> Answer<usize> {
        Answer::Ready(shm_write(&self.region, offset, data))
    }

    /// The daemon's own shared mapping of the region, lent to the caller.
    fn mmap_address(&self, offset: u64, len: usize) -> Result<usize, Errno> {
        let range = self.region.range(offset, len)?;
        Ok(self.region.as_ptr() as usize + range.start)
    }
}

/// Wakes guests parked on a region offset (the manager's futex table).
pub type Notify = wasmhost::RegionNotifier;

/// A region as the channel code sees it, accessed directly.
#[derive(Clone)]
pub struct HostRing {
    region: Arc<Region>,
    notify: Notify,
}

impl std::fmt::Debug for HostRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostRing").field("region", &self.region.id()).finish_non_exhaustive()
    }
}

impl HostRing {
    /// Wraps a region; `notify` wakes guests parked on it.
    pub fn new(region: Arc<Region>, notify: Notify) -> Self {
        Self { region, notify }
    }
}

impl RingRegion for HostRing {
    fn load_u32(&self, offset: u64) -> SysResult<u32> {
        Ok(self.region.atomic_u32(offset)?.load(std::sync::atomic::Ordering::SeqCst))
    }
    fn store_u32(&self, offset: u64, value: u32) -> SysResult<()> {
        self.region.atomic_u32(offset)?.store(value, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }
    fn fetch_add_u32(&self, offset: u64, value: u32) -> SysResult<u32> {
        Ok(self.region.atomic_u32(offset)?.fetch_add(value, std::sync::atomic::Ordering::SeqCst))
    }
    fn load_u64(&self, offset: u64) -> SysResult<u64> {
        Ok(self.region.atomic_u64(offset)?.load(std::sync::atomic::Ordering::SeqCst))
    }
    fn store_u64(&self, offset: u64, value: u64) -> SysResult<()> {
        self.region.atomic_u64(offset)?.store(value, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }
    fn compare_exchange_u64(&self, offset: u64, current: u64, new: u64) -> SysResult<Result<u64, u64>> {
        let atomic = self.region.atomic_u64(offset)?;
        let order = std::sync::atomic::Ordering::SeqCst;
        Ok(atomic.compare_exchange(current, new, order, order))
    }
    fn read(&self, offset: u64, buf: &mut [u8]) -> SysResult<()> {
        let range = self.region.range(offset, buf.len())?;
        self.region.read_at(range, buf);
        Ok(())
    }
    fn write(&self, offset: u64, data: &[u8]) -> SysResult<()> {
        let range = self.region.range(offset, data.len())?;
        self.region.write_at(range, data);
        Ok(())
    }
    fn write2(&self, offset: u64, head: &[u8], body: &[u8]) -> SysResult<()> {
        let range = self.region.range(offset, head.len() + body.len())?;
        self.region.write2_at(range, head, body);
        Ok(())
    }
    fn wait(&self, _offset: u64, _expected: u32, _timeout: Option<Duration>) -> SysResult<Wait> {
        // The daemon never blocks: it only makes non-blocking calls.
        Err(Errno::WouldBlock)
    }
    fn notify(&self, offset: u64, count: u32) -> SysResult<u32> {
        Ok((self.notify)(&self.region, offset, count))
    }
    fn size(&self) -> SysResult<usize> {
        Ok(self.region.len())
    }
}

/// An open `chan/ID` file.
#[derive(Debug)]
pub struct ChanFile {
    channel: Channel<HostRing>,
    reader: Option<Reader<HostRing>>,
    writer: Option<Writer<HostRing>>,
    /// Opened for reading / for writing: only those endpoints are ever
    /// made (a reader is strong and would hold writers back).
    can_read: bool,
    can_write: bool,
    /// A frame that did not fit the last read buffer.
    stash: Option<Vec<u8>>,
    /// Opened for another node's bridge: one strong writer per writer of
    /// the channel there (the first [`MAX_BRIDGED_WRITERS`]; later ones
    /// share the last), so frames keep their writer and order.
    bridged: Vec<(u32, Writer<HostRing>)>,
}

/// Writers of another node's channel a bridged channel file keeps apart.
pub const MAX_BRIDGED_WRITERS: usize = 64;

impl ChanFile {
    /// Opens the channel in `ring` (`Errno::InvalidArgument` if the region holds none)
    /// for reading, writing or both.
    pub fn open(ring: HostRing, can_read: bool, can_write: bool) -> Result<ChanFile, Errno> {
        let channel = Channel::from_region(ring).map_err(|_| Errno::InvalidArgument)?;
        Ok(ChanFile {
            channel,
            reader: None,
            writer: None,
            stash: None,
            can_read,
            can_write,
            bridged: Vec::new(),
        })
    }

    /// Opens the channel in the region named `id`, for what the access
    /// mode of `open_flags` allows.
    pub(crate) fn open_region(cx: &Context<'_>, id: &str, open_flags: u32) -> Result<ChanFile, Errno> {
        let region = region(cx, id)?;
        let mode = open_flags & flags::O_ACCMODE;
        let (can_read, can_write) = (mode == 0 || mode & flags::O_RDONLY != 0, mode & flags::O_WRONLY != 0);
        ChanFile::open(cx.ring(region), can_read, can_write)
    }

    /// True when the region holds a channel.
    pub fn is_channel(ring: HostRing) -> bool {
        Channel::from_region(ring).is_ok()
    }

    /// Reads one frame (header + payload) into at most `len` bytes.
    pub fn read(&mut self, len: usize) -> Poll<Vec<u8>> {
        if !self.can_read {
            return Poll::Ready(Err(Errno::BadHandle));
        }
        if let Some(frame) = self.stash.take() {
            if frame.len() > len {
                self.stash = Some(frame);
                return Poll::Ready(Err(Errno::MessageTooLong));
            }
            return Poll::Ready(Ok(frame));
        }
        if self.reader.is_none() {
            match self.channel.reader(ReaderKind::Strong, Start::Oldest) {
                Ok(r) => self.reader = Some(r),
                Err(e) => return Poll::Ready(Err(chan_errno(e))),
            }
        }
        let Some(reader) = self.reader.as_mut() else { return Poll::Ready(Err(Errno::InvalidArgument)) };
        match reader.try_read() {
            Ok(frame) => {
                let mut out = Vec::with_capacity(8 + frame.payload.len());
                out.extend_from_slice(&frame.writer.to_le_bytes());
                out.extend_from_slice(&(frame.payload.len() as u32).to_le_bytes());
                out.extend_from_slice(frame.payload);
                if out.len() > len {
                    self.stash = Some(out);
                    return Poll::Ready(Err(Errno::MessageTooLong));
                }
                Poll::Ready(Ok(out))
            }
            Err(ChannelError::WouldBlock) => Poll::Pending,
            Err(ChannelError::Closed) => Poll::Ready(Ok(Vec::new())),
            Err(e) => Poll::Ready(Err(chan_errno(e))),
        }
    }

    /// True when a write of the largest frame would not wait.
    pub fn writable(&mut self) -> bool {
        if !self.can_write {
            return false;
        }
        if self.writer.is_none() {
            self.writer = self.channel.writer(WriterKind::Weak).ok();
        }
        let max = self.channel.max_payload();
        self.writer.as_mut().is_none_or(|w| w.has_room(max).unwrap_or(true))
    }

    /// True when a read would not wait.
    pub fn readable(&mut self) -> bool {
        if !self.can_read {
            return false;
        }
        if self.stash.is_some() {
            return true;
        }
        if self.reader.is_none() {
            self.reader = self.channel.reader(ReaderKind::Strong, Start::Oldest).ok();
        }
        self.reader.as_mut().is_none_or(|r| r.is_ready().unwrap_or(true))
    }

    /// Writes one frame.
    pub fn write(&mut self, data: &[u8]) -> Poll<usize> {
        if !self.can_write {
            return Poll::Ready(Err(Errno::BadHandle));
        }
        if self.writer.is_none() {
            match self.channel.writer(WriterKind::Weak) {
                Ok(w) => self.writer = Some(w),
                Err(e) => return Poll::Ready(Err(chan_errno(e))),
            }
        }
        let Some(writer) = self.writer.as_mut() else { return Poll::Ready(Err(Errno::InvalidArgument)) };
        match writer.try_write(data) {
            Ok(Sent::Sent) | Ok(Sent::Dropped) => Poll::Ready(Ok(data.len())),
            Err(ChannelError::WouldBlock) => Poll::Pending,
            Err(e) => Poll::Ready(Err(chan_errno(e))),
        }
    }
}

impl ChanFile {
    /// Writes a frame of another node's writer `source` (see
    /// [`ChanFile::bridged`]).
    pub fn write_bridged(&mut self, source: u32, data: &[u8]) -> Poll<usize> {
        if !self.can_write {
            return Poll::Ready(Err(Errno::BadHandle));
        }
        let at = match self.bridged.iter().position(|(s, _)| *s == source) {
            Some(i) => i,
            None if self.bridged.len() < MAX_BRIDGED_WRITERS => match self.channel.writer(WriterKind::Strong)
            {
                Ok(w) => {
                    self.bridged.push((source, w));
                    self.bridged.len() - 1
                }
                Err(e) => return Poll::Ready(Err(chan_errno(e))),
            },
            None => self.bridged.len() - 1,
        };
        match self.bridged[at].1.try_write(data) {
            Ok(Sent::Sent) | Ok(Sent::Dropped) => Poll::Ready(Ok(data.len())),
            Err(ChannelError::WouldBlock) => Poll::Pending,
            Err(e) => Poll::Ready(Err(chan_errno(e))),
        }
    }

    /// The other node's channel ended: its writers here close (the
    /// channel drains when they were its last strong writers).
    pub fn end_bridged(&mut self) {
        for (_, writer) in self.bridged.drain(..) {
            let _ = writer.close();
        }
    }
}

impl ControlFile for ChanFile {
    fn bridged_write(&mut self, source: u32, data: &[u8]) -> Poll<usize> {
        self.write_bridged(source, data)
    }

    fn bridged_end(&mut self) {
        self.end_bridged();
    }

    fn stat(&mut self, cx: &mut Context<'_>) -> Answer<Stat> {
        cx.stat(mode::MODE_CHR | 0o444, 0)
    }

    fn read(&mut self, _cx: &mut Context<'_>, _offset: u64, len: usize) -> Answer<Vec<u8>> {
        ChanFile::read(self, len).into()
    }

    fn write(&mut self, _cx: &mut Context<'_>, _offset: u64, data: &[u8]) -> Answer<usize> {
        ChanFile::write(self, data).into()
    }

    fn readiness(&mut self, _cx: &mut Context<'_>) -> u32 {
        // Each look makes its endpoint the first time.
        let writable = self.writable();
        let readable = self.readable();
        (if readable { EVENT_READ } else { 0 }) | if writable { EVENT_WRITE } else { 0 }
    }
}

fn chan_errno(e: ChannelError) -> Errno {
    match e {
        ChannelError::Sys(e) => e,
        ChannelError::Closed | ChannelError::Aborted => Errno::BrokenPipe,
        ChannelError::TooLarge => Errno::MessageTooLong,
        ChannelError::WouldBlock => Errno::WouldBlock,
        ChannelError::NoReaderSlot => Errno::Busy,
        ChannelError::NotAChannel | ChannelError::UnsupportedVersion(_) => Errno::InvalidArgument,
    }
}

/// Reads region bytes at `offset` (up to its end).
pub fn shm_read(region: &Region, offset: u64, len: usize) -> Result<Vec<u8>, Errno> {
    let size = region.len() as u64;
    if offset > size {
        return Err(Errno::OutOfRange);
    }
    let n = (len as u64).min(size - offset) as usize;
    let mut out = vec![0u8; n];
    region.read_at(region.range(offset, n)?, &mut out);
    Ok(out)
}

/// Writes region bytes at `offset` (`Errno::OutOfRange` past its end).
pub fn shm_write(region: &Region, offset: u64, data: &[u8]) -> Result<usize, Errno> {
    region.write_at(region.range(offset, data.len())?, data);
    Ok(data.len())
}
