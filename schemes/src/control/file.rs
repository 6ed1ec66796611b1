//! [`ControlFile`]: the one trait every kind of control file implements,
//! and the [`Context`] it works with.
//!
//! Each node of the tree is its own type (as redoxfs's resources are):
//! the snapshots (`ps`, `PID/status`, `PID/log`, `shm/index`), `spawn`,
//! `run/…`, `PID/wait`, `PID/ctl` and the directories in
//! [`super::nodes`], `shm/ID` and `chan/ID` in [`super::shared_memory`],
//! the files of guest schemes in [`super::guest_files`]. The daemon turns
//! a path into one of them (`resolve.rs`), keeps it as a
//! `Box<dyn ControlFile>` under its file id, and hands each request to
//! it with a [`Context`]: the kernel, the policy, the module loads, the
//! guest-scheme replies and who opened the file — not the daemon itself.
//!
//! Opening is each type's own constructor (`SpawnFile::new`,
//! `RunFile::open`, `ShmFile::open`, `GuestFile::open`, …), called by the
//! resolver with what that kind needs (a pid, a region id, the open
//! flags); it must answer at once (on Redox an open never waits), so a
//! file whose content comes later starts it here (a module load) and
//! waits in its reads.
//!
//! A file answers with an [`Answer`]. A ready one goes straight back to
//! the frontend; for the others the daemon keeps the request (with the
//! frontend's token) and completes it later: it asks the file again
//! after guests ran ([`Answer::NotReady`], [`Answer::AwaitingOpen`]) or
//! hands it the provider's reply ([`Answer::Sent`],
//! [`ControlFile::reply_output`]).
//! Every method but `stat` has a default: what most nodes answer (a
//! directory's `read` and `write` are `Errno::IsADirectory`, a file's `Errno::BadHandle`, …).

use wasmd_abi::Errno;

use std::sync::Arc;

use wasmd_abi::scheme::Stat;
use wasmhost::guest_scheme::Reply;
use wasmhost::namespace::Grant;
use wasmhost::region::Region;
use wasmhost::{KernelGuard, Pid};

use super::guest_files::Replies;
use super::loads::{Load, Loads};
use super::pending::PendingOp;
use super::shared_memory::HostRing;
use super::{policy, spec, Caller, Entry, Output, Policy, EVENT_READ, EVENT_WRITE};

/// How a file answers a request.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Answer<T> {
    /// The answer, now.
    Ready(Result<T, Errno>),
    /// The file is not ready (nothing to read yet, a full channel, a
    /// module still loading): the daemon keeps the request and asks again
    /// after guests ran; a non-blocking caller gets `Errno::WouldBlock` instead.
    NotReady,
    /// Waits for a guest scheme to answer the file's open: kept and asked
    /// again, also for a non-blocking caller (for guest-scheme files the
    /// provider, not the daemon, decides what would block).
    AwaitingOpen,
    /// Sent to a guest scheme's provider as the request with this tag:
    /// its reply completes the request.
    Sent(u64),
}

impl<T> Answer<T> {
    /// Maps a ready, successful answer.
    pub(crate) fn map<U>(self, f: impl FnOnce(T) -> U) -> Answer<U> {
        match self {
            Answer::Ready(r) => Answer::Ready(r.map(f)),
            Answer::NotReady => Answer::NotReady,
            Answer::AwaitingOpen => Answer::AwaitingOpen,
            Answer::Sent(tag) => Answer::Sent(tag),
        }
    }
}

impl<T> From<super::Poll<T>> for Answer<T> {
    /// What a file's own `Poll` means: pending is not ready.
    fn from(poll: super::Poll<T>) -> Self {
        match poll {
            super::Poll::Ready(r) => Answer::Ready(r),
            super::Poll::Pending => Answer::NotReady,
        }
    }
}

/// What a control file may use of the daemon while it serves a request.
pub(crate) struct Context<'a> {
    /// The process manager and its scheduler threads.
    pub kernel: &'a wasmhost::Kernel,
    /// Who may do what.
    pub policy: &'a Policy,
    /// Module loads for spawns in flight.
    pub loads: &'a mut Loads,
    /// Guest-scheme replies not yet taken.
    pub replies: &'a mut Replies,
    /// The cluster this daemon joined, if any.
    pub cluster: Option<&'a mut crate::cluster::Cluster>,
    /// The request is a non-blocking caller's: a file that is not ready
    /// answers [`Answer::NotReady`] and the caller gets `EAGAIN` (what a
    /// file of another node does meanwhile depends on it).
    pub nonblock: bool,
    /// The file's id (its inode number, what a load reports back to).
    pub id: u64,
    /// Who opened the file: what is written to it acts for them.
    pub caller: Caller,
}

