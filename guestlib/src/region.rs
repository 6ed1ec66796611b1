//! Shared-memory regions (capability `SHM`).
//!
//! A [`Region`] is a handle to host-owned OS shared memory. wasm linear
//! memory cannot be shared, so every access is a hostcall: bulk
//! [`Region::read`]/[`Region::write`], atomics on aligned `u32`/`u64`, and
//! futex-like [`Region::wait`]/[`Region::notify`], which park the process
//! in the scheduler rather than spin. Dropping a `Region` detaches it; the
//! memory lives while any process holds it.
//!
//! Sharing: the owner calls [`Region::share`] naming the other process and
//! the rights it gets, and passes the returned [`RegionId`] to it (as an
//! argument, say); that process calls [`Region::attach`].

use core::time::Duration;

pub use wasmd_abi::Rights;

use crate::error::{check, Error, Result};
use crate::process::Pid;
use crate::sys;

/// A region's global id (what [`Region::share`] returns).
pub type RegionId = u64;

pub use wasmd_channel::Wait;

/// A handle to a shared-memory region.
#[derive(Debug)]
pub struct Region {
    handle: i32,
}

impl Region {
    /// Allocates a zeroed region of at least `size` bytes (rounded up to
    /// 64 KiB pages).
    pub fn alloc(size: usize) -> Result<Region> {
        // SAFETY: scalar argument.
        let handle = check(unsafe { sys::region_alloc(size as i64) })?;
        Ok(Region { handle: handle as i32 })
    }

    /// Attaches a region that another process shared with this one.
    pub fn attach(id: RegionId) -> Result<Region> {
        // SAFETY: scalar argument.
        let handle = check(unsafe { sys::region_attach(id as i64) })?;
        Ok(Region { handle: handle as i32 })
    }

    /// Lets process `pid` attach this region (once) with `rights`, which
    /// must be a subset of this handle's. Returns the id to give it.
    pub fn share(&self, pid: Pid, rights: Rights) -> Result<RegionId> {
        // SAFETY: scalar arguments.
        check(unsafe { sys::region_share(self.handle, pid as i32, rights.0 as i32) })
    }

    /// The raw handle.
    pub fn handle(&self) -> i32 {
        self.handle
    }

    /// Takes ownership of a raw region handle of this process (one kept
    /// across a hot reload, see [`crate::reload`]); a wrong one makes the
    /// region calls fail with `BadHandle`.
    pub fn from_handle(handle: i32) -> Region {
        Region { handle }
    }

    /// Gives up the wrapper without detaching: the raw handle stays valid
    /// (for [`Region::from_handle`], e.g. in the next instance after a hot
    /// reload).
    pub fn into_handle(self) -> i32 {
        let handle = self.handle;
        core::mem::forget(self);
        handle
    }

    /// The region's global id (what [`Region::attach`] takes).
    pub fn id(&self) -> Result<RegionId> {
        // SAFETY: scalar argument.
        check(unsafe { sys::region_id(self.handle) })
    }

    /// Bridges the channel in this region into channel `chan` (its
    /// `chan/ID`) of cluster node `node`: its frames are written there,
    /// with their writers, until its stream ends (see
    /// `wasmd_abi::hostcall`, `chan_bridge`). Returns once the other node
    /// opened its channel.
    pub fn bridge(&self, node: &str, chan: RegionId) -> Result<()> {
        // SAFETY: pointer and length of a live string; scalars.
        check(unsafe { sys::chan_bridge(self.handle, node.as_ptr(), node.len(), chan as i64) }).map(|_| ())
    }

    /// Size in bytes.
    pub fn size(&self) -> Result<usize> {
        // SAFETY: scalar argument.
        check(unsafe { sys::region_size(self.handle) }).map(|n| n as usize)
    }

    /// Copies `buf.len()` bytes at `offset` into `buf`.
    #[inline]
    pub fn read(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        // SAFETY: pointer and length of a live, writable slice.
        check(unsafe { sys::region_read(self.handle, offset as i64, buf.as_mut_ptr(), buf.len()) })
            .map(|_| ())
    }

    /// Copies `data` to `offset`.
    #[inline]
    pub fn write(&self, offset: u64, data: &[u8]) -> Result<()> {
        // SAFETY: pointer and length of a live slice.
        check(unsafe { sys::region_write(self.handle, offset as i64, data.as_ptr(), data.len()) }).map(|_| ())
    }

    /// Reads the region at `off_a` into `a`, then at `off_b` into `b`, in
    /// one hostcall (each as [`Region::read`]).
    #[inline]
    pub fn read2(&self, off_a: u64, a: &mut [u8], off_b: u64, b: &mut [u8]) -> Result<()> {
        // SAFETY: pointers and lengths of live, distinct mutable slices.
        check(unsafe {
            sys::region_read2(
                self.handle,
                off_a as i64,
                a.as_mut_ptr(),
                a.len(),
                off_b as i64,
                b.as_mut_ptr(),
                b.len(),
            )
        })
        .map(|_| ())
    }

