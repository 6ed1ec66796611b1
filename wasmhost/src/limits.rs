//! Per-process limits and the memory limiter wasmi consults.

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

/// Enforces `max_pages` on memory growth; remembers a denial so the
/// process's end can be reported as "memory limit" rather than a trap.
#[derive(Debug)]
pub struct MemoryLimiter {
    max_bytes: usize,
    /// Set when a growth past the limit was refused.
    pub hit: bool,
}

impl MemoryLimiter {
    /// A limiter for `max_pages` pages.
    pub fn new(max_pages: u32) -> Self {
        Self { max_bytes: (max_pages as usize).saturating_mul(PAGE_SIZE), hit: false }
    }
}

impl wasmi::ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> Result<bool, LimiterError> {
        if desired > self.max_bytes {
            self.hit = true;
            return Err(LimiterError::ResourceLimiterDeniedAllocation);
        }
        Ok(maximum.is_none_or(|m| desired <= m))
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> Result<bool, LimiterError> {
        // Tables hold function references; 1M entries is far beyond any
        // real guest and bounds what a hostile one can make us allocate.
        Ok(desired <= 1 << 20 && maximum.is_none_or(|m| desired <= m))
    }

    fn instances(&self) -> usize {
        1
    }

    fn tables(&self) -> usize {
        16
    }

    fn memories(&self) -> usize {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
