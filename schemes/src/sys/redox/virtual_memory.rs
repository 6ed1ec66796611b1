//! [`wasmhost::VirtualMemory`] on Redox: reservations are anonymous
//! private mappings (the kernel gives a page its frame when it is first
//! touched), and pages are given back — or a region window's range made
//! private again — by mapping fresh anonymous memory over them
//! (`MAP_FIXED`), which frees the frames they had.

use std::ptr::NonNull;

use libredox::call::{self, MmapArgs};
use libredox::flag;
use wasmd_abi::Errno;

/// The Redox address space.
#[derive(Debug, Default)]
pub struct OsVirtualMemory;

/// The largest reservation asked for: 1 GiB.
const MAX_RESERVATION: usize = 1 << 30;
/// Address space for guests in all: 1 TiB.
const MAX_TOTAL: usize = 1 << 40;
/// `MAP_FIXED` (relibc's value; libredox does not name it).
pub(super) const MAP_FIXED: u32 = 0x0004;
/// The file descriptor that means anonymous memory.
const ANONYMOUS: usize = !0;

/// Maps `len` bytes of fresh anonymous memory, at `at` when given.
///
/// # Safety
///
/// With `at`, the range is whole pages nothing else uses.
unsafe fn map_anonymous(at: Option<NonNull<u8>>, len: usize) -> Result<NonNull<u8>, Errno> {
    let args = MmapArgs {
        addr: at.map_or(std::ptr::null_mut(), |p| p.as_ptr().cast()),
        length: len,
        prot: flag::PROT_READ | flag::PROT_WRITE,
        flags: flag::MAP_PRIVATE | if at.is_some() { MAP_FIXED } else { 0 },
        fd: ANONYMOUS,
        offset: 0,
    };
    // SAFETY: the caller's promise for `at`; without it, a new mapping.
    let mapped = unsafe { call::mmap(args) }.map_err(|e| Errno::from_errno(e.errno()))?;
    NonNull::new(mapped.cast()).ok_or(Errno::OutOfMemory)
}

/// Ranges of one guest's memory given back while it lives (see
/// `max_discards`).
const MAX_DISCARDS: usize = 32;

// SAFETY: reservations are fresh anonymous mappings, unmapped only when
// their owner is done with them; `discard` and `restore_private` replace
// exactly the range given with fresh anonymous memory (readable,
// writable, zero).
unsafe impl wasmhost::VirtualMemory for OsVirtualMemory {
    fn page_size(&self) -> usize {
        4096
    }

    fn max_reservation(&self) -> usize {
        MAX_RESERVATION
    }

    fn max_total(&self) -> usize {
        MAX_TOTAL
    }

    fn reserve(&self, len: usize) -> Option<NonNull<u8>> {
        // SAFETY: a new mapping.
        match unsafe { map_anonymous(None, len) } {
            Ok(at) => Some(at),
            Err(e) => {
                log::warn!("cannot reserve {len} bytes of address space for guest memories: {e:?}");
                None
            }
        }
    }

    unsafe fn discard(&self, at: NonNull<u8>, len: usize) -> Result<(), Errno> {
        // SAFETY: the caller's range is whole pages nothing uses.
        unsafe { map_anonymous(Some(at), len) }.map(drop)
    }

    fn max_discards(&self) -> usize {
        // Giving pages back maps them anew, splitting the reservation's
        // mapping in the kernel: a guest whose memory alternates zero and
        // used pages would otherwise cost a mapping per run.
        MAX_DISCARDS
    }

    unsafe fn restore_private(&self, at: NonNull<u8>, len: usize) -> Result<(), Errno> {
        // SAFETY: the caller's range is whole pages nothing uses.
        unsafe { map_anonymous(Some(at), len) }.map(drop)
    }

    unsafe fn unreserve(&self, at: NonNull<u8>, len: usize) {
        // SAFETY: the caller's range is one whole reservation nothing uses.
        if let Err(e) = unsafe { call::munmap(at.as_ptr().cast(), len) } {
            log::warn!("cannot unmap {len} bytes of guest memories: {e:?}");
        }
    }
}
