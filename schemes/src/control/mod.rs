//! The `wasm` control tree, OS-neutral.
//!
//! [`Daemon`] owns the process manager and serves the tree that both
//! frontends expose — the Redox scheme `wasm` and, on Linux, the control
//! socket — through one file-like API: [`Daemon::open`] (always answered at
//! once: on Redox a pending open stalls every open in the system),
//! [`Daemon::read`] and [`Daemon::write`] (which may answer
//! [`Poll::Pending`]: the frontend keeps the request and receives its
//! [`Completion`] later), `fstat`, `fpath`, `getdents`, `close`, `cancel`.
//! [`Daemon::step`] runs guests and completes what became ready.
//!
//! The tree, one type per kind of file:
//!
//! | path | type | kind | behaviour |
//! |---|---|---|---|
//! | `` (root) | `nodes::dirs::Root` | dir | `ps`, `ps.json`, `stats`, `spawn`, `run`, `shm`, `chan`, `scheme`, one dir per live pid |
//! | `ps` | `nodes::Snapshot` | file | one line per process (snapshot at open) |
//! | `ps.json` | `nodes::Snapshot` | file | every process as JSON ([`report`]) |
//! | `stats` | `nodes::Snapshot` | file | the daemon's counters, `key: value` lines ([`report::stats`]) |
//! | `spawn` | `nodes::SpawnFile` | file | write a spawn spec ([`spec`]), then read the new pid |
//! | `run/` | `nodes::dirs::RunDir` | dir | empty |
//! | `run/ABS/PATH.wasm` | `nodes::RunFile` | stream | opening spawns the module; reads stream its stdout until it exits, then EOF; `fpath` is `PID/stdout` once spawned; closing it before the process ended kills it |
//! | `PID/` | `nodes::dirs::PidDir` | dir | `status`, `status.json`, `log`, `stdout`, `stderr`, `wait`, `ctl` |
//! | `PID/status` | `nodes::Snapshot` | file | `key: value` lines (snapshot at open) |
//! | `PID/status.json` | `nodes::Snapshot` | file | the process as JSON ([`report`]) |
//! | `PID/log` | `nodes::Snapshot` | file | stdout so far, then stderr (snapshot at open) |
//! | `PID/stdout`, `PID/stderr` | `nodes::OutputStream` | stream | the output from the start of what the log holds, until the process exits, then EOF |
//! | `PID/wait` | `nodes::WaitFile` | stream | a read blocks until the process exits, then gives its status |
//! | `PID/ctl` | `nodes::CtlFile` | file | write `kill`, `suspend`, `resume`, `refuel N` or `reload [nowait] PATH` (the write returns once the new module took over, see `nodes::ctl`) |
//! | `shm/` | `nodes::dirs::ShmDir` | dir | `index`, and one file per live region ([`shared_memory`]) |
//! | `shm/index` | `nodes::Snapshot` | file | `ID SIZE OS-NAME` per region (snapshot at open) |
//! | `shm/ID` | `shared_memory::ShmFile` | file | the region's bytes (and, on Redox, `mmap`) |
//! | `chan/` | `nodes::dirs::ChanDir` | dir | one file per region holding a channel |
//! | `chan/ID` | [`shared_memory::ChanFile`] | stream | frames: each read one frame, each write one frame |
//! | `scheme/` | `nodes::dirs::SchemeDir` | dir | one entry per guest-implemented scheme |
//! | `scheme/NAME/PATH` | [`guest_files::GuestFile`] | any | the guest scheme's own files |
//! | `node/` | `nodes::remote::NodeDir` | dir | with a cluster joined (`--nats`): one entry per node alive |
//! | `node/NAME/PATH` | `nodes::remote::RemoteFile` | file | `PATH` of node `NAME`'s tree: read whole from there, or written there once ([`crate::cluster`]) |
//! | `bridge` | `nodes::bridge::BridgeFile` | file | with a cluster joined: write `CHAN NODE/CHAN` to bridge this node's channel into another node's; a read waits for the end of the stream (the frames move in the cluster link; `bridges.rs` has the daemon's side) |
//! | `error/ID` | `nodes::Snapshot` | file | why the last request on the open file `ID` (its inode number) failed, one line; only for that file's opener (not listed) |
//!
//! How a request flows: the frontend calls the `Daemon`; an open resolves
//! the path to a new file (`resolve.rs`), kept as a `Box<dyn ControlFile>`
//! (`file.rs`: the `ControlFile` trait, the `Context` a file works with
//! and the `Answer` it gives) under a fresh id with its path and caller. Any
//! other call asks that file (`requests.rs`); what cannot be answered at
//! once is kept with the frontend's token (`pending.rs`) and completed
//! after guests ran ([`Daemon::step`], `step.rs`), when the file is ready
//! or the guest scheme's reply came.
//!
//! Spawning loads module files on worker threads (`loads.rs`), so `run/`
//! and `spawn` answer their opens and writes at once and deliver the
//! outcome through later (deferred) reads.

