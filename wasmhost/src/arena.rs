//! The arena guests' linear memories live in.
//!
//! wasmd provides each guest's memory 0 itself (see [`crate::instantiate`])
//! from a [`Slot`] of this arena: one large reservation of address space
//! per size class, carved into slots of the class's size, the way
//! wasmtime's pooling allocator does. A guest's slot is as large as its
//! memory may grow (its memory limit, or the module's declared maximum
//! when smaller, rounded up to a power of two), so its memory never moves
//! while it lives — which is what lets a region be mapped into it (a
//! region *window*). Few reservations hold many guests, so the OS's limit
//! on mappings never limits the number of guests.
//!
//! A slot goes back to its class when its store is dropped: its windows
//! are first replaced by private zero pages, then its pages are given
//! back to the OS ([`VirtualMemory::discard`]) — except the first
//! [`WARM_BYTES`] of the slots returned last, up to [`WARM_BUDGET`] in
//! all, which stay resident so that a busy spawner (a parent reaping a
//! thousand children at a time) does not fault their pages in again.
//! No byte of a previous guest is ever visible to the next one: wasmi
//! zeroes a memory's initial pages when it creates it, and each page it
//! adds when the memory grows.
//!
//! When the platform has no [`VirtualMemory`], or a reservation is
//! refused (address space is finite: a million guests with a 256 MiB
//! limit do not fit in 47 bits), the memory is an ordinary heap
//! allocation instead; only windows need a slot.

use std::ptr::NonNull;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use wasmd_abi::Errno;

use crate::platform::VirtualMemory;
use crate::region::Region;

/// The smallest slot: one wasm page.
pub const MIN_SLOT: usize = 64 << 10;
/// Size classes: 64 KiB, 128 KiB, … 4 GiB (the largest 32-bit memory).
const CLASSES: usize = 17;
/// Slots one reservation holds at most (fewer when the platform's
/// largest reservation is smaller).
const SLOTS_PER_RESERVATION: usize = 16 << 10;
/// How much of a free slot may stay resident (warm): all of a Rust
/// program's usual memory (17 pages: 1 MiB of stack and its data). With
/// 128 KiB, each spawn of such a guest faulted 15 pages' worth of memory
/// in again: 476 µs per spawn and run to exit of the WASI hello against
/// 21 µs on the heap (`wasmd-bench`, `wasi_hello_spawn_us`).
pub const WARM_BYTES: usize = 2 << 20;
/// Resident bytes of warm free slots, in all.
pub const WARM_BUDGET: usize = 64 << 20;
/// Windows one process may have mapped at a time.
pub const MAX_WINDOWS: usize = wasmd_abi::hostcall::MAX_WINDOWS;
/// Windows all processes together may have mapped: each splits the
/// mapping it lies in, and the OS bounds mappings per process (65,530 by
/// default on Linux), which the daemon's own allocations need too.
pub const ALL_WINDOWS: usize = 16 << 10;
/// Windows start and end on wasm pages, in guest memory and region alike.
pub const WINDOW_ALIGN: usize = 64 << 10;

/// Guests' memory slots (cheap to clone: shared).
#[derive(Clone, Debug)]
pub(crate) struct Arena {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    vm: Arc<dyn VirtualMemory>,
    pool: Mutex<Pool>,
    warm_budget: usize,
    /// Windows mapped now, in all slots, and the most there may be.
    windows: std::sync::atomic::AtomicUsize,
    max_windows: usize,
    /// Bytes given back by [`Slot::release_zero_pages`], in all.
    given_back: std::sync::atomic::AtomicU64,
}

/// The size classes, and the resident bytes of their free slots.
#[derive(Debug, Default)]
struct Pool {
    classes: [Class; CLASSES],
    warm: usize,
}

#[derive(Debug, Default)]
struct Class {
    /// Free slots (addresses) and the bytes each kept resident, last
    /// freed last.
    free: Vec<(usize, usize)>,
    /// The unused rest of the newest reservation.
    next: usize,
    end: usize,
    /// The OS refused the last reservation: no new one is asked for until
    /// a slot of this class comes back (spawns do not pay for a refusal
    /// each).
    refused: bool,
    /// Reservations (address, length), and bytes reserved and slots
    /// handed out (for statistics).
    reservations: Vec<(usize, usize)>,
    reserved: usize,
    in_use: usize,
}

