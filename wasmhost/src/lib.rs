//! # wasmhost — the wasmd process manager core
//!
//! Guests are processes: one wasmi `Store` and instance each, a capability
//! set, limits, a stdout/stderr log and an exit status. This crate is
//! OS-neutral: what it needs from the system comes through [`Platform`],
//! [`ModuleLoader`] and [`OutputSink`].
//!
//! Main types and data flow:
//! - [`ModuleCache`] compiles module bytes once (content-addressed) and
//!   checks their imports and entry point.
//! - [`ProcessManager`] owns the process table (a generational slab keyed
//!   by pid) and spawns processes from compiled modules; a [`Kernel`]
//!   runs them on a pool of scheduler threads with fuel-metered time
//!   slices and per-thread run queues with stealing ([`Scheduler`]), or
//!   the embedder runs them on its own thread ([`ProcessManager::run`]).
//! - Hostcalls run inside a guest's call on its own store; the ones that
//!   need more become syscalls that suspend the guest. The manager
//!   handles each for its caller (pid and store; the record stays in the
//!   table) through a service — spawn, regions, fs/net I/O, guest
//!   schemes — and resumes the guest at once, or parks it until a timer,
//!   a child's exit, a futex wake, or a continuation (a worker job, the
//!   socket poller or a scheme provider's reply) ends the wait.
//! - Exited processes keep their log and status until reaped by `wait`.
//!
//! Modules are layered: each names only those below it (records and
//! tables; the manager's core; lifecycle, waits, admission and the region
//! directory; the narrow context services get; services; syscall
//! dispatch; turns; the kernel), so there are no import circles.

mod admission;
mod arena;
mod caller;
mod children;
mod context;
mod continuation;
mod counters;
mod dispatch;
mod error;
mod file;
mod futex;
mod guest_buf;
pub mod guest_scheme;
mod handles;
mod hostcalls;
mod instantiate;
mod kernel;
mod lifecycle;
pub mod limits;
mod links;
mod log;
mod mailbox;
mod manager;
mod memory_import;
mod module_cache;
mod names;
pub mod namespace;
mod owner;
mod platform;
mod process;
pub mod region;
mod region_directory;
mod reload;
mod remote;
mod scheduler;
mod services;
pub mod stdin;
mod syscall;
mod table;
#[cfg(test)]
mod testing;
mod trim;
mod turn;
mod waits;
pub mod wasi;
pub mod worker;

/// A process id (never 0).
pub type Pid = u32;

pub use arena::ArenaStats;
pub use children::Children;
pub use counters::Activity;
pub use error::{ControlError, FuncSignature, ImportMismatch, SpawnError};
pub use futex::NativeWake;
pub use guest_buf::GuestBuf;
pub use handles::MAX_HANDLES;
pub use hostcalls::BYTES_PER_FUEL;
pub use kernel::{Kernel, KernelGuard, KernelHandle, KernelStats};
pub use limits::Limits;
pub use log::{LogRing, ProcessLog};
pub use manager::{Deadlock, ManagerConfig, ProcessManager, RegionNotifier};
pub use module_cache::{CompiledModule, ModuleCache, MODULES_PER_GENERATION};
pub use names::check_name;
pub use owner::Owner;
pub use platform::{
    FileIdentity, FileStatus, HostFile, HostSocket, Listed, LoadError, LoadedModule, ModuleLoader, NewTime,
    NoOutput, OutputSink, Platform, VirtualMemory,
};
pub use process::{Process, Sched};
pub use region_directory::RegionWatcher;
pub use reload::{ReloadError, ReloadTicket, STATE_FUEL};
pub use remote::{
    is_remote, NoticeWaker, RemoteNotice, RemoteOp, RemotePid, RemoteSpawn, MAX_QUEUED_SENDS, MAX_STAND_INS,
    REMOTE_PID_BASE,
};
pub use scheduler::Scheduler;
pub use services::spawn::{LoadResult, SpawnOptions};
pub use stdin::StdinPipe;
pub use trim::TRIM_AFTER;
pub use wasmd_abi::{Caps, ExitStatus, ProcessInfo, RunState};