use wasmd_abi::Errno;

mod bridges;
mod file;
pub mod guest_files;
mod guest_remote;
mod loads;
mod nodes;
mod pending;
pub mod policy;
mod remote;
mod remote_processes;
pub mod render;
pub mod report;
mod requests;
mod resolve;
pub mod shared_memory;
pub mod spec;
mod step;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use wasmd_abi::scheme::{flags, Stat};
use wasmhost::ProcessManager;

use crate::loader::FsModuleLoader;
use file::{Context, ControlFile};
use guest_files::Replies;
use pending::Pending;
pub use policy::{Caller, Policy};

/// Identifies a deferred request; chosen by the frontend (tokens with
/// the top bit set are the daemon's own: requests of other nodes of its
/// cluster).
pub type Token = u64;

/// Readiness flag: a read would not wait (Redox `EVENT_READ`).
pub const EVENT_READ: u32 = 1;
/// Readiness flag: a write would not wait (Redox `EVENT_WRITE`).
pub const EVENT_WRITE: u32 = 2;

/// How long guests run between two looks of a frontend at its requests
/// ([`Daemon::step_until`]): requests wait at most this plus one time
/// slice, whatever the guests do.
pub const STEP_TIME: std::time::Duration = std::time::Duration::from_millis(1);

/// Most bytes one read returns: a client asking for more gets this much
/// (the answer is allocated before it is sent).
pub const MAX_READ: usize = 1 << 20;

/// Flags to open the root directory with (the scheme root handle).
pub const ROOT_FLAGS: u32 = flags::O_RDONLY | flags::O_DIRECTORY;

/// An answer that may come later.
#[derive(Debug, PartialEq, Eq)]
pub enum Poll<T> {
    /// The answer.
    Ready(Result<T, Errno>),
    /// Kept; a [`Completion`] with the request's token comes later.
    Pending,
}

impl<T> Poll<T> {
    /// Maps a ready, successful answer.
    pub fn map_ok<U>(self, f: impl FnOnce(T) -> U) -> Poll<U> {
        match self {
            Poll::Ready(r) => Poll::Ready(r.map(f)),
            Poll::Pending => Poll::Pending,
        }
    }

    /// Maps a ready answer.
    fn map<U>(self, f: impl FnOnce(T) -> Result<U, Errno>) -> Poll<U> {
        match self {
            Poll::Ready(r) => Poll::Ready(r.and_then(f)),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// What a deferred request produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Bytes read.
    Data(Vec<u8>),
    /// Bytes written.
    Count(usize),
    /// A status.
    Stat(Stat),
    /// A path.
    Path(String),
    /// Directory entries.
    Entries(Vec<Entry>),
    /// Done, nothing to give back (`ftruncate`, `fsync`, `unlink`).
    Done,
}

/// A deferred request's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// The request's token.
    pub token: Token,
    /// Its result.
    pub result: Result<Output, Errno>,
}

/// A directory entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Name.
    pub name: String,
    /// Kind (`wasmd_abi::scheme::kind`).
    pub kind: u8,
    /// The opaque offset of the entry after this one (what the next
    /// `getdents` starts from): an index in the tree, the provider's own
    /// value for guest schemes.
    pub next: u64,
}

/// An open file of the tree.
#[derive(Debug)]
struct OpenFile {
    file: Box<dyn ControlFile>,
    /// Its path in the tree (what `fpath` and opens relative to it use).
    path: String,
    /// Who opened it: what is written to it acts for them.
    caller: Caller,
    /// Why its last request failed, when the file itself did not say
    /// (see `error/ID`).
    failed: Option<String>,
}

/// The daemon's OS-neutral state: the process manager, the control
/// tree's open files and the requests waiting for them.
pub struct Daemon {
    kernel: wasmhost::Kernel,
    files: HashMap<u64, OpenFile>,
    next_id: u64,
    pending: Vec<Pending>,
    completions: Vec<Completion>,
    /// Module loads in flight for spawns through the tree.
    loads: loads::Loads,
    /// Who may do what.
    policy: Policy,
    /// Files whose readiness a frontend watches (`fevent`), with the
    /// readiness flags last reported.
    watched: HashMap<u64, u32>,
    /// Readiness changes to post: file id and flags.
    events: Vec<(u64, u32)>,
    /// Guest-scheme replies not yet matched to a request.
    replies: Replies,
    /// The cluster joined (`--nats`), if any.
    cluster: Option<crate::cluster::Cluster>,
    /// The version of this node's names last told to the cluster.
    names_shared: Option<u64>,
    /// Guests' files of other nodes (see `guest_remote`).
    guest_files: guest_remote::GuestFiles,
    /// Requests of other nodes being done here ([`remote`]).
    remote: remote::Serving,
    /// Frontends' unlinks of other nodes' files waiting for their reply,
    /// by token.
    removing: HashSet<Token>,
    /// Guests' channel bridges ([`bridges`]).
    guest_bridges: bridges::GuestBridges,
    /// The frontend's waker (for a cluster joined later).
    waker: Option<wasmhost::worker::Waker>,
}

