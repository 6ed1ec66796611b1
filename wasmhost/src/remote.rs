//! Processes of other nodes: the stand-in pids a guest links to,
//! monitors, kills and spawns across a cluster (see
//! `wasmd_abi::hostcall`, *Processes of other nodes*).
//!
//! wasmhost knows no network. A process of another node is a
//! [`RemotePid`] (its node and its pid there); locally it is named by a
//! *stand-in* pid from [`REMOTE_PID_BASE`] up, which the [`StandIns`]
//! table maps both ways. Links and monitors with a stand-in are kept in
//! the local process's [`crate::links::Watches`] as with any pid, and in
//! the stand-in's own record for the other side.
//!
//! Data flow: what a local process does to a stand-in (link, unlink,
//! monitor, demonitor, kill, a spawn on another node) and what its end
//! means for the stand-ins it watched or was watched by become
//! [`RemoteOp`]s in an outbox; the embedder takes them
//! ([`ProcessManager::take_remote_ops`]), carries them to the other node,
//! and hands that node's manager the matching call (`remote_link`,
//! `remote_ended`, …), which acts on its local process as a local link or
//! monitor would. A spawn's answer comes back through
//! [`ProcessManager::remote_spawned`], which resumes the waiting guest;
//! a node that leaves is [`ProcessManager::node_left`]: every stand-in of
//! it ends with [`ExitStatus::NoConnection`].
//!
//! Who may: a local process needs `PROC` to link, monitor or kill a
//! stand-in, except one it spawned itself. The other node's requests are
//! accepted for its processes owned by the user the embedder names (its
//! remote user); others count as not there.

use std::collections::HashMap;
use std::sync::Arc;

use wasmd_abi::mailbox::{Down, MAX_WATCHES, TAG_DOWN, TAG_EXIT};
use wasmd_abi::{msg, Caps, Errno, ExitStatus, SpawnLimits};

use crate::caller::Caller;
use crate::continuation::Outcome;
use crate::guest_buf::GuestBuf;
use crate::links::is_abnormal;
use crate::manager::{ProcessManager, SyscallOutcome};
use crate::owner::Owner;
use crate::process::BlockOn;
use crate::syscall::{SpawnCall, SpawnModule};
use crate::Pid;

pub use wasmd_abi::hostcall::REMOTE_PID_BASE;

/// Most stand-ins one daemon keeps (each is also counted against its
/// local holder's [`MAX_WATCHES`]).
pub const MAX_STAND_INS: usize = 65_536;

/// Most spawns on other nodes waiting for their answer at once.
pub const MAX_REMOTE_SPAWNS: usize = 1024;

/// True for a pid that stands for a process of another node.
pub fn is_remote(pid: Pid) -> bool {
    pid >= REMOTE_PID_BASE
}

/// A process of another node.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RemotePid {
    /// Its node.
    pub node: Arc<str>,
    /// Its pid there (a local pid of that node).
    pub pid: Pid,
}

/// A spawn on another node, as the caller asked and this node checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteSpawn {
    /// The module file, absolute.
    pub module: String,
    /// Arguments after the program name.
    pub args: Vec<String>,
    /// Capabilities (within the caller's).
    pub caps: Caps,
    /// Limits asked for (each within the caller's; unset: the node's default).
    pub limits: SpawnLimits,
    /// Namespace grants, `SCHEME:PREFIX=rw|ro` each.
    pub namespace: Vec<String>,
    /// Link the child with the caller before it runs.
    pub link: bool,
    /// Monitor the child for the caller under this reference.
    pub monitor: Option<u64>,
}

