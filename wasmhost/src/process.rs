//! Processes: the per-process store data that hostcalls see
//! ([`ProcessState`]), and the manager's record of a process
//! ([`Process`]) with its scheduling state ([`Sched`]).
//!
//! A live process owns one wasmi `Store<ProcessState>` and one instance.
//! While it runs, hostcalls work on its `ProcessState` only; a hostcall
//! that needs the rest of the system (spawn, wait, sleep, kill, ...)
//! records a [`Syscall`] there and returns the [`KernelCall`] host error,
//! which suspends the guest as a resumable call. The manager handles the
//! syscall with access to everything and resumes the guest with the
//! result: at once, or later if the call parks the process.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use wasmd_abi::{Caps, ExitStatus, Rights, RunState};
use wasmi::{Func, Memory, ResumableCallHostTrap, ResumableCallOutOfFuel, Store};

use crate::counters::{Activity, Counters};
use crate::futex::{FutexKey, FutexTable, WaitSpin};
use crate::guest_buf::GuestBuf;
use crate::guest_scheme::SchemeTable;
use crate::handles::HandleTable;
use crate::limits::{Limits, MemoryLimiter};
use crate::log::ProcessLog;
use crate::module_cache::CompiledModule;
use crate::platform::{OutputSink, Platform};
use crate::region::{Region, RegionAccounting};
use crate::syscall::Syscall;
use crate::Pid;

/// Shared, read-only environment every process's hostcalls can reach.
pub struct HostEnv {
    /// OS services.
    pub platform: Arc<dyn Platform>,
    /// Where guest output goes as it is written.
    pub output: Arc<dyn OutputSink>,
    /// Origin of `CLOCK_MONOTONIC`.
    pub epoch: Instant,
    /// Region wait queues.
    pub futex: Mutex<FutexTable>,
    /// Whether a region wait spins before it parks.
    pub wait_spin: WaitSpin,
    /// Global region limits.
    pub regions: Arc<RegionAccounting>,
    /// Where guests' memories live (none without OS support).
    pub(crate) arena: Option<crate::arena::Arena>,
    /// The daemon-wide memory budget.
    pub memory: Arc<crate::limits::MemoryBudget>,
    /// Guest-implemented schemes.
    pub schemes: Mutex<SchemeTable>,
    /// Tells the scheduler threads that a hostcall made work for the
    /// manager (a futex wake, a scheme reply); unset without them.
    pub kick: std::sync::OnceLock<Arc<dyn Fn() + Send + Sync>>,
    /// Receivers and senders a mailbox made ready, for the manager to wake
    /// (see [`crate::mailbox`]).
    pub mail: crate::mailbox::MailWakes,
    /// Tells the embedder that a guest answered it (a scheme provider's
    /// reply to a request the embedder sent); unset without a kernel.
    pub news: std::sync::OnceLock<Arc<dyn Fn() + Send + Sync>>,
}

impl HostEnv {
    /// See [`HostEnv::kick`].
    pub fn kick(&self) {
        if let Some(kick) = self.kick.get() {
            kick();
        }
    }

    /// See [`HostEnv::news`].
    pub fn news(&self) {
        if let Some(news) = self.news.get() {
            news();
        }
    }
}

impl std::fmt::Debug for HostEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostEnv").field("epoch", &self.epoch).finish_non_exhaustive()
    }
}

/// A region shared with a process and not attached yet. Its bytes count
/// against the process's region bytes from the share on.
#[derive(Debug, Clone)]
pub struct PendingShare {
    /// The region.
    pub region: Arc<Region>,
    /// The rights the attached handle will have.
    pub rights: Rights,
    /// Who shared it.
    pub from: Pid,
}

/// What a handle names.
#[derive(Debug, Clone)]
pub enum HandleObject {
    /// A shared-memory region.
    Region(Arc<Region>),
    /// A scheme this process provides.
    Scheme(String),
    /// An open file (guest scheme or OS).
    File(crate::file::FileHandle),
    /// A socket.
    Socket(Arc<dyn crate::platform::HostSocket>),
    /// A process, to send to (its mailbox).
    Process(Arc<crate::mailbox::Mailbox>),
    /// A process of another node, to send to (see `crate::remote`).
    Remote(crate::remote::RemotePid),
    /// A compiled module, to spawn from.
    Module(Arc<ModuleHandle>),
}

