//! Channel layout, version 1: constants and the pure arithmetic of the
//! ring (unit-tested on the host).
//!
//! ```text
//! region offset  size  field
//!   0            4     magic        0x48434457 ("WDCH" in memory)
//!   4            4     version      1
//!   8            4     flags        bit 0: DROP backpressure (else PARK)
//!  12            4     capacity     ring bytes (a power of two)
//!  16            8     tail         bits 0..61: bytes reserved by writers so far;
//!                                   bit 61: a reader is parked waiting for data;
//!                                   bits 62..64: state (0 open, 1 draining, 2 terminated)
//!  24            4     block        block size (a power of two, divides capacity)
//!  28            4     (reserved)
//!  32            4     writers      strong writers still open
//!  36            4     next_writer  writer-id allocator
//!  40            4     data_seq     bumped when a frame is published to waiting readers
//!  44            4     space_seq    bumped when readers free space for waiting writers
//!  48            4     (reserved)
//!  52            4     waiting_writers
//!  56            8     floor_hint   highest readers' floor a writer wrote up to; a strong
//!                                   reader joining at the oldest frame starts no lower
//!  64           64     readers[8]   strong reader positions, u64::MAX = free slot
//! 128     capacity     ring
//! ```
//!
//! Positions are absolute byte counts (`u64`); the ring offset of
//! position `p` is `p % capacity`. The ring is cut into blocks; a frame
//! never crosses a block boundary (nor, therefore, the ring's end): a
//! frame that does not fit in the rest of its block is preceded by a pad
//! frame, or, when fewer than 16 bytes remain, by implicit padding. Every
//! block thus starts with a frame, which is how a reader that lost data
//! finds its footing again.
//!
//! A frame at position `p`:
//!
//! ```text
//!  0  8  marker   (lap(p) + 1) << 32 | len   — written last, atomically
//!  8  4  writer   the writer's id
//! 12  4  batch    bytes of frames right after this one that its marker
//!                 publishes too (0: none; never past this frame's block)
//! 16  len payload, then padding to a multiple of 8 (any bytes)
//! ```
//!
//! A batch is frames one writer reserved at once: it writes all of them,
//! the first one's marker last. A reader that loaded that marker may read
//! the frames in the next `batch` bytes without loading theirs atomically
//! (each still carries its own marker for this lap; a reader that does
//! not know batches reads them one by one, as any frames). Layouts that
//! predate the field have 0 there.
//!
//! `lap(p) = p / capacity` (truncated to 32 bits). A marker whose high
//! half is not `lap(p) + 1` means "not yet published in this lap". A pad
//! frame has `len = PAD`.
//!
//! A writer publishes a frame (or a batch) with one `region_write` of the
//! whole frame: the host stores its first 8 bytes (the marker) last and
//! atomically, so a reader that sees the marker sees the frame. A reader reads a frame
//! with one `region_read` starting at its marker, which the host loads
//! first and atomically. The state and the "reader parked" flag share the
//! tail word, so the writer's one compare-and-swap reserves room, sees a
//! drain and learns whether to wake readers after publishing. A reader
//! parks only when nothing is reserved past its position: it loads
//! `data_seq`, then sets the flag with a compare-and-swap that fails if a
//! writer reserved meanwhile (or, when the flag is already set, reads the
//! tail word again), then waits for `data_seq` to move on from the value
//! it loaded; a frame reserved but not yet published makes it yield.

/// `magic` value.
pub const MAGIC: u32 = u32::from_le_bytes(*b"WDCH");
/// Layout version this library reads and writes.
pub const VERSION: u32 = 1;
/// Flag: a full channel drops new frames instead of parking writers.
pub const FLAG_DROP: u32 = 1;

/// Header field offsets.
pub mod off {
    /// `magic` (u32).
    pub const MAGIC: u64 = 0;
    /// `version` (u32).
    pub const VERSION: u64 = 4;
    /// `flags` (u32).
    pub const FLAGS: u64 = 8;
    /// `capacity` (u32).
    pub const CAPACITY: u64 = 12;
    /// `tail` (u64).
    pub const TAIL: u64 = 16;
    /// `block` (u32).
    pub const BLOCK: u64 = 24;
    /// `writers` (u32).
    pub const WRITERS: u64 = 32;
    /// `next_writer` (u32).
    pub const NEXT_WRITER: u64 = 36;
    /// `data_seq` (u32).
    pub const DATA_SEQ: u64 = 40;
    /// `space_seq` (u32).
    pub const SPACE_SEQ: u64 = 44;
    /// `waiting_writers` (u32).
    pub const WAITING_WRITERS: u64 = 52;
    /// `floor_hint` (u64): the highest readers' floor any writer has
    /// written up to; a strong reader joining at the oldest frame starts
    /// no lower. 0 in channels made before it existed (still version 1:
    /// readers of old channels just start at the oldest frame).
    pub const FLOOR_HINT: u64 = 56;
    /// `readers[8]` (u64 each).
    pub const READERS: u64 = 64;
}

