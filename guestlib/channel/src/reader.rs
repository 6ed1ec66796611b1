//! Channel readers.
//!
//! A read: one `region_read2` of the tail word (termination shows there)
//! and, from the reader's position, of the frame header (the host loads
//! the marker first, atomically) — with as many bytes after it as the
//! last batch had, for a reader that copies. If the marker says
//! "published this lap", the frame is there: in place, through a window
//! (a strong reader over a mapped region: the payload handed out is the
//! ring's own bytes, which no writer overwrites before the reader moves
//! on), or in the reader's buffer (a second read fetches the rest of a
//! longer batch). The header's `batch` field tells how many bytes of
//! frames after it were published by the same marker: those frames are
//! read with no further hostcall. Otherwise the reader looks
//! at the tail: lapped (a weak reader fell behind, or a strong one joined
//! late) means loss, counted and skipped to the oldest intact block;
//! otherwise the channel is empty (or a frame is in flight) and the
//! reader parks on `data_seq`, or reports end-of-stream when draining.
//! A termination is seen at the next marker loaded (the end of a batch).
//!
//! Strong readers publish their position in their slot every quarter of
//! the ring and before parking, and wake parked writers. A reader whose
//! handle lacks `WRITE` (only possible for weak readers) cannot register
//! as parked; it polls an empty channel every millisecond instead.

use alloc::rc::Rc;
use alloc::vec;
use alloc::vec::Vec;

use crate::layout::{self, off, Geometry, FRAME_HEADER, PAD};
use crate::{ChannelError, Result, RingRegion, Shared};

/// How often a reader without `WRITE` rights looks for new frames when
/// the channel is empty.
const READ_ONLY_POLL: core::time::Duration = core::time::Duration::from_millis(1);

/// Reader kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReaderKind {
    /// Holds writers back: no frame it has not read is overwritten (up to
    /// 8 per channel; needs `WRITE` rights to publish its position).
    Strong,
    /// Never holds writers back; told how many bytes it lost.
    Weak,
}

/// Where a new reader starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// At the oldest frame still in the ring.
    Oldest,
    /// At the next frame written.
    Now,
}

/// A frame read from a channel.
#[derive(Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    /// The id of the writer that wrote it.
    pub writer: u32,
    /// Bytes this reader lost (overwritten before it read them) between
    /// its previous frame and this one.
    pub lost: u64,
    /// The payload.
    pub payload: &'a [u8],
}

/// A channel reader.
#[derive(Debug)]
pub struct Reader<R: RingRegion> {
    shared: Rc<Shared<R>>,
    kind: ReaderKind,
    slot: Option<u64>,
    pos: u64,
    published: u64,
    lost: u64,
    /// Bytes the copying read of the next frame asks for (the last
    /// batch's).
    guess: usize,
    /// Copying readers: the bytes from position `staged` (`staged_len`
    /// of them).
    buf: Vec<u8>,
    staged: u64,
    staged_len: u64,
    /// Frames below this position are published: they belong to the
    /// batch whose head's marker was loaded last.
    trusted: u64,
    /// The region is mapped (a window) and this is a strong reader
    /// (writers overwrite nothing a strong reader has not released).
    mapped: bool,
    /// The current batch is read in place, not from `buf`.
    in_place: bool,
}

/// Frames of at least this many bytes are handed out in place when the
/// region is mapped; smaller ones are copied into the reader's buffer with
/// the rest of their batch (one copy of the whole batch beats reading many
/// small frames' headers from memory another core just wrote: 64 B frames
/// went 1.1–1.8 times as fast copied, on 2 workers of the 2-core
/// development machine; 4 KiB frames 1.3–2.0 times as fast in place).
const IN_PLACE_MIN: u32 = 512;

/// What a read does when no frame is published at its position.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Block {
    /// Returns [`ChannelError::WouldBlock`] ([`Reader::try_read`]).
    Never,
    /// Waits ([`Reader::read`]).
    Park,
    /// Flags and waits, but never for a writer mid-frame
    /// ([`Reader::poll`]).
    Flag,
}

/// Where a frame's payload is.
enum Payload {
    /// In `buf` (start, end).
    Buf(usize, usize),
    /// In the region, mapped (region offset, length).
    InPlace(u64, usize),
}

