//! Shared-memory regions.
//!
//! A [`Region`] is a page-aligned mapping of real OS shared memory (a
//! memfd on Linux, a `/scheme/shm` object on Redox, created by the
//! platform on a worker thread), so native programs
//! can map the very same pages. Processes reach it through handles
//! (`Arc<Region>` in their handle table); the mapping and the OS object
//! are released when the last holder goes — a handle, or a pending share
//! not yet attached — including when holders die.
//!
//! All guest access goes through [`Region::range`] (bounds) and
//! [`Region::atomic_u32`]/[`Region::atomic_u64`] (bounds and alignment):
//! checked once, after which the access itself is infallible. Regions are
//! shared with other processes and possibly with native programs mapping
//! the same pages, so bulk copies use raw pointer copies and cross-process
//! synchronisation is the guest's business, through the atomics.
//!
//! [`RegionAccounting`] enforces the global limits on region count and
//! bytes; per-process limits are checked against the handle table.

use std::ops::Range;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use wasmd_abi::Errno;

use crate::Pid;

/// A mapping of OS shared memory, made by the platform. Its address and
/// length never change while it lives.
pub trait SharedMemory: Send + Sync + std::fmt::Debug + 'static {
    /// Start of the mapping (page aligned).
    fn as_ptr(&self) -> *mut u8;
    /// Length in bytes (a whole number of pages).
    fn len(&self) -> usize;
    /// True when the mapping is empty (never, for a real region).
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// How a native program reaches the same pages (e.g. the shm path
    /// on Redox, `/proc/PID/fd/N` on Linux).
    fn os_name(&self) -> String;

    /// Maps `offset..offset + len` of this memory (whole pages) at `at`,
    /// readable, writable and shared, replacing what was mapped there (a
    /// region window, see [`crate::arena`]). By default windows are not
    /// supported (`ENOTSUP`).
    ///
    /// # Safety
    ///
    /// `at..at + len` is whole pages of one [`crate::VirtualMemory`]
    /// reservation, and nothing reads or writes it during the call.
    unsafe fn map_at(&self, _at: std::ptr::NonNull<u8>, _offset: usize, _len: usize) -> Result<(), Errno> {
        Err(Errno::NotSupported)
    }
}

/// Global limits on regions, and what is in use, in all and per process
/// tree (so one tree cannot take every region for itself). Region bytes
/// are also reserved from the daemon's memory budget.
#[derive(Debug)]
pub struct RegionAccounting {
    count: AtomicU64,
    bytes: AtomicU64,
    max_count: u64,
    max_bytes: u64,
    /// Bytes per tree (by the tree's first pid), and the most one may hold.
    trees: std::sync::Mutex<std::collections::HashMap<Pid, u64>>,
    max_tree_bytes: u64,
    budget: Arc<crate::limits::MemoryBudget>,
}

impl RegionAccounting {
    /// Limits for the whole manager and for one tree, within `budget`.
    pub fn new(
        max_count: u64,
        max_bytes: u64,
        max_tree_bytes: u64,
        budget: Arc<crate::limits::MemoryBudget>,
    ) -> Self {
        Self {
            count: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            max_count,
            max_bytes,
            trees: Default::default(),
            max_tree_bytes,
            budget,
        }
    }

