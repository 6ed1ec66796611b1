//! Links and monitors: what a process's end does to the processes that
//! watch it (see `wasmd_abi::mailbox` for the guest's view).
//!
//! Each record keeps its [`Watches`]: the processes it is linked with
//! (both sides list each other), the monitors it holds (reference,
//! target) and the monitors of it (reference, holder). When a process
//! ends, [`ProcessManager::propagate_exit`] (called from `finish`) unties
//! all of them: a linked process that traps exits gets an exit notice; one
//! that does not is doomed if the end was abnormal (the manager kills the
//! doomed after the end that doomed them, one after the other, so a long
//! chain of links unwinds without deep recursion); every monitor gives its
//! holder a down notice. Notices go into mailboxes like messages (see
//! [`crate::mailbox`]), so a parked `receive` wakes for them.

use std::collections::HashSet;

use wasmd_abi::mailbox::{Down, MAX_WATCHES, TAG_DOWN, TAG_EXIT};
use wasmd_abi::{msg, Caps, Errno, ExitStatus};

use crate::mailbox::Message;
use crate::manager::ProcessManager;
use crate::remote::is_remote;
use crate::Pid;

/// A process's links and monitors.
#[derive(Debug, Default)]
pub struct Watches {
    /// Processes linked with it.
    pub links: Vec<Pid>,
    /// Monitors it holds: (reference, target).
    pub monitors: Vec<(u64, Pid)>,
    /// Monitors of it: (reference, holder).
    pub watchers: Vec<(u64, Pid)>,
    /// Stand-ins of other nodes' processes it holds (from `spawn_on`,
    /// `name_whereis`, a message of theirs, see [`crate::remote`]).
    pub stand_ins: HashSet<Pid>,
}

impl Watches {
    /// Links, monitors and stand-ins held (what counts against
    /// `MAX_WATCHES`).
    pub(crate) fn held(&self) -> usize {
        self.links.len() + self.monitors.len() + self.stand_ins.len()
    }
}

/// True when an end is abnormal: anything but `exit(0)`.
pub fn is_abnormal(status: &ExitStatus) -> bool {
    !matches!(status, ExitStatus::Exited(0))
}

impl ProcessManager {
    /// `Errno` unless `me` may link to or monitor `target`: a live
    /// process in its own tree, or any with `PROC`.
    fn check_watch(&self, me: Pid, target: Pid) -> Result<(), Errno> {
        let mine = self.procs.get(me).ok_or(Errno::NoSuchProcess)?;
        let theirs = self.procs.get(target).ok_or(Errno::NoSuchProcess)?;
        if theirs.tree != mine.tree && !mine.caps.contains(Caps::PROC) {
            return Err(Errno::PermissionDenied);
        }
        if self.watch_count(me) >= MAX_WATCHES {
            return Err(Errno::NoSpace);
        }
        Ok(())
    }

    /// Links, monitors and notices of `pid` (0 for an unknown one).
    pub(crate) fn watch_count(&self, pid: Pid) -> usize {
        self.procs.get(pid).map_or(0, |p| p.watches.held() + p.mailbox.notices())
    }

    /// Links `me` and `target` (again: no change).
    pub(crate) fn link(&mut self, me: Pid, target: Pid) -> Result<(), Errno> {
        if me == target {
            return Err(Errno::InvalidArgument);
        }
        if is_remote(target) {
            return self.link_remote(me, target);
        }
        self.check_watch(me, target)?;
        if self.procs.get(target).is_none_or(|p| p.is_exited()) {
            return Err(Errno::NoSuchProcess);
        }
        if self.procs.get(me).is_some_and(|p| p.watches.links.contains(&target)) {
            return Ok(());
        }
        if self.watch_count(target) >= MAX_WATCHES {
            return Err(Errno::NoSpace);
        }
        for (a, b) in [(me, target), (target, me)] {
            if let Some(p) = self.procs.get_mut(a) {
                p.watches.links.push(b);
            }
        }
        Ok(())
    }

    /// Removes the link of `me` and `target`, if any.
    pub(crate) fn unlink(&mut self, me: Pid, target: Pid) {
        if is_remote(target) {
            return self.unlink_remote(me, target);
        }
        for (a, b) in [(me, target), (target, me)] {
            if let Some(p) = self.procs.get_mut(a) {
                p.watches.links.retain(|l| *l != b);
            }
        }
    }