/// What this node tells another (the embedder carries it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteOp {
    /// Spawn on `node` for the local process `by`; the answer goes to
    /// [`ProcessManager::remote_spawned`] with `token`.
    Spawn {
        /// Names the waiting spawn.
        token: u64,
        /// The node.
        node: Arc<str>,
        /// The local process that asked.
        by: Pid,
        /// What to spawn.
        spawn: RemoteSpawn,
    },
    /// The local process `by` linked with `to`.
    Link {
        /// The remote process.
        to: RemotePid,
        /// The local one.
        by: Pid,
    },
    /// The local process `by` unlinked from `to`.
    Unlink {
        /// The remote process.
        to: RemotePid,
        /// The local one.
        by: Pid,
    },
    /// The local process `by` monitors `to` under `reference`.
    Monitor {
        /// The remote process.
        to: RemotePid,
        /// The local one.
        by: Pid,
        /// The monitor's reference (the local one's).
        reference: u64,
    },
    /// The local process `by` dropped its monitor `reference` of `to`.
    Demonitor {
        /// The remote process.
        to: RemotePid,
        /// The local one.
        by: Pid,
        /// The monitor's reference.
        reference: u64,
    },
    /// The local process `by` kills `to`.
    Kill {
        /// The remote process.
        to: RemotePid,
        /// The local one.
        by: Pid,
    },
    /// The local process `pid` ended (or, with [`ExitStatus::NoProcess`]
    /// or no status, was not there): `to` was linked with it
    /// (`reference: None`) or monitored it under `reference`.
    Ended {
        /// The remote process told.
        to: RemotePid,
        /// The local process.
        pid: Pid,
        /// How it ended (`None`: not known, a monitor's `noproc`).
        status: Option<ExitStatus>,
        /// The monitor, or `None` for a link.
        reference: Option<u64>,
    },
}

/// The local side of one remote process.
#[derive(Debug)]
struct StandIn {
    id: RemotePid,
    /// Local processes linked with it.
    links: Vec<Pid>,
    /// Local monitors of it: (reference, holder).
    watchers: Vec<(u64, Pid)>,
    /// Its monitors of local processes: (reference, target).
    monitors: Vec<(u64, Pid)>,
    /// The local processes that got its pid from `spawn_on` or
    /// `name_whereis`, while they live.
    holders: Vec<Pid>,
}

impl StandIn {
    fn unused(&self) -> bool {
        self.links.is_empty()
            && self.watchers.is_empty()
            && self.monitors.is_empty()
            && self.holders.is_empty()
    }
}

/// A spawn on another node waiting for its answer.
#[derive(Debug)]
struct SpawnWait {
    by: Pid,
    node: Arc<str>,
    link: bool,
    monitor: Option<u64>,
    /// Where the guest wants the monitor's reference.
    out: Option<GuestBuf>,
    /// Ends of the child told before the answer came (the node's notice
    /// and its answer travel apart): (its pid there, status, reference).
    early: Vec<(Pid, Option<ExitStatus>, Option<u64>)>,
}

/// The stand-ins of one manager, and what waits to be told.
#[derive(Debug)]
pub(crate) struct StandIns {
    by_pid: HashMap<Pid, StandIn>,
    by_id: HashMap<RemotePid, Pid>,
    next: Pid,
    spawns: HashMap<u64, SpawnWait>,
    outbox: Vec<RemoteOp>,
    /// The embedder carries remote ops (it is in a cluster).
    enabled: bool,
}

impl Default for StandIns {
    fn default() -> Self {
        StandIns {
            by_pid: HashMap::new(),
            by_id: HashMap::new(),
            next: REMOTE_PID_BASE,
            spawns: HashMap::new(),
            outbox: Vec::new(),
            enabled: false,
        }
    }
}

impl StandIns {
    /// The stand-in for `id`, made if new (`None`: the table is full).
    fn get_or_make(&mut self, id: &RemotePid) -> Option<Pid> {
        if let Some(pid) = self.by_id.get(id) {
            return Some(*pid);
        }
        if self.by_pid.len() >= MAX_STAND_INS {
            return None;
        }
        let pid = loop {
            let pid = self.next;
            self.next = self.next.checked_add(1).unwrap_or(REMOTE_PID_BASE);
            if !self.by_pid.contains_key(&pid) {
                break pid;
            }
        };
        let record = StandIn {
            id: id.clone(),
            links: Vec::new(),
            watchers: Vec::new(),
            monitors: Vec::new(),
            holders: Vec::new(),
        };
        self.by_pid.insert(pid, record);
        self.by_id.insert(id.clone(), pid);
        Some(pid)
    }

    /// Forgets `pid` once nothing refers to it.
    fn collect(&mut self, pid: Pid) {
        if self.by_pid.get(&pid).is_some_and(StandIn::unused) {
            if let Some(s) = self.by_pid.remove(&pid) {
                self.by_id.remove(&s.id);
            }
        }
    }

    fn id(&self, pid: Pid) -> Option<RemotePid> {
        self.by_pid.get(&pid).map(|s| s.id.clone())
    }

    pub(crate) fn has_ops(&self) -> bool {
        !self.outbox.is_empty()
    }