impl<R: RingRegion> Reader<R> {
    pub(super) fn new(shared: Rc<Shared<R>>, kind: ReaderKind, start: Start) -> Result<Reader<R>> {
        let r = &shared.region;
        let geo = shared.geo;
        let (tail, _) = layout::split_tail(r.load_u64(off::TAIL)?);
        let mut pos = match start {
            Start::Oldest => geo.oldest(tail),
            Start::Now => tail,
        };
        let slot = if kind == ReaderKind::Strong { Some(claim_slot(r, pos)?) } else { None };
        if let Some(slot) = slot {
            // Writers may have cached a floor above the oldest frame and
            // overwrite up to it: start no lower (see the writer's
            // `floor_to_use`).
            let hint = r.load_u64(off::FLOOR_HINT)?.min(tail);
            if hint > pos {
                pos = hint;
                r.store_u64(off::READERS + slot * 8, pos)?;
            }
        }
        let mapped = kind == ReaderKind::Strong && r.view(0, 0).is_some();
        let buf = vec![0u8; geo.block as usize];
        Ok(Reader {
            shared,
            kind,
            slot,
            pos,
            published: pos,
            lost: 0,
            guess: 64,
            buf,
            staged: 0,
            staged_len: 0,
            trusted: 0,
            mapped,
            in_place: false,
        })
    }

    /// The reader's kind.
    pub fn kind(&self) -> ReaderKind {
        self.kind
    }

