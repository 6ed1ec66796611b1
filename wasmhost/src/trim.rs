//! Idle processes give memory back.
//!
//! wasmi zero-fills a guest's linear memory when it creates or grows it,
//! so every page a guest declares becomes resident even if the guest
//! never touches it. When a process stays parked (in `sleep`, `receive`,
//! `scheme_next`, a blocking read, ...) for [`TRIM_AFTER`], its memory is
//! scanned and the OS pages that hold only zeros are handed back to the
//! OS through its arena slot (`Slot::release_zero_pages`, with the
//! platform's [`crate::VirtualMemory::discard`]: `MADV_DONTNEED` on
//! Linux, fresh anonymous memory mapped over them on Redox; region
//! windows are left alone); they still read as zeros, and come back when
//! the guest writes them. So a sleeping guest costs only the pages it
//! really uses. A memory on the heap (no virtual memory on the platform,
//! or its reservation refused) is not trimmed.
//!
//! Each park is noted with its time in a FIFO ([`Parks`]; parks come in
//! time order), so finding the processes due is O(1) per park and never
//! a walk over the process table; a process that woke up (or parked again
//! since) is skipped by its park count. The scan runs under the manager's
//! lock, so each pass scans at most 8 MiB (the rest waits for the next
//! pass) and memories above 64 MiB are not scanned.

use std::collections::VecDeque;
use std::ops::Range;
use std::time::{Duration, Instant};

use crate::manager::ProcessManager;
use crate::process::Sched;
use crate::Pid;

/// How long a process stays parked before its zero pages are released.
pub const TRIM_AFTER: Duration = Duration::from_millis(20);

/// Most bytes of memory scanned per call of [`ProcessManager::trim_idle`]
/// (it runs under the manager's lock; the parks left wait for the next
/// call).
const SCAN_BUDGET: usize = 8 << 20;

/// Memories larger than this are not scanned (a scan of them would hold
/// the manager's lock too long).
const MAX_SCANNED: usize = 64 << 20;

/// Parks noted, oldest first: when, who, and which of its parks.
#[derive(Debug, Default)]
pub(crate) struct Parks {
    queue: VecDeque<(Instant, Pid, u64)>,
}

impl Parks {
    /// `pid` parked now, for its `park`-th time.
    pub(crate) fn note(&mut self, pid: Pid, park: u64) {
        self.queue.push_back((Instant::now(), pid, park));
    }

    /// When the oldest noted park is due for a trim.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.queue.front().map(|(at, ..)| *at + TRIM_AFTER)
    }
}

/// The runs of whole `page`-sized, `page`-aligned (by address) pages of
/// `bytes` that hold only zeros, as ranges of `bytes`.
pub(crate) fn zero_page_runs(bytes: &[u8], page: usize) -> impl Iterator<Item = Range<usize>> + '_ {
    let misalign = (bytes.as_ptr() as usize) % page;
    let first = if misalign == 0 { 0 } else { page - misalign };
    let mut at = first;
    std::iter::from_fn(move || {
        let zero = |p: usize| bytes[p..p + page].iter().all(|b| *b == 0);
        while at + page <= bytes.len() && !zero(at) {
            at += page;
        }
        if at + page > bytes.len() {
            return None;
        }
        let start = at;
        while at + page <= bytes.len() && zero(at) {
            at += page;
        }
        Some(start..at)
    })
}

impl ProcessManager {
    /// Releases the zero pages of the processes parked for
    /// [`TRIM_AFTER`] by `now` (each once per park).
    pub(crate) fn trim_idle(&mut self, now: Instant) {
        let mut budget = SCAN_BUDGET;
        while let Some(&(at, pid, park)) = self.parks.queue.front() {
            if at + TRIM_AFTER > now || budget == 0 {
                return;
            }
            self.parks.queue.pop_front();
            let Some(proc) = self.procs.get_mut(pid) else { continue };
            if proc.parks != park || !matches!(proc.sched.beneath(), Sched::Blocked(..)) {
                continue;
            }
            let Some(store) = proc.store.as_deref_mut() else { continue };
            let Some(memory) = store.data().memory else { continue };
            let (bytes, state) = memory.data_and_store_mut(&mut *store);
            // A memory on the heap (no arena slot) is not trimmed.
            let Some(slot) = state.limiter.slot.as_mut() else { continue };
            if bytes.len() > MAX_SCANNED {
                continue;
            }
            budget = budget.saturating_sub(bytes.len());
            let released = slot.release_zero_pages(bytes);
            if released > 0 {
                log::trace!("pid {pid}: released {released} bytes of zero pages");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_runs_are_whole_aligned_pages() {
        // A page-aligned buffer of 6 pages of 16 bytes.
        let mut storage = vec![0u64; 6 * 16 / 8 + 2];
        let base = storage.as_mut_ptr() as usize;
        let skip = (16 - base % 16) % 16;
        let bytes: &mut [u8] = &mut bytemuck_free(&mut storage)[skip..skip + 6 * 16];
        bytes[16 + 3] = 1; // page 1 dirty
        bytes[4 * 16] = 1; // page 4 dirty
        let runs: Vec<_> = zero_page_runs(bytes, 16).collect();
        assert_eq!(runs, vec![0..16, 32..64, 80..96]);
        // Misaligned by 3: the partial first page is skipped.
        let runs: Vec<_> = zero_page_runs(&bytes[3..], 16).collect();
        assert_eq!(runs, vec![29..61, 77..93]);
        // All dirty: nothing.
        bytes.fill(7);
        assert_eq!(zero_page_runs(bytes, 16).count(), 0);
    }

    /// The bytes of `words`.
    fn bytemuck_free(words: &mut [u64]) -> &mut [u8] {
        // SAFETY: any bytes are valid `u8`s; the length covers exactly the
        // words' bytes, borrowed for as long as `words` is.
        unsafe { std::slice::from_raw_parts_mut(words.as_mut_ptr().cast::<u8>(), words.len() * 8) }
    }
}
