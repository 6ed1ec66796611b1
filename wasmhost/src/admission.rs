//! Admission: a new process's place in the process table and its tree.
//!
//! A spawn first reserves a pid and a place in its tree
//! ([`ProcessManager::reserve_place`], within the table's and the tree's
//! limits; the reservation counts as a live process), then instantiates
//! without the lock (the spawn service), then either admits the record
//! ([`ProcessManager::admit`]: into the table and its parent's children,
//! queued to run or kept as exited) or gives the place back
//! ([`ProcessManager::give_back`]). The hostcall linker of each engine
//! generation is made here on first use ([`ProcessManager::linker`]).

use std::sync::Arc;

use crate::error::SpawnError;
use crate::instantiate::Linkers;
use crate::log::ProcessLog;
use crate::manager::ProcessManager;
use crate::module_cache::Generation;
use crate::process::Process;
use crate::Pid;

/// A reserved pid and place in a tree.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Place {
    /// The new process's pid.
    pub pid: Pid,
    /// Its tree (its own pid for a new tree).
    pub tree: Pid,
}

impl ProcessManager {
    /// Reserves a pid and a place in `tree` (a new tree of its own when
    /// `None`). It counts as a live process until given back.
    pub(crate) fn reserve_place(&mut self, tree: Option<Pid>) -> Result<Place, SpawnError> {
        if self.live >= self.config.max_processes {
            return Err(SpawnError::TooManyProcesses);
        }
        if tree.is_some_and(|t| self.trees.get(&t).is_some_and(|n| *n >= self.config.max_tree)) {
            return Err(SpawnError::TooManyProcesses);
        }
        let pid = self.procs.alloc_pid();
        let tree = tree.unwrap_or(pid);
        self.live += 1;
        *self.trees.entry(tree).or_insert(0) += 1;
        Ok(Place { pid, tree })
    }

    /// Gives a reservation back: its pid is free, its place in the tree
    /// too.
    pub(crate) fn give_back(&mut self, place: Place) {
        self.procs.release(place.pid);
        self.uncount(place.tree);
    }

    /// A reserved or live process no longer counts as live in its tree.
    fn uncount(&mut self, tree: Pid) {
        self.live -= 1;
        if let Some(n) = self.trees.get_mut(&tree) {
            *n -= 1;
            if *n == 0 {
                self.trees.remove(&tree);
            }
        }
    }

    /// Puts the record of a reserved process in the table, among its
    /// parent's children: queued to run, or kept as exited when its start
    /// function ended it (it keeps its pid, not its place in the tree).
    pub(crate) fn admit(&mut self, proc: Box<Process>) {
        let (pid, parent) = (proc.pid, proc.parent);
        if let Some(parent) = parent.and_then(|p| self.procs.get_mut(p)) {
            parent.children.add(pid);
            if proc.is_exited() {
                parent.children.ended(pid);
            }
        }
        if proc.is_exited() {
            self.uncount(proc.tree);
            *proc.log() = ProcessLog::new(0);
            if let Some(status) = proc.status() {
                self.env.output.exited(pid, status);
            }
            self.procs.insert(proc);
            if parent.is_none() {
                self.retain_orphan(pid);
            }
        } else {
            self.procs.insert(proc);
            let home = self.home();
            self.sched.push_ready(pid, home);
        }
    }

    /// The hostcall linker for `generation`'s engine (made on first use;
    /// the linkers of generations no module holds any more are dropped,
    /// with their engines and code).
    pub(crate) fn linker(&mut self, generation: &Arc<Generation>) -> Arc<Linkers> {
        if let Some((_, linker)) = self.linkers.get(&generation.id) {
            return linker.clone();
        }
        self.linkers.retain(|_, (g, _)| g.strong_count() > 0);
        let linker = Arc::new(Linkers::new(&generation.engine));
        self.linkers.insert(generation.id, (Arc::downgrade(generation), linker.clone()));
        linker
    }
}