/// What a module handle holds: the compiled module, the file it came
/// from, and its charge against the owner's memory budget
/// ([`MODULE_CHARGE_FACTOR`] times the module's size, for its compiled
/// code, which the handle keeps alive in or out of the cache).
#[derive(Debug)]
pub struct ModuleHandle {
    /// The module.
    pub module: Arc<CompiledModule>,
    /// Its file, when it came from one.
    pub path: Option<PathBuf>,
    /// What it holds of the owner's memory budget.
    pub charge: crate::limits::Charge,
}

/// A module handle counts this many times its module's size against its
/// owner's memory budget (an estimate of its compiled code).
pub const MODULE_CHARGE_FACTOR: u64 = 4;

/// Most module handles one process holds at once (each keeps its compiled
/// module alive, in or out of the cache).
pub const MAX_MODULE_HANDLES: usize = wasmd_abi::hostcall::MAX_MODULE_HANDLES;

/// Most regions shared with a process and not yet attached.
pub const MAX_PENDING_SHARES: usize = 64;
/// Most shares pending at one process from one sender other than its
/// parent.
pub const SHARES_PER_SENDER: usize = 16;
/// Most shares pending at one process from senders other than its parent.
pub const SHARES_FROM_OTHERS: usize = 48;

/// A process's logs, reachable by the control plane while the process
/// runs on a scheduler thread (its store is there then).
pub type SharedLog = Arc<Mutex<ProcessLog>>;

/// The regions a process holds and those shared with it, reachable by
/// other processes' syscalls while it runs elsewhere.
#[derive(Debug, Default)]
pub struct RegionHoldings {
    /// Regions shared with it, not yet attached.
    pub pending_shares: Vec<PendingShare>,
    /// Bytes of the regions it holds (pending shares included).
    pub bytes: u64,
    /// Most region bytes it may hold.
    pub max_bytes: u64,
}

/// Locks a mutex of per-process state (never poisoned in practice:
/// holders do not panic).
pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The data of a process's wasmi store: everything its hostcalls touch.
#[derive(Debug)]
pub struct ProcessState {
    /// The process id.
    pub pid: Pid,
    /// Capability set.
    pub caps: Caps,
    /// The guest's exported memory, cached at instantiation.
    pub memory: Option<Memory>,
    /// The guest's instance (for its state exports, see [`crate::reload`]).
    pub instance: Option<wasmi::Instance>,
    /// Arguments, postcard-encoded once at spawn.
    pub args: Box<[u8]>,
    /// stdout/stderr.
    pub log: SharedLog,
    /// Shared environment.
    pub env: Arc<HostEnv>,
    /// Enforces the memory limit.
    pub limiter: MemoryLimiter,
    /// A pending syscall (see [`KernelCall`]).
    pub syscall: Option<Syscall>,
    /// Handle table.
    pub handles: HandleTable<HandleObject>,
    /// Its regions' accounting.
    pub regions: Arc<Mutex<RegionHoldings>>,
    /// Namespace grants for fs and socket hostcalls.
    pub namespace: Arc<[crate::namespace::Grant]>,
    /// What it has done (see [`crate::counters`]).
    pub counters: Counters,
    /// Its WASI descriptors and environment (see [`crate::wasi`]).
    pub wasi: crate::wasi::state::WasiState,
    /// Its standard input, if it has one (see [`crate::stdin`]).
    pub stdin: Option<Arc<crate::stdin::StdinPipe>>,
    /// Its mailbox (shared with its record and its senders).
    pub mailbox: Arc<crate::mailbox::Mailbox>,
}

impl ProcessState {
    /// Counts a hostcall.
    #[inline]
    pub fn count_hostcall(&self) {
        self.counters.hostcall();
    }
}

