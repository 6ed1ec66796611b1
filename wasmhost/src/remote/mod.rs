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
//! monitor, demonitor, kill, a spawn on another node, a message through
//! a handle of it) and what its end
//! means for the stand-ins it watched or was watched by become
//! [`RemoteNotice`]s, which the embedder's link takes on its own thread as
//! they come ([`ProcessManager::take_remote_notices`]; spawns there and
//! guests' bridges are [`RemoteOp`]s for its serving side,
//! [`ProcessManager::take_remote_ops`]), carries them to the other node,
//! and hands that node's manager the matching call (`remote_link`,
//! `remote_ended`, …), which acts on its local process as a local link or
//! monitor would. A spawn's answer comes back through
//! [`ProcessManager::remote_spawned`], which resumes the waiting guest;
//! a node that leaves is [`ProcessManager::node_left`]: every stand-in of
//! it ends with [`ExitStatus::NoConnection`].
//!
//! The table and what both directions share are here; what local
//! processes do to stand-ins (and their spawns and ends) is in
//! `outgoing`, what other nodes tell in `incoming`, messages both ways in
//! `mail`, guests' channel bridges in `bridge`.
//!
//! Who may: a local process needs `PROC` to link, monitor or kill a
//! stand-in, except one it spawned itself. The other node's requests are
//! accepted for its processes owned by the user the embedder names (its
//! remote user); others count as not there.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use wasmd_abi::{Caps, ExitStatus, SpawnLimits};

use crate::guest_buf::GuestBuf;
use crate::manager::ProcessManager;
use crate::Pid;

mod bridge;
mod incoming;
mod mail;
mod outgoing;

pub use mail::MAX_QUEUED_SENDS;

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

/// What this node asks of the embedder for another node, beside the
/// notices: a spawn there, a guest's channel bridge, the end of a
/// guest's bridges (the embedder's serving side carries these,
/// [`ProcessManager::take_remote_ops`]).
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
    /// The local process `by` bridges the channel of region `region`
    /// into channel `chan` of `node`; the answer goes to
    /// [`ProcessManager::remote_bridged`] with `token`.
    Bridge {
        /// Names the waiting call.
        token: u64,
        /// The local process that asked.
        by: Pid,
        /// Whom it acts for (the bridge reads the channel as them).
        owner: crate::owner::Owner,
        /// The local region's id (its `chan/ID`).
        region: u64,
        /// The other node.
        node: Arc<str>,
        /// Its channel there.
        chan: u64,
    },
    /// The local process `by`, which made bridges (`chan_bridge`), ended:
    /// its bridges end.
    BridgesEnd {
        /// The local process.
        by: Pid,
    },
}

/// What a local process did to a process of another node, or what its
/// end means for one: told to that node as it happens. The embedder's
/// link takes these on a thread of its own
/// ([`ProcessManager::take_remote_notices`], woken by the waker of
/// [`ProcessManager::set_notice_waker`]), in the order made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteNotice {
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
    /// The local process `by` sent `data` under `tag` to `to`.
    Send {
        /// The remote process.
        to: RemotePid,
        /// The local one.
        by: Pid,
        /// The message's tag.
        tag: u64,
        /// Its payload.
        data: Vec<u8>,
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

impl RemoteNotice {
    /// The process of another node it is for.
    pub fn to(&self) -> &RemotePid {
        match self {
            RemoteNotice::Link { to, .. }
            | RemoteNotice::Unlink { to, .. }
            | RemoteNotice::Monitor { to, .. }
            | RemoteNotice::Demonitor { to, .. }
            | RemoteNotice::Kill { to, .. }
            | RemoteNotice::Send { to, .. }
            | RemoteNotice::Ended { to, .. } => to,
        }
    }
}

/// Wakes the embedder's link when a notice is queued (see
/// [`ProcessManager::set_notice_waker`]): false when there is no link any
/// more. Called under the manager's lock, so it must be quick and must
/// not block.
pub type NoticeWaker = Arc<dyn Fn() -> bool + Send + Sync>;

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
    /// The local processes that got its pid from `spawn_on`,
    /// `name_whereis` or a message of it, while they live.
    holders: HashSet<Pid>,
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
pub(crate) struct StandIns {
    by_pid: HashMap<Pid, StandIn>,
    by_id: HashMap<RemotePid, Pid>,
    /// The stand-ins of each node (so a node's leaving visits its own).
    by_node: HashMap<Arc<str>, HashSet<Pid>>,
    next: Pid,
    spawns: HashMap<u64, SpawnWait>,
    outbox: Vec<RemoteOp>,
    /// Notices for the embedder's link, oldest first.
    notices: Vec<RemoteNotice>,
    /// [`RemoteNotice::Send`]s among them.
    queued_sends: usize,
    /// Wakes the link when the first notice is queued (`None`: no link,
    /// notices are dropped).
    notice_waker: Option<NoticeWaker>,
    /// `chan_bridge` calls waiting for their answer, by token.
    bridging: HashSet<u64>,
    /// Live processes that made bridges.
    bridgers: HashSet<Pid>,
    /// Messages from other nodes dropped here.
    dropped_messages: u64,
    /// The embedder carries remote ops (it is in a cluster).
    enabled: bool,
}

impl std::fmt::Debug for StandIns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StandIns")
            .field("stand_ins", &self.by_pid.len())
            .field("outbox", &self.outbox.len())
            .field("notices", &self.notices.len())
            .finish_non_exhaustive()
    }
}

