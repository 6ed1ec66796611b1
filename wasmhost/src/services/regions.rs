//! Regions as a service: shared memory a guest allocates (the OS object
//! is created on a worker, its bytes reserved in the global, per-tree and
//! per-user accounting first), shares along its own line of processes,
//! and waits on (a futex: parked until a notify or a timeout). Native
//! users reach regions by id through the manager's region directory.

use std::sync::Arc;

use wasmd_abi::{Errno, Rights};

use crate::caller::Caller;
use crate::context::{in_context, Context, SyscallOutcome};
use crate::continuation::returning;
use crate::process::{BlockOn, HandleObject, MAX_PENDING_SHARES, SHARES_FROM_OTHERS, SHARES_PER_SENDER};
use crate::region::{Region, RegionAccounting, SharedMemory};
use crate::scheduler::deadline_after;
use crate::Pid;

impl Context<'_> {
    /// `region_alloc`: reserve in the global accounting, then create the
    /// OS shared memory on a worker.
    pub(crate) fn sys_region_alloc(
        &mut self,
        pid: Pid,
        tree: Pid,
        owner: crate::owner::Owner,
        size: u64,
    ) -> SyscallOutcome {
        let env = self.env();
        if let Err(e) = env.regions.reserve(size, tree, owner.uid) {
            return SyscallOutcome::error(e);
        }
        let reserved = Reservation { regions: env.regions.clone(), size, tree, owner };
        let platform = env.platform.clone();
        let token = self.pend_host(pid);
        self.workers().submit(pid, token, move || {
            let memory = platform.create_shared_memory(size as usize);
            in_context(move |cx, caller| match memory {
                Ok(memory) => returning(cx.finish_region_alloc(caller, memory, reserved)),
                Err(e) => SyscallOutcome::error(e),
            })
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
            return SyscallOutcome::error(if self.process(pid).is_some() {
                Errno::PermissionDenied
            } else {
                Errno::NoSuchProcess
            });
        }
        let from = me;
        // The target may be running on another scheduler thread: its
        // region accounting is reachable through the record.
        let Some(target) = self.process(pid).filter(|p| !p.is_exited()) else {
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

    /// `region_wait`: parks `me` on the word at `offset` unless it is no
    /// longer `expected` (checked again under the wait queues' lock, so a
    /// notify between the hostcall's check and this one is not lost).
    pub(crate) fn sys_region_wait(
        &mut self,
        me: Pid,
        region: &Region,
        offset: u64,
        expected: u32,
        timeout: Option<u64>,
    ) -> SyscallOutcome {
        let key = (region.id(), offset);
        let token = self.token();
        {
            let mut futex = self.futex();
            let now = region.atomic_u32(offset).map(|w| w.load(std::sync::atomic::Ordering::SeqCst));
            if now != Ok(expected) {
                return SyscallOutcome::error(Errno::WouldBlock);
            }
            futex.wait(key, me, token);
        }
        if let Some(nanos) = timeout {
            let deadline = deadline_after(nanos);
            self.add_timer(deadline, me, token);
        }
        SyscallOutcome::Park(BlockOn::Futex { key, token })
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
