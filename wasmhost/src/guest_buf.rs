//! [`GuestBuf`]: a range of a guest's linear memory that a hostcall was
//! given to fill, kept while the call waits.
//!
//! Only [`GuestBuf::decode`] makes one, from the guest's pointer and
//! length, checked against its memory when the call is decoded (a bad
//! range is `Errno::BadAddress` then). Linear memory only grows, so the range stays
//! inside it for the life of the process. Whatever answers later — a
//! provider guest, a worker, the OS — the answer goes through
//! [`GuestBuf::fill`], which never writes beyond the range: an answer
//! longer than what the guest asked for is refused whole
//! ([`TooLong`]), structurally, not by a check each caller must remember.

use wasmd_abi::Errno;

/// A checked range `[ptr, ptr + len)` of one guest's memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuestBuf {
    ptr: u32,
    len: u32,
}

/// An answer did not fit the guest's buffer; nothing was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{needed} bytes do not fit a {room}-byte guest buffer")]
pub struct TooLong {
    /// The answer's length.
    pub needed: usize,
    /// The buffer's length.
    pub room: usize,
}

impl GuestBuf {
    /// Checks the guest's `ptr` and `len` (unsigned 32-bit values carried
    /// in `i32`) against a memory of `mem_len` bytes: `Errno::BadAddress` when the
    /// range is not inside it.
    pub fn decode(mem_len: usize, ptr: i32, len: i32) -> Result<GuestBuf, Errno> {
        let (ptr, len) = (ptr as u32, len as u32);
        let end = (ptr as usize).checked_add(len as usize).ok_or(Errno::BadAddress)?;
        if end > mem_len {
            return Err(Errno::BadAddress);
        }
        Ok(GuestBuf { ptr, len })
    }

    /// The same start, at most `max` bytes long.
    pub fn at_most(self, max: usize) -> GuestBuf {
        GuestBuf { ptr: self.ptr, len: self.len.min(u32::try_from(max).unwrap_or(u32::MAX)) }
    }

    /// Its length.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// True when it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Copies `data` to the start of the range in `memory` (the guest's
    /// linear memory); returns `data.len()`. `TooLong`, writing nothing,
    /// when it does not fit.
    pub fn fill(&self, memory: &mut [u8], data: &[u8]) -> Result<usize, TooLong> {
        if data.len() > self.len() {
            return Err(TooLong { needed: data.len(), room: self.len() });
        }
        let start = self.ptr as usize;
        // The range was inside the memory at decode and memory never
        // shrinks; `get_mut` keeps even a broken invariant from panicking.
        if let Some(dst) = memory.get_mut(start..start + data.len()) {
            dst.copy_from_slice(data);
        }
        Ok(data.len())
    }

    /// Copies `parts` back to back to the start of the range, as
    /// [`GuestBuf::fill`] of their concatenation would.
    pub fn fill_parts(&self, memory: &mut [u8], parts: &[&[u8]]) -> Result<usize, TooLong> {
        let total: usize = parts.iter().map(|p| p.len()).sum();
        if total > self.len() {
            return Err(TooLong { needed: total, room: self.len() });
        }
        let mut at = self.ptr as usize;
        for part in parts {
            // Inside the memory: see `fill`.
            if let Some(dst) = memory.get_mut(at..at + part.len()) {
                dst.copy_from_slice(part);
            }
            at += part.len();
        }
        Ok(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_checks_the_range_once_and_fill_never_overruns() {
        assert_eq!(GuestBuf::decode(10, 5, 6), Err(Errno::BadAddress));
        assert_eq!(GuestBuf::decode(10, -1, 1), Err(Errno::BadAddress));
        assert_eq!(GuestBuf::decode(10, 1, -1), Err(Errno::BadAddress));
        let buf = GuestBuf::decode(32, 16, 16).unwrap();
        let mut mem = [0u8; 32];
        assert_eq!(buf.fill(&mut mem, &[7; 4096]), Err(TooLong { needed: 4096, room: 16 }));
        assert_eq!(mem, [0; 32], "nothing written");
        assert_eq!(buf.fill(&mut mem, &[7; 16]), Ok(16));
        assert_eq!(&mem[..16], &[0; 16]);
        assert_eq!(&mem[16..], &[7; 16]);
        let small = buf.at_most(4);
        assert_eq!(small.len(), 4);
        assert!(small.fill(&mut mem, &[1; 5]).is_err());
        assert!(GuestBuf::decode(32, 32, 0).unwrap().is_empty());
        let mut mem = [0u8; 8];
        let buf = GuestBuf::decode(8, 2, 5).unwrap();
        assert_eq!(buf.fill_parts(&mut mem, &[b"ab", b"", b"cde"]), Ok(5));
        assert_eq!(&mem, b"\0\0abcde\0");
        assert!(buf.fill_parts(&mut mem, &[b"abc", b"def"]).is_err());
    }
}
