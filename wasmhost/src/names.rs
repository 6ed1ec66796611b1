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

use std::collections::BTreeMap;

use wasmd_abi::{Caps, Errno};

use crate::manager::ProcessManager;
use crate::Pid;

/// Most names one process holds.
pub const NAMES_PER_PROCESS: usize = 16;

/// Every registered name, with its process (sorted, for listing).
pub type NameTable = BTreeMap<String, Pid>;

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
        match self.names.get(name) {
            Some(holder) if *holder == me => return Ok(()),
            Some(_) => return Err(Errno::Exists),
            None => {}
        }
        let proc = self.procs.get_mut(me).ok_or(Errno::NoSuchProcess)?;
        if proc.names.len() >= NAMES_PER_PROCESS {
            return Err(Errno::NoSpace);
        }
        proc.names.push(name.to_string());
        self.names.insert(name.to_string(), me);
        Ok(())
    }

    /// Removes `me`'s name `name` (`Errno::NotFound` if it holds no such name).
    pub(crate) fn unregister_name(&mut self, me: Pid, name: &str) -> Result<(), Errno> {
        if self.names.get(name) != Some(&me) {
            return Err(Errno::NotFound);
        }
        self.names.remove(name);
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
        let pid = *self.names.get(name).ok_or(Errno::NotFound)?;
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
        for name in std::mem::take(&mut proc.names) {
            self.names.remove(&name);
        }
    }

    /// Every registered name and its process, by name.
    pub fn names(&self) -> Vec<(String, Pid)> {
        self.names.iter().map(|(n, p)| (n.clone(), *p)).collect()
    }

    /// The process registered as `name`, if any.
    pub fn whereis(&self, name: &str) -> Option<Pid> {
        self.names.get(name).copied()
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