    /// Copies `head` then `body` into the region at `offset`, as
    /// [`Region::write`] of their concatenation would (publish semantics
    /// when `offset` is 8-aligned and `head` holds at least 8 bytes), in
    /// one hostcall and without joining them first.
    #[inline]
    pub fn write2(&self, offset: u64, head: &[u8], body: &[u8]) -> Result<()> {
        // SAFETY: pointers and lengths of live slices.
        check(unsafe {
            sys::region_write2(
                self.handle,
                offset as i64,
                head.as_ptr(),
                head.len(),
                body.as_ptr(),
                body.len(),
            )
        })
        .map(|_| ())
    }

    /// Atomically loads the `u32` at `offset` (4-byte aligned).
    #[inline]
    pub fn load_u32(&self, offset: u64) -> Result<u32> {
        // SAFETY: scalar arguments.
        check(unsafe { sys::region_load32(self.handle, offset as i64) }).map(|v| v as u32)
    }

    /// Atomically stores a `u32`.
    #[inline]
    pub fn store_u32(&self, offset: u64, value: u32) -> Result<()> {
        // SAFETY: scalar arguments.
        check(unsafe { sys::region_store32(self.handle, offset as i64, value as i32) }).map(|_| ())
    }

    /// Atomically adds to a `u32` (wrapping); returns the previous value.
    #[inline]
    pub fn fetch_add_u32(&self, offset: u64, value: u32) -> Result<u32> {
        // SAFETY: scalar arguments.
        check(unsafe { sys::region_fetch_add32(self.handle, offset as i64, value as i32) }).map(|v| v as u32)
    }

    /// Atomically replaces `current` by `new`: `Ok(Ok(current))` on
    /// success, `Ok(Err(actual))` when the value was another.
    #[inline]
    pub fn compare_exchange_u32(
        &self,
        offset: u64,
        current: u32,
        new: u32,
    ) -> Result<core::result::Result<u32, u32>> {
        // SAFETY: scalar arguments.
        let prev =
            check(unsafe { sys::region_cas32(self.handle, offset as i64, current as i32, new as i32) })?;
        let prev = prev as u32;
        Ok(if prev == current { Ok(prev) } else { Err(prev) })
    }

    /// Atomically loads the `u64` at `offset` (8-byte aligned).
    #[inline]
    pub fn load_u64(&self, offset: u64) -> Result<u64> {
        let mut out = 0u64;
        // SAFETY: `out` is a live, aligned u64.
        check(unsafe { sys::region_load64(self.handle, offset as i64, &mut out) })?;
        Ok(out)
    }

    /// Atomically stores a `u64`.
    #[inline]
    pub fn store_u64(&self, offset: u64, value: u64) -> Result<()> {
        // SAFETY: scalar arguments.
        check(unsafe { sys::region_store64(self.handle, offset as i64, value as i64) }).map(|_| ())
    }

    /// Atomically adds to a `u64` (wrapping); returns the previous value.
    #[inline]
    pub fn fetch_add_u64(&self, offset: u64, value: u64) -> Result<u64> {
        let mut out = 0u64;
        // SAFETY: `out` is a live, aligned u64.
        check(unsafe { sys::region_fetch_add64(self.handle, offset as i64, value as i64, &mut out) })?;
        Ok(out)
    }

    /// Atomically replaces `current` by `new` (see
    /// [`Region::compare_exchange_u32`]).
    #[inline]
    pub fn compare_exchange_u64(
        &self,
        offset: u64,
        current: u64,
        new: u64,
    ) -> Result<core::result::Result<u64, u64>> {
        let mut out = 0u64;
        // SAFETY: `out` is a live, aligned u64.
        check(unsafe {
            sys::region_cas64(self.handle, offset as i64, current as i64, new as i64, &mut out)
        })?;
        Ok(if out == current { Ok(out) } else { Err(out) })
    }

    /// Parks the process while the `u32` at `offset` equals `expected`,
    /// until a [`Region::notify`] on the same offset or the timeout
    /// (`None` waits for ever).
    pub fn wait(&self, offset: u64, expected: u32, timeout: Option<Duration>) -> Result<Wait> {
        let nanos = timeout.map_or(-1, |t| i64::try_from(t.as_nanos()).unwrap_or(i64::MAX));
        // SAFETY: scalar arguments.
        match check(unsafe { sys::region_wait(self.handle, offset as i64, expected as i32, nanos) }) {
            Ok(_) => Ok(Wait::Woken),
            Err(Error::WouldBlock) => Ok(Wait::Changed),
            Err(Error::TimedOut) => Ok(Wait::TimedOut),
            Err(e) => Err(e),
        }
    }

    /// Wakes up to `count` processes waiting on `offset`; returns how many.
    #[inline]
    pub fn notify(&self, offset: u64, count: u32) -> Result<u32> {
        // SAFETY: scalar arguments.
        check(unsafe { sys::region_notify(self.handle, offset as i64, count.min(i32::MAX as u32) as i32) })
            .map(|n| n as u32)
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: scalar argument; the handle is ours and dropped once.
        unsafe {
            sys::region_detach(self.handle);
        }
    }
}
