//! Per-process limits and the memory limiter wasmi consults.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use wasmd_abi::SpawnLimits;
use wasmi_core::LimiterError;

/// Bytes in a wasm page.
pub const PAGE_SIZE: usize = 65536;

/// The limits a process runs under. A child's limits never exceed its
/// parent's ([`Limits::narrow`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Most 64 KiB pages of linear memory.
    pub max_pages: u32,
    /// Total fuel budget; `None` is unlimited.
    pub fuel: Option<u64>,
    /// Most live handles.
    pub max_handles: u32,
    /// Most bytes of shared-memory regions held at once.
    pub max_region_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_pages: 4096, fuel: None, max_handles: 1024, max_region_bytes: 256 << 20 }
    }
}

/// A requested limit exceeds the parent's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("child limit `{0}` exceeds the parent's")]
pub struct LimitExceedsParent(pub &'static str);

impl Limits {
    /// The limits of a child that asked for `req`, given that its parent
    /// runs under `self` and has `fuel_left` of its budget left. Unset
    /// requests inherit; a request above the parent's is an error.
    pub fn narrow(&self, req: &SpawnLimits, fuel_left: Option<u64>) -> Result<Limits, LimitExceedsParent> {
        let max_pages = match req.max_pages {
            Some(p) if p > self.max_pages => return Err(LimitExceedsParent("max_pages")),
            Some(p) => p,
            None => self.max_pages,
        };
        let fuel = match (req.fuel, fuel_left) {
            (Some(f), Some(left)) if f > left => return Err(LimitExceedsParent("fuel")),
            (Some(f), _) => Some(f),
            (None, left) => left,
        };
        let max_handles = match req.max_handles {
            Some(h) if h > self.max_handles => return Err(LimitExceedsParent("max_handles")),
            Some(h) => h,
            None => self.max_handles,
        };
        let max_region_bytes = match req.max_region_bytes {
            Some(b) if b > self.max_region_bytes => return Err(LimitExceedsParent("max_region_bytes")),
            Some(b) => b,
            None => self.max_region_bytes,
        };
        Ok(Limits { max_pages, fuel, max_handles, max_region_bytes })
    }
}

/// Bytes a table entry is counted as (a function reference and its slot).
pub const TABLE_ENTRY_BYTES: usize = 16;

/// The daemon-wide memory budget: every process's linear memory and
/// tables, every region and every log byte are reserved from it before
/// they exist and given back when they go, so spawns and growth are
/// refused before the host runs out. Each user has an [`Account`] within
/// it: root may use the whole budget, any other user at most
/// [`USER_SHARE`] of it, so no user can take it all from the others.
#[derive(Debug)]
pub struct MemoryBudget {
    used: AtomicU64,
    max: u64,
    accounts: std::sync::Mutex<std::collections::HashMap<u32, Arc<Account>>>,
}

/// The share of the budget (numerator, denominator) one user other than
/// root may hold.
pub const USER_SHARE: (u64, u64) = (1, 2);

/// One user's part of the [`MemoryBudget`]. It refers to its budget
/// weakly (the budget keeps its accounts): when the budget is gone there
/// is nothing left to count against.
#[derive(Debug)]
pub struct Account {
    budget: std::sync::Weak<MemoryBudget>,
    used: AtomicU64,
    max: u64,
}

impl Account {
    /// Reserves `bytes` from the account and the budget; false (nothing
    /// reserved) when either would pass its limit.
    pub fn reserve(&self, bytes: u64) -> bool {
        let mine = self.used.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
            used.checked_add(bytes).filter(|total| *total <= self.max)
        });
        if mine.is_err() {
            return false;
        }
        if self.budget.upgrade().is_some_and(|b| !b.reserve(bytes)) {
            self.used.fetch_sub(bytes, Ordering::Relaxed);
            return false;
        }
        true
    }

    /// Reserves as much of `bytes` as both allow; returns how much.
    pub fn reserve_up_to(&self, bytes: u64) -> u64 {
        let mut granted = 0;
        let _ = self.used.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
            granted = bytes.min(self.max.saturating_sub(used));
            Some(used + granted)
        });
        let got = self.budget.upgrade().map_or(granted, |b| b.reserve_up_to(granted));
        self.used.fetch_sub(granted - got, Ordering::Relaxed);
        got
    }

    /// Gives `bytes` back.
    pub fn release(&self, bytes: u64) {
        // Nothing to give back (an empty log, a memory never grown): no
        // write to the counters every process of this user shares.
        if bytes == 0 {
            return;
        }
        let _ =
            self.used.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |u| Some(u.saturating_sub(bytes)));
        if let Some(b) = self.budget.upgrade() {
            b.release(bytes);
        }
    }

    /// Bytes this user holds.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    /// Bytes the account and the budget could both still give now.
    pub fn room(&self) -> u64 {
        let mine = self.max.saturating_sub(self.used());
        self.budget.upgrade().map_or(mine, |b| mine.min(b.max().saturating_sub(b.used())))
    }
}

