//! Region windows: a region's bytes mapped into this process's memory.
//!
//! [`Window::map`] reserves fresh pages at the end of the linear memory
//! (`memory.grow`: pages no allocator hands out) and asks wasmd to map
//! the region there (`region_map`). Reads and writes through the window
//! are then ordinary memory accesses — no hostcall, no copy through the
//! host — and every other holder of the region (other guests, native
//! programs mapping `shm/ID`) sees the same bytes. Plain accesses are not
//! atomic with respect to other holders: order them with the region's
//! atomic calls ([`Region::store_u64`] after writing, [`Region::load_u64`]
//! before reading), as the channel rings do.
//!
//! Dropping a window unmaps it; its pages read as zeros again and are
//! kept for the next window of at most their size. Detaching the region
//! (dropping the [`Region`]) unmaps its windows too. A handle needs both
//! `READ` and `WRITE` for a window; without OS support `map` fails with
//! `NotSupported` and the copying calls remain.

use core::cell::RefCell;

use crate::error::{check, Error, Result};
use crate::region::Region;
use crate::sys;

pub use wasmd_abi::hostcall::{MAX_WINDOWS, WINDOW_ALIGN};

/// A region's bytes mapped into this process's memory.
#[derive(Debug)]
pub struct Window {
    ptr: *mut u8,
    len: usize,
}

/// Pages reserved for windows and free again (start, length).
struct Spare(RefCell<[(usize, usize); MAX_WINDOWS]>);

// SAFETY: a guest process runs on one thread.
unsafe impl Sync for Spare {}

static SPARE: Spare = Spare(RefCell::new([(0, 0); MAX_WINDOWS]));

impl Window {
    /// Maps `len` bytes of `region` from `offset` (both multiples of
    /// [`WINDOW_ALIGN`]) into this process's memory.
    pub fn map(region: &Region, offset: u64, len: usize) -> Result<Window> {
        if len == 0 || !len.is_multiple_of(WINDOW_ALIGN) || !offset.is_multiple_of(WINDOW_ALIGN as u64) {
            return Err(Error::InvalidArgument);
        }
        let at = take_spare(len).map_or_else(|| grow(len), Ok)?;
        // SAFETY: scalar arguments.
        let mapped = check(unsafe { sys::region_map(region.handle(), offset as i64, len as i64, at as i32) });
        if let Err(e) = mapped {
            give_spare(at, len);
            return Err(e);
        }
        Ok(Window { ptr: at as *mut u8, len })
    }

    /// Where the window starts in this process's memory.
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr
    }

    /// Its length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Never empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Copies `buf.len()` bytes at `offset` of the window into `buf`.
    pub fn read(&self, offset: usize, buf: &mut [u8]) -> Result<()> {
        let end = offset.checked_add(buf.len()).ok_or(Error::OutOfRange)?;
        if end > self.len {
            return Err(Error::OutOfRange);
        }
        // SAFETY: `offset..end` lies in the window, which is mapped memory
        // of this process; `buf` is a distinct allocation.
        unsafe { core::ptr::copy_nonoverlapping(self.ptr.add(offset), buf.as_mut_ptr(), buf.len()) };
        Ok(())
    }

    /// Copies `data` to `offset` of the window.
    pub fn write(&self, offset: usize, data: &[u8]) -> Result<()> {
        let end = offset.checked_add(data.len()).ok_or(Error::OutOfRange)?;
        if end > self.len {
            return Err(Error::OutOfRange);
        }
        // SAFETY: as in `read`.
        unsafe { core::ptr::copy_nonoverlapping(data.as_ptr(), self.ptr.add(offset), data.len()) };
        Ok(())
    }
}

impl Drop for Window {
    fn drop(&mut self) {
        // SAFETY: scalar argument. If the region was detached first, the
        // window is gone already and this fails harmlessly.
        unsafe { sys::region_unmap(self.ptr as i32) };
        give_spare(self.ptr as usize, self.len);
    }
}

/// Fresh pages at the end of memory.
fn grow(len: usize) -> Result<usize> {
    #[cfg(target_arch = "wasm32")]
    {
        let pages = core::arch::wasm32::memory_grow(0, len / WINDOW_ALIGN);
        if pages == usize::MAX {
            return Err(Error::OutOfMemory);
        }
        Ok(pages * WINDOW_ALIGN)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = len;
        Err(Error::NotSupported)
    }
}

/// Spare pages of at least `len` bytes (the rest stays spare).
fn take_spare(len: usize) -> Option<usize> {
    let mut spare = SPARE.0.borrow_mut();
    let slot = spare.iter_mut().find(|(_, l)| *l >= len)?;
    let at = slot.0;
    *slot = if slot.1 == len { (0, 0) } else { (at + len, slot.1 - len) };
    Some(at)
}

/// Keeps pages for a later window (dropped when the list is full).
fn give_spare(at: usize, len: usize) {
    let mut spare = SPARE.0.borrow_mut();
    if let Some(slot) = spare.iter_mut().find(|(_, l)| *l == 0) {
        *slot = (at, len);
    }
}
