//! The region directory: every region by id (weak: holders keep
//! regions alive), for native users reaching a region by its id, and
//! the embedder's view of regions and their waiters.

use std::sync::Arc;

use crate::futex::NativeWake;
use crate::manager::{ProcessManager, RegionNotifier};
use crate::owner::Owner;
use crate::process::HostEnv;
use crate::region::Region;
use crate::Pid;

impl ProcessManager {
    /// Registers a new region and returns it.
    pub(crate) fn new_region(
        &mut self,
        creator: Pid,
        owner: Owner,
        tree: Pid,
        memory: Box<dyn crate::region::SharedMemory>,
    ) -> Arc<Region> {
        let id = self.next_region_id;
        self.next_region_id += 1;
        let region = Arc::new(Region::new(id, creator, tree, owner, memory, self.env.regions.clone()));
        if self.regions.len() >= 64 && self.regions.len().is_power_of_two() {
            self.regions.retain(|_, r| r.strong_count() > 0);
        }
        self.regions.insert(id, Arc::downgrade(&region));
        region
    }

    /// A live region by id.
    pub fn region(&self, id: u64) -> Option<Arc<Region>> {
        self.regions.get(&id).and_then(std::sync::Weak::upgrade)
    }

    /// Ids of the live regions, ascending.
    pub fn region_ids(&self) -> Vec<u64> {
        let mut ids: Vec<u64> =
            self.regions.iter().filter(|(_, r)| r.strong_count() > 0).map(|(id, _)| *id).collect();
        ids.sort_unstable();
        ids
    }

    /// A function that wakes up to `count` guests waiting on an offset
    /// of a region (for native users of shared memory); they run on a
    /// later [`Self::run`].
    pub fn region_notifier(&self) -> RegionNotifier {
        let env = self.env.clone();
        Arc::new(move |region: &Region, offset: u64, count: u32| {
            let (woken, fired) = {
                let mut futex = env.futex.lock().unwrap_or_else(|e| e.into_inner());
                let woken = futex.notify((region.id(), offset), count);
                (woken, futex.take_fired())
            };
            for wake in fired {
                wake();
            }
            if woken > 0 {
                env.kick();
            }
            woken
        })
    }

    /// Waits of native threads on region words, with a callback instead
    /// of a park (see [`RegionWatcher`]).
    pub fn region_watcher(&self) -> RegionWatcher {
        RegionWatcher { env: self.env.clone() }
    }

    /// Regions and region bytes alive now, all processes together.
    pub fn regions_in_use(&self) -> (u64, u64) {
        self.env.regions.in_use()
    }

    /// Processes parked in `region_wait`.
    pub fn futex_waiters(&self) -> usize {
        self.futex().waiters()
    }

    /// Native watches queued in the region wait queues (bridges' ends
    /// waiting for their channels, see [`RegionWatcher`]).
    pub fn futex_watches(&self) -> usize {
        self.futex().watches()
    }
}

/// A native thread's waits on region words: as a guest's `region_wait`,
/// but the thread does not block. [`RegionWatcher::watch`] queues a
/// callback that the next `region_notify` of that word calls (once, on
/// the notifier's thread, after the wait queues are let go of), the
/// native notifier ([`ProcessManager::region_notifier`]) too.
#[derive(Clone)]
pub struct RegionWatcher {
    env: Arc<HostEnv>,
}

impl std::fmt::Debug for RegionWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RegionWatcher")
    }
}

impl RegionWatcher {
    /// Queues `wake` for the next notify of the `u32` at `offset` of
    /// `region`, if it still holds `expected` (checked under the wait
    /// queues' lock, so no notify is missed): its id, or `None` when the
    /// word changed (nothing is queued) or `offset` is not an aligned
    /// word of the region.
    pub fn watch(&self, region: &Region, offset: u64, expected: u32, wake: NativeWake) -> Option<u64> {
        let word = region.atomic_u32(offset).ok()?;
        let mut futex = self.env.futex.lock().unwrap_or_else(|e| e.into_inner());
        if word.load(std::sync::atomic::Ordering::SeqCst) != expected {
            return None;
        }
        Some(futex.watch((region.id(), offset), wake))
    }

    /// Removes watch `id` of `offset` of `region`, if it did not fire.
    pub fn unwatch(&self, region: &Region, offset: u64, id: u64) {
        self.env.futex.lock().unwrap_or_else(|e| e.into_inner()).unwatch((region.id(), offset), id);
    }

    /// Watches queued now, all regions together.
    #[cfg(test)]
    fn watches(&self) -> usize {
        self.env.futex.lock().unwrap_or_else(|e| e.into_inner()).watches()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::region::{HeapMemory, RegionAccounting};

    #[test]
    fn a_native_watch_fires_once_on_notify_and_not_when_the_word_moved() {
        let pm = crate::testing::manager();
        let budget = Arc::new(crate::limits::MemoryBudget::new(u64::MAX));
        let acct = Arc::new(RegionAccounting::new(2, 1 << 20, 1 << 20, budget));
        acct.reserve(4096, 1, 0).unwrap();
        let region = Region::new(9, 1, 1, Owner::ROOT, Box::new(HeapMemory::new(4096)), acct);
        let (watcher, notify) = (pm.region_watcher(), pm.region_notifier());
        let calls = Arc::new(AtomicUsize::new(0));
        let wake: NativeWake = {
            let calls = calls.clone();
            Arc::new(move || {
                calls.fetch_add(1, Ordering::SeqCst);
            })
        };
        region.atomic_u32(16).unwrap().store(5, Ordering::SeqCst);
        assert_eq!(watcher.watch(&region, 16, 4, wake.clone()), None, "the word moved: nothing queued");
        assert_eq!(watcher.watch(&region, 18, 5, wake.clone()), None, "not an aligned word");
        assert_eq!(watcher.watches(), 0);
        let id = watcher.watch(&region, 16, 5, wake.clone()).expect("queued");
        assert_eq!(notify(&region, 20, u32::MAX), 0, "another word");
        assert_eq!(calls.load(Ordering::SeqCst), 0);
        assert_eq!(notify(&region, 16, u32::MAX), 1);
        assert_eq!(calls.load(Ordering::SeqCst), 1, "called by the notifier");
        assert_eq!(notify(&region, 16, u32::MAX), 0, "once");
        watcher.unwatch(&region, 16, id);
        let id = watcher.watch(&region, 16, 5, wake).expect("queued");
        watcher.unwatch(&region, 16, id);
        assert_eq!(notify(&region, 16, u32::MAX), 0, "removed");
        assert_eq!((calls.load(Ordering::SeqCst), watcher.watches()), (1, 0));
    }
}