    /// The next frame, parking while the channel is empty.
    /// End of stream is [`ChannelError::Closed`].
    pub fn read(&mut self) -> Result<Frame<'_>> {
        self.next(Block::Park)
    }

    /// The next frame, or [`ChannelError::WouldBlock`] when empty.
    pub fn try_read(&mut self) -> Result<Frame<'_>> {
        self.next(Block::Never)
    }

    /// As [`Reader::read`] for a caller that must not be held: with
    /// nothing written, the channel is flagged as read-waited and
    /// [`RingRegion::wait`] is called as by `read` (a region whose wait
    /// returns at once, with an error, queues a wake-up instead of
    /// parking); a frame reserved by a writer but not yet published is
    /// [`ChannelError::WouldBlock`] at once, where `read` would spin until
    /// the writer publishes it (and for ever if that writer never does):
    /// that writer does not notify this reader, so such a caller looks
    /// again soon.
    pub fn poll(&mut self) -> Result<Frame<'_>> {
        self.next(Block::Flag)
    }

    /// True when a read would not wait: a frame is published at the
    /// reader's position, frames were lost, or the channel ended.
    pub fn is_ready(&mut self) -> Result<bool> {
        let geo = self.shared.geo;
        let word = self.shared.region.load_u64(off::TAIL)?;
        let (tail, state) = layout::split_tail(word);
        let p = geo.header_at(self.pos);
        if p < self.trusted || state != layout::OPEN || geo.overwritten(p, tail) {
            return Ok(true);
        }
        let mut marker = [0u8; 8];
        self.shared.region.read(geo.region_offset(p), &mut marker)?;
        Ok(geo.published_len(p, u64::from_le_bytes(marker)).is_some())
    }

    fn next(&mut self, block: Block) -> Result<Frame<'_>> {
        let (writer, payload) = self.locate(block)?;
        let lost = core::mem::take(&mut self.lost);
        let payload = match payload {
            Payload::Buf(start, end) => &self.buf[start..end],
            Payload::InPlace(offset, len) => {
                self.shared.region.view(offset, len).ok_or(ChannelError::Sys(wasmd_abi::Errno::OutOfRange))?
            }
        };
        Ok(Frame { writer, lost, payload })
    }

    /// Finds the next frame: its writer and where its payload is.
    fn locate(&mut self, block: Block) -> Result<(u32, Payload)> {
        let geo = self.shared.geo;
        loop {
            let p = geo.header_at(self.pos);
            self.pos = p;
            // Everything before `p` has been read (a frame handed out in
            // place is not overwritten while it is borrowed).
            if p - self.published >= geo.capacity / 4 {
                self.publish()?;
            }
            if p < self.trusted {
                // Published with a batch whose head's marker was loaded.
                if let Some(found) = self.next_in_batch(p) {
                    return Ok(found);
                }
                self.trusted = 0;
            }
            let room = geo.block - (p & (geo.block - 1));
            let (header, word) = self.acquire(p, room)?;
            let marker = u64::from_le_bytes(header[..8].try_into().unwrap_or_default());
            match geo.published_len(p, marker) {
                Some(PAD) => self.pos = geo.next_block(p),
                Some(len) => {
                    let size = Geometry::frame_size(u64::from(len));
                    let end = FRAME_HEADER + u64::from(len);
                    if end > room {
                        // A corrupt marker (only a misbehaving writer makes one).
                        self.pos = geo.next_block(p);
                        continue;
                    }
                    // The frames of the same batch follow it.
                    let batch = u64::from(u32::from_le_bytes(header[12..16].try_into().unwrap_or_default()));
                    self.trusted = (p + size).saturating_add(batch).min(geo.next_block(p));
                    self.guess = (self.trusted - p) as usize;
                    self.stage(p, self.trusted - p, len)?;
                    let writer = u32::from_le_bytes(header[8..12].try_into().unwrap_or_default());
                    self.pos = p + size;
                    let payload = if self.in_place {
                        Payload::InPlace(geo.region_offset(p) + FRAME_HEADER, len as usize)
                    } else {
                        Payload::Buf(FRAME_HEADER as usize, end as usize)
                    };
                    return Ok((writer, payload));
                }
                None => self.nothing_published(p, word, block)?,
            }
        }
    }

    /// One `region_read2`: the tail word, then from `p` the frame header
    /// (in place) or as many bytes as the last batch had (copying), the
    /// marker loaded first. Returns the header and the tail word; a
    /// terminated channel is an error even with a frame there.
    fn acquire(&mut self, p: u64, room: u64) -> Result<([u8; FRAME_HEADER as usize], u64)> {
        let geo = self.shared.geo;
        let chunk = if self.mapped {
            FRAME_HEADER as usize
        } else {
            self.guess.clamp(FRAME_HEADER as usize, room as usize)
        };
        let mut tail_word = [0u8; 8];
        self.shared.region.read2(off::TAIL, &mut tail_word, geo.region_offset(p), &mut self.buf[..chunk])?;
        self.staged = p;
        self.staged_len = chunk as u64;
        let word = u64::from_le_bytes(tail_word);
        if word >> layout::STATE_SHIFT == layout::TERMINATED {
            return Err(ChannelError::Aborted);
        }
        let mut header = [0u8; FRAME_HEADER as usize];
        header.copy_from_slice(&self.buf[..FRAME_HEADER as usize]);
        Ok((header, word))
    }

    /// The frame at `p` inside the current batch, if its marker is sane
    /// (only a misbehaving writer makes one that is not).
    fn next_in_batch(&mut self, p: u64) -> Option<(u32, Payload)> {
        let geo = self.shared.geo;
        let header = if self.in_place {
            self.shared.region.view(geo.region_offset(p), FRAME_HEADER as usize)?
        } else {
            let at = (p - self.staged) as usize;
            self.buf.get(at..at + FRAME_HEADER as usize)?
        };
        let marker = u64::from_le_bytes(header[..8].try_into().ok()?);
        let writer = u32::from_le_bytes(header[8..12].try_into().ok()?);
        let len = geo.published_len(p, marker).filter(|len| *len != PAD)?;
        let size = Geometry::frame_size(u64::from(len));
        if p + size > self.trusted {
            return None;
        }
        self.pos = p + size;
        let payload = if self.in_place {
            Payload::InPlace(geo.region_offset(p) + FRAME_HEADER, len as usize)
        } else {
            let start = (p - self.staged) as usize + FRAME_HEADER as usize;
            Payload::Buf(start, start + len as usize)
        };
        Some((writer, payload))
    }

    /// Makes the batch headed at `p` (`len` bytes, its first frame
    /// `first` bytes; its marker was loaded, so plain reads) readable: in
    /// place, or in `buf` (copied from the window, or read).
    fn stage(&mut self, p: u64, len: u64, first: u32) -> Result<()> {
        self.in_place = self.mapped && first >= IN_PLACE_MIN;
        if self.in_place || len <= self.staged_len {
            return Ok(());
        }
        let from = self.shared.geo.region_offset(p) + self.staged_len;
        let dst = &mut self.buf[self.staged_len as usize..len as usize];
        match self.shared.region.view(from, dst.len()) {
            Some(bytes) => dst.copy_from_slice(bytes),
            None => self.shared.region.read(from, dst)?,
        }
        self.staged_len = len;
        Ok(())
    }

    /// Nothing is published at `p` (the tail word read just before was
    /// `word`): skips lost bytes, reports the end of stream, yields to a
    /// writer with a frame in flight, or parks; then the caller looks
    /// again.
    fn nothing_published(&mut self, p: u64, word: u64, block: Block) -> Result<()> {
        let geo = self.shared.geo;
        let shared = self.shared.clone();
        let r = &shared.region;
        let (tail, state) = layout::split_tail(word);
        if geo.overwritten(p, tail) {
            let oldest = geo.oldest(tail);
            self.lost += oldest - p;
            self.pos = oldest;
            return Ok(());
        }
        self.publish()?;
        if p >= tail && state == layout::DRAINING {
            return Err(ChannelError::Closed);
        }
        if block == Block::Never {
            return Err(ChannelError::WouldBlock);
        }
        if p < tail {
            // Reserved but not yet published: its writer is mid-frame.
            if block == Block::Flag {
                return Err(ChannelError::WouldBlock);
            }
            r.yield_now();
            return Ok(());
        }
        // Nothing reserved past `p`: set the flag (unless a writer moved
        // the tail meanwhile) and park until a writer publishes.
        //
        // `word` was read before `seq`: a writer may have reserved,
        // published and bumped `data_seq` in between, so `seq` alone does
        // not prove the frame is not there yet. What does is finding the
        // tail word unchanged *after* loading `seq`: any writer that moves
        // it from then on sees the flag and bumps `data_seq` past `seq`
        // (the tail only grows and a writer's word never carries the flag,
        // so an unchanged word means no writer came). The compare-and-swap
        // that sets the flag is that check; when the flag is already set
        // (this reader's own, left by a spurious or stale wake-up, or
        // another reader's), reading the word again is.
        let seq = r.load_u32(off::DATA_SEQ)?;
        if word & layout::READERS_WAITING == 0 {
            match r.compare_exchange_u64(off::TAIL, word, word | layout::READERS_WAITING) {
                Ok(Ok(_)) => {}
                Ok(Err(_)) => return Ok(()),
                Err(wasmd_abi::Errno::PermissionDenied) => {
                    // A read-only reader cannot set the flag, so writers
                    // will not wake it: it polls with short timed waits.
                    r.wait(off::DATA_SEQ, seq, Some(READ_ONLY_POLL))?;
                    return Ok(());
                }
                Err(e) => return Err(e.into()),
            }
        } else if r.load_u64(off::TAIL)? != word {
            return Ok(());
        }
        r.wait(off::DATA_SEQ, seq, None)?;
        Ok(())
    }

    /// Publishes a strong reader's position and wakes parked writers.
    fn publish(&mut self) -> Result<()> {
        let Some(slot) = self.slot else { return Ok(()) };
        if self.published == self.pos {
            return Ok(());
        }
        let r = &self.shared.region;
        r.store_u64(off::READERS + slot * 8, self.pos)?;
        self.published = self.pos;
        if r.load_u32(off::WAITING_WRITERS)? > 0 {
            r.fetch_add_u32(off::SPACE_SEQ, 1)?;
            r.notify(off::SPACE_SEQ, u32::MAX)?;
        }
        Ok(())
    }
}

impl<R: RingRegion> Drop for Reader<R> {
    fn drop(&mut self) {
        if let Some(slot) = self.slot {
            let r = &self.shared.region;
            let _ = r.store_u64(off::READERS + slot * 8, layout::FREE_SLOT);
            if r.load_u32(off::WAITING_WRITERS).unwrap_or(0) > 0 {
                let _ = r.fetch_add_u32(off::SPACE_SEQ, 1);
                let _ = r.notify(off::SPACE_SEQ, u32::MAX);
            }
        }
    }
}

/// Claims a free strong reader slot at `pos`.
fn claim_slot<R: RingRegion>(r: &R, pos: u64) -> Result<u64> {
    for slot in 0..layout::READER_SLOTS as u64 {
        let at = off::READERS + slot * 8;
        if r.compare_exchange_u64(at, layout::FREE_SLOT, pos)?.is_ok() {
            return Ok(slot);
        }
    }
    Err(ChannelError::NoReaderSlot)
}
