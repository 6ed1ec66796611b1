//! Regions: shared memory a guest allocates (the OS object is created on
//! a worker, its bytes reserved in the global, per-tree and per-user
//! accounting first), shares along its own line of processes, and that
//! native users reach by id; and the waking of guests parked on a
//! region's words.

use std::sync::Arc;
use wasmd_abi::Errno;

use wasmd_abi::Rights;

use crate::caller::Caller;
use crate::continuation::returning;
use crate::manager::SyscallOutcome;
use crate::manager::{Continuation, ProcessManager, RegionNotifier};
use crate::owner::Owner;
use crate::process::{BlockOn, HandleObject, MAX_PENDING_SHARES, SHARES_FROM_OTHERS, SHARES_PER_SENDER};
use crate::region::{Region, RegionAccounting, SharedMemory};
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

    /// `region_alloc`: reserve in the global accounting, then create the
    /// OS shared memory on a worker.
    pub(crate) fn sys_region_alloc(
        &mut self,
        pid: Pid,
        tree: Pid,
        owner: crate::owner::Owner,
        size: u64,
    ) -> SyscallOutcome {
        if let Err(e) = self.env.regions.reserve(size, tree, owner.uid) {
            return SyscallOutcome::error(e);
        }
        let reserved = Reservation { regions: self.env.regions.clone(), size, tree, owner };
        let platform = self.env.platform.clone();
        let token = self.pend_host(pid);
        self.workers.submit(pid, token, move || {
            let memory = platform.create_shared_memory(size as usize);
            let then: Continuation = Box::new(move |pm, caller| match memory {
                Ok(memory) => returning(pm.finish_region_alloc(caller, memory, reserved)),
                Err(e) => SyscallOutcome::error(e),
            });
            then
        });
        SyscallOutcome::Park(BlockOn::Pending { token })
    }

    /// Finishes a `region_alloc` of `caller`. Returns the value for its
    /// hostcall.
    fn finish_region_alloc(
        &mut self,
        caller: &mut Caller<'_>,
        memory: Box<dyn SharedMemory>,
        reserved: Reservation,
    ) -> Result<i64, Errno> {
        let owner = reserved.owner;
        let region = self.new_region(caller.pid(), owner, reserved.keep(), memory);
        let size = region.len() as u64;
        let state = caller.state_mut();
        let handle = state.handles.insert(HandleObject::Region(region), Rights::ALL)?;
        crate::process::lock(&state.regions).bytes += size;
        Ok(i64::from(handle))
    }

    /// `region_share`: queue the region for `pid` to attach. Only along
    /// one's own line (oneself, an ancestor, a descendant) unless the
    /// caller holds `PROC`. A target's parent may fill all
    /// [`MAX_PENDING_SHARES`] slots; any other sender at most
    /// [`SHARES_PER_SENDER`], and all others together at most
    /// [`SHARES_FROM_OTHERS`], so nobody can deny a parent's shares. The
    /// pending bytes count against the target's region bytes at once (a
    /// region kept alive by a pending share is held by someone).
    pub(crate) fn sys_region_share(
        &mut self,
        me: Pid,
        region: Arc<Region>,
        pid: Pid,
        rights: Rights,
    ) -> SyscallOutcome {
        let id = region.id() as i64;
        let related = pid == me || self.is_ancestor(pid, me) || self.may_control(me, pid);
        if !related {
            return SyscallOutcome::error(if self.procs.contains(pid) {
                Errno::PermissionDenied
            } else {
                Errno::NoSuchProcess
            });
        }
        let from = me;
        // The target may be running on another scheduler thread: its
        // region accounting is reachable through the record.
        let Some(target) = self.procs.get(pid).filter(|p| !p.is_exited()) else {
            return SyscallOutcome::error(Errno::NoSuchProcess);
        };
        let parent = target.parent;
        let mut state = crate::process::lock(&target.regions);
        let size = region.len() as u64;
        let pending = &state.pending_shares;
        let room = if Some(from) == parent {
            pending.len() < MAX_PENDING_SHARES
        } else {
            pending.iter().filter(|s| s.from == from).count() < SHARES_PER_SENDER
                && pending.iter().filter(|s| Some(s.from) != parent).count() < SHARES_FROM_OTHERS
        };
        if !room || state.bytes.saturating_add(size) > state.max_bytes {
            return SyscallOutcome::error(Errno::NoSpace);
        }
        state.bytes += size;
        state.pending_shares.push(crate::process::PendingShare { region, rights, from });
        SyscallOutcome::Return(id)
    }
}

/// Region bytes reserved for a `region_alloc` in flight: given back when
/// dropped (the allocation failed, or its process died meanwhile) unless
/// a region took them over.
struct Reservation {
    regions: Arc<RegionAccounting>,
    size: u64,
    tree: Pid,
    owner: crate::owner::Owner,
}

impl Reservation {
    /// The region now holds the bytes; returns its tree.
    fn keep(self) -> Pid {
        let tree = self.tree;
        std::mem::forget(self);
        tree
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.regions.release(self.size, self.tree, self.owner.uid);
    }
}
