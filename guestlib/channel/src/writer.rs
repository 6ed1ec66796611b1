//! Channel writers.
//!
//! A write: reserve room by compare-and-swap on the tail word (expecting
//! the tail this writer last saw, so an unopposed writer succeeds at
//! once; a failed swap returns the actual tail, state and flags), check
//! the room against the strong readers' floor (cached; refreshed only when
//! the cached floor says "full"), publish the frame with one
//! `region_write2` of its 16-byte header and the payload where it lies
//! (the host stores the marker last; no staging copy), then, if the
//! swapped word said readers were parked, wake them.
//!
//! A batch ([`Writer::write_batch`]) is the same steps for all the frames
//! that fit in the rest of the first one's block (and in the room): one
//! swap reserves them, and they are published by the first frame's marker,
//! stored last, whose header's `batch` field counts the bytes of the
//! frames after it. Frames of 512 bytes and more are written in place
//! through a window; smaller ones are staged and copied at once.

use alloc::rc::Rc;
use alloc::vec::Vec;

use crate::layout::{self, off, Geometry, FRAME_HEADER, PAD};
use crate::{state_error, ChannelError, Result, RingRegion, Shared, Wait};

/// Batches whose first frame has at least this many bytes are written in
/// place when the region is mapped; smaller frames are staged and copied
/// at once (as the reader's `IN_PLACE_MIN`).
const IN_PLACE_MIN: usize = 512;

/// Writer kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriterKind {
    /// Keeps the stream open: when the last strong writer closes, the
    /// channel drains.
    Strong,
    /// Does not keep the stream open.
    Weak,
}

/// What became of a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sent {
    /// Published.
    Sent,
    /// Dropped: the channel was full and its backpressure is `Drop`.
    Dropped,
}

/// A channel writer.
#[derive(Debug)]
pub struct Writer<R: RingRegion> {
    shared: Rc<Shared<R>>,
    id: u32,
    kind: WriterKind,
    /// The tail word as last seen (a guess for the next swap).
    tail: u64,
    /// A position no strong reader is behind.
    floor: u64,
    closed: bool,
    /// Where a batch is staged when the region is not mapped.
    stage: Vec<u8>,
}

impl<R: RingRegion> Writer<R> {
    pub(super) fn new(shared: Rc<Shared<R>>, kind: WriterKind) -> Result<Writer<R>> {
        let r = &shared.region;
        let tail = r.load_u64(off::TAIL)?;
        if let Some(e) = state_error(layout::split_tail(tail).1) {
            return Err(e);
        }
        let id = r.fetch_add_u32(off::NEXT_WRITER, 1)?;
        if kind == WriterKind::Strong {
            r.fetch_add_u32(off::WRITERS, 1)?;
        }
        Ok(Writer { shared, id, kind, tail, floor: 0, closed: false, stage: Vec::new() })
    }

    /// This writer's id, carried by each of its frames.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// Writes a frame, parking while a `Park` channel is full.
    pub fn write(&mut self, payload: &[u8]) -> Result<Sent> {
        self.send(payload, true)
    }

    /// Writes a frame, or returns [`ChannelError::WouldBlock`] when a
    /// `Park` channel is full.
    pub fn try_write(&mut self, payload: &[u8]) -> Result<Sent> {
        self.send(payload, false)
    }

    /// True when a frame of `len` payload bytes would be written at once:
    /// room in the ring (or a `Drop` channel, which never waits), or the
    /// channel no longer open (the write fails at once). For readiness
    /// (`fevent`); a write may still find the room taken by another writer.
    pub fn has_room(&mut self, len: usize) -> Result<bool> {
        let geo = self.shared.geo;
        let r = &self.shared.region;
        let word = r.load_u64(off::TAIL)?;
        self.tail = word;
        let (tail, state) = layout::split_tail(word);
        if state_error(state).is_some() || self.shared.drop_when_full {
            return Ok(true);
        }
        let end = geo.place(tail, (len as u64).min(geo.max_payload())).end;
        if end > self.floor.saturating_add(geo.capacity) {
            self.floor = floor_to_use(r, tail)?;
        }
        Ok(end <= self.floor.saturating_add(geo.capacity))
    }

