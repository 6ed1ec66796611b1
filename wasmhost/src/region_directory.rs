//! The region directory: every region by id (weak: holders keep
//! regions alive), for native users reaching a region by its id, and
//! the embedder's view of regions and their waiters.

use std::sync::Arc;

use crate::manager::{ProcessManager, RegionNotifier};
use crate::owner::Owner;
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
            let woken =
                env.futex.lock().unwrap_or_else(|e| e.into_inner()).notify((region.id(), offset), count);
            if woken > 0 {
                env.kick();
            }
            woken
        })
    }

    /// Regions and region bytes alive now, all processes together.
    pub fn regions_in_use(&self) -> (u64, u64) {
        self.env.regions.in_use()
    }

    /// Processes parked in `region_wait`.
    pub fn futex_waiters(&self) -> usize {
        self.futex().waiters()
    }
}