    /// Monitors `target` for `me`: the reference. A process already ended
    /// (or unknown) gives its down notice at once.
    pub(crate) fn monitor(&mut self, me: Pid, target: Pid) -> Result<u64, Errno> {
        if is_remote(target) {
            return self.monitor_remote(me, target);
        }
        let mine = self.procs.get(me).ok_or(Errno::NoSuchProcess)?;
        let may_any = mine.caps.contains(Caps::PROC);
        let tree = mine.tree;
        if self.procs.get(target).is_some_and(|t| t.tree != tree && !may_any) {
            return Err(Errno::PermissionDenied);
        }
        if self.watch_count(me) >= MAX_WATCHES {
            return Err(Errno::NoSpace);
        }
        self.next_ref += 1;
        let reference = self.next_ref;
        match self.procs.get_mut(target) {
            Some(t) if !t.is_exited() && target != me => {
                t.watches.watchers.push((reference, me));
                if let Some(p) = self.procs.get_mut(me) {
                    p.watches.monitors.push((reference, target));
                }
            }
            ended => {
                let status = ended.and_then(|p| p.status().cloned());
                self.notify(me, TAG_DOWN, target, msg::encode(&Down { reference, status }));
            }
        }
        Ok(reference)
    }

    /// Removes `me`'s monitor `reference` and its queued down notice.
    pub(crate) fn demonitor(&mut self, me: Pid, reference: u64) -> Result<(), Errno> {
        let proc = self.procs.get_mut(me).ok_or(Errno::NoSuchProcess)?;
        let held = proc.watches.monitors.iter().position(|(r, _)| *r == reference);
        let target = held.map(|i| proc.watches.monitors.swap_remove(i).1);
        let mailbox = proc.mailbox.clone();
        match target {
            Some(t) if is_remote(t) => self.demonitor_remote(me, t, reference),
            Some(t) => {
                if let Some(t) = self.procs.get_mut(t) {
                    t.watches.watchers.retain(|(r, h)| !(*r == reference && *h == me));
                }
            }
            None => {}
        }
        // The notice starts with the reference (a postcard varint, which
        // no other reference's encoding starts with).
        let prefix = msg::encode(&reference);
        let (flushed, wakes) = mailbox.remove_where(|m| m.tag == TAG_DOWN && m.data.starts_with(&prefix));
        for wake in wakes {
            self.env.mail.add(wake);
        }
        if target.is_none() && flushed == 0 {
            return Err(Errno::NotFound);
        }
        Ok(())
    }

    /// Queues a notice for `to` (waking it if it waits for it).
    pub(crate) fn notify(&mut self, to: Pid, tag: u64, from: Pid, data: Vec<u8>) {
        let Some(proc) = self.procs.get(to) else { return };
        let notice = Message { tag, from, data, handles: Default::default(), charged: 0 };
        if let Some(wake) = proc.mailbox.notify(notice) {
            self.env.mail.add(wake);
        }
    }

    /// `pid` ended with `status` (its record still in the table): unties
    /// its links and monitors, queues the notices and dooms the linked
    /// processes that do not trap exits when the end was abnormal.
    pub(crate) fn propagate_exit(&mut self, pid: Pid, status: &ExitStatus) {
        let Some(proc) = self.procs.get_mut(pid) else { return };
        let watches = std::mem::take(&mut proc.watches);
        self.tell_remote_end(pid, status, &watches.links, &watches.watchers, &watches.monitors);
        self.release_stand_ins(pid, watches.stand_ins);
        let abnormal = is_abnormal(status);
        let mut exit_notice = None;
        for peer in watches.links {
            let Some(p) = self.procs.get_mut(peer) else { continue };
            p.watches.links.retain(|l| *l != pid);
            if p.is_exited() {
                continue;
            }
            if p.mailbox.traps_exits() {
                let data = exit_notice.get_or_insert_with(|| msg::encode(status)).clone();
                self.notify(peer, TAG_EXIT, pid, data);
            } else if abnormal {
                self.doomed.push(peer);
            }
        }
        for (reference, holder) in watches.watchers {
            if let Some(h) = self.procs.get_mut(holder) {
                h.watches.monitors.retain(|(r, _)| *r != reference);
            }
            let down = Down { reference, status: Some(status.clone()) };
            self.notify(holder, TAG_DOWN, pid, msg::encode(&down));
        }
        for (reference, target) in watches.monitors {
            if let Some(t) = self.procs.get_mut(target) {
                t.watches.watchers.retain(|(r, h)| !(*r == reference && *h == pid));
            }
        }
    }

    /// Kills the processes doomed by links (see module docs), unless an
    /// outer call is at it already.
    pub(crate) fn kill_doomed(&mut self) {
        if self.killing_doomed {
            return;
        }
        self.killing_doomed = true;
        while let Some(pid) = self.doomed.pop() {
            let _ = self.kill(pid);
        }
        self.killing_doomed = false;
    }
}
