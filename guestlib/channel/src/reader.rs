//! Channel readers.
//!
//! A read: one `region_read2` of the tail word (termination shows there)
//! and, from the reader's position, of as many bytes as the last frame had
//! (the host loads the marker first, atomically);
//! if the marker says "published this lap", the frame is there (a second
//! read fetches the rest of a longer frame). Otherwise the reader looks
//! at the tail: lapped (a weak reader fell behind, or a strong one joined
//! late) means loss, counted and skipped to the oldest intact block;
//! otherwise the channel is empty (or a frame is in flight) and the
//! reader parks on `data_seq`, or reports end-of-stream when draining.
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
    guess: usize,
    buf: Vec<u8>,
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
        let buf = vec![0u8; geo.block as usize];
        Ok(Reader { shared, kind, slot, pos, published: pos, lost: 0, guess: 64, buf })
    }

    /// The reader's kind.
    pub fn kind(&self) -> ReaderKind {
        self.kind
    }

    /// The next frame, parking while the channel is empty.
    /// End of stream is [`ChannelError::Closed`].
    pub fn read(&mut self) -> Result<Frame<'_>> {
        self.next(true)
    }

    /// The next frame, or [`ChannelError::WouldBlock`] when empty.
    pub fn try_read(&mut self) -> Result<Frame<'_>> {
        self.next(false)
    }

    /// True when a read would not wait: a frame is published at the
    /// reader's position, frames were lost, or the channel ended.
    pub fn is_ready(&mut self) -> Result<bool> {
        let geo = self.shared.geo;
        let word = self.shared.region.load_u64(off::TAIL)?;
        let (tail, state) = layout::split_tail(word);
        let p = geo.header_at(self.pos);
        if state != layout::OPEN || geo.overwritten(p, tail) {
            return Ok(true);
        }
        let mut marker = [0u8; 8];
        self.shared.region.read(geo.region_offset(p), &mut marker)?;
        Ok(geo.published_len(p, u64::from_le_bytes(marker)).is_some())
    }

    fn next(&mut self, block: bool) -> Result<Frame<'_>> {
        let geo = self.shared.geo;
        loop {
            // The tail word carries the state: a terminated channel stops
            // every reader at once, whatever is left in the ring.
            // One hostcall reads the tail word, then the frame's likely
            // extent (the size of the last frame).
            let p = geo.header_at(self.pos);
            self.pos = p;
            let room = (geo.block - (p & (geo.block - 1))) as usize;
            let chunk = self.guess.clamp(FRAME_HEADER as usize, room);
            let mut tail_word = [0u8; 8];
            self.shared.region.read2(
                off::TAIL,
                &mut tail_word,
                geo.region_offset(p),
                &mut self.buf[..chunk],
            )?;
            let word = u64::from_le_bytes(tail_word);
            let state = word >> layout::STATE_SHIFT;
            if state == layout::TERMINATED {
                return Err(ChannelError::Aborted);
            }
            let marker = u64::from_le_bytes(self.buf[..8].try_into().unwrap_or_default());
            match geo.published_len(p, marker) {
                Some(PAD) => self.pos = geo.next_block(p),
                Some(len) => {
                    let size = Geometry::frame_size(u64::from(len)) as usize;
                    let end = FRAME_HEADER as usize + len as usize;
                    if end > room {
                        // A corrupt marker (only a misbehaving writer makes one).
                        self.pos = geo.next_block(p);
                        continue;
                    }
                    if end > chunk {
                        let at = geo.region_offset(p) + chunk as u64;
                        self.shared.region.read(at, &mut self.buf[chunk..end])?;
                    }
                    self.guess = size;
                    self.pos = p + size as u64;
                    if self.pos - self.published >= geo.capacity / 4 {
                        self.publish()?;
                    }
                    let writer = u32::from_le_bytes(self.buf[8..12].try_into().unwrap_or_default());
                    let lost = core::mem::take(&mut self.lost);
                    return Ok(Frame { writer, lost, payload: &self.buf[FRAME_HEADER as usize..end] });
                }
                None => {
                    if !self.nothing_published(p, word, block)? {
                        continue;
                    }
                }
            }
        }
    }

    /// Nothing is published at `p` (the tail word read just before was
    /// `word`): skips lost bytes, reports the end of stream, yields to a
    /// writer with a frame in flight, or parks. Returns `Ok(false)` to
    /// look again.
    fn nothing_published(&mut self, p: u64, word: u64, block: bool) -> Result<bool> {
        let geo = self.shared.geo;
        let shared = self.shared.clone();
        let r = &shared.region;
        let (tail, state) = layout::split_tail(word);
        if geo.overwritten(p, tail) {
            let oldest = geo.oldest(tail);
            self.lost += oldest - p;
            self.pos = oldest;
            return Ok(false);
        }
        self.publish()?;
        if p >= tail && state == layout::DRAINING {
            return Err(ChannelError::Closed);
        }
        if !block {
            return Err(ChannelError::WouldBlock);
        }
        if p < tail {
            // Reserved but not yet published: its writer is mid-frame.
            r.yield_now();
            return Ok(false);
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
                Ok(Err(_)) => return Ok(false),
                Err(wasmd_abi::Errno::PermissionDenied) => {
                    // A read-only reader cannot set the flag, so writers
                    // will not wake it: it polls with short timed waits.
                    r.wait(off::DATA_SEQ, seq, Some(READ_ONLY_POLL))?;
                    return Ok(false);
                }
                Err(e) => return Err(e.into()),
            }
        } else if r.load_u64(off::TAIL)? != word {
            return Ok(false);
        }
        r.wait(off::DATA_SEQ, seq, None)?;
        Ok(false)
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
