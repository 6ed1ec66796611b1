//! Syscalls: the hostcalls that need more than the caller's own store.
//!
//! Such a hostcall records a [`Syscall`] in its process's store data and
//! returns the [`KernelCall`] host error, which suspends the guest as a
//! resumable call. The manager then handles the syscall for its caller
//! (see [`crate::caller`]).

use std::sync::Arc;

use wasmd_abi::{Caps, Rights};

use crate::guest_buf::GuestBuf;
use crate::region::Region;
use crate::Pid;

/// A request a hostcall hands to the manager (see module docs).
#[derive(Debug)]
pub enum Syscall {
    /// `exit(code)`.
    Exit(i32),
    /// `yield()`.
    Yield,
    /// `sleep(nanos)`.
    Sleep(u64),
    /// `spawn(req)`, already decoded and copied out of guest memory.
    Spawn(SpawnCall),
    /// `wait(pid, buf)`; `buf` already checked to hold an exit status.
    Wait {
        /// Child pid, 0 for any.
        pid: Pid,
        /// Where to write the encoded status, if anywhere.
        buf: Option<GuestBuf>,
    },
    /// `kill(pid)`.
    Kill(Pid),
    /// `region_alloc(size)`, size rounded to pages and checked.
    RegionAlloc {
        /// Bytes.
        size: u64,
    },
    /// `region_share(handle, pid, rights)`.
    RegionShare {
        /// The region.
        region: Arc<Region>,
        /// The process it is shared with.
        pid: Pid,
        /// Rights it gets.
        rights: Rights,
    },
    /// `region_wait`, after the value matched; the manager checks it
    /// again under the futex table's lock as it queues the waiter (a
    /// notify from another scheduler thread may come in between).
    FutexWait {
        /// The region.
        region: Arc<Region>,
        /// Offset of the word.
        offset: u64,
        /// The value the caller saw.
        expected: u32,
        /// Timeout in nanoseconds; `None` waits for ever.
        timeout: Option<u64>,
    },
    /// An fs or socket operation.
    Io(crate::file::IoRequest),
    /// `scheme_next` found no request: park until one comes.
    SchemeWait {
        /// Scheme name.
        name: String,
        /// Guest buffer for the request.
        buf: GuestBuf,
    },
    /// `process_handle(pid)` (0: the caller).
    ProcessHandle(Pid),
    /// `send` to a full mailbox: park until there is room.
    SendWait {
        /// The mailbox.
        to: Arc<crate::mailbox::Mailbox>,
        /// The message, copied out of the caller's memory.
        message: Box<crate::mailbox::Message>,
    },
    /// `chan_bridge`: the channel of region `region` into channel `chan`
    /// of `node` (see `crate::remote`).
    Bridge {
        /// The local region's id.
        region: u64,
        /// The other node.
        node: String,
        /// Its channel there.
        chan: u64,
    },
    /// `send` through a handle of another node's process (see
    /// `crate::remote`).
    SendRemote {
        /// The process.
        to: crate::remote::RemotePid,
        /// The message's tag.
        tag: u64,
        /// Its payload, copied out of the caller's memory.
        data: Vec<u8>,
    },
    /// `receive` found nothing: park until a message the filter accepts.
    ReceiveWait {
        /// The tags it accepts.
        filter: crate::mailbox::Filter,
        /// Where the message goes.
        buf: GuestBuf,
        /// Nanoseconds to wait; `None` for ever.
        timeout: Option<u64>,
    },
    /// `link(pid)`.
    Link(Pid),
    /// `unlink(pid)`.
    Unlink(Pid),
    /// `monitor(pid)`.
    Monitor(Pid),
    /// `demonitor(reference)`.
    Demonitor(u64),
    /// `name_register`, `name_unregister`, `name_lookup`, `name_whereis`.
    Name(NameOp, String),
    /// `module_open(path)` or `module_load(bytes)` (never `Compiled`).
    ModuleOpen(SpawnModule),
    /// `reload(pid, path, flags)`: replace `pid`'s module with the one at
    /// `path` (see [`crate::reload`]).
    Reload {
        /// The process.
        pid: Pid,
        /// The new module's path, for the module loader.
        path: String,
        /// Refuse instead of waiting for a blocking call to return.
        nowait: bool,
    },
    /// `process_info(pid, buf, cap)`.
    Info {
        /// Target pid, 0 for the caller.
        pid: Pid,
        /// Reply buffer.
        buf: GuestBuf,
    },
}

/// What a name syscall does with its name.
#[derive(Debug, Clone, Copy)]
pub enum NameOp {
    /// Register the caller under it.
    Register,
    /// Remove the caller's registration.
    Unregister,
    /// A process handle to whoever holds it; its pid to this buffer.
    Lookup(Option<GuestBuf>),
    /// The pid of whoever holds it, here or on another node.
    Whereis,
}

/// An owned `spawn` request.
#[derive(Debug, Clone)]
pub struct SpawnCall {
    /// Module bytes, or a path to load.
    pub module: SpawnModule,
    /// Arguments.
    pub args: Vec<String>,
    /// Requested capabilities (`None` inherits).
    pub caps: Option<Caps>,
    /// Requested limits.
    pub limits: wasmd_abi::SpawnLimits,
    /// Regions passed to the child, with the rights it gets.
    pub grants: Vec<(Arc<Region>, Rights)>,
    /// The child's namespace grants; `None` inherits the caller's.
    pub namespace: Option<Vec<crate::namespace::Grant>>,
    /// Link or monitor the child before it runs (`spawn_with`).
    pub watch: SpawnWatch,
    /// The node of the cluster to spawn on (`spawn_on`; see
    /// [`crate::remote`]); `None` here.
    pub node: Option<String>,
}

/// What `spawn_with` sets up between the caller and its child before the
/// child runs.
#[derive(Debug, Clone, Copy, Default)]
pub struct SpawnWatch {
    /// Link them.
    pub link: bool,
    /// Monitor the child; the reference goes to this 8-byte buffer.
    pub monitor: Option<GuestBuf>,
}

/// Where a spawned module comes from.
#[derive(Debug, Clone)]
pub enum SpawnModule {
    /// Module bytes.
    Bytes(Vec<u8>),
    /// A path for the module loader.
    Path(String),
    /// A compiled module (from a module handle), and its file.
    Compiled(Arc<crate::module_cache::CompiledModule>, Option<std::path::PathBuf>),
}

/// The host error that suspends a guest so the manager can handle the
/// [`Syscall`] recorded in its [`ProcessState`].
#[derive(Debug, Clone, Copy)]
pub struct KernelCall;

impl std::fmt::Display for KernelCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("blocking hostcall outside a resumable call (e.g. in a start function)")
    }
}

impl wasmi::errors::HostError for KernelCall {}
