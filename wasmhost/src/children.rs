//! A process's children ([`Children`]): the live ones and the ended ones
//! not reaped yet, with the ended ones also in the order they ended, so
//! `wait` for any child takes the first to end at once and reaping one
//! never walks or shifts the whole list (a parent with thousands of
//! children reaps each in O(1) on average: the children are a set, and
//! the one reaped is usually the first ended).

use std::collections::{HashSet, VecDeque};
use std::hash::BuildHasherDefault;

use crate::manager::IdHasher;
use crate::Pid;

/// Live children and ended ones not yet reaped (see the module docs).
#[derive(Debug, Default, Clone)]
pub struct Children {
    /// Every child, live or ended.
    all: HashSet<Pid, BuildHasherDefault<IdHasher>>,
    /// The ended ones, in the order they ended.
    ended: VecDeque<Pid>,
}

impl Children {
    /// A child was born.
    pub(crate) fn add(&mut self, pid: Pid) {
        self.all.insert(pid);
    }

    /// Child `pid` ended (it stays until reaped).
    pub(crate) fn ended(&mut self, pid: Pid) {
        self.ended.push_back(pid);
    }

    /// The child that ended first of those not reaped.
    pub fn first_ended(&self) -> Option<Pid> {
        self.ended.front().copied()
    }

    /// True when `pid` is one of them.
    pub fn contains(&self, pid: Pid) -> bool {
        self.all.contains(&pid)
    }

    /// Forgets `pid` (reaped). Its place among the ended is found from
    /// the front: a child is usually reaped in the order it ended.
    pub(crate) fn remove(&mut self, pid: Pid) {
        self.all.remove(&pid);
        if let Some(i) = self.ended.iter().position(|c| *c == pid) {
            self.ended.remove(i);
        }
    }

    /// How many (live and unreaped).
    pub fn len(&self) -> usize {
        self.all.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.all.is_empty()
    }

    /// Each child.
    pub fn iter(&self) -> impl Iterator<Item = Pid> + '_ {
        self.all.iter().copied()
    }

    /// Takes them all (the parent ended).
    pub(crate) fn take(&mut self) -> Vec<Pid> {
        self.ended.clear();
        std::mem::take(&mut self.all).into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ended_children_come_out_in_the_order_they_ended() {
        let mut c = Children::default();
        for pid in 1..=4 {
            c.add(pid);
        }
        c.ended(3);
        c.ended(1);
        assert_eq!(c.first_ended(), Some(3));
        c.remove(3);
        assert_eq!(c.first_ended(), Some(1));
        assert!(!c.contains(3) && c.contains(1));
        // Reaped out of order (a wait for a given pid).
        c.ended(4);
        c.remove(4);
        assert_eq!(c.first_ended(), Some(1));
        assert_eq!(c.len(), 2);
        let mut all = c.take();
        all.sort();
        assert_eq!(all, vec![1, 2]);
        assert!(c.is_empty() && c.first_ended().is_none());
    }
}
