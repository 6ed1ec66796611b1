//! The name registry: processes registered under names, so a restarted
//! process is found again by name rather than by a pid passed around
//! (see `wasmd_abi::hostcall`, `name_register`).
//!
//! A name is 1–64 of `[a-z0-9._-]`; one process holds at most
//! [`NAMES_PER_PROCESS`]. Registering a name a live process holds is
//! `Errno::Exists`; a process's names go when it ends
//! ([`ProcessManager::drop_names`], from `finish`). A lookup gives a
//! process handle (what `send` needs), for processes of the caller's own
//! tree or, with `PROC`, any.
//!
//! In a cluster the registry is cluster-wide: the embedder tells the
//! manager the names other nodes' processes hold
//! ([`ProcessManager::set_cluster_names`]; how it learns them is its
//! business), a name held there cannot be registered here
//! (`Errno::Exists`), and `name_whereis` finds it (a stand-in pid, see
//! [`crate::remote`]). [`ProcessManager::names_version`] moves whenever
//! this node's own names change, for the embedder to tell the others.

use std::collections::BTreeMap;

use wasmd_abi::{Caps, Errno};

use crate::manager::ProcessManager;
use crate::remote::RemotePid;
use crate::Pid;

/// Most names one process holds.
pub const NAMES_PER_PROCESS: usize = 16;

/// The registry: this node's names, and other nodes'.
#[derive(Debug, Default)]
pub struct NameTable {
    /// Every name registered here, with its process (sorted, for listing).
    local: BTreeMap<String, Pid>,
    /// Names held on other nodes, as the embedder last told them.
    cluster: BTreeMap<String, RemotePid>,
    /// Moves at every change of `local`.
    version: u64,
}

/// `Errno::InvalidArgument` unless `name` is a valid registry name.
pub fn check_name(name: &str) -> Result<(), Errno> {
    let ok = (1..=64).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Errno::InvalidArgument)
    }
}

impl ProcessManager {
    /// Registers `me` under `name`.
    pub(crate) fn register_name(&mut self, me: Pid, name: &str) -> Result<(), Errno> {
        check_name(name)?;
        match self.names.local.get(name) {
            Some(holder) if *holder == me => return Ok(()),
            Some(_) => return Err(Errno::Exists),
            None if self.names.cluster.contains_key(name) => return Err(Errno::Exists),
            None => {}
        }
        let proc = self.procs.get_mut(me).ok_or(Errno::NoSuchProcess)?;
        if proc.names.len() >= NAMES_PER_PROCESS {
            return Err(Errno::NoSpace);
        }
        proc.names.push(name.to_string());
        self.names.local.insert(name.to_string(), me);
        self.names.version += 1;
        Ok(())
    }

    /// Removes `me`'s name `name` (`Errno::NotFound` if it holds no such name).
    pub(crate) fn unregister_name(&mut self, me: Pid, name: &str) -> Result<(), Errno> {
        if self.names.local.get(name) != Some(&me) {
            return Err(Errno::NotFound);
        }
        self.names.local.remove(name);
        self.names.version += 1;
        if let Some(proc) = self.procs.get_mut(me) {
            proc.names.retain(|n| n != name);
        }
        Ok(())
    }

    /// The process registered as `name`, as `me` may see it: one of its
    /// own tree, or any with `PROC` (`Errno::NotFound` otherwise, as for a
    /// name nobody holds).
    pub(crate) fn lookup_name(&self, me: Pid, name: &str) -> Result<Pid, Errno> {
        check_name(name)?;
        let pid = *self.names.local.get(name).ok_or(Errno::NotFound)?;
        let mine = self.procs.get(me).ok_or(Errno::NoSuchProcess)?;
        let theirs = self.procs.get(pid).ok_or(Errno::NotFound)?;
        if theirs.tree == mine.tree || mine.caps.contains(Caps::PROC) {
            Ok(pid)
        } else {
            Err(Errno::NotFound)
        }
    }

    /// `pid` ended: its names go.
    pub(crate) fn drop_names(&mut self, pid: Pid) {
        let Some(proc) = self.procs.get_mut(pid) else { return };
        let names = std::mem::take(&mut proc.names);
        if !names.is_empty() {
            self.names.version += 1;
        }
        for name in names {
            self.names.local.remove(&name);
        }
    }

    /// `name_whereis`: the pid of the process registered as `name`, here
    /// (as [`Self::lookup_name`] sees it) or, for a caller with `PROC`,
    /// on another node (its stand-in, kept while the caller lives).
    pub(crate) fn whereis_for(&mut self, me: Pid, name: &str) -> Result<Pid, Errno> {
        check_name(name)?;
        if self.names.local.contains_key(name) {
            return self.lookup_name(me, name);
        }
        let held = self.names.cluster.get(name).cloned().ok_or(Errno::NotFound)?;
        let mine = self.procs.get(me).ok_or(Errno::NoSuchProcess)?;
        if !mine.caps.contains(Caps::PROC) {
            return Err(Errno::NotFound);
        }
        self.hold_stand_in(me, &held)
    }

    /// Every name registered here and its process, by name.
    pub fn names(&self) -> Vec<(String, Pid)> {
        self.names.local.iter().map(|(n, p)| (n.clone(), *p)).collect()
    }

    /// The process registered here as `name`, if any.
    pub fn whereis(&self, name: &str) -> Option<Pid> {
        self.names.local.get(name).copied()
    }

    /// Moves whenever this node's names change.
    pub fn names_version(&self) -> u64 {
        self.names.version
    }

    /// The names other nodes' processes hold, as the embedder learnt
    /// them (a name also held here stays this node's).
    pub fn set_cluster_names(&mut self, names: BTreeMap<String, RemotePid>) {
        self.names.cluster = names;
    }

    /// The process of another node registered as `name`, if any (and
    /// not here).
    pub fn whereis_in_cluster(&self, name: &str) -> Option<&RemotePid> {
        self.names.cluster.get(name).filter(|_| !self.names.local.contains_key(name))
    }

    /// Every name held on other nodes (and not here), by name.
    pub fn cluster_names(&self) -> Vec<(String, RemotePid)> {
        let theirs = self.names.cluster.iter().filter(|(n, _)| !self.names.local.contains_key(*n));
        theirs.map(|(n, p)| (n.clone(), p.clone())).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_short_and_plain() {
        for good in ["kv", "a.b-c_9", &"x".repeat(64)] {
            assert_eq!(check_name(good), Ok(()), "{good}");
        }
        for bad in ["", "Kv", "a/b", "a b", &"x".repeat(65), "é"] {
            assert_eq!(check_name(bad), Err(Errno::InvalidArgument), "{bad}");
        }
    }
}
