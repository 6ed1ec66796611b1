//! [`wasmhost::VirtualMemory`] on Linux: reservations are private
//! anonymous mappings with `MAP_NORESERVE` (address space only; a page is
//! committed when first touched), pages are given back with
//! `MADV_DONTNEED`, and a region window's range gets fresh private pages
//! by mapping anonymous memory over it (`MAP_FIXED`).

use std::ptr::NonNull;

use rustix::mm::{MapFlags, ProtFlags};
use wasmd_abi::Errno;

/// The Linux address space.
#[derive(Debug, Default)]
pub struct OsVirtualMemory;

/// The largest reservation asked for: 64 GiB.
const MAX_RESERVATION: usize = 64 << 30;
/// Address space for guests in all: 32 TiB, a quarter of a 47-bit user
/// address space (a million guests of 1 MiB limit take 1 TiB; 131,072 of
/// the default 256 MiB take all of it, and further ones live on the heap).
const MAX_TOTAL: usize = 32 << 40;

fn errno(e: rustix::io::Errno) -> Errno {
    Errno::from_errno(e.raw_os_error())
}

// SAFETY: reservations are fresh anonymous mappings, unmapped only when
// their owner is done with them;
// `discard` and `restore_private` act only on the range given and leave it
// mapped read-write, reading as zeros.
unsafe impl wasmhost::VirtualMemory for OsVirtualMemory {
    fn page_size(&self) -> usize {
        rustix::param::page_size()
    }

    fn max_reservation(&self) -> usize {
        MAX_RESERVATION
    }

    fn max_total(&self) -> usize {
        MAX_TOTAL
    }

    fn reserve(&self, len: usize) -> Option<NonNull<u8>> {
        // SAFETY: a new mapping at an address the kernel picks: nothing
        // else refers to it.
        let at = unsafe {
            rustix::mm::mmap_anonymous(
                std::ptr::null_mut(),
                len,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::PRIVATE | MapFlags::NORESERVE,
            )
        };
        match at {
            Ok(at) => NonNull::new(at.cast()),
            Err(e) => {
                log::warn!("cannot reserve {len} bytes of address space for guest memories: {e}");
                None
            }
        }
    }

    unsafe fn discard(&self, at: NonNull<u8>, len: usize) -> Result<(), Errno> {
        // SAFETY: the caller's range is whole pages of a private anonymous
        // reservation that nothing uses: afterwards they read as zeros.
        unsafe { rustix::mm::madvise(at.as_ptr().cast(), len, rustix::mm::Advice::LinuxDontNeed) }
            .map_err(|e| Errno::from_errno(e.raw_os_error()))
    }

    unsafe fn unreserve(&self, at: NonNull<u8>, len: usize) {
        // SAFETY: the caller's range is one whole reservation nothing uses.
        if let Err(e) = unsafe { rustix::mm::munmap(at.as_ptr().cast(), len) } {
            log::warn!("cannot unmap {len} bytes of guest memories: {e}");
        }
    }

    unsafe fn restore_private(&self, at: NonNull<u8>, len: usize) -> Result<(), Errno> {
        // SAFETY: the caller's range is whole pages of a reservation that
        // nothing uses during the call; `MAP_FIXED` replaces exactly them
        // (a region window) with fresh zero pages.
        unsafe {
            rustix::mm::mmap_anonymous(
                at.as_ptr().cast(),
                len,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::PRIVATE | MapFlags::NORESERVE | MapFlags::FIXED,
            )
        }
        .map(drop)
        .map_err(errno)
    }
}