    /// Closes the writer. Closing the last strong writer drains the
    /// channel.
    pub fn close(mut self) -> Result<()> {
        self.close_inner()
    }

    fn close_inner(&mut self) -> Result<()> {
        if self.closed {
            return Ok(());
        }
        self.closed = true;
        if self.kind == WriterKind::Strong {
            let r = &self.shared.region;
            if r.fetch_add_u32(off::WRITERS, u32::MAX)? == 1 {
                crate::set_state(r, layout::DRAINING)?;
            }
        }
        Ok(())
    }

    fn send(&mut self, payload: &[u8], block: bool) -> Result<Sent> {
        match self.send_batch(&[payload], block)? {
            1 => Ok(Sent::Sent),
            _ => Ok(Sent::Dropped),
        }
    }

    /// Writes `frames` in order, each a frame of its own, parking while a
    /// `Park` channel is full. The frames that fit in the rest of a ring
    /// block go as one batch: one compare-and-swap reserves them all and
    /// one marker store publishes them all (readers then read the batch
    /// with one hostcall). Returns how many frames were sent: all of
    /// them, except on a `Drop` channel that was full, which drops the
    /// rest. An error may come after some frames were sent.
    pub fn write_batch(&mut self, frames: &[&[u8]]) -> Result<usize> {
        self.send_batch(frames, true)
    }

    fn send_batch(&mut self, frames: &[&[u8]], block: bool) -> Result<usize> {
        let geo = self.shared.geo;
        if frames.iter().any(|f| f.len() as u64 > geo.max_payload()) {
            return Err(ChannelError::TooLarge);
        }
        let shared = self.shared.clone();
        let r = &shared.region;
        let mut sent = 0;
        while sent < frames.len() {
            let word = self.tail;
            let (tail, state) = layout::split_tail(word);
            if let Some(e) = state_error(state) {
                return Err(e);
            }
            let place = geo.place(tail, frames[sent].len() as u64);
            if place.end > self.floor.saturating_add(geo.capacity) {
                self.floor = floor_to_use(r, tail)?;
                if place.end > self.floor.saturating_add(geo.capacity) {
                    if self.shared.drop_when_full {
                        return Ok(sent);
                    }
                    if !block {
                        return if sent > 0 { Ok(sent) } else { Err(ChannelError::WouldBlock) };
                    }
                    self.wait_for_space(tail, place.end)?;
                    self.tail = r.load_u64(off::TAIL)?;
                    continue;
                }
            }
            // The frames after the first that fit in its block and in
            // the room.
            let limit = geo.next_block(place.frame_at).min(self.floor.saturating_add(geo.capacity));
            let mut end = place.end;
            let mut count = 1;
            for f in &frames[sent + 1..] {
                let next = end + Geometry::frame_size(f.len() as u64);
                if next > limit {
                    break;
                }
                end = next;
                count += 1;
            }
            // The new word drops the "readers parked" flag: this writer
            // takes the duty of waking them.
            let new = layout::tail_word(end, layout::OPEN);
            match r.compare_exchange_u64(off::TAIL, word, new)? {
                Ok(_) => self.tail = new,
                Err(actual) => {
                    self.tail = actual;
                    continue;
                }
            }
            if let Some(pad) = place.pad_at {
                r.store_u64(geo.region_offset(pad), geo.marker(pad, PAD))?;
            }
            self.publish(place.frame_at, &frames[sent..sent + count], end - place.end)?;
            sent += count;
            if word & layout::READERS_WAITING != 0 {
                r.fetch_add_u32(off::DATA_SEQ, 1)?;
                r.notify(off::DATA_SEQ, u32::MAX)?;
            }
        }
        Ok(sent)
    }