    /// Stand-ins kept (for tests and stats).
    pub(crate) fn len(&self) -> usize {
        self.by_pid.len()
    }
}

impl ProcessManager {
    /// The embedder is a node of a cluster: `spawn_on` is no longer
    /// `EOPNOTSUPP`, and it takes [`Self::take_remote_ops`].
    pub fn join_cluster(&mut self) {
        self.remote.enabled = true;
    }

    /// What waits to be told to other nodes, oldest first.
    pub fn take_remote_ops(&mut self) -> Vec<RemoteOp> {
        std::mem::take(&mut self.remote.outbox)
    }

    /// Stand-ins kept for processes of other nodes.
    pub fn stand_ins(&self) -> usize {
        self.remote.len()
    }

    /// The process of another node `pid` stands for.
    pub fn remote_of(&self, pid: Pid) -> Option<RemotePid> {
        self.remote.id(pid)
    }

    fn may_touch(&self, me: Pid, target: Pid) -> Result<RemotePid, Errno> {
        let mine = self.procs.get(me).ok_or(Errno::NoSuchProcess)?;
        let s = self.remote.by_pid.get(&target).ok_or(Errno::NoSuchProcess)?;
        if !s.holders.contains(&me) && !mine.caps.contains(Caps::PROC) {
            return Err(Errno::PermissionDenied);
        }
        Ok(s.id.clone())
    }

    fn held(&self, me: Pid) -> usize {
        self.procs.get(me).map_or(0, |p| p.watches.held() + p.mailbox.notices())
    }

    /// `link(target)` of a stand-in.
    pub(crate) fn link_remote(&mut self, me: Pid, target: Pid) -> Result<(), Errno> {
        let to = self.may_touch(me, target)?;
        if self.procs.get(me).is_some_and(|p| p.watches.links.contains(&target)) {
            return Ok(());
        }
        if self.held(me) >= MAX_WATCHES {
            return Err(Errno::NoSpace);
        }
        self.tie_link(me, target);
        self.remote.outbox.push(RemoteOp::Link { to, by: me });
        Ok(())
    }

    fn tie_link(&mut self, local: Pid, stand_in: Pid) {
        if let Some(p) = self.procs.get_mut(local) {
            if !p.watches.links.contains(&stand_in) {
                p.watches.links.push(stand_in);
            }
        }
        if let Some(s) = self.remote.by_pid.get_mut(&stand_in) {
            if !s.links.contains(&local) {
                s.links.push(local);
            }
        }
    }

    fn untie_link(&mut self, local: Pid, stand_in: Pid) -> bool {
        let had = self.procs.get_mut(local).is_some_and(|p| {
            let before = p.watches.links.len();
            p.watches.links.retain(|l| *l != stand_in);
            before != p.watches.links.len()
        });
        if let Some(s) = self.remote.by_pid.get_mut(&stand_in) {
            s.links.retain(|l| *l != local);
        }
        self.remote.collect(stand_in);
        had
    }

    /// `unlink(target)` of a stand-in.
    pub(crate) fn unlink_remote(&mut self, me: Pid, target: Pid) {
        let Some(to) = self.remote.id(target) else { return };
        if self.untie_link(me, target) {
            self.remote.outbox.push(RemoteOp::Unlink { to, by: me });
        }
    }

    /// `monitor(target)` of a stand-in: the reference.
    pub(crate) fn monitor_remote(&mut self, me: Pid, target: Pid) -> Result<u64, Errno> {
        let to = self.may_touch(me, target)?;
        if self.held(me) >= MAX_WATCHES {
            return Err(Errno::NoSpace);
        }
        self.next_ref += 1;
        let reference = self.next_ref;
        self.tie_monitor(me, target, reference);
        self.remote.outbox.push(RemoteOp::Monitor { to, by: me, reference });
        Ok(reference)
    }

    fn tie_monitor(&mut self, holder: Pid, stand_in: Pid, reference: u64) {
        if let Some(p) = self.procs.get_mut(holder) {
            p.watches.monitors.push((reference, stand_in));
        }
        if let Some(s) = self.remote.by_pid.get_mut(&stand_in) {
            s.watchers.push((reference, holder));
        }
    }