/// Bytes before the ring.
pub const HEADER: u64 = 128;
/// Strong reader slots.
pub const READER_SLOTS: usize = 8;
/// A free reader slot.
pub const FREE_SLOT: u64 = u64::MAX;
/// Frame header bytes.
pub const FRAME_HEADER: u64 = 16;
/// `len` of a pad frame.
pub const PAD: u32 = u32::MAX;

/// State: frames flow.
pub const OPEN: u64 = 0;
/// State: no new frames; readers see end-of-stream after the last.
pub const DRAINING: u64 = 1;
/// State: aborted for everyone.
pub const TERMINATED: u64 = 2;
/// Bits of the tail word below the state.
pub const STATE_SHIFT: u32 = 62;
/// Tail-word flag: a reader is parked waiting for data.
pub const READERS_WAITING: u64 = 1 << 61;
/// Mask of the position in the tail word.
pub const POSITION_MASK: u64 = READERS_WAITING - 1;

/// Splits a tail word into position and state.
#[inline]
pub const fn split_tail(word: u64) -> (u64, u64) {
    (word & POSITION_MASK, word >> STATE_SHIFT)
}

/// Joins a position and a state into a tail word.
#[inline]
pub const fn tail_word(position: u64, state: u64) -> u64 {
    position | (state << STATE_SHIFT)
}

/// The ring geometry of one channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// Ring bytes (power of two).
    pub capacity: u64,
    /// Block bytes (power of two dividing `capacity`).
    pub block: u64,
}

/// Where a frame goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placement {
    /// Position of the pad frame, if one is needed (`Some` only when at
    /// least a frame header fits before the block's end).
    pub pad_at: Option<u64>,
    /// Position of the frame itself.
    pub frame_at: u64,
    /// Position after the frame (the new tail).
    pub end: u64,
}

/// Rounds up to a multiple of 8.
#[inline]
pub const fn align8(n: u64) -> u64 {
    (n + 7) & !7
}

impl Geometry {
    /// Geometry for a ring of `capacity` bytes (rounded down to a power of
    /// two, at least 4 KiB) with blocks of a quarter of it, capped at
    /// 64 KiB... unless frames of `max_frame` bytes need bigger blocks.
    pub fn new(capacity: u64, max_frame: u64) -> Geometry {
        let capacity = if capacity < 4096 { 4096 } else { 1u64 << (63 - capacity.leading_zeros()) };
        let need = (FRAME_HEADER + align8(max_frame)).next_power_of_two();
        let block = (capacity / 4).min(64 * 1024).max(need).min(capacity);
        Geometry { capacity, block }
    }

    /// The largest payload a frame can carry.
    pub fn max_payload(&self) -> u64 {
        self.block - FRAME_HEADER
    }

    /// Bytes a frame with `len` payload bytes takes.
    #[inline]
    pub fn frame_size(len: u64) -> u64 {
        FRAME_HEADER + align8(len)
    }

    /// Ring offset of position `p`.
    #[inline]
    pub fn ring_offset(&self, p: u64) -> u64 {
        p & (self.capacity - 1)
    }

    /// Region offset of position `p`.
    #[inline]
    pub fn region_offset(&self, p: u64) -> u64 {
        HEADER + self.ring_offset(p)
    }

    /// The marker of a published frame of `len` at `p` (or a pad frame).
    #[inline]
    pub fn marker(&self, p: u64, len: u32) -> u64 {
        (u64::from(self.lap_tag(p)) << 32) | u64::from(len)
    }

    /// High half of a marker published at `p`.
    #[inline]
    pub fn lap_tag(&self, p: u64) -> u32 {
        // `capacity` is a power of two: a shift, not a division.
        ((p >> self.capacity.trailing_zeros()) as u32).wrapping_add(1)
    }

    /// The frame length in `marker` if it was published at `p` this lap.
    #[inline]
    pub fn published_len(&self, p: u64, marker: u64) -> Option<u32> {
        ((marker >> 32) as u32 == self.lap_tag(p)).then_some(marker as u32)
    }

    /// Start of the block after the one holding `p`.
    #[inline]
    pub fn next_block(&self, p: u64) -> u64 {
        (p | (self.block - 1)) + 1
    }