    /// Reserves room for one region of `size` bytes for `tree`, owned by
    /// user `uid`, or `Errno::NoSpace` (`Errno::OutOfMemory` when the daemon's budget, or the
    /// user's part of it, is spent).
    pub fn reserve(&self, size: u64, tree: Pid, uid: u32) -> Result<(), Errno> {
        let mut trees = self.trees.lock().unwrap_or_else(|e| e.into_inner());
        let held = trees.get(&tree).copied().unwrap_or(0);
        let count = self.count.load(Ordering::Relaxed);
        let bytes = self.bytes.load(Ordering::Relaxed);
        if count >= self.max_count
            || bytes.saturating_add(size) > self.max_bytes
            || held.saturating_add(size) > self.max_tree_bytes
        {
            return Err(Errno::NoSpace);
        }
        if !self.budget.account(uid).reserve(size) {
            return Err(Errno::OutOfMemory);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(size, Ordering::Relaxed);
        trees.insert(tree, held + size);
        Ok(())
    }

    /// Gives back a reservation of `tree` and user `uid`.
    pub fn release(&self, size: u64, tree: Pid, uid: u32) {
        let mut trees = self.trees.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(held) = trees.get_mut(&tree) {
            *held = held.saturating_sub(size);
            if *held == 0 {
                trees.remove(&tree);
            }
        }
        self.count.fetch_sub(1, Ordering::Relaxed);
        self.bytes.fetch_sub(size, Ordering::Relaxed);
        self.budget.account(uid).release(size);
    }

    /// Regions and bytes in use.
    pub fn in_use(&self) -> (u64, u64) {
        (self.count.load(Ordering::Relaxed), self.bytes.load(Ordering::Relaxed))
    }
}

/// A shared-memory region.
#[derive(Debug)]
pub struct Region {
    id: u64,
    creator: Pid,
    /// The tree it was reserved for.
    tree: Pid,
    owner: crate::owner::Owner,
    memory: Box<dyn SharedMemory>,
    /// `memory`'s address and length, read once: every access checks
    /// against them without a virtual call.
    base: *mut u8,
    len: usize,
    accounting: Arc<RegionAccounting>,
    /// Writers of other machines feeding it (a channel bridged from
    /// another node): while there are any, a `region_wait` on it parks at
    /// once, without the spin of [`crate::futex::WaitSpin`] (what it waits
    /// for crosses a network, far longer than the spin, which would only
    /// hold a core the network's threads need).
    remote_writers: AtomicU32,
}

// SAFETY: `Region` only hands out the mapping through bounds-checked
// ranges and atomics; the mapping itself is `Send + Sync` and lives as
// long as the region (`base` points into it).
unsafe impl Sync for Region {}
// SAFETY: as above; `base` is only an address of the owned mapping.
unsafe impl Send for Region {}

impl Drop for Region {
    fn drop(&mut self) {
        self.accounting.release(self.len as u64, self.tree, self.owner.uid);
    }
}

impl Region {
    /// A region over `memory`, already reserved in `accounting`.
    pub fn new(
        id: u64,
        creator: Pid,
        tree: Pid,
        owner: crate::owner::Owner,
        memory: Box<dyn SharedMemory>,
        accounting: Arc<RegionAccounting>,
    ) -> Self {
        let (base, len) = (memory.as_ptr(), memory.len());
        Self { id, creator, tree, owner, memory, base, len, accounting, remote_writers: AtomicU32::new(0) }
    }

    /// A writer of another machine feeds it from now on (see
    /// [`Region::is_fed_remotely`]); [`Region::remove_remote_writer`]
    /// when it stops.
    pub fn add_remote_writer(&self) {
        self.remote_writers.fetch_add(1, Ordering::SeqCst);
    }

    /// A writer [`Region::add_remote_writer`] counted stopped.
    pub fn remove_remote_writer(&self) {
        let _ = self.remote_writers.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
    }

    /// True while writers of other machines feed it: waits on it do not
    /// spin.
    pub fn is_fed_remotely(&self) -> bool {
        self.remote_writers.load(Ordering::SeqCst) > 0
    }

    /// The user its creator acted for.
    pub fn owner(&self) -> crate::owner::Owner {
        self.owner
    }

    /// Global region id (what `share` returns and `attach` takes).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The pid that allocated it.
    pub fn creator(&self) -> Pid {
        self.creator
    }

    /// Size in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// The OS shared memory behind it.
    pub(crate) fn memory(&self) -> &dyn SharedMemory {
        &*self.memory
    }

    /// True for an empty region (never for a real one).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The OS object's name for native programs.
    pub fn os_name(&self) -> String {
        self.memory.os_name()
    }

    /// Start of the mapping (for `mmap_prep` by the scheme layer).
    pub fn as_ptr(&self) -> *mut u8 {
        self.base
    }

    /// Checks `offset..offset+len` lies in the region (`Errno::OutOfRange` if not).
    #[inline]
    pub fn range(&self, offset: u64, len: usize) -> Result<Range<usize>, Errno> {
        let start = usize::try_from(offset).map_err(|_| Errno::OutOfRange)?;
        let end = start.checked_add(len).ok_or(Errno::OutOfRange)?;
        if end > self.len {
            return Err(Errno::OutOfRange);
        }
        Ok(start..end)
    }

