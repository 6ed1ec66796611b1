//! What local processes do to processes of other nodes: links,
//! monitors and kills of stand-ins, spawns on other nodes (`spawn_on`),
//! the stand-ins they hold, and what their ends tell the other nodes.

use std::collections::HashSet;
use std::sync::Arc;

use wasmd_abi::mailbox::MAX_WATCHES;
use wasmd_abi::{Caps, Errno, ExitStatus};

use crate::caller::Caller;
use crate::continuation::Outcome;
use crate::manager::{ProcessManager, SyscallOutcome};
use crate::process::BlockOn;
use crate::syscall::{SpawnCall, SpawnModule};
use crate::Pid;

use super::{is_remote, RemoteNotice, RemoteOp, RemotePid, RemoteSpawn, SpawnWait, MAX_REMOTE_SPAWNS};

impl ProcessManager {
    pub(super) fn may_touch(&self, me: Pid, target: Pid) -> Result<RemotePid, Errno> {
        let mine = self.procs.get(me).ok_or(Errno::NoSuchProcess)?;
        let s = self.remote.by_pid.get(&target).ok_or(Errno::NoSuchProcess)?;
        if !s.holders.contains(&me) && !mine.caps.contains(Caps::PROC) {
            return Err(Errno::PermissionDenied);
        }
        Ok(s.id.clone())
    }

    /// `link(target)` of a stand-in.
    pub(crate) fn link_remote(&mut self, me: Pid, target: Pid) -> Result<(), Errno> {
        let to = self.may_touch(me, target)?;
        if self.procs.get(me).is_some_and(|p| p.watches.links.contains(&target)) {
            return Ok(());
        }
        if self.watch_count(me) >= MAX_WATCHES {
            return Err(Errno::NoSpace);
        }
        self.tie_link(me, target);
        self.remote.tell(RemoteNotice::Link { to, by: me });
        Ok(())
    }

    /// `unlink(target)` of a stand-in.
    pub(crate) fn unlink_remote(&mut self, me: Pid, target: Pid) {
        let Some(to) = self.remote.id(target) else { return };
        if self.untie_link(me, target) {
            self.remote.tell(RemoteNotice::Unlink { to, by: me });
        }
    }

    /// `monitor(target)` of a stand-in: the reference.
    pub(crate) fn monitor_remote(&mut self, me: Pid, target: Pid) -> Result<u64, Errno> {
        let to = self.may_touch(me, target)?;
        if self.watch_count(me) >= MAX_WATCHES {
            return Err(Errno::NoSpace);
        }
        self.next_ref += 1;
        let reference = self.next_ref;
        self.tie_monitor(me, target, reference);
        self.remote.tell(RemoteNotice::Monitor { to, by: me, reference });
        Ok(reference)
    }

    /// `demonitor` of a monitor of a stand-in (already removed from the
    /// holder's record).
    pub(crate) fn demonitor_remote(&mut self, me: Pid, target: Pid, reference: u64) {
        let Some(s) = self.remote.by_pid.get_mut(&target) else { return };
        s.watchers.retain(|(r, h)| !(*r == reference && *h == me));
        let to = s.id.clone();
        self.remote.collect(target);
        self.remote.tell(RemoteNotice::Demonitor { to, by: me, reference });
    }

    /// `kill(target)` of a stand-in: sent, not waited for.
    pub(crate) fn kill_remote(&mut self, me: Pid, target: Pid) -> Result<(), Errno> {
        let to = self.may_touch(me, target)?;
        self.remote.tell(RemoteNotice::Kill { to, by: me });
        Ok(())
    }

    /// `spawn_on`: checks what it can here, then asks the node and parks
    /// the caller until [`Self::remote_spawned`].
    pub(crate) fn sys_spawn_on(
        &mut self,
        caller: &mut Caller<'_>,
        node: String,
        call: SpawnCall,
    ) -> SyscallOutcome {
        let me = caller.pid();
        if !self.remote.enabled {
            return SyscallOutcome::error(Errno::NotSupported);
        }
        let Some(proc) = self.procs.get(me) else { return SyscallOutcome::error(Errno::NoSuchProcess) };
        let caps = call.caps.unwrap_or(proc.caps);
        if !proc.caps.contains(caps) || proc.limits.narrow(&call.limits, proc.fuel_left()).is_err() {
            return SyscallOutcome::error(Errno::PermissionDenied);
        }
        if !call.grants.is_empty() {
            return SyscallOutcome::error(Errno::InvalidArgument);
        }
        let module = match &call.module {
            SpawnModule::Path(p) if p.starts_with('/') => p.clone(),
            SpawnModule::Path(p) => match proc.module_path.as_deref().and_then(std::path::Path::parent) {
                Some(dir) => dir.join(p).to_string_lossy().into_owned(),
                None => return SyscallOutcome::error(Errno::InvalidArgument),
            },
            SpawnModule::Compiled(_, Some(path)) => path.to_string_lossy().into_owned(),
            SpawnModule::Compiled(_, None) | SpawnModule::Bytes(_) => {
                return SyscallOutcome::error(Errno::InvalidArgument)
            }
        };
        let namespace = match &call.namespace {
            Some(grants) => grants.iter().map(crate::namespace::Grant::to_text).collect(),
            None => caller.state().namespace.iter().map(crate::namespace::Grant::to_text).collect(),
        };
        if self.remote.spawns.len() >= MAX_REMOTE_SPAWNS {
            return SyscallOutcome::error(Errno::WouldBlock);
        }
        let monitor = call.watch.monitor.map(|_| {
            self.next_ref += 1;
            self.next_ref
        });
        let spawn = RemoteSpawn {
            module,
            args: call.args.iter().skip(1).cloned().collect(),
            caps,
            limits: call.limits,
            namespace,
            link: call.watch.link,
            monitor,
        };
        let node: Arc<str> = node.into();
        let token = self.pend_host(me);
        let out = call.watch.monitor;
        let wait =
            SpawnWait { by: me, node: node.clone(), link: spawn.link, monitor, out, early: Vec::new() };
        self.remote.spawns.insert(token, wait);
        self.remote.outbox.push(RemoteOp::Spawn { token, node, by: me, spawn });
        SyscallOutcome::Park(BlockOn::Pending { token })
    }