    /// Writes the frames from `at` and publishes them with the first
    /// one's marker, stored last (by the host, or by an atomic store
    /// after plain writes into a window); `batch` is the bytes of frames
    /// after the first. A lone frame goes in one `region_write2`, header
    /// and payload straight from where they are; a batch is written in
    /// place through a window, or staged and written in one
    /// `region_write2`. The bytes between a payload's end and the next
    /// frame are left as they were: readers never look at them.
    fn publish(&mut self, at: u64, frames: &[&[u8]], batch: u64) -> Result<()> {
        let geo = self.shared.geo;
        let r = &self.shared.region;
        let head = self.header(at, frames[0].len(), batch as u32);
        if frames.len() == 1 {
            return Ok(r.write2(geo.region_offset(at), &head, frames[0])?);
        }
        let mut p = at + Geometry::frame_size(frames[0].len() as u64);
        if frames[0].len() >= IN_PLACE_MIN && r.view(0, 0).is_some() {
            for f in &frames[1..] {
                let off = geo.region_offset(p);
                r.write_plain(off, &self.header(p, f.len(), 0))?;
                r.write_plain(off + FRAME_HEADER, f)?;
                p += Geometry::frame_size(f.len() as u64);
            }
            return Ok(r.write2(geo.region_offset(at), &head, frames[0])?);
        }
        let mut stage = core::mem::take(&mut self.stage);
        stage.clear();
        stage.extend_from_slice(frames[0]);
        for f in &frames[1..] {
            stage.resize((p - at - FRAME_HEADER) as usize, 0);
            stage.extend_from_slice(&self.header(p, f.len(), 0));
            stage.extend_from_slice(f);
            p += Geometry::frame_size(f.len() as u64);
        }
        let written = r.write2(geo.region_offset(at), &head, &stage);
        self.stage = stage;
        Ok(written?)
    }

    /// The header of a frame of `len` bytes at `p`.
    fn header(&self, p: u64, len: usize, batch: u32) -> [u8; FRAME_HEADER as usize] {
        let mut head = [0u8; FRAME_HEADER as usize];
        head[..8].copy_from_slice(&self.shared.geo.marker(p, len as u32).to_le_bytes());
        head[8..12].copy_from_slice(&self.id.to_le_bytes());
        head[12..16].copy_from_slice(&batch.to_le_bytes());
        head
    }

    /// Parks until strong readers free room for a frame ending at `end`.
    fn wait_for_space(&mut self, tail: u64, end: u64) -> Result<()> {
        let shared = self.shared.clone();
        let r = &shared.region;
        let geo = self.shared.geo;
        r.fetch_add_u32(off::WAITING_WRITERS, 1)?;
        let result = (|| {
            let seq = r.load_u32(off::SPACE_SEQ)?;
            self.floor = floor_to_use(r, tail)?;
            let (_, state) = layout::split_tail(r.load_u64(off::TAIL)?);
            if end > self.floor.saturating_add(geo.capacity) && state == layout::OPEN {
                let _: Wait = r.wait(off::SPACE_SEQ, seq, None)?;
            }
            Ok(())
        })();
        r.fetch_add_u32(off::WAITING_WRITERS, u32::MAX)?;
        result
    }
}

impl<R: RingRegion> Drop for Writer<R> {
    fn drop(&mut self) {
        let _ = self.close_inner();
    }
}

/// The readers' floor a writer may write up to (plus the capacity), made
/// known in the header's `floor_hint` first: a strong reader that joins
/// at the oldest frame starts no lower than the hint, so no writer holds a
/// cached floor above a reader it has not seen. (Hint first, readers read
/// again after: a reader joining meanwhile either finds the hint raised or
/// is seen by the second read; all atomics are sequentially consistent.)
fn floor_to_use<R: RingRegion>(r: &R, tail: u64) -> core::result::Result<u64, ChannelError> {
    let first = reader_floor(r, tail)?;
    loop {
        let hint = r.load_u64(off::FLOOR_HINT)?;
        if hint >= first || r.compare_exchange_u64(off::FLOOR_HINT, hint, first)?.is_ok() {
            break;
        }
    }
    Ok(reader_floor(r, tail)?.min(first))
}

/// The lowest strong reader position, or `tail` when there is none (a
/// reader registering later starts at or after the tail it sees).
fn reader_floor<R: RingRegion>(r: &R, tail: u64) -> core::result::Result<u64, ChannelError> {
    let mut slots = [0u8; layout::READER_SLOTS * 8];
    r.read(off::READERS, &mut slots)?;
    let floor = slots
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
        .filter(|p| *p != layout::FREE_SLOT)
        .min()
        .unwrap_or(tail);
    Ok(floor.min(tail))
}