/// How a ready process continues.
#[derive(Debug)]
pub enum Resume {
    /// Make its instance (a guest's spawn deferred it to this first
    /// turn), then call `_start`.
    Instantiate(Box<crate::services::spawn::Unborn>),
    /// Call `_start`.
    Start(Func),
    /// Continue after its time slice ended.
    Preempted(ResumableCallOutOfFuel),
    /// Return `value` from the hostcall it is suspended in.
    Return(ResumableCallHostTrap, i64),
}

/// What a parked process waits for.
#[derive(Debug, Clone)]
pub enum BlockOn {
    /// A timer; `token` tells this sleep from earlier ones.
    Sleep {
        /// Timer token.
        token: u64,
    },
    /// A child's exit (0 = any child).
    Child {
        /// Child pid or 0.
        pid: Pid,
        /// Status buffer.
        buf: Option<GuestBuf>,
    },
    /// A continuation: a worker job, the poller or a scheme provider
    /// answers under `token` (see `manager::Pending`).
    Pending {
        /// Wait token.
        token: u64,
    },
    /// A provider waiting for its scheme's next request.
    SchemeNext {
        /// Scheme name.
        name: String,
        /// Guest buffer.
        buf: GuestBuf,
    },
    /// Its mailbox, for a message its parked filter accepts
    /// (`receive`; the filter waits in the mailbox). Its timer, if any,
    /// has the same token.
    Receive {
        /// Token of this wait.
        token: u64,
        /// Where the message goes.
        buf: GuestBuf,
    },
    /// Room in a full mailbox (`send`).
    Send {
        /// Token of this wait.
        token: u64,
        /// The mailbox it sends to.
        to: Arc<crate::mailbox::Mailbox>,
        /// The message, already copied.
        message: Box<crate::mailbox::Message>,
    },
    /// A region wait queue (`region_wait`).
    Futex {
        /// Wait-queue key.
        key: FutexKey,
        /// Token of this wait (also its timer's).
        token: u64,
    },
}

/// Scheduling state of a process.
#[derive(Debug)]
pub enum Sched {
    /// Runnable (it is, or will be, in a run queue).
    Ready(Resume),
    /// Running now (its state is held by the scheduler loop).
    Running,
    /// Parked in a blocking hostcall.
    Blocked(ResumableCallHostTrap, BlockOn),
    /// Stopped by its supervisor; holds the state to go back to.
    Suspended(Box<Sched>),
    /// Ended.
    Exited(ExitStatus),
}

impl Sched {
    /// The state beneath a suspension (the state itself otherwise).
    pub fn beneath(&self) -> &Sched {
        match self {
            Sched::Suspended(inner) => inner,
            other => other,
        }
    }

    /// As [`Sched::beneath`], to change it.
    pub fn beneath_mut(&mut self) -> &mut Sched {
        match self {
            Sched::Suspended(inner) => inner,
            other => other,
        }
    }

    /// The wait of a parked (possibly suspended) process.
    pub fn blocked_on(&self) -> Option<&BlockOn> {
        match self.beneath() {
            Sched::Blocked(_, on) => Some(on),
            _ => None,
        }
    }

    /// The ABI-level state.
    pub fn run_state(&self) -> RunState {
        match self {
            Sched::Ready(_) => RunState::Ready,
            Sched::Running => RunState::Running,
            Sched::Blocked(..) => RunState::Blocked,
            Sched::Suspended(_) => RunState::Suspended,
            Sched::Exited(_) => RunState::Exited,
        }
    }
}

/// What to do with a process when its turn on a scheduler thread ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// End it (`Killed`).
    Kill,
    /// Suspend it.
    Suspend,
}

/// The pages of a store's linear memory now (0 without a memory).
pub(crate) fn pages(store: &Store<ProcessState>) -> u32 {
    store.data().memory.map(|m| m.size(store).try_into().unwrap_or(u32::MAX)).unwrap_or(0)
}

