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
//! The tree:
//!
//! | path | kind | behaviour |
//! |---|---|---|
//! | `` (root) | dir | `ps`, `spawn`, `run`, `shm`, `chan`, `scheme`, one dir per live pid |
//! | `ps` | file | one line per process (snapshot at open) |
//! | `spawn` | file | write a spawn spec ([`spec`]), then read the new pid |
//! | `run/ABS/PATH.wasm` | stream | opening spawns the module; reads stream its stdout until it exits, then EOF |
//! | `PID/status` | file | `key: value` lines (snapshot at open) |
//! | `PID/log` | file | stdout so far, then stderr (snapshot at open) |
//! | `PID/wait` | stream | a read blocks until the process exits, then gives its status |
//! | `PID/ctl` | file | write `kill`, `suspend`, `resume` or `refuel N` |
//! | `shm/` | dir | `index`, and one file per live region ([`shared_memory`]) |
//! | `shm/ID` | file | the region's bytes (and, on Redox, `mmap`) |
//! | `chan/` | dir | one file per region holding a channel |
//! | `chan/ID` | stream | frames: each read one frame, each write one frame |
//! | `scheme/` | dir | one entry per guest-implemented scheme |
//! | `scheme/NAME/PATH` | any | the guest scheme's own files ([`guest_files`]) |
//!
//! Spawning loads module files on worker threads, so `run/` and `spawn`
//! answer their opens and writes at once and deliver the outcome through
//! later (deferred) reads.

pub mod guest_files;
mod loads;
pub mod policy;
pub mod render;
pub mod shared_memory;
pub mod spec;

use std::collections::HashMap;
use std::sync::Arc;

use wasmd_abi::errno::{EAGAIN, EBADF, EBUSY, ECANCELED, EINVAL, EISDIR, ENOENT, ENOTDIR, EPERM, ESRCH};
use wasmd_abi::scheme::{flags, kind, mode, Stat};
use wasmhost::{Pid, ProcessManager, SpawnOptions};

use crate::loader::FsModuleLoader;
pub use policy::{Caller, Policy};