impl std::fmt::Debug for Context<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context").field("id", &self.id).field("caller", &self.caller).finish_non_exhaustive()
    }
}

impl Context<'_> {
    /// The process manager, locked.
    pub(crate) fn lock(&self) -> KernelGuard<'_> {
        self.kernel.lock()
    }

    /// `Errno::AccessDenied` unless the caller may inspect and control what `owner`
    /// owns.
    pub(crate) fn may_control(&self, owner: wasmhost::Owner) -> Result<(), Errno> {
        if self.policy.may_control(self.caller, owner) {
            Ok(())
        } else {
            Err(Errno::AccessDenied)
        }
    }

    /// Live regions the caller may see: their processes' (all, when
    /// privileged).
    pub(crate) fn visible_regions(&self) -> Vec<Arc<Region>> {
        let ids = self.lock().region_ids();
        let regions = ids.into_iter().filter_map(|id| self.lock().region(id));
        regions.filter(|r| self.policy.may_control(self.caller, r.owner())).collect()
    }

    /// A region wrapped for the channel code.
    pub(crate) fn ring(&self, region: Arc<Region>) -> HostRing {
        HostRing::new(region, self.lock().region_notifier())
    }

    /// Starts loading `module` for a spawn by the caller whose guest will
    /// hold `grants`, as that user (see [`policy::SpawnLoader`]); the
    /// outcome reaches this file through [`ControlFile::loaded`].
    pub(crate) fn start_load(&mut self, grants: Vec<Grant>, module: String, spec: Option<spec::SpawnSpec>) {
        let user = (!self.policy.is_privileged(self.caller)).then_some(self.caller);
        let loader = policy::SpawnLoader { user, grants, platform: self.lock().platform() };
        let load = Load { file: self.id, spec, owner: self.caller, module: module.clone(), reload: None };
        self.loads.start(Arc::new(loader), None, module, load);
    }

    /// Starts loading `module` to reload process `pid` with, as the caller
    /// may read it (a relative path is taken from the directory of the
    /// module the process runs); the outcome reaches this file through
    /// [`ControlFile::reload_started`].
    pub(crate) fn start_reload(&mut self, pid: Pid, module: String, wait: bool) {
        let user = (!self.policy.is_privileged(self.caller)).then_some(self.caller);
        let loader = policy::SpawnLoader { user, grants: Vec::new(), platform: self.lock().platform() };
        let base = self.lock().process(pid).and_then(|p| p.module_path.as_deref()?.parent().map(Into::into));
        let reload = Some(super::loads::ReloadOf { pid, wait });
        let load = Load { file: self.id, spec: None, owner: self.caller, module: module.clone(), reload };
        self.loads.start(Arc::new(loader), base, module, load);
    }

    /// A tree file's status: `mode` and `size`, its id as inode.
    pub(crate) fn stat(&self, mode: u16, size: u64) -> Answer<Stat> {
        Answer::Ready(Ok(Stat { mode, size, ino: self.id, nlink: 1, mtime: 0 }))
    }
}

/// A request that failed: its errno and why, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    /// What the request answers.
    pub errno: Errno,
    /// Why, for a person.
    pub reason: String,
}

impl Failure {
    /// `errno` because of `reason`.
    pub(crate) fn new(errno: Errno, reason: impl std::fmt::Display) -> Failure {
        Failure { errno, reason: reason.to_string() }
    }
}