    /// `demonitor` of a monitor of a stand-in (already removed from the
    /// holder's record).
    pub(crate) fn demonitor_remote(&mut self, me: Pid, target: Pid, reference: u64) {
        let Some(s) = self.remote.by_pid.get_mut(&target) else { return };
        s.watchers.retain(|(r, h)| !(*r == reference && *h == me));
        let to = s.id.clone();
        self.remote.collect(target);
        self.remote.outbox.push(RemoteOp::Demonitor { to, by: me, reference });
    }

    /// `kill(target)` of a stand-in: sent, not waited for.
    pub(crate) fn kill_remote(&mut self, me: Pid, target: Pid) -> Result<(), Errno> {
        let to = self.may_touch(me, target)?;
        self.remote.outbox.push(RemoteOp::Kill { to, by: me });
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
                self.remote.outbox.push(RemoteOp::Kill { to: child, by: wait.by });
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

    /// Keeps `stand_in` for the local `holder` while it lives.
    fn hold(&mut self, holder: Pid, stand_in: Pid) {
        if let Some(s) = self.remote.by_pid.get_mut(&stand_in) {
            if !s.holders.contains(&holder) {
                s.holders.push(holder);
            }
        }
        if let Some(p) = self.procs.get_mut(holder) {
            if !p.watches.stand_ins.contains(&stand_in) {
                p.watches.stand_ins.push(stand_in);
            }
        }
    }

    /// The stand-in of `id`, kept for the local `holder` while it lives.
    pub(crate) fn hold_stand_in(&mut self, holder: Pid, id: &RemotePid) -> Result<Pid, Errno> {
        let known = self.remote.by_id.get(id).copied();
        if known.is_none_or(|s| !self.procs.get(holder).is_some_and(|p| p.watches.stand_ins.contains(&s)))
            && self.held(holder) >= MAX_WATCHES
        {
            return Err(Errno::NoSpace);
        }
        let stand_in = self.remote.get_or_make(id).ok_or(Errno::NoSpace)?;
        self.hold(holder, stand_in);
        Ok(stand_in)
    }

    /// A local process that held stand-ins ended: they are no longer
    /// kept for it.
    pub(crate) fn release_stand_ins(&mut self, holder: Pid, held: Vec<Pid>) {
        for stand_in in held {
            if let Some(s) = self.remote.by_pid.get_mut(&stand_in) {
                s.holders.retain(|h| *h != holder);
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
        for stand_in in peers.iter().copied().filter(|p| is_remote(*p)) {
            if let Some(s) = self.remote.by_pid.get_mut(&stand_in) {
                s.links.retain(|l| *l != pid);
                let to = s.id.clone();
                self.remote.outbox.push(RemoteOp::Ended {
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
                self.remote.outbox.push(RemoteOp::Ended { to, pid, status, reference: Some(reference) });
            }
            self.remote.collect(holder);
        }
        for (reference, target) in monitors.iter().copied().filter(|(_, t)| is_remote(*t)) {
            if let Some(s) = self.remote.by_pid.get_mut(&target) {
                s.watchers.retain(|(r, h)| !(*r == reference && *h == pid));
                let to = s.id.clone();
                self.remote.outbox.push(RemoteOp::Demonitor { to, by: pid, reference });
            }
            self.remote.collect(target);
        }
    }

    /// The local process `target` if it is live and `owner`'s.
    fn watchable(&self, target: Pid, owner: Owner) -> bool {
        !is_remote(target) && self.procs.get(target).is_some_and(|p| !p.is_exited() && p.owner == owner)
    }

    /// Another node's process `from` linked with the local `target`
    /// (accepted when `target` is live and `owner`'s; else `from` is told
    /// it was not there).
    pub fn remote_link(&mut self, from: RemotePid, target: Pid, owner: Owner) {
        let stand_in = if self.watchable(target, owner) && self.held(target) < MAX_WATCHES {
            self.remote.get_or_make(&from)
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
                self.remote.outbox.push(RemoteOp::Ended { to: from, pid: target, status, reference: None });
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
        let stand_in = if self.watchable(target, owner) && self.held(target) < MAX_WATCHES {
            self.remote.get_or_make(&from)
        } else {
            None
        };
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
                self.remote.outbox.push(RemoteOp::Ended { to: from, pid: target, status, reference });
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
        let gone: Vec<(Pid, RemotePid)> = self
            .remote
            .by_pid
            .iter()
            .filter(|(_, s)| &*s.id.node == node)
            .map(|(p, s)| (*p, s.id.clone()))
            .collect();
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