impl MemoryBudget {
    /// A budget of `max` bytes.
    pub fn new(max: u64) -> Self {
        Self { used: AtomicU64::new(0), max, accounts: Default::default() }
    }

    /// The account of user `uid` (made on first use).
    pub fn account(self: &Arc<Self>, uid: u32) -> Arc<Account> {
        let mut accounts = self.accounts.lock().unwrap_or_else(|e| e.into_inner());
        accounts
            .entry(uid)
            .or_insert_with(|| {
                let max = if uid == 0 { self.max } else { self.max / USER_SHARE.1 * USER_SHARE.0 };
                Arc::new(Account { budget: Arc::downgrade(self), used: AtomicU64::new(0), max })
            })
            .clone()
    }

    /// Reserves `bytes`; false (nothing reserved) when that would pass
    /// the budget.
    pub fn reserve(&self, bytes: u64) -> bool {
        self.used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                used.checked_add(bytes).filter(|total| *total <= self.max)
            })
            .is_ok()
    }

    /// Reserves as much of `bytes` as is left; returns how much.
    pub fn reserve_up_to(&self, bytes: u64) -> u64 {
        let mut granted = 0;
        let _ = self.used.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
            granted = bytes.min(self.max.saturating_sub(used));
            Some(used + granted)
        });
        granted
    }

    /// Gives `bytes` back.
    pub fn release(&self, bytes: u64) {
        if bytes == 0 {
            return;
        }
        let _ =
            self.used.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |u| Some(u.saturating_sub(bytes)));
    }

    /// Bytes reserved now.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    /// The budget.
    pub fn max(&self) -> u64 {
        self.max
    }
}

/// Bytes held from an [`Account`] for as long as the charge lives (given
/// back on drop).
#[derive(Debug)]
pub struct Charge {
    account: Arc<Account>,
    bytes: u64,
}

impl Charge {
    /// Takes `bytes` from `account`; `None` when they are not there.
    pub fn take(account: Arc<Account>, bytes: u64) -> Option<Charge> {
        account.reserve(bytes).then_some(Charge { account, bytes })
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        self.account.release(self.bytes);
    }
}

/// Enforces `max_pages` on memory and tables together (tables count
/// [`TABLE_ENTRY_BYTES`] an entry) and reserves what a process grows to
/// from the daemon's [`MemoryBudget`], giving it back when the process's
/// store goes. Remembers a denial so the process's end can be reported as
/// "memory limit" rather than a trap.
#[derive(Debug)]
pub struct MemoryLimiter {
    max_bytes: usize,
    memory: usize,
    tables: usize,
    budget: Arc<Account>,
    /// Set when a growth past the process's limit was refused.
    pub hit: bool,
    /// Set when a growth was refused because the daemon's budget (or the
    /// owner's part of it) is spent.
    pub budget_hit: bool,
    /// The arena slot memory 0 lives in, when wasmd provides it (see
    /// [`crate::instantiate`]): kept here, in the store's data, so it
    /// outlives the memory, and told at the end how far memories grew.
    pub(crate) slot: Option<crate::arena::Slot>,
}

impl MemoryLimiter {
    /// A limiter for `max_pages` pages, reserving from `budget` (the
    /// owner's account).
    pub fn new(max_pages: u32, budget: Arc<Account>) -> Self {
        Self {
            max_bytes: (max_pages as usize).saturating_mul(PAGE_SIZE),
            memory: 0,
            tables: 0,
            budget,
            hit: false,
            budget_hit: false,
            slot: None,
        }
    }

    /// The most memory and tables together may take, in bytes.
    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    /// The owner's account it reserves from.
    pub fn account(&self) -> Arc<Account> {
        self.budget.clone()
    }

    /// Reserves `more` bytes for this process: the process's limit first
    /// (`Err`, ends it as "memory limit"), then the daemon's budget
    /// (`Ok(false)`: the growth fails, the guest sees it).
    fn grow(&mut self, more: usize) -> Result<bool, LimiterError> {
        if self.memory + self.tables + more > self.max_bytes {
            self.hit = true;
            return Err(LimiterError::ResourceLimiterDeniedAllocation);
        }
        if !self.budget.reserve(more as u64) {
            self.budget_hit = true;
            return Ok(false);
        }
        Ok(true)
    }
}

impl Drop for MemoryLimiter {
    fn drop(&mut self) {
        if let Some(slot) = self.slot.as_mut() {
            // The largest memory's size bounds memory 0's.
            slot.used(self.memory);
        }
        self.budget.release((self.memory + self.tables) as u64);
    }
}