/// What the arena holds (for statistics).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ArenaStats {
    /// Address space reserved, in bytes.
    pub reserved: u64,
    /// Slots in use by guests.
    pub slots: u64,
    /// Slots free for reuse.
    pub free: u64,
    /// Bytes parked guests gave back (all-zero pages) since the start.
    pub given_back: u64,
}

impl Arena {
    /// An arena in `vm`.
    pub(crate) fn new(vm: Arc<dyn VirtualMemory>) -> Self {
        Self::with_limits(vm, WARM_BUDGET, ALL_WINDOWS)
    }

    /// An arena keeping up to `warm_budget` bytes of free slots resident
    /// and up to `max_windows` windows mapped.
    fn with_limits(vm: Arc<dyn VirtualMemory>, warm_budget: usize, max_windows: usize) -> Self {
        let pool = Mutex::new(Pool::default());
        let windows = Default::default();
        Self {
            inner: Arc::new(Inner {
                vm,
                pool,
                warm_budget,
                windows,
                max_windows,
                given_back: Default::default(),
            }),
        }
    }

    /// A slot for a memory that may grow to `max_bytes`, or `None` when
    /// it does not fit in a slot (then it lives on the heap).
    pub(crate) fn slot(&self, max_bytes: usize) -> Option<Slot> {
        let len = max_bytes.max(MIN_SLOT).checked_next_power_of_two()?;
        let class = (len.trailing_zeros() - MIN_SLOT.trailing_zeros()) as usize;
        if class >= CLASSES {
            return None;
        }
        let base = take(&mut self.inner.lock(), class, len, &*self.inner.vm)?;
        Some(Slot {
            base: NonNull::new(base as *mut u8)?,
            len,
            class: class as u8,
            arena: self.inner.clone(),
            windows: Vec::new(),
            lent: false,
            used: len,
            discards_left: self.inner.vm.max_discards(),
        })
    }

    /// What the arena holds now.
    pub(crate) fn stats(&self) -> ArenaStats {
        let pool = self.inner.lock();
        let given_back = self.inner.given_back.load(Ordering::Relaxed);
        pool.classes.iter().fold(ArenaStats { given_back, ..ArenaStats::default() }, |s, c| ArenaStats {
            reserved: s.reserved + c.reserved as u64,
            slots: s.slots + c.in_use as u64,
            free: s.free + c.free.len() as u64,
            ..s
        })
    }
}

/// A slot of `len` bytes (class `class`): a free one, or the next of
/// the class's reservation, or of a new reservation.
fn take(pool: &mut Pool, class: usize, len: usize, vm: &dyn VirtualMemory) -> Option<usize> {
    let classes = &mut pool.classes;
    if let Some((base, kept)) = classes[class].free.pop() {
        pool.warm -= kept;
        classes[class].in_use += 1;
        return Some(base);
    }
    if classes[class].next == classes[class].end {
        let want = len.saturating_mul(SLOTS_PER_RESERVATION).min(vm.max_reservation()).max(len);
        let total: usize = classes.iter().map(|c| c.reserved).sum();
        let c = &mut classes[class];
        if c.refused || total.saturating_add(want) > vm.max_total() {
            return None;
        }
        let Some(at) = vm.reserve(want) else {
            c.refused = true;
            return None;
        };
        let at = at.as_ptr() as usize;
        (c.next, c.end) = (at, at + want);
        c.reserved += want;
        c.reservations.push((at, want));
    }
    let c = &mut classes[class];
    c.next += len;
    c.in_use += 1;
    Some(c.next - len)
}