/// The manager's record of a process, live or exited.
#[derive(Debug)]
pub struct Process {
    /// Process id.
    pub pid: Pid,
    /// Parent pid, if the parent is still known.
    pub parent: Option<Pid>,
    /// Display name (module file stem, or what the spawner chose).
    pub name: String,
    /// The module it runs; dropped when it exits (with its engine
    /// generation, once nothing else holds it).
    pub module: Option<Arc<CompiledModule>>,
    /// The module's hash prefix (kept after exit, for `ps`).
    pub module_hash: [u8; 8],
    /// The module file, when spawned from a path.
    pub module_path: Option<PathBuf>,
    /// Capability set.
    pub caps: Caps,
    /// Limits.
    pub limits: Limits,
    /// The store; `None` once exited (its memory is freed at exit).
    pub store: Option<Box<Store<ProcessState>>>,
    /// Scheduling state.
    pub sched: Sched,
    /// Fuel burnt so far.
    pub fuel_used: u64,
    /// Memory pages at exit (live processes read their store).
    pub exit_pages: u32,
    /// Its logs (shared with its store while it lives).
    pub log: SharedLog,
    /// Its regions' accounting (shared with its store).
    pub regions: Arc<Mutex<RegionHoldings>>,
    /// A kill or suspension asked for while it ran on a scheduler thread,
    /// applied when its turn ends.
    pub stop: Option<Stop>,
    /// Live children and unreaped dead ones.
    pub children: crate::children::Children,
    /// The user it acts for.
    pub owner: crate::owner::Owner,
    /// Its tree: the pid of the process the embedder spawned it under.
    pub tree: Pid,
    /// Its standard input, for the embedder to feed (shared with its
    /// store).
    pub stdin: Option<Arc<crate::stdin::StdinPipe>>,
    /// What it has done, as of its last accounting (see
    /// [`Process::activity`]).
    pub activity: Activity,
    /// Its mailbox (shared with its store and its senders).
    pub mailbox: Arc<crate::mailbox::Mailbox>,
    /// Its links and monitors (see [`crate::links`]).
    pub watches: crate::links::Watches,
    /// The names it is registered under (see [`crate::names`]).
    pub names: Vec<String>,
    /// A reload waiting for its next safe point (see [`crate::reload`]).
    pub(crate) reload: Option<Box<crate::reload::ReloadRequest>>,
    /// How many times its module was reloaded.
    pub reloads: u32,
    /// How many times it parked (tells one park from the next, see
    /// [`crate::trim`]).
    pub(crate) parks: u64,
}

impl Process {
    /// What it has done: live from its store when it is not running,
    /// else as of its last accounting (at most one syscall or slice old).
    pub fn activity(&self) -> Activity {
        let mut activity = self.activity;
        if let Some(store) = &self.store {
            let state = store.data();
            state.counters.publish(&mut activity);
            activity.handles = state.handles.len();
        }
        activity
    }

    /// True when it traps exits (see `trap_exit`).
    pub fn traps_exits(&self) -> bool {
        self.mailbox.traps_exits()
    }

    /// Messages and notices in its mailbox.
    pub fn mailbox_len(&self) -> usize {
        self.mailbox.len()
    }

    /// Bytes of shared-memory regions it holds (pending shares included).
    pub fn region_bytes(&self) -> u64 {
        lock(&self.regions).bytes
    }

    /// Memory pages now (or at exit).
    pub fn memory_pages(&self) -> u32 {
        self.store.as_deref().map_or(self.exit_pages, pages)
    }

    /// The logs, live or kept after exit.
    pub fn log(&self) -> std::sync::MutexGuard<'_, ProcessLog> {
        lock(&self.log)
    }

    /// The exit status once exited.
    pub fn status(&self) -> Option<&ExitStatus> {
        match &self.sched {
            Sched::Exited(s) => Some(s),
            _ => None,
        }
    }

    /// Its scheduling state as the ABI names it.
    pub fn info_state(&self) -> RunState {
        self.sched.run_state()
    }

    /// True once exited.
    pub fn is_exited(&self) -> bool {
        matches!(self.sched, Sched::Exited(_))
    }

    /// The total fuel budget (what `refuel` raises), if any.
    pub fn fuel_limit(&self) -> Option<u64> {
        self.limits.fuel
    }

    /// Fuel left of its budget, if it has one.
    pub fn fuel_left(&self) -> Option<u64> {
        self.limits.fuel.map(|b| b.saturating_sub(self.fuel_used))
    }
}
