//! What other nodes tell: links, monitors and kills of local processes
//! by their processes, the ends of their processes, and their leaving.

use wasmd_abi::mailbox::{Down, MAX_WATCHES, TAG_DOWN, TAG_EXIT};
use wasmd_abi::{msg, Errno, ExitStatus};

use crate::links::is_abnormal;
use crate::manager::ProcessManager;
use crate::owner::Owner;
use crate::Pid;

use super::{is_remote, RemoteNotice, RemotePid};

impl ProcessManager {
    /// The stand-in of another node's process `from`, made if new, when
    /// it may watch one more local process: each holds at most
    /// [`MAX_WATCHES`] links and monitors, as a local process does (so a
    /// peer cannot grow a process's records without end).
    fn room_for(&mut self, from: &RemotePid) -> Option<Pid> {
        let stand_in = self.remote.get_or_make(from)?;
        let s = self.remote.by_pid.get(&stand_in)?;
        if s.links.len() + s.monitors.len() >= MAX_WATCHES {
            self.remote.collect(stand_in);
            return None;
        }
        Some(stand_in)
    }

    /// The local process `target` if it is live and `owner`'s.
    pub(super) fn watchable(&self, target: Pid, owner: Owner) -> bool {
        !is_remote(target) && self.procs.get(target).is_some_and(|p| !p.is_exited() && p.owner == owner)
    }

    /// Another node's process `from` linked with the local `target`
    /// (accepted when `target` is live and `owner`'s; else `from` is told
    /// it was not there).
    pub fn remote_link(&mut self, from: RemotePid, target: Pid, owner: Owner) {
        let stand_in = if self.watchable(target, owner) && self.watch_count(target) < MAX_WATCHES {
            self.room_for(&from)
        } else {
            None
        };
        match stand_in {
            Some(s) => self.tie_link(target, s),
            None => {
                // An end it may know of (the child of a spawn that ended
                // before its pid was read) is told as it was.
                let ended =
                    self.procs.get(target).filter(|p| p.owner == owner).and_then(|p| p.status().cloned());
                let status = Some(ended.unwrap_or(ExitStatus::NoProcess));
                self.remote.tell(RemoteNotice::Ended { to: from, pid: target, status, reference: None });
            }
        }
    }

    /// Another node's process `from` unlinked from the local `target`.
    pub fn remote_unlink(&mut self, from: RemotePid, target: Pid) {
        if let Some(stand_in) = self.remote.by_id.get(&from).copied() {
            self.untie_link(target, stand_in);
        }
    }

    /// Another node's process `from` monitors the local `target` under
    /// its `reference` (accepted as [`Self::remote_link`] is; else its
    /// down notice, with no status, goes back at once).
    pub fn remote_monitor(&mut self, from: RemotePid, target: Pid, reference: u64, owner: Owner) {
        let watched = self.procs.get(target).map_or(0, |p| p.watches.watchers.len());
        let stand_in =
            if self.watchable(target, owner) && watched < MAX_WATCHES { self.room_for(&from) } else { None };
        match stand_in {
            Some(s) => {
                if let Some(p) = self.procs.get_mut(target) {
                    p.watches.watchers.push((reference, s));
                }
                if let Some(r) = self.remote.by_pid.get_mut(&s) {
                    r.monitors.push((reference, target));
                }
            }
            None => {
                let status =
                    self.procs.get(target).filter(|p| p.owner == owner).and_then(|p| p.status().cloned());
                let reference = Some(reference);
                self.remote.tell(RemoteNotice::Ended { to: from, pid: target, status, reference });
            }
        }
    }

    /// Another node's process `from` dropped its monitor `reference` of
    /// the local `target`.
    pub fn remote_demonitor(&mut self, from: RemotePid, target: Pid, reference: u64) {
        let Some(stand_in) = self.remote.by_id.get(&from).copied() else { return };
        if let Some(p) = self.procs.get_mut(target) {
            p.watches.watchers.retain(|(r, h)| !(*r == reference && *h == stand_in));
        }
        if let Some(s) = self.remote.by_pid.get_mut(&stand_in) {
            s.monitors.retain(|(r, t)| !(*r == reference && *t == target));
        }
        self.remote.collect(stand_in);
    }