impl wasmi::ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> Result<bool, LimiterError> {
        if maximum.is_some_and(|m| desired > m) {
            return Ok(false);
        }
        let more = desired.saturating_sub(current.max(self.memory));
        if !self.grow(more)? {
            return Ok(false);
        }
        self.memory += more;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> Result<bool, LimiterError> {
        if maximum.is_some_and(|m| desired > m) {
            return Ok(false);
        }
        let more = desired.saturating_sub(current).saturating_mul(TABLE_ENTRY_BYTES);
        if !self.grow(more)? {
            return Ok(false);
        }
        self.tables += more;
        Ok(true)
    }

    fn instances(&self) -> usize {
        1
    }

    fn tables(&self) -> usize {
        16
    }

    fn memories(&self) -> usize {
        // wasmd creates a module's memories itself and wasmi counts them
        // again as the instance imports them; pages are what is limited.
        2 * crate::instantiate::MEMORY_NAMES.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmi::ResourceLimiter;

    #[test]
    fn memory_and_tables_share_the_limit_and_the_budget() {
        let budget = Arc::new(MemoryBudget::new(10 * PAGE_SIZE as u64));
        let mut a = MemoryLimiter::new(4, budget.account(0));
        assert!(matches!(a.memory_growing(0, 2 * PAGE_SIZE, None), Ok(true)));
        // 1M table entries are 16 MiB: past a 4-page limit.
        assert!(a.table_growing(0, 1 << 20, None).is_err());
        assert!(a.hit);
        assert!(matches!(a.table_growing(0, PAGE_SIZE / TABLE_ENTRY_BYTES, None), Ok(true)));
        assert_eq!(budget.used(), 3 * PAGE_SIZE as u64);
        // Another process finds the budget spent: its growth fails, no trap.
        let mut b = MemoryLimiter::new(100, budget.account(0));
        assert!(matches!(b.memory_growing(0, 7 * PAGE_SIZE, None), Ok(true)));
        assert!(matches!(b.memory_growing(7 * PAGE_SIZE, 8 * PAGE_SIZE, None), Ok(false)));
        assert!(b.budget_hit && !b.hit);
        drop(a);
        assert_eq!(budget.used(), 7 * PAGE_SIZE as u64);
        assert!(matches!(b.memory_growing(7 * PAGE_SIZE, 8 * PAGE_SIZE, None), Ok(true)));
        drop(b);
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn no_user_but_root_takes_more_than_their_share() {
        let budget = Arc::new(MemoryBudget::new(10 * PAGE_SIZE as u64));
        let alice = budget.account(1000);
        assert!(alice.reserve(5 * PAGE_SIZE as u64));
        assert!(!alice.reserve(1), "half the budget is Alice's limit");
        assert_eq!(alice.reserve_up_to(PAGE_SIZE as u64), 0);
        let bob = budget.account(1001);
        assert!(bob.reserve(5 * PAGE_SIZE as u64), "Bob still gets his half");
        assert!(!budget.account(0).reserve(1), "the whole budget is spent");
        alice.release(5 * PAGE_SIZE as u64);
        assert!(budget.account(0).reserve(PAGE_SIZE as u64));
        assert!(Arc::ptr_eq(&alice, &budget.account(1000)));
    }

    #[test]
    fn narrowing() {
        let parent = Limits { max_pages: 10, fuel: Some(100), max_handles: 8, max_region_bytes: 4096 };
        let inherit = parent.narrow(&SpawnLimits::default(), Some(40)).unwrap();
        assert_eq!(inherit, Limits { fuel: Some(40), ..parent });
        let req = SpawnLimits {
            max_pages: Some(2),
            fuel: Some(40),
            max_handles: Some(1),
            max_region_bytes: Some(0),
        };
        assert_eq!(
            parent.narrow(&req, Some(40)).unwrap(),
            Limits { max_pages: 2, fuel: Some(40), max_handles: 1, max_region_bytes: 0 }
        );
        let more = |r: SpawnLimits| parent.narrow(&r, Some(40)).unwrap_err();
        assert_eq!(more(SpawnLimits { max_pages: Some(11), ..Default::default() }).0, "max_pages");
        assert_eq!(more(SpawnLimits { fuel: Some(41), ..Default::default() }).0, "fuel");
        assert_eq!(more(SpawnLimits { max_handles: Some(9), ..Default::default() }).0, "max_handles");
        assert_eq!(
            more(SpawnLimits { max_region_bytes: Some(4097), ..Default::default() }).0,
            "max_region_bytes"
        );
        let unlimited = Limits { fuel: None, ..parent };
        assert_eq!(
            unlimited.narrow(&SpawnLimits { fuel: Some(7), ..Default::default() }, None).unwrap().fuel,
            Some(7)
        );
    }
}