    /// Copies `src` into the region at a checked range. When the range
    /// starts 8-aligned and holds at least 8 bytes, its first 8 bytes are
    /// stored last, as one sequentially consistent atomic store: a reader
    /// that sees them (with [`Region::read_at`] or an atomic load) sees the
    /// rest (publish semantics; channels rely on it).
    #[inline]
    pub fn write_at(&self, range: Range<usize>, src: &[u8]) {
        let n = range.len().min(src.len());
        let base = self.base;
        if range.start.is_multiple_of(8) && n >= 8 {
            // SAFETY: `range` was checked against the mapping by `range()`,
            // the mapping lives as long as `self`, and `src` is guest memory
            // owned by the caller's store, which never overlaps a region.
            // The first word is in bounds and 8-aligned (page-aligned base).
            unsafe {
                std::ptr::copy_nonoverlapping(src.as_ptr().add(8), base.add(range.start + 8), n - 8);
                let first = u64::from_ne_bytes(src[..8].try_into().unwrap_or_default());
                AtomicU64::from_ptr(base.add(range.start).cast()).store(first, Ordering::SeqCst);
            }
        } else {
            // SAFETY: as above.
            unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), base.add(range.start), n) }
        }
    }

    /// Copies `head` then `body` into the region at a checked range
    /// (`head.len() + body.len()` bytes long), as [`Region::write_at`] of
    /// their concatenation would: when the range starts 8-aligned and
    /// `head` holds at least 8 bytes, those first 8 bytes are stored last,
    /// atomically.
    #[inline]
    pub fn write2_at(&self, range: Range<usize>, head: &[u8], body: &[u8]) {
        if head.len() < 8 || !range.start.is_multiple_of(8) {
            let split = range.start + head.len().min(range.len());
            self.write_at(range.start..split, head);
            self.write_at(split..range.end, body);
            return;
        }
        let body_at = range.start + head.len();
        let n = body.len().min(range.end.saturating_sub(body_at));
        let base = self.base;
        // SAFETY: `range` was checked against the mapping by `range()` and
        // holds `head` then `body` (the caller sized it so; `n` clamps the
        // body to it); the mapping lives as long as `self`; guest memory
        // never overlaps a region. The first word is in bounds and
        // 8-aligned (page-aligned base, 8-aligned start).
        unsafe {
            std::ptr::copy_nonoverlapping(head.as_ptr().add(8), base.add(range.start + 8), head.len() - 8);
            std::ptr::copy_nonoverlapping(body.as_ptr(), base.add(body_at), n);
            let first = u64::from_ne_bytes(head[..8].try_into().unwrap_or_default());
            AtomicU64::from_ptr(base.add(range.start).cast()).store(first, Ordering::SeqCst);
        }
    }

    /// Copies a checked range of the region into `dst`. When the range
    /// starts 8-aligned and holds at least 8 bytes, its first 8 bytes are
    /// loaded first, as one sequentially consistent atomic load (the
    /// mirror of [`Region::write_at`]).
    #[inline]
    pub fn read_at(&self, range: Range<usize>, dst: &mut [u8]) {
        let n = range.len().min(dst.len());
        let base = self.base;
        if range.start.is_multiple_of(8) && n >= 8 {
            // SAFETY: as in `write_at`, with the copy going the other way.
            unsafe {
                let first = AtomicU64::from_ptr(base.add(range.start).cast()).load(Ordering::SeqCst);
                dst[..8].copy_from_slice(&first.to_ne_bytes());
                std::ptr::copy_nonoverlapping(base.add(range.start + 8), dst.as_mut_ptr().add(8), n - 8);
            }
        } else {
            // SAFETY: as in `write_at`.
            unsafe { std::ptr::copy_nonoverlapping(base.add(range.start), dst.as_mut_ptr(), n) }
        }
    }

    /// The `u32` at `offset` as an atomic: `Errno::OutOfRange` outside the region,
    /// `Errno::InvalidArgument` when not 4-byte aligned.
    #[inline]
    pub fn atomic_u32(&self, offset: u64) -> Result<&AtomicU32, Errno> {
        if !offset.is_multiple_of(4) {
            return Err(Errno::InvalidArgument);
        }
        let range = self.range(offset, 4)?;
        // SAFETY: in bounds and aligned (the mapping is page aligned and
        // the offset a multiple of 4); the reference lives no longer than
        // `self`, which keeps the mapping alive.
        Ok(unsafe { AtomicU32::from_ptr(self.base.add(range.start).cast()) })
    }

    /// The `u64` at `offset` as an atomic: `Errno::OutOfRange` outside the region,
    /// `Errno::InvalidArgument` when not 8-byte aligned.
    #[inline]
    pub fn atomic_u64(&self, offset: u64) -> Result<&AtomicU64, Errno> {
        if !offset.is_multiple_of(8) {
            return Err(Errno::InvalidArgument);
        }
        let range = self.range(offset, 8)?;
        // SAFETY: as in `atomic_u32`, with 8-byte alignment.
        Ok(unsafe { AtomicU64::from_ptr(self.base.add(range.start).cast()) })
    }
}

/// Anonymous memory standing in for OS shared memory in unit tests.
#[cfg(test)]
#[derive(Debug)]
pub(crate) struct HeapMemory(Box<[u64]>);