    /// Where a reader at `p` finds the next frame header: `p` itself, or
    /// the next block when fewer than a header's bytes remain in this one.
    #[inline]
    pub fn header_at(&self, p: u64) -> u64 {
        if self.block - (p & (self.block - 1)) < FRAME_HEADER {
            self.next_block(p)
        } else {
            p
        }
    }

    /// Where a frame of `len` bytes reserved at tail `t` goes.
    #[inline]
    pub fn place(&self, t: u64, len: u64) -> Placement {
        let size = Self::frame_size(len);
        let room = self.block - (t & (self.block - 1));
        if size <= room {
            return Placement { pad_at: None, frame_at: t, end: t + size };
        }
        let frame_at = self.next_block(t);
        let pad_at = (room >= FRAME_HEADER).then_some(t);
        Placement { pad_at, frame_at, end: frame_at + size }
    }

    /// The oldest position a reader can still read when writers have
    /// reserved up to `tail`: the first block start not overwritten.
    #[inline]
    pub fn oldest(&self, tail: u64) -> u64 {
        if tail <= self.capacity {
            0
        } else {
            let floor = tail - self.capacity;
            if floor & (self.block - 1) == 0 {
                floor
            } else {
                self.next_block(floor)
            }
        }
    }

    /// True when a frame read at `p` may have been overwritten, given
    /// the tail seen after reading it.
    #[inline]
    pub fn overwritten(&self, p: u64, tail_after: u64) -> bool {
        tail_after > p + self.capacity
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geometry_is_powers_of_two() {
        let g = Geometry::new(100_000, 64);
        assert_eq!(g.capacity, 65536);
        assert_eq!(g.block, 16384);
        assert_eq!(g.max_payload(), 16384 - 16);
        let big = Geometry::new(1 << 20, 4096);
        assert_eq!((big.capacity, big.block), (1 << 20, 64 * 1024));
        let needs_big_blocks = Geometry::new(1 << 16, 40_000);
        assert_eq!(needs_big_blocks.block, 65536);
        assert!(needs_big_blocks.max_payload() >= 40_000);
        assert_eq!(Geometry::new(10, 8).capacity, 4096);
    }

    #[test]
    fn markers_carry_lap_and_length() {
        let g = Geometry { capacity: 4096, block: 1024 };
        let m = g.marker(8, 5);
        assert_eq!(g.published_len(8, m), Some(5));
        assert_eq!(g.published_len(8 + 4096, m), None, "a marker from the previous lap");
        assert_eq!(g.published_len(8, 0), None, "a zeroed ring publishes nothing");
        assert_eq!(g.published_len(4096 * 3, g.marker(4096 * 3, PAD)), Some(PAD));
    }

    #[test]
    fn frames_never_cross_blocks() {
        let g = Geometry { capacity: 4096, block: 1024 };
        assert_eq!(g.place(0, 10), Placement { pad_at: None, frame_at: 0, end: 32 });
        // 1000 bytes used; a 100-byte frame needs 120: pad, then next block.
        assert_eq!(g.place(1000, 100), Placement { pad_at: Some(1000), frame_at: 1024, end: 1144 });
        // 8 bytes left: implicit padding.
        assert_eq!(g.place(1016, 1), Placement { pad_at: None, frame_at: 1024, end: 1048 });
        assert_eq!(g.header_at(1016), 1024);
        assert_eq!(g.header_at(1008), 1008);
        // The ring's end is a block end too.
        assert_eq!(g.place(4090 - 2, 64).frame_at, 4096);
        let mut t = 0;
        for len in [1u64, 700, 3, 900, 1000, 17, 0, 512, 1008] {
            let p = g.place(t, len);
            assert_eq!(p.frame_at / 1024, (p.end - 1) / 1024, "frame at {} len {len}", p.frame_at);
            t = p.end;
        }
    }

    #[test]
    fn tail_word_holds_position_and_state() {
        let w = tail_word(12345, DRAINING);
        assert_eq!(split_tail(w), (12345, DRAINING));
        assert_eq!(split_tail(w | READERS_WAITING), (12345, DRAINING));
        assert_eq!(split_tail(tail_word(POSITION_MASK, TERMINATED)), (POSITION_MASK, TERMINATED));
    }

    #[test]
    fn oldest_readable_position() {
        let g = Geometry { capacity: 4096, block: 1024 };
        assert_eq!(g.oldest(100), 0);
        assert_eq!(g.oldest(4096), 0);
        assert_eq!(g.oldest(4097), 1024);
        assert_eq!(g.oldest(4096 + 1024), 1024);
        assert!(g.overwritten(0, 4097));
        assert!(!g.overwritten(1024, 4096 + 1024));
    }
}
