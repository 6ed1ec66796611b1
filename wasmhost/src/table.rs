//! The process table: a generational slab keyed by pid.
//!
//! A pid names its slot directly: slot `pid & mask`. The rest of the pid's
//! bits are the slot's generation, so a pid is never handed out twice
//! while the table lives (until the 32-bit counter wraps) and a stale pid
//! finds its slot holding another process — `get` then answers `None`,
//! like for a pid that never existed. Looking a process up is an index
//! and a compare: no hashing, no probing.
//!
//! Pids are handed out in rising order (1, 2, 3, …), skipping those whose
//! slot is taken; the table doubles when more than half its slots are
//! taken, so a free slot is never far and records never collide after a
//! resize (two pids in distinct slots differ in their low bits, and keep
//! differing with one bit more). Records stay in their slot for their
//! whole life: a syscall works on its caller's record in place.

use crate::process::Process;
use crate::Pid;

/// Slots of a new table (a power of two).
const INITIAL_SLOTS: usize = 64;

/// What a table holds: records that know their pid.
pub(crate) trait Keyed {
    /// The record's pid.
    fn pid(&self) -> Pid;
}

impl Keyed for Process {
    fn pid(&self) -> Pid {
        self.pid
    }
}

/// Every process record, live and exited-but-kept, by pid.
pub(crate) type ProcessTable = PidTable<Process>;

/// A slot of a [`PidTable`].
#[derive(Debug)]
enum Slot<T> {
    Free,
    /// Handed out by [`PidTable::alloc_pid`], its record not inserted yet.
    Reserved(Pid),
    Taken(Box<T>),
}

impl<T: Keyed> Slot<T> {
    fn pid(&self) -> Option<Pid> {
        match self {
            Slot::Free => None,
            Slot::Reserved(p) => Some(*p),
            Slot::Taken(t) => Some(t.pid()),
        }
    }
}

/// Records by pid (see the module docs).
#[derive(Debug)]
pub(crate) struct PidTable<T> {
    slots: Vec<Slot<T>>,
    len: usize,
    /// The next pid to try.
    next: Pid,
}

impl<T> Default for PidTable<T> {
    fn default() -> Self {
        Self { slots: (0..INITIAL_SLOTS).map(|_| Slot::Free).collect(), len: 0, next: 1 }
    }
}

impl<T: Keyed> PidTable<T> {
    fn slot(&self, pid: Pid) -> usize {
        pid as usize & (self.slots.len() - 1)
    }

    /// Slots held (records and reserved pids).
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Reserves a fresh pid whose slot is free (see the module docs),
    /// until its record is inserted or the pid released.
    pub(crate) fn alloc_pid(&mut self) -> Pid {
        if (self.len + 1) * 2 > self.slots.len() {
            self.grow();
        }
        loop {
            let pid = self.next;
            // Pids from REMOTE_PID_BASE up stand for other nodes' processes.
            self.next = if self.next + 1 >= crate::remote::REMOTE_PID_BASE { 1 } else { self.next + 1 };
            let slot = self.slot(pid);
            if pid != 0 && matches!(self.slots[slot], Slot::Free) {
                self.slots[slot] = Slot::Reserved(pid);
                self.len += 1;
                return pid;
            }
        }
    }

    fn grow(&mut self) {
        let old = std::mem::take(&mut self.slots);
        self.slots = (0..old.len() * 2).map(|_| Slot::Free).collect();
        for entry in old {
            if let Some(pid) = entry.pid() {
                let slot = self.slot(pid);
                self.slots[slot] = entry;
            }
        }
    }

    /// Fills the slot reserved for the record's pid by [`Self::alloc_pid`]
    /// (a record whose pid is not reserved is dropped).
    pub(crate) fn insert(&mut self, proc: Box<T>) {
        let slot = self.slot(proc.pid());
        debug_assert!(
            matches!(self.slots[slot], Slot::Reserved(p) if p == proc.pid()),
            "pid {} not reserved",
            proc.pid()
        );
        if matches!(self.slots[slot], Slot::Reserved(p) if p == proc.pid()) {
            self.slots[slot] = Slot::Taken(proc);
        }
    }

    /// Gives back a reserved pid whose record will not come.
    pub(crate) fn release(&mut self, pid: Pid) {
        let slot = self.slot(pid);
        if matches!(self.slots[slot], Slot::Reserved(p) if p == pid) {
            self.slots[slot] = Slot::Free;
            self.len -= 1;
        }
    }

