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

use wasmd_abi::scheme::{flags, mode, Stat};
use wasmd_abi::Errno;
use wasmd_channel::{Channel, ChannelError, Reader, ReaderKind, Sent, Start, Writer, WriterKind};
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

use crate::ring::channel_errno;
pub use crate::ring::{HostRing, Notify};

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
}

impl ChanFile {
    /// Opens the channel in `ring` (`Errno::InvalidArgument` if the region holds none)
    /// for reading, writing or both.
    pub fn open(ring: HostRing, can_read: bool, can_write: bool) -> Result<ChanFile, Errno> {
        let channel = Channel::from_region(ring).map_err(|_| Errno::InvalidArgument)?;
        Ok(ChanFile { channel, reader: None, writer: None, stash: None, can_read, can_write })
    }

    /// Opens the channel in the region named `id`, for what the access
    /// mode of `open_flags` allows.
    pub(crate) fn open_region(cx: &Context<'_>, id: &str, open_flags: u32) -> Result<ChanFile, Errno> {
        let region = region(cx, id)?;
        let mode = open_flags & flags::O_ACCMODE;
        let (can_read, can_write) = (mode == 0 || mode & flags::O_RDONLY != 0, mode & flags::O_WRONLY != 0);
        ChanFile::open(cx.ring(region), can_read, can_write)
    }

    /// The channel's region.
    pub(crate) fn ring(&self) -> &HostRing {
        self.channel.region()
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
                Err(e) => return Poll::Ready(Err(channel_errno(&e))),
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
            Err(e) => Poll::Ready(Err(channel_errno(&e))),
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
                Err(e) => return Poll::Ready(Err(channel_errno(&e))),
            }
        }
        let Some(writer) = self.writer.as_mut() else { return Poll::Ready(Err(Errno::InvalidArgument)) };
        match writer.try_write(data) {
            Ok(Sent::Sent) | Ok(Sent::Dropped) => Poll::Ready(Ok(data.len())),
            Err(ChannelError::WouldBlock) => Poll::Pending,
            Err(e) => Poll::Ready(Err(channel_errno(&e))),
        }
    }
}

impl ControlFile for ChanFile {
    fn frames_into(&self) -> Option<HostRing> {
        self.can_write.then(|| self.channel.region().clone())
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
