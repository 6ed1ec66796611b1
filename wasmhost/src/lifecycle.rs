//! A process's life after spawn, as the manager sees it: the end of a
//! process ([`ProcessManager::finish`]) and what follows (its parent told,
//! its children orphaned, its record kept until reaped), waking a parked
//! process, and the control operations on a process (kill, suspend,
//! resume, refuel, forget) — including one running on a scheduler thread,
//! whose kill or suspension is applied when its turn ends.

use wasmd_abi::ExitStatus;

use wasmd_abi::msg;
use wasmd_abi::scheme::SchemeOp;

use crate::error::ControlError;
use crate::file::{FileHandle, FileTarget};
use crate::guest_scheme::Origin;
use crate::manager::ProcessManager;
use crate::process::{lock, BlockOn, HandleObject, Process, RegionHoldings, Resume, Sched, Stop};
use crate::Pid;

impl ProcessManager {
    /// Ends a live process (its store back in its record) and does what
    /// follows: [`Self::finish`], then [`Self::after_exit`].
    pub(crate) fn end(&mut self, pid: Pid, status: ExitStatus) {
        let Some(parent) = self.finish(pid, status) else { return };
        self.after_exit(pid, parent);
        self.kill_doomed();
    }

    /// Ends a process: frees its store, keeps its log and status. Returns
    /// its parent (`None` when there is no such live process).
    pub(crate) fn finish(&mut self, pid: Pid, status: ExitStatus) -> Option<Option<Pid>> {
        if self.procs.get(pid).is_none_or(Process::is_exited) {
            return None;
        }
        self.reload_ended(pid);
        self.schemes().provider_gone(pid);
        self.close_guest_files(pid);
        let exit_log_capacity = self.config.exit_log_capacity;
        let proc = self.procs.get_mut(pid)?;
        let wait = proc.sched.blocked_on().cloned();
        proc.exit_pages = proc.memory_pages();
        proc.module = None;
        // The store goes, and with it the memory and handles; regions
        // shared with the process and never attached go too.
        drop(proc.store.take());
        *lock(&proc.regions) = RegionHoldings::default();
        if proc.parent.is_some() {
            // Kept until the parent waits: only its tail.
            proc.log().shrink(exit_log_capacity);
        }
        self.env.output.exited(pid, &status);
        let senders = proc.mailbox.close();
        let (parent, tree) = (proc.parent, proc.tree);
        self.propagate_exit(pid, &status);
        self.drop_names(pid);
        if let Some(proc) = self.procs.get_mut(pid) {
            proc.sched = Sched::Exited(status);
        }
        match wait {
            Some(BlockOn::Pending { token }) => drop(self.pending.remove(&token)),
            Some(BlockOn::Futex { key, token }) => self.futex().cancel(key, pid, token),
            Some(BlockOn::Send { token, to, .. }) => to.unpark_sender((pid, token)),
            _ => {}
        }
        for (sender, token) in senders {
            if matches!(self.blocked_on(sender), Some(BlockOn::Send { token: t, .. }) if *t == token) {
                self.wake(sender, -i64::from(wasmd_abi::Errno::NoSuchProcess.errno()));
            }
        }
        if let Some(n) = self.trees.get_mut(&tree) {
            *n -= 1;
            if *n == 0 {
                self.trees.remove(&tree);
            }
        }
        self.live -= 1;
        Some(parent)
    }

    /// After `pid` exited: wake a parent waiting for it, orphan its
    /// children, and retain it for inspection if nobody will reap it.
    pub(crate) fn after_exit(&mut self, pid: Pid, parent: Option<Pid>) {
        let children = self.procs.get_mut(pid).map(|p| p.children.take()).unwrap_or_default();
        for child in children {
            self.orphan(child);
        }
        match parent.filter(|p| self.procs.get(*p).is_some_and(|p| !p.is_exited())) {
            Some(parent) => {
                if let Some(p) = self.procs.get_mut(parent) {
                    p.children.ended(pid);
                }
                self.deliver_to_waiting_parent(parent, pid);
            }
            None => self.retain_orphan(pid),
        }
    }

