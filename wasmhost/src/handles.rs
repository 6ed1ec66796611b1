//! Per-process handle tables.
//!
//! A handle names an object (a region, a channel end, a file, ...) in one
//! process's table, with [`Rights`]. Handles are `u32` values
//! `generation << 16 | index`: a slot's generation changes each time it is
//! freed, so a stale or forged handle is `Errno::BadHandle`, never another object.
//! Generations start at 1 and stay below `0x8000`, so a handle is always a
//! positive `i32` and 0 is never valid. A slot whose generations are used
//! up is retired, never reused: a handle value, once freed, never names
//! another object. The table holds at most `max` entries (the process's
//! `max_handles` limit, at most 65535); beyond that, or once every slot is
//! retired (after more than two thousand million handles), insertion is
//! `Errno::TooManyHandles`.

use wasmd_abi::Errno;
use wasmd_abi::Rights;

/// Largest table size the encoding allows.
pub const MAX_HANDLES: u32 = 0xffff;
/// The last generation of a slot (the sign bit of an `i32` stays clear).
const LAST_GENERATION: u16 = 0x7fff;

/// One entry: the object and the rights this handle carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry<T> {
    /// The object.
    pub object: T,
    /// Rights of this handle.
    pub rights: Rights,
}

#[derive(Debug, Clone)]
struct Slot<T> {
    generation: u16,
    entry: Option<Entry<T>>,
}

/// A handle table.
#[derive(Debug, Clone)]
pub struct HandleTable<T> {
    slots: Vec<Slot<T>>,
    free: Vec<u16>,
    live: u32,
    max: u32,
}

impl<T> HandleTable<T> {
    /// An empty table of at most `max` live handles.
    pub fn new(max: u32) -> Self {
        Self { slots: Vec::new(), free: Vec::new(), live: 0, max: max.min(MAX_HANDLES) }
    }

    /// Live handles.
    pub fn len(&self) -> u32 {
        self.live
    }

    /// Most live handles.
    pub fn capacity(&self) -> u32 {
        self.max
    }

    /// True when no handle is live.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Adds an object; returns its handle, or `Errno::TooManyHandles` when full.
    pub fn insert(&mut self, object: T, rights: Rights) -> Result<u32, Errno> {
        if self.live >= self.max {
            return Err(Errno::TooManyHandles);
        }
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                let i = u16::try_from(self.slots.len()).map_err(|_| Errno::TooManyHandles)?;
                self.slots.push(Slot { generation: 1, entry: None });
                i
            }
        };
        let slot = &mut self.slots[index as usize];
        slot.entry = Some(Entry { object, rights });
        self.live += 1;
        Ok(u32::from(slot.generation) << 16 | u32::from(index))
    }

    fn slot(&self, handle: u32) -> Option<&Slot<T>> {
        let slot = self.slots.get((handle & 0xffff) as usize)?;
        (u32::from(slot.generation) == handle >> 16 && slot.entry.is_some()).then_some(slot)
    }

    /// The entry of `handle` if it holds every right in `needed`:
    /// `Errno::BadHandle` for an unknown handle, `Errno::PermissionDenied` for missing rights.
    pub fn get(&self, handle: u32, needed: Rights) -> Result<&Entry<T>, Errno> {
        let entry = self.slot(handle).and_then(|s| s.entry.as_ref()).ok_or(Errno::BadHandle)?;
        if entry.rights.contains(needed) {
            Ok(entry)
        } else {
            Err(Errno::PermissionDenied)
        }
    }

    /// The entry of `handle`, mutably (`Errno::BadHandle` for an unknown handle).
    pub fn get_mut(&mut self, handle: u32) -> Result<&mut Entry<T>, Errno> {
        self.slot(handle).ok_or(Errno::BadHandle)?;
        let slot = self.slots.get_mut((handle & 0xffff) as usize).ok_or(Errno::BadHandle)?;
        slot.entry.as_mut().ok_or(Errno::BadHandle)
    }

    /// Removes `handle`; returns its entry.
    pub fn remove(&mut self, handle: u32) -> Result<Entry<T>, Errno> {
        self.slot(handle).ok_or(Errno::BadHandle)?;
        let index = (handle & 0xffff) as usize;
        let slot = &mut self.slots[index];
        let entry = slot.entry.take().ok_or(Errno::BadHandle)?;
        if slot.generation < LAST_GENERATION {
            slot.generation += 1;
            self.free.push(index as u16);
        }
        self.live -= 1;
        Ok(entry)
    }

    /// Removes every entry (process exit), returning them.
    pub fn drain(&mut self) -> Vec<Entry<T>> {
        self.live = 0;
        self.free.clear();
        let slots = std::mem::take(&mut self.slots);
        slots.into_iter().filter_map(|s| s.entry).collect()
    }

    /// Iterates over live `(handle, entry)` pairs.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &Entry<T>)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.entry.as_ref().map(|e| (u32::from(s.generation) << 16 | i as u32, e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_get_remove_and_stale_handles() {
        let mut t = HandleTable::new(2);
        let a = t.insert("a", Rights::READ).unwrap();
        let b = t.insert("b", Rights::ALL).unwrap();
        assert_ne!(a, 0);
        assert!((a as i32) > 0 && (b as i32) > 0);
        assert_eq!(t.insert("c", Rights::ALL), Err(Errno::TooManyHandles));
        assert_eq!(t.get(a, Rights::READ).unwrap().object, "a");
        assert_eq!(t.get(a, Rights::WRITE), Err(Errno::PermissionDenied));
        assert_eq!(t.remove(a).unwrap().object, "a");
        assert_eq!(t.get(a, Rights::READ), Err(Errno::BadHandle));
        assert_eq!(t.remove(a), Err(Errno::BadHandle));
        let c = t.insert("c", Rights::READ).unwrap();
        assert_eq!(c & 0xffff, a & 0xffff, "slot reused");
        assert_ne!(c, a, "with a new generation");
        assert_eq!(t.get(a, Rights(0)), Err(Errno::BadHandle));
        assert_eq!(t.len(), 2);
        for forged in [0, 1, 0xffff_ffff, 0x7fff_0000, b ^ 0x1_0000] {
            assert_eq!(t.get(forged, Rights(0)).map(|e| e.object), Err(Errno::BadHandle), "{forged:#x}");
        }
        assert_eq!(t.drain().len(), 2);
        assert!(t.is_empty());
    }

    #[test]
    fn a_freed_handle_never_comes_back() {
        let mut t = HandleTable::new(1);
        let mut seen = std::collections::HashSet::new();
        // One slot's generations, then the next slot's.
        for _ in 0..0x10000 {
            let h = t.insert((), Rights::READ).unwrap();
            assert!((h as i32) > 0);
            assert!(seen.insert(h), "handle {h:#x} handed out twice");
            t.remove(h).unwrap();
            assert_eq!(t.get(h, Rights(0)), Err(Errno::BadHandle));
        }
        assert_eq!(t.len(), 0);
    }
}