    /// The answer to [`RemoteOp::Spawn`] `token`: the child's pid on its
    /// node, or why not. Resumes the caller with the child's stand-in
    /// (linked and monitored as it asked). If the caller is gone, a
    /// linked child is killed there (it would have been, by the link).
    pub fn remote_spawned(&mut self, token: u64, result: Result<Pid, Errno>) {
        let Some(wait) = self.remote.spawns.remove(&token) else { return };
        let out = wait.out;
        let child = match result {
            Ok(pid) => RemotePid { node: wait.node.clone(), pid },
            Err(e) => {
                self.continue_wait(token, Box::new(move |_, _| Outcome::error(e)));
                return;
            }
        };
        let alive =
            self.procs.get(wait.by).is_some_and(|p| !p.is_exited()) && self.pending.contains_key(&token);
        let stand_in = if alive { self.remote.get_or_make(&child) } else { None };
        let Some(stand_in) = stand_in else {
            // Not waited for: a linked child dies with its link; one the
            // caller cannot be told of is not left behind.
            if wait.link || alive {
                self.remote.tell(RemoteNotice::Kill { to: child, by: wait.by });
            }
            let e = Errno::NoSpace;
            self.continue_wait(token, Box::new(move |_, _| Outcome::error(e)));
            return;
        };
        self.hold(wait.by, stand_in);
        if wait.link {
            self.tie_link(wait.by, stand_in);
        }
        if let Some(reference) = wait.monitor {
            self.tie_monitor(wait.by, stand_in, reference);
        }
        self.continue_wait(
            token,
            Box::new(move |_, caller| {
                if let (Some(out), Some(reference)) = (out, wait.monitor) {
                    let _ = caller.write(out, &reference.to_le_bytes());
                }
                Outcome::Return(i64::from(stand_in))
            }),
        );
        for (pid, status, reference) in wait.early {
            if pid == child.pid {
                self.remote_ended(child.clone(), wait.by, status, reference);
            }
        }
    }

    /// The stand-in of `id`, kept for the local `holder` while it lives.
    pub(crate) fn hold_stand_in(&mut self, holder: Pid, id: &RemotePid) -> Result<Pid, Errno> {
        let known = self.remote.by_id.get(id).copied();
        if known.is_none_or(|s| !self.procs.get(holder).is_some_and(|p| p.watches.stand_ins.contains(&s)))
            && self.watch_count(holder) >= MAX_WATCHES
        {
            return Err(Errno::NoSpace);
        }
        let stand_in = self.remote.get_or_make(id).ok_or(Errno::NoSpace)?;
        self.hold(holder, stand_in);
        Ok(stand_in)
    }

    /// A local process that held stand-ins ended: they are no longer
    /// kept for it.
    pub(crate) fn release_stand_ins(&mut self, holder: Pid, held: HashSet<Pid>) {
        for stand_in in held {
            if let Some(s) = self.remote.by_pid.get_mut(&stand_in) {
                s.holders.remove(&holder);
            }
            self.remote.collect(stand_in);
        }
    }

    /// The local process `pid` ended: tells the stand-ins linked with it
    /// or monitoring it, drops its monitors of stand-ins (`peers` are its
    /// links, `watchers` the monitors of it, `monitors` its own: each
    /// only the stand-ins among them).
    pub(crate) fn tell_remote_end(
        &mut self,
        pid: Pid,
        status: &ExitStatus,
        peers: &[Pid],
        watchers: &[(u64, Pid)],
        monitors: &[(u64, Pid)],
    ) {
        if self.remote.bridgers.remove(&pid) {
            self.remote.outbox.push(RemoteOp::BridgesEnd { by: pid });
        }
        for stand_in in peers.iter().copied().filter(|p| is_remote(*p)) {
            if let Some(s) = self.remote.by_pid.get_mut(&stand_in) {
                s.links.retain(|l| *l != pid);
                let to = s.id.clone();
                self.remote.tell(RemoteNotice::Ended {
                    to,
                    pid,
                    status: Some(status.clone()),
                    reference: None,
                });
            }
            self.remote.collect(stand_in);
        }
        for (reference, holder) in watchers.iter().copied().filter(|(_, h)| is_remote(*h)) {
            if let Some(s) = self.remote.by_pid.get_mut(&holder) {
                s.monitors.retain(|(r, t)| !(*r == reference && *t == pid));
                let to = s.id.clone();
                let status = Some(status.clone());
                self.remote.tell(RemoteNotice::Ended { to, pid, status, reference: Some(reference) });
            }
            self.remote.collect(holder);
        }
        for (reference, target) in monitors.iter().copied().filter(|(_, t)| is_remote(*t)) {
            if let Some(s) = self.remote.by_pid.get_mut(&target) {
                s.watchers.retain(|(r, h)| !(*r == reference && *h == pid));
                let to = s.id.clone();
                self.remote.tell(RemoteNotice::Demonitor { to, by: pid, reference });
            }
            self.remote.collect(target);
        }
    }
}