#[cfg(test)]
impl HeapMemory {
    pub(crate) fn new(len: usize) -> Self {
        Self(vec![0u64; len / 8].into_boxed_slice())
    }
}

#[cfg(test)]
impl SharedMemory for HeapMemory {
    fn as_ptr(&self) -> *mut u8 {
        self.0.as_ptr() as *mut u8
    }
    fn len(&self) -> usize {
        self.0.len() * 8
    }
    fn os_name(&self) -> String {
        "heap".into()
    }
    // Windows of unit tests are bookkeeping only: nothing is mapped.
    unsafe fn map_at(&self, _at: std::ptr::NonNull<u8>, _offset: usize, _len: usize) -> Result<(), Errno> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region(len: usize) -> (Region, Arc<RegionAccounting>) {
        let budget = Arc::new(crate::limits::MemoryBudget::new(u64::MAX));
        let acct = Arc::new(RegionAccounting::new(2, 1 << 20, 1 << 20, budget));
        acct.reserve(len as u64, 1, 0).unwrap();
        let memory = Box::new(HeapMemory::new(len));
        (Region::new(1, 1, 1, crate::owner::Owner::ROOT, memory, acct.clone()), acct)
    }

    #[test]
    fn remote_writers_are_counted_and_never_wrap() {
        let (r, _) = region(4096);
        assert!(!r.is_fed_remotely());
        r.add_remote_writer();
        r.add_remote_writer();
        r.remove_remote_writer();
        assert!(r.is_fed_remotely());
        r.remove_remote_writer();
        r.remove_remote_writer();
        assert!(!r.is_fed_remotely(), "a removal too many does not wrap");
        r.add_remote_writer();
        assert!(r.is_fed_remotely());
    }

    #[test]
    fn ranges_and_alignment() {
        let (r, _) = region(4096);
        assert_eq!(r.range(0, 4096), Ok(0..4096));
        assert_eq!(r.range(4096, 0), Ok(4096..4096));
        assert_eq!(r.range(4095, 2), Err(Errno::OutOfRange));
        assert_eq!(r.range(u64::MAX, 1), Err(Errno::OutOfRange));
        assert_eq!(r.atomic_u32(2).unwrap_err(), Errno::InvalidArgument);
        assert_eq!(r.atomic_u64(4).unwrap_err(), Errno::InvalidArgument);
        assert_eq!(r.atomic_u64(4096).unwrap_err(), Errno::OutOfRange);
        r.atomic_u64(8).unwrap().store(0x0102_0304_0506_0708, Ordering::SeqCst);
        let mut b = [0u8; 8];
        r.read_at(r.range(8, 8).unwrap(), &mut b);
        assert_eq!(u64::from_le_bytes(b), 0x0102_0304_0506_0708);
        r.write2_at(r.range(16, 13).unwrap(), b"headers!", b"body!");
        let mut joined = [0u8; 13];
        r.read_at(r.range(16, 13).unwrap(), &mut joined);
        assert_eq!(&joined, b"headers!body!");
        r.write2_at(r.range(41, 4).unwrap(), b"ab", b"cd");
        let mut short = [0u8; 4];
        r.read_at(r.range(41, 4).unwrap(), &mut short);
        assert_eq!(&short, b"abcd");
        r.write_at(r.range(100, 3).unwrap(), b"abc");
        let mut c = [0u8; 3];
        r.read_at(r.range(100, 3).unwrap(), &mut c);
        assert_eq!(&c, b"abc");
    }

    #[test]
    fn accounting_limits_and_release_on_drop() {
        let (r, acct) = region(4096);
        assert_eq!(acct.in_use(), (1, 4096));
        assert_eq!(acct.reserve(1 << 20, 2, 0), Err(Errno::NoSpace));
        acct.reserve(4096, 2, 0).unwrap();
        assert_eq!(acct.reserve(4096, 2, 0), Err(Errno::NoSpace), "count limit");
        acct.release(4096, 2, 0);
        drop(r);
        assert_eq!(acct.in_use(), (0, 0));
    }

    #[test]
    fn one_tree_cannot_take_every_region() {
        let budget = Arc::new(crate::limits::MemoryBudget::new(u64::MAX));
        let acct = RegionAccounting::new(100, 1 << 20, 1 << 18, budget);
        for _ in 0..4 {
            acct.reserve(1 << 16, 7, 0).unwrap();
        }
        assert_eq!(acct.reserve(1 << 16, 7, 0), Err(Errno::NoSpace), "tree 7 is full");
        acct.reserve(1 << 16, 8, 0).unwrap();
        acct.release(1 << 16, 7, 0);
        acct.reserve(1 << 16, 7, 0).unwrap();
    }
}