    /// The parent of `pid` is gone: it becomes an orphan.
    pub(crate) fn orphan(&mut self, pid: Pid) {
        if let Some(p) = self.procs.get_mut(pid) {
            p.parent = None;
            if p.is_exited() {
                self.retain_orphan(pid);
            }
        }
    }

    /// Keeps an exited orphan for inspection, dropping the oldest beyond
    /// the retention limit.
    pub(crate) fn retain_orphan(&mut self, pid: Pid) {
        self.orphans.push_back(pid);
        while self.orphans.len() > self.config.retained_exited {
            if let Some(old) = self.orphans.pop_front() {
                let orphaned = self.procs.get(old).is_some_and(|p| p.is_exited() && p.parent.is_none());
                if orphaned {
                    self.procs.remove(old);
                }
            }
        }
    }

    /// Removes an exited child's record (its parent waited for it).
    pub(crate) fn reap(&mut self, parent: Pid, child: Pid) -> Option<ExitStatus> {
        if !self.procs.get(child).is_some_and(Process::is_exited) {
            return None;
        }
        let record = self.procs.remove(child)?;
        if let Some(parent) = self.procs.get_mut(parent) {
            parent.children.remove(child);
        }
        for grandchild in record.children.iter() {
            self.orphan(grandchild);
        }
        match record.sched {
            Sched::Exited(status) => Some(status),
            _ => None,
        }
    }

    /// Queues a parked process to return `value` from its hostcall.
    pub(crate) fn wake(&mut self, pid: Pid, value: i64) {
        let Some(proc) = self.procs.get_mut(pid) else {
            return;
        };
        let slot = proc.sched.beneath_mut();
        let Sched::Blocked(..) = slot else { return };
        let Sched::Blocked(call, _) = std::mem::replace(slot, Sched::Running) else {
            return;
        };
        *slot = Sched::Ready(Resume::Return(call, value));
        if matches!(proc.sched, Sched::Ready(_)) {
            let home = self.here.unwrap_or_else(|| self.sched.least_loaded());
            self.sched.push_woken(pid, home);
        }
    }

    /// The block reason of a parked (possibly suspended) process.
    pub(crate) fn blocked_on(&self, pid: Pid) -> Option<&BlockOn> {
        self.procs.get(pid)?.sched.blocked_on()
    }

    /// Kills a process. Its parent (if waiting) sees `Killed`.
    pub fn kill(&mut self, pid: Pid) -> Result<(), ControlError> {
        let proc = self.procs.get_mut(pid).filter(|p| !p.is_exited()).ok_or(ControlError::NoSuchProcess)?;
        if matches!(proc.sched, Sched::Running) {
            // On a scheduler thread now: it ends when its turn does.
            proc.stop = Some(Stop::Kill);
            return Ok(());
        }
        self.end(pid, ExitStatus::Killed);
        Ok(())
    }

    /// Stops a live process from being scheduled until [`Self::resume`].
    pub fn suspend(&mut self, pid: Pid) -> Result<(), ControlError> {
        let proc = self.procs.get_mut(pid).ok_or(ControlError::NoSuchProcess)?;
        match proc.sched {
            Sched::Exited(_) => Err(ControlError::NoSuchProcess),
            Sched::Running if proc.stop.is_none() => {
                // On a scheduler thread now: suspended when its turn ends.
                proc.stop = Some(Stop::Suspend);
                Ok(())
            }
            Sched::Suspended(_) | Sched::Running => Err(ControlError::InvalidState),
            _ => {
                let prev = std::mem::replace(&mut proc.sched, Sched::Running);
                proc.sched = Sched::Suspended(Box::new(prev));
                Ok(())
            }
        }
    }