/// Identifies a deferred request; chosen by the frontend.
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
    Ready(Result<T, i32>),
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
    fn map<U>(self, f: impl FnOnce(T) -> Result<U, i32>) -> Poll<U> {
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
    pub result: Result<Output, i32>,
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

/// A `spawn` file: the spec is written, then the answer read back. The
/// answer is a stream with its own cursor, whatever offset the reads come
/// at (on Redox the kernel keeps the file's offset and the write of the
/// spec has moved it).
#[derive(Debug)]
enum SpawnState {
    Empty,
    Loading,
    Done { result: Result<Pid, i32>, sent: usize },
}

#[derive(Debug)]
enum RunState {
    Loading,
    Running { pid: Pid, cursor: u64 },
    Failed(i32),
}

#[derive(Debug)]
enum Node {
    Root,
    Snapshot(Vec<u8>),
    Spawn(SpawnState),
    EmptyDir,
    SchemeDir,
    ShmDir,
    ChanDir,
    Shm(Arc<wasmhost::region::Region>),
    Chan(shared_memory::ChanFile),
    Run(RunState),
    PidDir,
    Wait(Pid),
    Ctl(Pid),
    Guest(guest_files::GuestFile),
}

#[derive(Debug)]
struct OpenFile {
    node: Node,
    path: String,
    /// Who opened it: what is written to it acts for them.
    caller: Caller,
}

/// A module load in flight for a spawn through the tree.
#[derive(Debug)]
struct Load {
    /// The `spawn` or `run/` file.
    file: u64,
    /// The spec, when from `spawn`.
    spec: Option<spec::SpawnSpec>,
    /// Whom the new process acts for.
    owner: Caller,
}

/// An operation that may have to wait.
#[derive(Debug, Clone)]
pub(crate) enum PendingOp {
    Read {
        offset: u64,
        len: usize,
    },
    Write {
        offset: u64,
        data: Vec<u8>,
    },
    Fstat,
    Fpath,
    Getdents {
        offset: u64,
    },
    Ftruncate {
        len: u64,
    },
    Fsync,
    /// Not on an open file: `Pending::id` is [`NO_FILE`].
    Unlink,
}

/// The file id of a pending operation that is not on an open file.
const NO_FILE: u64 = 0;

#[derive(Debug)]
struct Pending {
    token: Token,
    id: u64,
    op: PendingOp,
    /// The guest-scheme request it waits for, once sent.
    tag: Option<u64>,
}

/// The daemon's OS-neutral state: the process manager and the control
/// tree's open files.
pub struct Daemon {
    kernel: wasmhost::Kernel,
    files: HashMap<u64, OpenFile>,
    next_id: u64,
    pending: Vec<Pending>,
    completions: Vec<Completion>,
    /// Module loads in flight, by ticket.
    loads: HashMap<u64, Load>,
    /// The threads loading them.
    module_loads: loads::Loads,
    /// Who may do what.
    policy: Policy,
    /// Files whose readiness a frontend watches (`fevent`), with the
    /// readiness flags last reported.
    watched: HashMap<u64, u32>,
    /// Readiness changes to post: file id and flags.
    events: Vec<(u64, u32)>,
    /// Guest-scheme replies not yet matched to a request, by tag.
    scheme_replies: HashMap<u64, wasmhost::guest_scheme::Reply>,
    /// Tags of requests nobody waits for any more (cancelled, or their
    /// file closed): their replies are dropped when they come.
    abandoned: std::collections::HashSet<u64>,
    /// Opens whose file was closed before the provider answered: close
    /// the provider's file when the answer comes.
    orphan_opens: HashMap<u64, String>,
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

fn is_dir(node: &Node) -> bool {
    matches!(
        node,
        Node::Root | Node::EmptyDir | Node::SchemeDir | Node::ShmDir | Node::ChanDir | Node::PidDir
    )
}

impl Daemon {
    /// A daemon around `pm`, deciding who may do what by `policy`. With
    /// `sched_workers` in `pm`'s config, its guests run on that many
    /// scheduler threads; with none, on the thread that calls
    /// [`Daemon::step`].
    pub fn new(pm: ProcessManager, policy: Policy) -> Self {
        let module_loads = loads::Loads::new(pm.modules().clone());
        Self {
            module_loads,
            kernel: wasmhost::Kernel::new(pm),
            files: HashMap::new(),
            next_id: 1,
            pending: Vec::new(),
            completions: Vec::new(),
            loads: HashMap::new(),
            policy,
            scheme_replies: HashMap::new(),
            abandoned: std::collections::HashSet::new(),
            orphan_opens: HashMap::new(),
            watched: HashMap::new(),
            events: Vec::new(),
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
        self.module_loads.set_waker(waker.clone());
        self.kernel.set_waker(waker);
    }

    /// Counters of the scheduler threads.
    pub fn kernel_stats(&self) -> wasmhost::KernelStats {
        self.kernel.stats()
    }

    /// Opens `path` (relative to `/scheme/wasm`, without a leading `/`)
    /// for `caller` (see [`policy`]).
    pub fn open(&mut self, path: &str, open_flags: u32, caller: Caller) -> Result<u64, i32> {
        let path = path.trim_matches('/');
        let id = self.next_id;
        let node = self.resolve(id, path, open_flags, caller)?;
        if matches!(node, Node::Guest(_)) {
            self.next_id += 1;
            self.files.insert(id, OpenFile { node, path: path.to_string(), caller });
            return Ok(id);
        }
        let wants_dir = open_flags & flags::O_DIRECTORY != 0;
        if wants_dir && !is_dir(&node) {
            return Err(ENOTDIR);
        }
        let writing = open_flags & flags::O_ACCMODE != flags::O_RDONLY && open_flags & flags::O_ACCMODE != 0;
        if writing && is_dir(&node) {
            return Err(EISDIR);
        }
        self.next_id += 1;
        self.files.insert(id, OpenFile { node, path: path.to_string(), caller });
        Ok(id)
    }

    /// `EACCES` unless `caller` may inspect and control what `owner` owns.
    fn may_control(&self, caller: Caller, owner: wasmhost::Owner) -> Result<(), i32> {
        if self.policy.may_control(caller, owner) {
            Ok(())
        } else {
            Err(wasmd_abi::errno::EACCES)
        }
    }

    /// The node `path` names, for the file about to get `id`.
    fn resolve(&mut self, id: u64, path: &str, open_flags: u32, caller: Caller) -> Result<Node, i32> {
        let (first, rest) = path.split_once('/').unwrap_or((path, ""));
        match (first, rest) {
            ("", "") => Ok(Node::Root),
            ("ps", "") => Ok(Node::Snapshot(render::ps(&self.kernel.lock()))),
            ("spawn", "") => Ok(Node::Spawn(SpawnState::Empty)),
            ("run", "") => Ok(Node::EmptyDir),
            ("shm", "") => Ok(Node::ShmDir),
            ("chan", "") => Ok(Node::ChanDir),
            ("shm", "index") => Ok(Node::Snapshot(self.shm_index(caller))),
            ("shm", id) => {
                let id: u64 = id.parse().map_err(|_| ENOENT)?;
                let region = self.kernel.lock().region(id).ok_or(ENOENT)?;
                self.may_control(caller, region.owner())?;
                Ok(Node::Shm(region))
            }
            ("chan", id) => {
                let id: u64 = id.parse().map_err(|_| ENOENT)?;
                let region = self.kernel.lock().region(id).ok_or(ENOENT)?;
                self.may_control(caller, region.owner())?;
                let mode = open_flags & flags::O_ACCMODE;
                let (can_read, can_write) =
                    (mode == 0 || mode & flags::O_RDONLY != 0, mode & flags::O_WRONLY != 0);
                shared_memory::ChanFile::open(self.ring(region), can_read, can_write).map(Node::Chan)
            }
            ("scheme", "") => Ok(Node::SchemeDir),
            ("scheme", inner) => {
                let (name, sub) = inner.split_once('/').unwrap_or((inner, ""));
                let prefix = format!("/scheme/wasm/scheme/{name}");
                self.open_guest(name, sub, open_flags, prefix).map(Node::Guest)
            }
            ("run", module) => {
                let ticket = self.load_for(caller, Vec::new(), format!("/{module}"));
                self.loads.insert(ticket, Load { file: id, spec: None, owner: caller });
                Ok(Node::Run(RunState::Loading))
            }
            (pid, file) => {
                let pid: Pid = pid.parse().map_err(|_| ENOENT)?;
                let owner = self.kernel.lock().process(pid).ok_or(ENOENT)?.owner;
                if !file.is_empty() {
                    self.may_control(caller, owner)?;
                }
                match file {
                    "" => Ok(Node::PidDir),
                    "status" => render::status(&self.kernel.lock(), pid).map(Node::Snapshot).ok_or(ENOENT),
                    "log" => render::log(&self.kernel.lock(), pid).map(Node::Snapshot).ok_or(ENOENT),
                    "wait" => Ok(Node::Wait(pid)),
                    "ctl" => Ok(Node::Ctl(pid)),
                    _ => Err(ENOENT),
                }
            }
        }
    }

    /// Starts loading `module` for a spawn by `caller` whose guest will
    /// hold `grants`: as that user (see [`policy::SpawnLoader`]).
    fn load_for(&mut self, caller: Caller, grants: Vec<wasmhost::namespace::Grant>, module: String) -> u64 {
        let user = (!self.policy.is_privileged(caller)).then_some(caller);
        let loader = policy::SpawnLoader { user, grants, platform: self.kernel.lock().platform() };
        self.module_loads.start(Arc::new(loader), module)
    }

    /// The tree path of `path` opened relative to the open directory
    /// `dirfd` (an unknown `dirfd` counts as the root).
    pub fn path_at(&self, dirfd: u64, path: &str) -> String {
        match self.files.get(&dirfd) {
            Some(dir) if !dir.path.is_empty() && !path.starts_with('/') => format!("{}/{path}", dir.path),
            _ => path.to_string(),
        }
    }

    /// Opens `path` in the guest scheme `name` directly (what
    /// `/scheme/NAME/PATH` is on Redox and the Linux socket).
    pub fn open_scheme(&mut self, name: &str, path: &str, open_flags: u32) -> Result<u64, i32> {
        let prefix = format!("/scheme/{name}");
        let file = self.open_guest(name, path.trim_matches('/'), open_flags, prefix)?;
        let id = self.next_id;
        self.next_id += 1;
        let path = format!("scheme/{name}/{path}");
        // Guest schemes are like any scheme: their providers decide.
        self.files.insert(id, OpenFile { node: Node::Guest(file), path, caller: Caller::ROOT });
        Ok(id)
    }

    /// Reads up to `len` bytes (at most [`MAX_READ`]) at `offset`.
    pub fn read(&mut self, id: u64, offset: u64, len: usize, nonblock: bool, token: Token) -> Poll<Vec<u8>> {
        let len = len.min(MAX_READ);
        let guest = self.is_guest(id);
        let polled =
            self.defer_or(token, id, PendingOp::Read { offset, len }, |d| d.try_read(id, offset, len));
        match polled {
            Poll::Pending if nonblock && !guest => {
                self.pending.retain(|p| p.token != token);
                Poll::Ready(Err(EAGAIN))
            }
            other => other.map(|o| match o {
                Output::Data(d) => Ok(d),
                _ => Err(wasmd_abi::errno::EIO),
            }),
        }
    }

    /// Runs `now` for a tree file, or sends the operation to a guest
    /// scheme; keeps it pending (under `token`) when it must wait.
    fn defer_or(
        &mut self,
        token: Token,
        id: u64,
        op: PendingOp,
        now: impl FnOnce(&mut Self) -> Poll<Vec<u8>>,
    ) -> Poll<Output> {
        if self.is_guest(id) {
            return match self.guest_op(id, &op) {
                guest_files::Sent::Done(result) => Poll::Ready(result),
                guest_files::Sent::Tag(tag) => {
                    self.pending.push(Pending { token, id, op, tag: Some(tag) });
                    Poll::Pending
                }
                guest_files::Sent::NotYet => {
                    self.pending.push(Pending { token, id, op, tag: None });
                    Poll::Pending
                }
            };
        }
        match now(self) {
            Poll::Ready(r) => Poll::Ready(r.map(Output::Data)),
            Poll::Pending => {
                self.pending.push(Pending { token, id, op, tag: None });
                Poll::Pending
            }
        }
    }

    fn is_guest(&self, id: u64) -> bool {
        matches!(self.files.get(&id).map(|f| &f.node), Some(Node::Guest(_)))
    }

    fn try_read(&mut self, id: u64, offset: u64, len: usize) -> Poll<Vec<u8>> {
        let Some(file) = self.files.get_mut(&id) else { return Poll::Ready(Err(EBADF)) };
        let slice = |bytes: &[u8]| {
            let start = (offset as usize).min(bytes.len());
            bytes[start..(start + len).min(bytes.len())].to_vec()
        };
        match &mut file.node {
            Node::Snapshot(bytes) => Poll::Ready(Ok(slice(bytes))),
            Node::Guest(_) => Poll::Ready(Err(EBADF)),
            Node::Shm(region) => Poll::Ready(shared_memory::shm_read(region, offset, len)),
            Node::Chan(chan) => chan.read(len),
            Node::Root | Node::EmptyDir | Node::SchemeDir | Node::ShmDir | Node::ChanDir | Node::PidDir => {
                Poll::Ready(Err(EISDIR))
            }
            Node::Ctl(_) => Poll::Ready(Ok(Vec::new())),
            Node::Spawn(SpawnState::Empty) => Poll::Ready(Err(EINVAL)),
            Node::Spawn(SpawnState::Loading) => Poll::Pending,
            Node::Spawn(SpawnState::Done { result, sent }) => Poll::Ready(result.map(|pid| {
                let answer = format!("{pid}\n");
                let part = &answer.as_bytes()[(*sent).min(answer.len())..];
                let part = part[..part.len().min(len)].to_vec();
                *sent += part.len();
                part
            })),
            Node::Run(RunState::Loading) => Poll::Pending,
            Node::Run(RunState::Failed(e)) => Poll::Ready(Err(*e)),
            Node::Run(RunState::Running { pid, cursor }) => {
                let pm = self.kernel.lock();
                let Some(proc) = pm.process(*pid) else { return Poll::Ready(Ok(Vec::new())) };
                let exited = proc.is_exited();
                let log = proc.log();
                let read = log.stdout.read_from(*cursor, len);
                if read.bytes.is_empty() && !exited {
                    return Poll::Pending;
                }
                *cursor = read.next;
                Poll::Ready(Ok(read.bytes))
            }
            Node::Wait(pid) => {
                let pm = self.kernel.lock();
                match pm.process(*pid).map(|p| p.status()) {
                    Some(Some(status)) => Poll::Ready(Ok(slice(format!("{status}\n").as_bytes()))),
                    None => Poll::Ready(Err(ESRCH)),
                    Some(None) => Poll::Pending,
                }
            }
        }
    }

    /// Writes `data` at `offset`; a write that would wait (a full `Park`
    /// channel) is `EAGAIN` when `nonblock`.
    pub fn write(&mut self, id: u64, offset: u64, data: &[u8], nonblock: bool, token: Token) -> Poll<usize> {
        if self.is_guest(id) {
            let op = PendingOp::Write { offset, data: data.to_vec() };
            return self.defer_or(token, id, op, |_| Poll::Ready(Err(EBADF))).map(|o| match o {
                Output::Count(n) => Ok(n),
                _ => Err(wasmd_abi::errno::EIO),
            });
        }
        let Some(file) = self.files.get_mut(&id) else { return Poll::Ready(Err(EBADF)) };
        let caller = file.caller;
        match &mut file.node {
            Node::Spawn(SpawnState::Empty) => {
                Poll::Ready(self.start_spawn(id, caller, data).map(|()| data.len()))
            }
            Node::Spawn(_) => Poll::Ready(Err(EBUSY)),
            Node::Shm(region) => Poll::Ready(shared_memory::shm_write(region, offset, data)),
            Node::Chan(_) => match self.try_write_chan(id, data) {
                Poll::Pending if nonblock => Poll::Ready(Err(EAGAIN)),
                Poll::Pending => {
                    let op = PendingOp::Write { offset, data: data.to_vec() };
                    self.pending.push(Pending { token, id, op, tag: None });
                    Poll::Pending
                }
                ready => ready,
            },
            Node::Ctl(pid) => {
                let pid = *pid;
                Poll::Ready(self.control(pid, data).map(|()| data.len()))
            }
            node if is_dir(node) => Poll::Ready(Err(EISDIR)),
            _ => Poll::Ready(Err(EBADF)),
        }
    }

    /// Starts a spawn from a spec written to the `spawn` file `id`.
    fn start_spawn(&mut self, id: u64, caller: Caller, data: &[u8]) -> Result<(), i32> {
        let spec = spec::parse(data).map_err(|e| {
            log::warn!("spawn spec refused: {e}");
            EINVAL
        })?;
        self.policy.check_caps(caller, spec.caps).map_err(|why| {
            log::warn!("spawn refused: {why}");
            wasmd_abi::errno::EPERM
        })?;
        let grants = spec.grants.iter().filter_map(|g| wasmhost::namespace::parse_grant(g).ok()).collect();
        let ticket = self.load_for(caller, grants, spec.module.to_string_lossy().into_owned());
        if let Some(OpenFile { node: Node::Spawn(state), .. }) = self.files.get_mut(&id) {
            *state = SpawnState::Loading;
        }
        self.loads.insert(ticket, Load { file: id, spec: Some(spec), owner: caller });
        Ok(())
    }

    /// A `ctl` command.
    fn control(&mut self, pid: Pid, data: &[u8]) -> Result<(), i32> {
        let text = std::str::from_utf8(data).map_err(|_| EINVAL)?.trim();
        let mut words = text.split_whitespace();
        let result = match (words.next(), words.next(), words.next()) {
            (Some("kill"), None, _) => self.kernel.lock().kill(pid),
            (Some("suspend"), None, _) => self.kernel.lock().suspend(pid),
            (Some("resume"), None, _) => self.kernel.lock().resume(pid),
            (Some("refuel"), Some(n), None) => {
                let fuel: u64 = n.parse().map_err(|_| EINVAL)?;
                self.kernel.lock().refuel(pid, fuel)
            }
            _ => {
                log::warn!("pid {pid}: unknown ctl command `{text}`");
                return Err(EINVAL);
            }
        };
        result.map_err(|e| e.errno())
    }

    /// File status.
    pub fn fstat(&mut self, id: u64, token: Token) -> Poll<Stat> {
        if self.is_guest(id) {
            return self.defer_or(token, id, PendingOp::Fstat, |_| Poll::Ready(Err(EBADF))).map(
                |o| match o {
                    Output::Stat(s) => Ok(s),
                    _ => Err(wasmd_abi::errno::EIO),
                },
            );
        }
        Poll::Ready(self.tree_fstat(id))
    }

    fn tree_fstat(&self, id: u64) -> Result<Stat, i32> {
        let file = self.files.get(&id).ok_or(EBADF)?;
        let (mode, size) = match &file.node {
            node if is_dir(node) => (mode::MODE_DIR | 0o755, 0),
            Node::Snapshot(bytes) => (mode::MODE_FILE | 0o444, bytes.len() as u64),
            Node::Shm(region) => (mode::MODE_FILE | 0o600, region.len() as u64),
            Node::Spawn(_) | Node::Ctl(_) => (mode::MODE_FILE | 0o644, 0),
            _ => (mode::MODE_CHR | 0o444, 0),
        };
        Ok(Stat { mode, size, ino: id, nlink: 1, mtime: 0 })
    }

    /// The path the file was opened as, in `/scheme/...` form.
    pub fn fpath(&mut self, id: u64, token: Token) -> Poll<String> {
        if self.is_guest(id) {
            return self.defer_or(token, id, PendingOp::Fpath, |_| Poll::Ready(Err(EBADF))).map(
                |o| match o {
                    Output::Path(p) => Ok(p),
                    _ => Err(wasmd_abi::errno::EIO),
                },
            );
        }
        let Some(file) = self.files.get(&id) else { return Poll::Ready(Err(EBADF)) };
        Poll::Ready(Ok(if file.path.is_empty() {
            "/scheme/wasm".into()
        } else {
            format!("/scheme/wasm/{}", file.path)
        }))
    }

    /// Directory entries, from the `offset`-th on (an opaque offset for
    /// guest schemes).
    pub fn getdents(&mut self, id: u64, offset: u64, token: Token) -> Poll<Vec<Entry>> {
        if self.is_guest(id) {
            let op = PendingOp::Getdents { offset };
            return self.defer_or(token, id, op, |_| Poll::Ready(Err(EBADF))).map(|o| match o {
                Output::Entries(e) => Ok(e),
                _ => Err(wasmd_abi::errno::EIO),
            });
        }
        Poll::Ready(self.tree_getdents(id, offset))
    }

    /// Resizes a file. Guest-scheme files ask their provider; the tree's
    /// writable control files (`spawn`, `PID/ctl`) accept any length as a
    /// no-op (a shell's `>` truncates), the rest of the tree is read-only.
    pub fn ftruncate(&mut self, id: u64, len: u64, token: Token) -> Poll<()> {
        if self.is_guest(id) {
            return self.guest_deferred(token, id, PendingOp::Ftruncate { len });
        }
        Poll::Ready(match self.files.get(&id).map(|f| &f.node) {
            None => Err(EBADF),
            Some(Node::Spawn(_) | Node::Ctl(_)) => Ok(()),
            Some(node) if is_dir(node) => Err(EISDIR),
            Some(_) => Err(EPERM),
        })
    }

    /// Flushes a file: guest-scheme files ask their provider; the tree
    /// has nothing to flush.
    pub fn fsync(&mut self, id: u64, token: Token) -> Poll<()> {
        if self.is_guest(id) {
            return self.guest_deferred(token, id, PendingOp::Fsync);
        }
        Poll::Ready(if self.files.contains_key(&id) { Ok(()) } else { Err(EBADF) })
    }

    /// Removes `path` (relative to `/scheme/wasm`): only files of guest
    /// schemes (`scheme/NAME/PATH`) can be removed; the rest of the tree
    /// is `EPERM`.
    pub fn unlink(&mut self, path: &str, unlink_flags: u32, token: Token) -> Poll<()> {
        let path = path.trim_matches('/');
        match path.split_once('/') {
            Some(("scheme", inner)) => match inner.split_once('/') {
                Some((name, sub)) if !sub.is_empty() => {
                    let name = name.to_string();
                    self.unlink_scheme(&name, sub, unlink_flags, token)
                }
                _ => Poll::Ready(Err(EPERM)),
            },
            _ if path.is_empty() || self.resolvable(path) => Poll::Ready(Err(EPERM)),
            _ => Poll::Ready(Err(ENOENT)),
        }
    }

    /// Removes `path` in the guest scheme `name` (what unlinking
    /// `/scheme/NAME/PATH` is on Redox and the Linux socket).
    pub fn unlink_scheme(&mut self, name: &str, path: &str, unlink_flags: u32, token: Token) -> Poll<()> {
        let path = path.trim_matches('/');
        let op = wasmd_abi::scheme::SchemeOp::Unlink { path, flags: unlink_flags };
        let sent = self.kernel.lock().scheme_request(name, op);
        match sent {
            Ok(tag) => {
                self.pending.push(Pending { token, id: NO_FILE, op: PendingOp::Unlink, tag: Some(tag) });
                Poll::Pending
            }
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    /// True when `path` names a node of the tree (without opening it).
    fn resolvable(&self, path: &str) -> bool {
        let (first, rest) = path.split_once('/').unwrap_or((path, ""));
        match (first, rest) {
            ("ps" | "spawn" | "run" | "shm" | "chan" | "scheme", _) => true,
            (pid, file) => pid.parse::<Pid>().ok().is_some_and(|pid| {
                self.kernel.lock().process(pid).is_some()
                    && ["", "status", "log", "wait", "ctl"].contains(&file)
            }),
        }
    }

    /// Sends a result-less operation to a guest scheme file.
    fn guest_deferred(&mut self, token: Token, id: u64, op: PendingOp) -> Poll<()> {
        self.defer_or(token, id, op, |_| Poll::Ready(Err(EBADF))).map(|o| match o {
            Output::Done => Ok(()),
            _ => Err(wasmd_abi::errno::EIO),
        })
    }

    fn tree_getdents(&self, id: u64, offset: u64) -> Result<Vec<Entry>, i32> {
        let file = self.files.get(&id).ok_or(EBADF)?;
        let entry = |name: &str, kind| Entry { name: name.into(), kind, next: 0 };
        let all: Vec<Entry> = match &file.node {
            Node::Root => {
                let mut v: Vec<Entry> = ["ps", "spawn"].iter().map(|n| entry(n, kind::REGULAR)).collect();
                v.extend(["run", "shm", "chan", "scheme"].iter().map(|n| entry(n, kind::DIRECTORY)));
                let pm = self.kernel.lock();
                for pid in pm.pids() {
                    if pm.process(pid).is_some_and(|p| !p.is_exited()) {
                        v.push(entry(&pid.to_string(), kind::DIRECTORY));
                    }
                }
                v
            }
            Node::PidDir => {
                ["status", "log", "wait", "ctl"].iter().map(|n| entry(n, kind::REGULAR)).collect()
            }
            Node::SchemeDir => {
                self.kernel.lock().scheme_names().iter().map(|n| entry(n, kind::DIRECTORY)).collect()
            }
            Node::ShmDir => std::iter::once(entry("index", kind::REGULAR))
                .chain(
                    self.visible_regions(file.caller)
                        .iter()
                        .map(|r| entry(&r.id().to_string(), kind::REGULAR)),
                )
                .collect(),
            Node::ChanDir => self
                .visible_regions(file.caller)
                .into_iter()
                .filter(|r| shared_memory::ChanFile::is_channel(self.ring(r.clone())))
                .map(|r| entry(&r.id().to_string(), kind::CHAR_DEV))
                .collect(),
            Node::EmptyDir => Vec::new(),
            _ => return Err(ENOTDIR),
        };
        let numbered = all.into_iter().enumerate().map(|(i, e)| Entry { next: i as u64 + 1, ..e });
        Ok(numbered.skip(offset as usize).collect())
    }

    /// Forgets an open file; its pending requests complete with `EBADF`.
    pub fn close(&mut self, id: u64) {
        self.watched.remove(&id);
        if let Some(OpenFile { node: Node::Guest(file), .. }) = self.files.remove(&id) {
            self.guest_close(file);
        }
        let (gone, keep): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.pending).into_iter().partition(|p| p.id == id);
        self.pending = keep;
        for p in gone {
            self.abandon(p.tag);
            self.completions.push(Completion { token: p.token, result: Err(EBADF) });
        }
    }

    /// Nobody waits for the guest-scheme request `tag` any more: drop its
    /// reply, now or when it comes.
    fn abandon(&mut self, tag: Option<u64>) {
        if let Some(tag) = tag {
            if self.scheme_replies.remove(&tag).is_none() {
                self.abandoned.insert(tag);
            }
        }
    }

    /// Replies kept for requests still waited for (bounded by them).
    pub fn kept_replies(&self) -> usize {
        self.scheme_replies.len()
    }

    /// Cancels a pending request; it completes with `ECANCELED`. False if
    /// no such request was pending.
    pub fn cancel(&mut self, token: Token) -> bool {
        let Some(i) = self.pending.iter().position(|p| p.token == token) else { return false };
        let p = self.pending.remove(i);
        self.abandon(p.tag);
        self.completions.push(Completion { token, result: Err(ECANCELED) });
        true
    }

    /// Runs guests for up to `turns` time slices, starts what finished
    /// loading, and completes pending requests that became ready.
    pub fn step(&mut self, turns: usize) {
        self.kernel.looked();
        if self.kernel.workers() == 0 {
            self.kernel.lock().run(turns);
        }
        self.settle();
    }

    /// As [`Daemon::step`], running guests only for time slices that start
    /// before `deadline`: what a frontend calls between two looks at its
    /// requests, so they wait at most about one slice past the deadline
    /// whatever the guests do.
    pub fn step_until(&mut self, deadline: std::time::Instant) {
        self.step_while(|| std::time::Instant::now() < deadline);
    }

    /// As [`Daemon::step`], running guests for as long as `go_on` (asked
    /// after each time slice) says so; a frontend that can tell cheaply
    /// whether a request waits stops at once when one does.
    pub fn step_while(&mut self, go_on: impl FnMut() -> bool) {
        self.kernel.looked();
        if self.kernel.workers() == 0 {
            self.kernel.lock().run_while(go_on);
        }
        self.settle();
    }

    /// After guests ran: starts what finished loading and completes
    /// pending requests that became ready.
    fn settle(&mut self) {
        if self.kernel.workers() > 0 {
            // Timers due by now, whichever clock noticed first (see
            // `idle_timeout`), and worker completions.
            self.kernel.lock().poll_events();
        }
        let loaded = self.module_loads.take_done();
        for (ticket, result) in loaded {
            let Some(Load { file, spec, owner }) = self.loads.remove(&ticket) else { continue };
            let spawned = result.map_err(|e| {
                log::warn!("spawn failed: {e}");
                e.errno()
            });
            let spawned = spawned.and_then(|(module, path)| self.spawn_loaded(module, path, spec, owner));
            match self.files.get_mut(&file).map(|f| &mut f.node) {
                Some(Node::Spawn(state)) => *state = SpawnState::Done { result: spawned, sent: 0 },
                Some(Node::Run(state)) => {
                    *state = match spawned {
                        Ok(pid) => RunState::Running { pid, cursor: 0 },
                        Err(e) => RunState::Failed(e),
                    }
                }
                _ => {}
            }
        }
        self.route_scheme_replies();
        self.retry_pending();
        self.watch_readiness();
    }

    /// Readiness of `id` (`EVENT_READ` when a read would not wait,
    /// `EVENT_WRITE` when a write would not: always, except for a full
    /// `Park` channel) and, from now on, changes to it through
    /// [`Daemon::take_events`].
    pub fn fevent(&mut self, id: u64) -> Result<u32, i32> {
        if !self.files.contains_key(&id) {
            return Err(EBADF);
        }
        let flags = self.readiness(id);
        self.watched.insert(id, flags);
        Ok(flags)
    }

    /// Readiness changes since the last call: file id and flags.
    pub fn take_events(&mut self) -> Vec<(u64, u32)> {
        std::mem::take(&mut self.events)
    }

    fn watch_readiness(&mut self) {
        let ids: Vec<u64> = self.watched.keys().copied().collect();
        for id in ids {
            if !self.files.contains_key(&id) {
                self.watched.remove(&id);
                continue;
            }
            let now = self.readiness(id);
            if let Some(was) = self.watched.insert(id, now) {
                // Report a flag when it comes on (edges, as `fevent` users
                // expect), with the whole current set.
                if now & !was != 0 {
                    self.events.push((id, now));
                }
            }
        }
    }

    /// `EVENT_READ` and `EVENT_WRITE` as they are now for `id`.
    fn readiness(&mut self, id: u64) -> u32 {
        let writable = match self.files.get_mut(&id).map(|f| &mut f.node) {
            Some(Node::Chan(chan)) => chan.writable(),
            _ => true,
        };
        let readable = self.readable(id);
        (if readable { EVENT_READ } else { 0 }) | if writable { EVENT_WRITE } else { 0 }
    }

    /// True when a read of `id` would not wait.
    fn readable(&mut self, id: u64) -> bool {
        let Some(file) = self.files.get_mut(&id) else { return false };
        match &mut file.node {
            Node::Chan(chan) => chan.readable(),
            Node::Run(RunState::Loading) | Node::Spawn(SpawnState::Loading) => false,
            Node::Run(RunState::Running { pid, cursor }) => self
                .kernel
                .lock()
                .process(*pid)
                .is_none_or(|p| p.is_exited() || p.log().stdout.total() > *cursor),
            Node::Wait(pid) => self.kernel.lock().process(*pid).is_none_or(|p| p.is_exited()),
            _ => true,
        }
    }

    fn spawn_loaded(
        &mut self,
        module: Arc<wasmhost::CompiledModule>,
        path: std::path::PathBuf,
        spec: Option<spec::SpawnSpec>,
        owner: Caller,
    ) -> Result<Pid, i32> {
        let stem = path.file_stem().map_or_else(|| "wasm".into(), |s| s.to_string_lossy().into_owned());
        let mut opts = SpawnOptions::new(stem.clone());
        opts.args = vec![stem];
        opts.module_path = Some(path.clone());
        opts.owner = owner;
        if let Some(spec) = spec {
            opts.args.extend(spec.args);
            opts.caps = spec.caps;
            opts.limits = spec.limits;
            opts.namespace =
                spec.grants.iter().filter_map(|g| wasmhost::namespace::parse_grant(g).ok()).collect();
            if let Some(name) = spec.name {
                opts.name = name;
            }
        }
        self.kernel.lock().spawn(module, opts).map_err(|e| {
            log::warn!("spawn of {} failed: {e}", path.display());
            e.errno()
        })
    }

    fn retry_pending(&mut self) {
        let mut still = Vec::new();
        for mut p in std::mem::take(&mut self.pending) {
            if p.tag.is_some() {
                still.push(p);
                continue;
            }
            if self.is_guest(p.id) {
                match self.guest_op(p.id, &p.op) {
                    guest_files::Sent::Done(result) => {
                        self.completions.push(Completion { token: p.token, result })
                    }
                    guest_files::Sent::Tag(tag) => {
                        p.tag = Some(tag);
                        still.push(p);
                    }
                    guest_files::Sent::NotYet => still.push(p),
                }
                continue;
            }
            if let PendingOp::Write { data, .. } = &p.op {
                match self.try_write_chan(p.id, data) {
                    Poll::Ready(result) => self
                        .completions
                        .push(Completion { token: p.token, result: result.map(Output::Count) }),
                    Poll::Pending => still.push(p),
                }
                continue;
            }
            let PendingOp::Read { offset, len } = p.op else {
                self.completions.push(Completion { token: p.token, result: Err(EBADF) });
                continue;
            };
            match self.try_read(p.id, offset, len) {
                Poll::Ready(result) => {
                    self.completions.push(Completion { token: p.token, result: result.map(Output::Data) })
                }
                Poll::Pending => still.push(p),
            }
        }
        self.pending = still;
    }

    /// A region wrapped for the channel code.
    fn ring(&self, region: Arc<wasmhost::region::Region>) -> shared_memory::HostRing {
        shared_memory::HostRing::new(region, self.kernel.lock().region_notifier())
    }

    /// Live regions `caller` may see: their processes' (all, when
    /// privileged).
    fn visible_regions(&self, caller: Caller) -> Vec<Arc<wasmhost::region::Region>> {
        let ids = self.kernel.lock().region_ids();
        let regions = ids.into_iter().filter_map(|id| self.kernel.lock().region(id));
        regions.filter(|r| self.policy.may_control(caller, r.owner())).collect()
    }

    /// `shm/index`: `ID SIZE OS-NAME` per live region `caller` may see.
    fn shm_index(&self, caller: Caller) -> Vec<u8> {
        let mut out = String::new();
        for r in self.visible_regions(caller) {
            out.push_str(&format!("{} {} {}\n", r.id(), r.len(), r.os_name()));
        }
        out.into_bytes()
    }

    /// One frame written to a `chan/` file, or `Pending` while full.
    fn try_write_chan(&mut self, id: u64, data: &[u8]) -> Poll<usize> {
        match self.files.get_mut(&id).map(|f| &mut f.node) {
            Some(Node::Chan(chan)) => chan.write(data),
            _ => Poll::Ready(Err(EBADF)),
        }
    }

    /// The address of a region's pages for `mmap` (Redox `mmap_prep`):
    /// the daemon's own shared mapping, lent to the caller.
    pub fn mmap_address(&self, id: u64, offset: u64, len: usize) -> Result<usize, i32> {
        match self.files.get(&id).map(|f| &f.node) {
            Some(Node::Shm(region)) => {
                let range = region.range(offset, len)?;
                Ok(region.as_ptr() as usize + range.start)
            }
            Some(_) => Err(wasmd_abi::errno::ENODEV),
            None => Err(EBADF),
        }
    }

    /// Answers of deferred requests, in order.
    pub fn take_completions(&mut self) -> Vec<Completion> {
        std::mem::take(&mut self.completions)
    }

    /// Requests waiting for an answer.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// How long the frontend may sleep before the next [`Daemon::step`]
    /// (`None`: until an external event).
    pub fn idle_timeout(&self) -> Option<std::time::Duration> {
        let pm = self.kernel.lock();
        if self.kernel.workers() > 0 {
            // Scheduler threads run guests and wake the frontend when it
            // should look; the frontend also looks at the next timer (a
            // timer it finds due wakes a worker: a second clock where a
            // worker's timed sleep is coarse, as on Redox).
            return pm.next_deadline().map(|d| d.saturating_duration_since(std::time::Instant::now()));
        }
        if pm.queued() > 0 {
            return Some(std::time::Duration::ZERO);
        }
        pm.next_deadline().map(|d| d.saturating_duration_since(std::time::Instant::now()))
    }
}