    /// The record of `pid`.
    pub(crate) fn get(&self, pid: Pid) -> Option<&T> {
        match &self.slots[self.slot(pid)] {
            Slot::Taken(t) if t.pid() == pid => Some(t),
            _ => None,
        }
    }

    /// The record of `pid`, to change it.
    pub(crate) fn get_mut(&mut self, pid: Pid) -> Option<&mut T> {
        let slot = self.slot(pid);
        match &mut self.slots[slot] {
            Slot::Taken(t) if t.pid() == pid => Some(t),
            _ => None,
        }
    }

    /// True when `pid` has a record.
    pub(crate) fn contains(&self, pid: Pid) -> bool {
        self.get(pid).is_some()
    }

    /// Drops the record of `pid` and returns it.
    pub(crate) fn remove(&mut self, pid: Pid) -> Option<Box<T>> {
        let slot = self.slot(pid);
        self.get(pid)?;
        self.len -= 1;
        match std::mem::replace(&mut self.slots[slot], Slot::Free) {
            Slot::Taken(t) => Some(t),
            _ => None,
        }
    }

    /// Every record, in slot order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> {
        self.slots.iter().filter_map(|s| match s {
            Slot::Taken(t) => Some(&**t),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    struct Rec(Pid);

    impl Keyed for Rec {
        fn pid(&self) -> Pid {
            self.0
        }
    }

    fn add(t: &mut PidTable<Rec>) -> Pid {
        let pid = t.alloc_pid();
        t.insert(Box::new(Rec(pid)));
        pid
    }

    #[test]
    fn pids_rise_and_stale_pids_find_nothing() {
        let mut t = PidTable::<Rec>::default();
        let first: Vec<Pid> = (0..10).map(|_| add(&mut t)).collect();
        assert_eq!(first, (1..=10).collect::<Vec<_>>());
        assert_eq!(t.remove(3), Some(Box::new(Rec(3))));
        assert_eq!(t.remove(3), None);
        // Go once round the slots: pid 3's slot is reused by a new pid.
        let mut reused = None;
        for _ in 0..200 {
            let pid = add(&mut t);
            if t.slot(pid) == t.slot(3) {
                reused = Some(pid);
                break;
            }
            t.remove(pid);
        }
        let reused = reused.expect("slot of pid 3 reused");
        assert_ne!(reused, 3);
        assert!(t.get(3).is_none(), "a stale pid must not find the slot's new record");
        assert!(t.get_mut(3).is_none());
        assert!(t.remove(3).is_none());
        assert_eq!(t.get(reused), Some(&Rec(reused)));
        assert_eq!(t.len(), 10);
    }

    #[test]
    fn growing_keeps_every_record_and_skips_taken_slots() {
        let mut t = PidTable::<Rec>::default();
        let kept: Vec<Pid> = (0..1000).map(|_| add(&mut t)).collect();
        // Free every other one; the rest stay findable through resizes.
        for pid in kept.iter().step_by(2) {
            t.remove(*pid);
        }
        let more: Vec<Pid> = (0..3000).map(|_| add(&mut t)).collect();
        for pid in kept.iter().skip(1).step_by(2).chain(&more) {
            assert_eq!(t.get(*pid).map(|r| r.0), Some(*pid));
        }
        assert_eq!(t.len(), 500 + 3000);
        assert_eq!(t.iter().count(), t.len());
        // A reserved pid holds its slot but has no record until inserted.
        let reserved = t.alloc_pid();
        assert!(t.get(reserved).is_none());
        assert_eq!(t.len(), 3501);
        t.release(reserved);
        assert_eq!(t.len(), 3500);
        assert!(t.get(reserved).is_none());
        let mut all: Vec<Pid> = t.iter().map(|r| r.0).collect();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 3500, "no pid handed out twice");
        // Never more than half full.
        assert!(t.slots.len() >= 2 * t.len());
    }

    #[test]
    fn pids_wrap_to_one_below_the_stand_ins() {
        let top = crate::remote::REMOTE_PID_BASE - 1;
        let mut t = PidTable::<Rec> { next: top - 2, ..Default::default() };
        let pids: Vec<Pid> = (0..5).map(|_| add(&mut t)).collect();
        assert!(!pids.contains(&0));
        assert_eq!(pids[..3], [top - 2, top - 1, top]);
        assert_eq!(pids[3..], [1, 2], "never 0, never a stand-in's");
    }
}