    /// Lets a suspended process run again.
    pub fn resume(&mut self, pid: Pid) -> Result<(), ControlError> {
        let proc = self.procs.get_mut(pid).ok_or(ControlError::NoSuchProcess)?;
        if matches!(proc.sched, Sched::Running) && proc.stop == Some(Stop::Suspend) {
            proc.stop = None;
            return Ok(());
        }
        if !matches!(proc.sched, Sched::Suspended(_)) {
            return Err(if proc.is_exited() {
                ControlError::NoSuchProcess
            } else {
                ControlError::InvalidState
            });
        }
        let Sched::Suspended(inner) = std::mem::replace(&mut proc.sched, Sched::Running) else {
            return Err(ControlError::InvalidState);
        };
        proc.sched = *inner;
        if matches!(proc.sched, Sched::Ready(_)) {
            let home = self.here.unwrap_or_else(|| self.sched.least_loaded());
            self.sched.push_ready(pid, home);
        }
        Ok(())
    }

    /// Adds `fuel` to a live process's budget (a process without a budget
    /// gets one of `fuel` from now).
    pub fn refuel(&mut self, pid: Pid, fuel: u64) -> Result<(), ControlError> {
        let proc = self.procs.get_mut(pid).ok_or(ControlError::NoSuchProcess)?;
        if proc.is_exited() {
            return Err(ControlError::NoSuchProcess);
        }
        let left = proc.fuel_left().unwrap_or(0);
        proc.limits.fuel = Some(proc.fuel_used.saturating_add(left).saturating_add(fuel));
        Ok(())
    }

    /// Removes an exited process's record (control-plane reaping).
    pub fn forget(&mut self, pid: Pid) -> Result<ExitStatus, ControlError> {
        let proc = self.procs.get(pid).ok_or(ControlError::NoSuchProcess)?;
        if !proc.is_exited() {
            return Err(ControlError::InvalidState);
        }
        let parent = proc.parent;
        let record = self.procs.remove(pid).ok_or(ControlError::NoSuchProcess)?;
        if let Some(p) = parent.and_then(|p| self.procs.get_mut(p)) {
            p.children.remove(pid);
        }
        for child in record.children.iter() {
            self.orphan(child);
        }
        match record.sched {
            Sched::Exited(status) => Ok(status),
            _ => Err(ControlError::InvalidState),
        }
    }

    /// `child` of `parent` exited: if the parent waits for it, reap it,
    /// write its status and wake the parent.
    pub(crate) fn deliver_to_waiting_parent(&mut self, parent: Pid, child: Pid) {
        let buf = match self.blocked_on(parent) {
            Some(BlockOn::Child { pid, buf }) if *pid == 0 || *pid == child => *buf,
            _ => return,
        };
        let Some(status) = self.reap(parent, child) else { return };
        if let Some(buf) = buf {
            self.with_caller(parent, |_, caller| caller.write(buf, &msg::encode(&status)));
        }
        self.wake(parent, i64::from(child));
    }

    /// Closes a process's files in guest schemes (it exits; its store is
    /// in its record).
    pub(crate) fn close_guest_files(&mut self, pid: Pid) {
        let Some(store) = self.procs.get(pid).and_then(|p| p.store.as_ref()) else { return };
        let files = guest_files(store.data());
        self.close_files_of(pid, files);
    }

    /// Asks the providers of `files` (scheme, id) to close them for `pid`.
    pub(crate) fn close_files_of(&mut self, pid: Pid, files: Vec<(String, u64)>) {
        if files.is_empty() {
            return;
        }
        let mut table = self.schemes();
        for (scheme, id) in files {
            let _ = table.submit(&scheme, pid, SchemeOp::Close { id }, Origin::External);
        }
    }
}

/// A process's files in guest schemes: (scheme, id) each.
pub(crate) fn guest_files(state: &crate::process::ProcessState) -> Vec<(String, u64)> {
    state
        .handles
        .iter()
        .filter_map(|(_, e)| match &e.object {
            HandleObject::File(FileHandle { target: FileTarget::Guest { scheme, id }, .. }) => {
                Some((scheme.clone(), *id))
            }
            _ => None,
        })
        .collect()
}