    /// Another node's process kills the local `target` (when it is
    /// `owner`'s).
    pub fn remote_kill(&mut self, target: Pid, owner: Owner) -> Result<(), Errno> {
        if !self.watchable(target, owner) {
            return Err(Errno::NoSuchProcess);
        }
        self.kill(target).map_err(|e| e.errno())?;
        self.kill_doomed();
        Ok(())
    }

    /// Another node's process `from` ended (`status`; `None`: not known)
    /// and the local `to` was linked with it (`reference: None`) or
    /// monitored it: `to` gets the notice a local end would give (or
    /// ends). Told of a link or monitor `to` does not have, it is
    /// dropped — unless `to` waits for the answer of a spawn on that
    /// node (the end overtook the answer: it is applied after it).
    pub fn remote_ended(
        &mut self,
        from: RemotePid,
        to: Pid,
        status: Option<ExitStatus>,
        reference: Option<u64>,
    ) {
        let Some(stand_in) = self.remote.by_id.get(&from).copied() else {
            let waiting = self.remote.spawns.values_mut().find(|w| w.by == to && w.node == from.node);
            if let Some(w) = waiting {
                if w.early.len() < 16 {
                    w.early.push((from.pid, status, reference));
                }
            }
            return;
        };
        match reference {
            None => {
                if !self.untie_link(to, stand_in) {
                    return;
                }
                let status = status.unwrap_or(ExitStatus::NoProcess);
                let Some(p) = self.procs.get(to).filter(|p| !p.is_exited()) else { return };
                if p.mailbox.traps_exits() {
                    self.notify(to, TAG_EXIT, stand_in, msg::encode(&status));
                } else if is_abnormal(&status) {
                    self.doomed.push(to);
                    self.kill_doomed();
                }
            }
            Some(reference) => {
                let held = self.procs.get_mut(to).is_some_and(|p| {
                    let before = p.watches.monitors.len();
                    p.watches.monitors.retain(|(r, t)| !(*r == reference && *t == stand_in));
                    before != p.watches.monitors.len()
                });
                if let Some(s) = self.remote.by_pid.get_mut(&stand_in) {
                    s.watchers.retain(|(r, h)| !(*r == reference && *h == to));
                }
                self.remote.collect(stand_in);
                if held {
                    self.notify(to, TAG_DOWN, stand_in, msg::encode(&Down { reference, status }));
                }
            }
        }
    }

    /// `node` left the cluster: each of its processes linked with or
    /// monitored by a local one ends for them with
    /// [`ExitStatus::NoConnection`], and its monitors of local processes
    /// go. Spawns waiting on it fail with `EIO` (the embedder fails them
    /// as it fails every request to that node).
    pub fn node_left(&mut self, node: &str) {
        let theirs = self.remote.by_node.get(node).cloned().unwrap_or_default();
        let gone: Vec<(Pid, RemotePid)> =
            theirs.into_iter().filter_map(|p| Some((p, self.remote.by_pid.get(&p)?.id.clone()))).collect();
        for (stand_in, id) in gone {
            let Some(s) = self.remote.by_pid.get(&stand_in) else { continue };
            let (links, watchers, monitors) = (s.links.clone(), s.watchers.clone(), s.monitors.clone());
            for (reference, target) in monitors {
                self.remote_demonitor(id.clone(), target, reference);
            }
            for (reference, holder) in watchers {
                self.remote_ended(id.clone(), holder, Some(ExitStatus::NoConnection), Some(reference));
            }
            for local in links {
                self.remote_ended(id.clone(), local, Some(ExitStatus::NoConnection), None);
            }
            if let Some(s) = self.remote.by_pid.get_mut(&stand_in) {
                s.holders.clear();
            }
            self.remote.collect(stand_in);
        }
    }
}