impl Drop for Inner {
    fn drop(&mut self) {
        let pool = self.pool.get_mut().unwrap_or_else(|e| e.into_inner());
        for (at, len) in pool.classes.iter().flat_map(|c| c.reservations.iter()) {
            // SAFETY: one whole reservation; every slot holds the arena,
            // so none is left to use it.
            unsafe { self.vm.unreserve(NonNull::new_unchecked(*at as *mut u8), *len) };
        }
    }
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, Pool> {
        // Every update leaves the pool consistent.
        self.pool.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One guest memory's place in the arena, kept by the store's limiter
/// (in the data of the store that owns the memory, so it outlives the
/// memory).
#[derive(Debug)]
pub(crate) struct Slot {
    base: NonNull<u8>,
    len: usize,
    class: u8,
    arena: Arc<Inner>,
    windows: Vec<Window>,
    /// Whether [`Slot::lend`] gave the bytes to a memory.
    lent: bool,
    /// How much of it the memory may have touched (all, unless told).
    used: usize,
    /// Ranges of the memory it may still give back while lent
    /// ([`VirtualMemory::max_discards`]).
    discards_left: usize,
}

// SAFETY: a slot is an address range that only its owner uses; the
// arena behind it is `Send + Sync`.
unsafe impl Send for Slot {}
// SAFETY: as above; `&Slot` gives no access to the bytes.
unsafe impl Sync for Slot {}

/// A region mapped into a slot.
#[derive(Debug)]
struct Window {
    /// Offset in the slot (in the guest's memory) and length.
    at: usize,
    len: usize,
    region: Arc<Region>,
}

impl Slot {
    /// The slot's bytes, for wasmi's `Memory::new_static`; `None` after
    /// the first call.
    ///
    /// The `'static` is wider than the truth: the bytes are valid while
    /// this slot lives. The caller keeps the slot in the data of the
    /// store that owns the memory made from them, so the memory never
    /// outlives it (a store's memories do not touch their bytes as they
    /// are dropped).
    pub(crate) fn lend(&mut self) -> Option<&'static mut [u8]> {
        if std::mem::replace(&mut self.lent, true) {
            return None;
        }
        // SAFETY: the range is this slot's own, mapped read-write until
        // its reservation is unmapped — only when the arena goes, after
        // every slot (each holds the arena) — used by nothing else until
        // the slot is dropped, and handed out once.
        Some(unsafe { std::slice::from_raw_parts_mut(self.base.as_ptr(), self.len) })
    }

    /// Tells the slot its memory never grew beyond `bytes`: only that much
    /// is given back when it goes.
    pub(crate) fn used(&mut self, bytes: usize) {
        self.used = bytes.next_multiple_of(MIN_SLOT).min(self.len);
    }

    /// Where the slot starts.
    pub(crate) fn base(&self) -> *const u8 {
        self.base.as_ptr()
    }

    /// The OS page size (windows are aligned to it).
    pub(crate) fn page_size(&self) -> usize {
        self.arena.vm.page_size()
    }

    /// Maps `region[offset..offset + len]` at `at` of the guest memory
    /// `memory` (this slot's bytes, as long as the memory is now). The
    /// caller checked the handle's rights; here: alignment, bounds, that
    /// the guest does not use that memory (it reads as zeros) and that no
    /// other window is there.
    pub(crate) fn map_window(
        &mut self,
        memory: &mut [u8],
        at: usize,
        region: &Arc<Region>,
        offset: usize,
        len: usize,
    ) -> Result<(), Errno> {
        let page = WINDOW_ALIGN.max(self.page_size());
        if len == 0 || !at.is_multiple_of(page) || !offset.is_multiple_of(page) || !len.is_multiple_of(page) {
            return Err(Errno::InvalidArgument);
        }
        if offset.checked_add(len).is_none_or(|end| end > region.len()) {
            return Err(Errno::OutOfRange);
        }
        if memory.as_ptr() != self.base() {
            // Not the memory this slot holds (a module exporting another
            // memory as `memory`).
            return Err(Errno::NotSupported);
        }
        let end = at.checked_add(len).ok_or(Errno::BadAddress)?;
        if end > memory.len() {
            return Err(Errno::BadAddress);
        }
        if self.windows.iter().any(|w| at < w.at + w.len && w.at < end) {
            return Err(Errno::Busy);
        }
        if self.windows.len() >= MAX_WINDOWS {
            return Err(Errno::NoSpace);
        }
        if memory[at..end].iter().any(|&b| b != 0) {
            return Err(Errno::Busy);
        }
        let to = NonNull::new(memory[at..].as_mut_ptr()).ok_or(Errno::BadAddress)?;
        let all = &self.arena.windows;
        if all.fetch_add(1, Ordering::Relaxed) >= self.arena.max_windows {
            all.fetch_sub(1, Ordering::Relaxed);
            return Err(Errno::NoSpace);
        }
        // SAFETY: `to..to + len` is whole pages of this slot (checked
        // above: aligned, inside the memory, which is the slot), and the
        // guest's memory is borrowed exclusively here, so nothing reads or
        // writes it during the call.
        if let Err(e) = unsafe { region.memory().map_at(to, offset, len) } {
            all.fetch_sub(1, Ordering::Relaxed);
            return Err(e);
        }
        self.windows.push(Window { at, len, region: region.clone() });
        Ok(())
    }

    /// Gives the OS back the pages of `memory` (this slot's bytes, as
    /// long as the memory is now) that hold only zeros
    /// ([`VirtualMemory::discard`]: they read as zeros again, and come
    /// back when the guest writes them), except where a window is: those
    /// pages are the region's; the longest ranges first, as many as the
    /// slot may still give back ([`VirtualMemory::max_discards`]). Returns
    /// the bytes given back; 0 when `memory` is not this slot's (a module
    /// exporting another memory).
    pub(crate) fn release_zero_pages(&mut self, memory: &mut [u8]) -> usize {
        if memory.as_ptr() != self.base() || self.discards_left == 0 {
            return 0;
        }
        let page = self.page_size();
        // Found first (the scan borrows the bytes), given back after; not
        // a hot path (once per long park).
        let mut ranges = Vec::new();
        for run in crate::trim::zero_page_runs(memory, page) {
            let mut at = run.start;
            while at < run.end {
                // The part of the run before the next window in it.
                let (end, skip_to) = self
                    .windows
                    .iter()
                    .filter(|w| w.at + w.len > at && w.at < run.end)
                    .map(|w| (w.at.max(at), (w.at + w.len).min(run.end)))
                    .min()
                    .unwrap_or((run.end, run.end));
                if end > at {
                    ranges.push(at..end);
                }
                at = skip_to.max(end);
            }
        }
        if ranges.len() > self.discards_left {
            ranges.sort_unstable_by_key(|r| std::cmp::Reverse(r.len()));
            ranges.truncate(self.discards_left);
        }
        self.discards_left -= ranges.len();
        let mut released = 0;
        for range in ranges {
            // SAFETY: `range` is whole pages (a zero run is page-aligned;
            // windows are aligned to 64 KiB) of this slot's reservation
            // (`memory` is the slot), holding only zeros, outside every
            // window; the memory is borrowed exclusively, so nothing reads
            // or writes it during the call, and afterwards it reads as the
            // same zeros.
            let given = unsafe {
                self.arena.vm.discard(NonNull::new_unchecked(memory[range.start..].as_mut_ptr()), range.len())
            };
            match given {
                Ok(()) => released += range.len(),
                // They stay resident, with their zeros.
                Err(e) => log::warn!("cannot give back {} bytes of an idle guest's memory: {e}", range.len()),
            }
        }
        self.arena.given_back.fetch_add(released as u64, Ordering::Relaxed);
        released
    }

    /// Unmaps the window at `at` (private zero pages again): the region
    /// it showed.
    /// The caller holds the guest's memory exclusively (as a hostcall
    /// does).
    pub(crate) fn unmap_window(&mut self, at: usize) -> Result<Arc<Region>, Errno> {
        let i = self.windows.iter().position(|w| w.at == at).ok_or(Errno::InvalidArgument)?;
        self.restore(i)
    }

    /// Unmaps every window of `region` (its handle was detached); as
    /// [`Slot::unmap_window`].
    pub(crate) fn unmap_windows_of(&mut self, region: &Region) {
        while let Some(i) = self.windows.iter().position(|w| std::ptr::eq(&*w.region, region)) {
            if self.restore(i).is_err() {
                break;
            }
        }
    }

    fn restore(&mut self, i: usize) -> Result<Arc<Region>, Errno> {
        let w = &self.windows[i];
        // SAFETY: the window's range is whole pages of this slot (checked
        // when it was mapped); its memory is borrowed exclusively by the
        // caller, or no longer used (drop).
        let at = unsafe { NonNull::new_unchecked(self.base.as_ptr().add(w.at)) };
        // SAFETY: as above.
        unsafe { self.arena.vm.restore_private(at, w.len)? };
        self.arena.windows.fetch_sub(1, Ordering::Relaxed);
        Ok(self.windows.swap_remove(i).region)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        while !self.windows.is_empty() {
            if let Err(e) = self.restore(0) {
                // The slot keeps shared pages: never reuse it.
                log::error!("a guest memory slot keeps a region window ({e:?}); it is not reused");
                self.arena.lock().classes[self.class as usize].in_use -= 1;
                return;
            }
        }
        let base = self.base.as_ptr() as usize;
        let mut pool = self.arena.lock();
        let keep = WARM_BYTES.min(self.used);
        let keep = if pool.warm + keep <= self.arena.warm_budget { keep } else { 0 };
        pool.warm += keep;
        let c = &mut pool.classes[self.class as usize];
        c.in_use -= 1;
        c.refused = false;
        if keep == self.used {
            // Nothing to give back: free at once, under the same lock.
            c.free.push((base, keep));
            return;
        }
        drop(pool);
        // SAFETY: whole pages of this slot (`keep` and `used` are
        // multiples of 64 KiB within it, `keep` below `used`), which nothing
        // uses any more: the memory lent them is being dropped with its
        // store. Pages beyond `used` were never touched.
        let given = unsafe {
            self.arena.vm.discard(NonNull::new_unchecked(self.base.as_ptr().add(keep)), self.used - keep)
        };
        if let Err(e) = given {
            // They stay resident, still the guest's bytes: the next guest
            // is given them zeroed by wasmi, which zero-fills a memory's
            // pages as it makes or grows it.
            log::warn!("cannot give back {} bytes of a freed guest memory: {e}", self.used - keep);
        }
        self.arena.lock().classes[self.class as usize].free.push((base, keep));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Address space from the heap (page-aligned boxes), discarding by
    /// zeroing, counting calls.
    #[derive(Debug, Default)]
    struct HeapVm {
        reserved: Mutex<Vec<Box<[u8]>>>,
        discarded: std::sync::atomic::AtomicUsize,
        /// Discards fail (and change nothing).
        refuse: std::sync::atomic::AtomicBool,
        /// Ranges a memory may give back (0: unlimited).
        max_discards: usize,
    }

    // SAFETY: reservations are boxes kept for the life of the value and
    // handed out once each; discarding zeroes the range.
    unsafe impl VirtualMemory for HeapVm {
        fn page_size(&self) -> usize {
            4096
        }
        fn max_reservation(&self) -> usize {
            1 << 20
        }
        fn max_total(&self) -> usize {
            32 << 20
        }
        fn max_discards(&self) -> usize {
            if self.max_discards == 0 {
                usize::MAX
            } else {
                self.max_discards
            }
        }
        fn reserve(&self, len: usize) -> Option<NonNull<u8>> {
            let mut b = vec![0u8; len + MIN_SLOT].into_boxed_slice();
            let off = b.as_ptr().align_offset(MIN_SLOT);
            let p = NonNull::new(b[off..].as_mut_ptr());
            self.reserved.lock().unwrap().push(b);
            p
        }
        unsafe fn discard(&self, at: NonNull<u8>, len: usize) -> Result<(), Errno> {
            if self.refuse.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(Errno::OutOfMemory);
            }
            self.discarded.fetch_add(len, std::sync::atomic::Ordering::SeqCst);
            // SAFETY: the caller's range is part of a reservation.
            unsafe { std::ptr::write_bytes(at.as_ptr(), 0, len) };
            Ok(())
        }
        unsafe fn restore_private(&self, at: NonNull<u8>, len: usize) -> Result<(), Errno> {
            // SAFETY: as above.
            unsafe { std::ptr::write_bytes(at.as_ptr(), 0, len) };
            Ok(())
        }
        unsafe fn unreserve(&self, _at: NonNull<u8>, _len: usize) {}
    }

    #[test]
    fn slots_are_sized_by_class_reused_and_counted() {
        let arena = Arena::new(Arc::new(HeapVm::default()));
        let mut a = arena.slot(1).unwrap();
        assert_eq!(a.lend().unwrap().len(), MIN_SLOT);
        assert!(a.lend().is_none(), "lent once");
        let b = arena.slot(MIN_SLOT + 1).unwrap();
        assert_eq!(b.len, 2 * MIN_SLOT);
        assert_eq!(arena.stats().slots, 2);
        assert!(arena.slot(8 << 30).is_none(), "beyond 4 GiB: on the heap");
        let first = a.base();
        drop(a);
        assert_eq!(arena.stats().slots, 1);
        let again = arena.slot(100).unwrap();
        assert_eq!(again.base(), first, "the last slot freed is the next one handed out");
        // Reservations of the test vm hold 16 slots of 64 KiB.
        let many: Vec<_> = (0..40).map(|_| arena.slot(1).unwrap()).collect();
        let mut bases: Vec<_> = many.iter().map(|s| s.base() as usize).collect();
        bases.sort_unstable();
        bases.dedup();
        assert_eq!(bases.len(), 40, "distinct slots");
        assert_eq!(arena.stats().reserved, 4 << 20, "three reservations of 64 KiB slots, one of 128 KiB");
        // 32 MiB in all: the 7 slots left, 28 more reservations, then the
        // heap.
        let more: Vec<_> = (0..7 + 28 * 16).map(|_| arena.slot(1).unwrap()).collect();
        assert!(arena.slot(1).is_none(), "beyond the total");
        drop(more);
        assert!(arena.slot(1).is_some(), "free slots are reused");
    }

    #[test]
    fn windows_are_bounded_per_slot_and_in_all() {
        let arena = Arena::with_limits(Arc::new(HeapVm::default()), WARM_BUDGET, 3);
        let budget = Arc::new(crate::limits::MemoryBudget::new(u64::MAX));
        let accounting = Arc::new(crate::region::RegionAccounting::new(8, 1 << 30, 1 << 30, budget));
        let memory = Box::new(crate::region::HeapMemory::new(4 * MIN_SLOT));
        let region = Arc::new(Region::new(1, 1, 1, crate::owner::Owner::ROOT, memory, accounting));
        let (mut a, mut b) = (arena.slot(8 * MIN_SLOT).unwrap(), arena.slot(8 * MIN_SLOT).unwrap());
        let (mem_a, mem_b) = (a.lend().unwrap(), b.lend().unwrap());
        let w = MIN_SLOT;
        assert_eq!(a.map_window(mem_a, 0, &region, 0, w), Ok(()));
        assert_eq!(a.map_window(mem_a, 0, &region, 0, w), Err(Errno::Busy), "over another window");
        assert_eq!(a.map_window(mem_a, w, &region, w, 2 * w), Ok(()));
        assert_eq!(a.map_window(mem_a, w + 4096, &region, 0, w), Err(Errno::InvalidArgument), "unaligned");
        assert_eq!(
            a.map_window(mem_a, 7 * w, &region, 3 * w, 2 * w),
            Err(Errno::OutOfRange),
            "past the region"
        );
        mem_b[3 * w] = 1;
        assert_eq!(b.map_window(mem_b, 3 * w, &region, 0, w), Err(Errno::Busy), "memory in use");
        assert_eq!(b.map_window(mem_b, 0, &region, 0, w), Ok(()));
        assert_eq!(b.map_window(mem_b, w, &region, 0, w), Err(Errno::NoSpace), "three in all");
        assert!(a.unmap_window(0).is_ok());
        assert_eq!(b.map_window(mem_b, w, &region, 0, w), Ok(()), "room again");
        drop(a);
        assert_eq!(b.map_window(mem_b, 2 * w, &region, 0, w), Ok(()), "a's windows went with it");
        b.unmap_windows_of(&region);
        assert_eq!(arena.inner.windows.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn an_idle_memory_gives_back_its_zero_pages_but_not_its_windows() {
        let vm = Arc::new(HeapVm::default());
        let arena = Arena::new(vm.clone());
        let budget = Arc::new(crate::limits::MemoryBudget::new(u64::MAX));
        let accounting = Arc::new(crate::region::RegionAccounting::new(8, 1 << 30, 1 << 30, budget));
        let region_memory = Box::new(crate::region::HeapMemory::new(MIN_SLOT));
        let region = Arc::new(Region::new(1, 1, 1, crate::owner::Owner::ROOT, region_memory, accounting));
        let mut slot = arena.slot(4 * MIN_SLOT).unwrap();
        let memory = slot.lend().unwrap();
        let w = MIN_SLOT;
        assert_eq!(slot.map_window(memory, w, &region, 0, w), Ok(()));
        // Two 4 KiB pages in use: one in page 0, one in page 3.
        memory[100] = 1;
        memory[3 * w + 8192] = 2;
        let discarded = || vm.discarded.load(std::sync::atomic::Ordering::SeqCst);
        let before = discarded();
        let released = slot.release_zero_pages(memory);
        assert_eq!(released, 4 * w - w - 2 * 4096, "all but the window and the two pages in use");
        assert_eq!(discarded() - before, released);
        assert_eq!(arena.stats().given_back, released as u64);
        assert_eq!((memory[100], memory[3 * w + 8192]), (1, 2), "what is in use stays");
        let mut other = vec![0u8; 4 * w];
        assert_eq!(slot.release_zero_pages(&mut other), 0, "not this slot's memory");
        // Pages the OS would not take back are not counted as given back.
        vm.refuse.store(true, std::sync::atomic::Ordering::SeqCst);
        assert_eq!(slot.release_zero_pages(memory), 0);
        assert_eq!(arena.stats().given_back, released as u64, "unchanged");
    }

    /// Where giving back splits the OS's mappings, a memory gives back at
    /// most so many ranges while it lives: the longest first.
    #[test]
    fn an_idle_memory_gives_back_its_longest_zero_runs_within_its_allowance() {
        let vm = Arc::new(HeapVm { max_discards: 2, ..HeapVm::default() });
        let arena = Arena::new(vm.clone());
        let mut slot = arena.slot(MIN_SLOT).unwrap();
        let memory = slot.lend().unwrap();
        memory.fill(1);
        // Zero runs of 1, 3 and 2 pages.
        let page = 4096;
        for (start, pages) in [(page, 1), (3 * page, 3), (8 * page, 2)] {
            memory[start..start + pages * page].fill(0);
        }
        assert_eq!(slot.release_zero_pages(memory), 5 * page, "the runs of 3 and 2 pages");
        assert_eq!(memory[page], 0);
        assert_eq!(slot.release_zero_pages(memory), 0, "its allowance is spent");
        drop(slot);
        // The slot comes back warm (wasmi zeroes a memory as it makes it;
        // here its bytes are as they were): the same two runs go again.
        let mut again = arena.slot(MIN_SLOT).unwrap();
        let memory = again.lend().unwrap();
        assert_eq!(again.release_zero_pages(memory), 5 * page, "a new memory has its own allowance");
    }

    #[test]
    fn a_slot_beyond_the_warm_budget_is_discarded_whole() {
        let vm = Arc::new(HeapVm::default());
        // Room for four warm slots.
        let arena = Arena::with_limits(vm.clone(), 4 * WARM_BYTES, ALL_WINDOWS);
        let slots: Vec<_> = (0..6).map(|_| arena.slot(2 * WARM_BYTES).unwrap()).collect();
        drop(slots);
        let discarded = || vm.discarded.load(std::sync::atomic::Ordering::SeqCst);
        let len = 2 * WARM_BYTES;
        assert_eq!(discarded(), 4 * (len - WARM_BYTES) + 2 * len);
        // The last freed (cold) slots come back first; once they are
        // taken, a warm one frees its part of the budget.
        let cold: Vec<_> = (0..2).map(|_| arena.slot(2 * WARM_BYTES).unwrap()).collect();
        assert_eq!(arena.inner.lock().warm, 4 * WARM_BYTES);
        let warm = arena.slot(2 * WARM_BYTES).unwrap();
        assert_eq!(arena.inner.lock().warm, 3 * WARM_BYTES);
        drop(warm);
        assert_eq!(arena.inner.lock().warm, 4 * WARM_BYTES);
        drop(cold);
        assert_eq!(discarded(), 4 * (len - WARM_BYTES) + 2 * len + (len - WARM_BYTES) + 2 * len);
    }
}