impl std::fmt::Debug for Daemon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Daemon")
            .field("files", &self.files.len())
            .field("pending", &self.pending.len())
            .finish()
    }
}

/// Scheduler threads of a daemon by default: one per core.
pub fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

impl Daemon {
    /// A daemon around `pm`, deciding who may do what by `policy`. With
    /// `sched_workers` in `pm`'s config, its guests run on that many
    /// scheduler threads; with none, on the thread that calls
    /// [`Daemon::step`].
    pub fn new(pm: ProcessManager, policy: Policy) -> Self {
        let loads = loads::Loads::new(pm.modules().clone());
        Self {
            loads,
            kernel: wasmhost::Kernel::new(pm),
            files: HashMap::new(),
            next_id: 1,
            pending: Vec::new(),
            completions: Vec::new(),
            policy,
            replies: Replies::default(),
            watched: HashMap::new(),
            events: Vec::new(),
            cluster: None,
            names_shared: None,
            guest_files: Default::default(),
            remote: remote::Serving::default(),
            removing: HashSet::new(),
            guest_bridges: Default::default(),
            waker: None,
        }
    }

    /// The daemon as `wasmd daemon` makes it: a process manager with the
    /// default configuration on `platform`, guests' output kept in their
    /// logs only, guests loading modules with `guest_loader`.
    pub fn with_platform(platform: Arc<dyn wasmhost::Platform>, guest_loader: Arc<FsModuleLoader>) -> Self {
        Self::with_workers(platform, guest_loader, default_workers())
    }

    /// As [`Daemon::with_platform`], with `workers` scheduler threads (0:
    /// guests run only in [`Daemon::step`], on the caller's thread, one
    /// turn after another — what step-by-step tests want).
    pub fn with_workers(
        platform: Arc<dyn wasmhost::Platform>,
        guest_loader: Arc<FsModuleLoader>,
        workers: usize,
    ) -> Self {
        let config = wasmhost::ManagerConfig { sched_workers: workers, ..Default::default() };
        let pm = ProcessManager::new(config, platform, guest_loader, Arc::new(wasmhost::NoOutput));
        Self::new(pm, Policy::new(crate::sys::current_owner().uid))
    }

    /// Scheduler threads running guests (see [`wasmhost::Kernel`]).
    pub fn workers(&self) -> usize {
        self.kernel.workers()
    }

    /// The process manager, locked.
    pub fn manager(&mut self) -> wasmhost::KernelGuard<'_> {
        self.kernel.lock()
    }

    /// Sets the function called (from any thread) when the daemon should
    /// look again: a worker job finished, a guest exited or wrote output.
    pub fn set_waker(&mut self, waker: wasmhost::worker::Waker) {
        if let Some(c) = &self.cluster {
            c.set_waker(waker.clone());
        }
        self.waker = Some(waker.clone());
        self.loads.set_waker(waker.clone());
        self.kernel.set_waker(waker);
    }

    /// Counters of the scheduler threads.
    pub fn kernel_stats(&self) -> wasmhost::KernelStats {
        self.kernel.stats()
    }

    /// What a file with id `id`, opened by `caller`, works with.
    fn context(&mut self, id: u64, caller: Caller) -> Context<'_> {
        Context {
            kernel: &self.kernel,
            policy: &self.policy,
            loads: &mut self.loads,
            replies: &mut self.replies,
            cluster: self.cluster.as_mut(),
            nonblock: false,
            id,
            caller,
        }
    }

    /// The open file `id` and what it works with.
    fn file_mut(&mut self, id: u64) -> Option<(&mut OpenFile, Context<'_>)> {
        let open = self.files.get_mut(&id)?;
        let cx = Context {
            kernel: &self.kernel,
            policy: &self.policy,
            loads: &mut self.loads,
            replies: &mut self.replies,
            cluster: self.cluster.as_mut(),
            nonblock: false,
            id,
            caller: open.caller,
        };
        Some((open, cx))
    }
}