impl Default for StandIns {
    fn default() -> Self {
        StandIns {
            by_pid: HashMap::new(),
            by_id: HashMap::new(),
            by_node: HashMap::new(),
            next: REMOTE_PID_BASE,
            spawns: HashMap::new(),
            outbox: Vec::new(),
            notices: Vec::new(),
            queued_sends: 0,
            notice_waker: None,
            bridging: HashSet::new(),
            bridgers: HashSet::new(),
            dropped_messages: 0,
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
            holders: HashSet::new(),
        };
        self.by_pid.insert(pid, record);
        self.by_id.insert(id.clone(), pid);
        self.by_node.entry(id.node.clone()).or_default().insert(pid);
        Some(pid)
    }

    /// Forgets `pid` once nothing refers to it.
    fn collect(&mut self, pid: Pid) {
        if self.by_pid.get(&pid).is_some_and(StandIn::unused) {
            if let Some(s) = self.by_pid.remove(&pid) {
                self.by_id.remove(&s.id);
                if let Some(of_node) = self.by_node.get_mut(&s.id.node) {
                    of_node.remove(&pid);
                    if of_node.is_empty() {
                        self.by_node.remove(&s.id.node);
                    }
                }
            }
        }
    }

    fn id(&self, pid: Pid) -> Option<RemotePid> {
        self.by_pid.get(&pid).map(|s| s.id.clone())
    }

    pub(crate) fn has_ops(&self) -> bool {
        !self.outbox.is_empty()
    }

    /// Queues `notice` for the link and wakes it (with no link, or one
    /// that ended, it is dropped, with what waited).
    fn tell(&mut self, notice: RemoteNotice) {
        let Some(wake) = &self.notice_waker else { return };
        if !wake() {
            self.notice_waker = None;
            self.notices.clear();
            self.queued_sends = 0;
            return;
        }
        if matches!(notice, RemoteNotice::Send { .. }) {
            self.queued_sends += 1;
        }
        self.notices.push(notice);
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

    /// What waits for the embedder's serving side, oldest first.
    pub fn take_remote_ops(&mut self) -> Vec<RemoteOp> {
        std::mem::take(&mut self.remote.outbox)
    }

    /// The notices waiting for the embedder's link, oldest first.
    pub fn take_remote_notices(&mut self) -> Vec<RemoteNotice> {
        self.remote.queued_sends = 0;
        std::mem::take(&mut self.remote.notices)
    }

    /// Sets the link's waker: called (under the manager's lock) when a
    /// notice is queued. `None`: there is no link; notices waiting and to
    /// come are dropped.
    pub fn set_notice_waker(&mut self, waker: Option<NoticeWaker>) {
        if waker.is_none() {
            self.remote.notices.clear();
            self.remote.queued_sends = 0;
        }
        self.remote.notice_waker = waker;
    }

    /// Stand-ins kept for processes of other nodes.
    pub fn stand_ins(&self) -> usize {
        self.remote.len()
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

    fn tie_monitor(&mut self, holder: Pid, stand_in: Pid, reference: u64) {
        if let Some(p) = self.procs.get_mut(holder) {
            p.watches.monitors.push((reference, stand_in));
        }
        if let Some(s) = self.remote.by_pid.get_mut(&stand_in) {
            s.watchers.push((reference, holder));
        }
    }

    /// Keeps `stand_in` for the local `holder` while it lives.
    fn hold(&mut self, holder: Pid, stand_in: Pid) {
        if let Some(s) = self.remote.by_pid.get_mut(&stand_in) {
            s.holders.insert(holder);
        }
        if let Some(p) = self.procs.get_mut(holder) {
            p.watches.stand_ins.insert(stand_in);
        }
    }
}