/// One kind of file of the control tree (see the module docs).
pub(crate) trait ControlFile: std::fmt::Debug {
    /// Type, permission bits and size (`fstat`).
    fn stat(&mut self, cx: &mut Context<'_>) -> Answer<Stat>;

    /// True for directories: they cannot be opened for writing, and only
    /// they can be opened with `O_DIRECTORY`.
    fn is_dir(&self) -> bool {
        false
    }

    /// Up to `len` bytes at `offset` (or from the file's own cursor, for
    /// streams).
    fn read(&mut self, _cx: &mut Context<'_>, _offset: u64, _len: usize) -> Answer<Vec<u8>> {
        Answer::Ready(Err(if self.is_dir() { Errno::IsADirectory } else { Errno::BadHandle }))
    }

    /// Writes `data` at `offset`; the bytes taken.
    fn write(&mut self, _cx: &mut Context<'_>, _offset: u64, _data: &[u8]) -> Answer<usize> {
        Answer::Ready(Err(if self.is_dir() { Errno::IsADirectory } else { Errno::BadHandle }))
    }

    /// The path the file was opened as, in `/scheme/...` form; `path` is
    /// its path in the tree.
    fn fpath(&mut self, _cx: &mut Context<'_>, path: &str) -> Answer<String> {
        Answer::Ready(Ok(if path.is_empty() {
            "/scheme/wasm".into()
        } else {
            format!("/scheme/wasm/{path}")
        }))
    }

    /// Directory entries from the `offset`-th on.
    fn getdents(&mut self, _cx: &mut Context<'_>, _offset: u64) -> Answer<Vec<Entry>> {
        Answer::Ready(Err(Errno::NotADirectory))
    }

    /// Resizes the file: the tree is read-only.
    fn truncate(&mut self, _cx: &mut Context<'_>, _len: u64) -> Answer<()> {
        Answer::Ready(Err(if self.is_dir() { Errno::IsADirectory } else { Errno::PermissionDenied }))
    }

    /// Flushes the file: the tree has nothing to flush.
    fn sync(&mut self, _cx: &mut Context<'_>) -> Answer<()> {
        Answer::Ready(Ok(()))
    }

    /// Whether the open is settled: the tree's files are open once made.
    fn opened(&mut self, _cx: &mut Context<'_>) -> Answer<()> {
        Answer::Ready(Ok(()))
    }

    /// [`EVENT_READ`] when a read would not wait, [`EVENT_WRITE`] when a
    /// write would not.
    fn readiness(&mut self, _cx: &mut Context<'_>) -> u32 {
        EVENT_READ | EVENT_WRITE
    }

    /// The address of the file's pages for `mmap` (Redox `mmap_prep`).
    fn mmap_address(&self, _offset: u64, _len: usize) -> Result<usize, Errno> {
        Err(Errno::NoDevice)
    }

    /// The outcome of the spawn this file started with
    /// [`Context::start_load`].
    fn loaded(&mut self, _spawned: Result<Pid, Failure>) {}

    /// The reply of another node to the request this file sent with
    /// [`crate::cluster::Cluster::ask`], or why none came.
    fn remote_reply(&mut self, _cx: &mut Context<'_>, _reply: Result<crate::cluster::wire::Reply, Failure>) {}

    /// A bridge (see `nodes::bridge`): news of its end in the link.
    fn bridge_news(&mut self, _cx: &mut Context<'_>, _news: crate::cluster::BridgeNews) {}

    /// A channel file another node may bridge frames into: its channel
    /// (opened for writing).
    fn frames_into(&self) -> Option<crate::ring::HostRing> {
        None
    }

    /// The outcome of the module load this file started with
    /// [`Context::start_reload`]: the reload asked for, or why not.
    fn reload_started(&mut self, _started: Result<wasmhost::ReloadTicket, Failure>) {}

    /// Why the file's last request failed, in words, when it knows (what
    /// `error/ID` shows its opener: a client's way to the reason behind
    /// an errno).
    fn reason(&self) -> Option<&str> {
        None
    }

    /// The answer to `op` that a guest scheme's `reply` gives (for
    /// requests this file [`Answer::Sent`]).
    fn reply_output(&self, op: &PendingOp, reply: Reply) -> Result<Output, Errno> {
        log::warn!("a reply {reply:?} to {op:?} on a file that sends no requests");
        Err(Errno::Io)
    }

    /// The file is closed (its pending requests are failed by the daemon).
    fn close(self: Box<Self>, _cx: &mut Context<'_>) {}
}

/// `len` bytes of `bytes` from `offset` on (fewer at the end).
pub(crate) fn slice_at(bytes: &[u8], offset: u64, len: usize) -> Vec<u8> {
    let start = usize::try_from(offset).unwrap_or(usize::MAX).min(bytes.len());
    bytes[start..start.saturating_add(len).min(bytes.len())].to_vec()
}
