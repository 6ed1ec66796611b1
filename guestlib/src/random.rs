//! OS random bytes (capability `RANDOM`).

use crate::error::{check, Result};
use crate::sys;

/// Fills `buf` with random bytes from the OS.
pub fn fill(buf: &mut [u8]) -> Result<()> {
    // SAFETY: pointer and length of a live, writable slice.
    check(unsafe { sys::random(buf.as_mut_ptr(), buf.len()) }).map(|_| ())
}

/// A random `u64`.
pub fn u64() -> Result<u64> {
    let mut b = [0u8; 8];
    fill(&mut b)?;
    Ok(u64::from_le_bytes(b))
}
