//! # wasmhost — the wasmd process manager core
//!
//! Guests are processes: one wasmi `Store` and instance each, a capability
//! set, limits, a stdout/stderr log and an exit status. This crate is
//! OS-neutral: what it needs from the system comes through the traits in
//! [`platform`].
//!
//! Main types and data flow:
//! - [`ModuleCache`] compiles module bytes once (content-addressed) and
//!   checks their imports and entry point.
//! - [`ProcessManager`] spawns processes from compiled modules and runs
//!   them on one scheduler thread with fuel-metered time slices
//!   ([`Scheduler`]); it owns the process table.
//! - Hostcalls ([`hostcalls`]) run inside a guest's call; the ones that
//!   need the process table become [`process::Syscall`]s that suspend the
//!   guest and are handled by the manager ([`syscalls`]), which resumes
//!   the guest at once or parks it until a timer, child exit or worker
//!   job ([`worker`]) completes.
//! - Exited processes keep their log and status until reaped by `wait`.

mod continuation;
pub mod error;
pub mod futex;
pub mod guest_buf;
pub mod guest_scheme;
pub mod handles;
pub mod hostcalls;
pub mod io;
mod kernel;
mod lifecycle;
pub mod limits;
pub mod log;
pub mod manager;
pub mod module_cache;
pub mod namespace;
pub mod platform;
pub mod process;
pub mod region;
pub mod scheduler;
pub mod syscalls;
mod table;
mod turn;
pub mod worker;

/// A process id (never 0).
pub type Pid = u32;

pub use error::{ControlError, SpawnError};
pub use guest_buf::GuestBuf;
pub use kernel::{Kernel, KernelGuard, KernelStats};
pub use limits::Limits;
pub use manager::{Deadlock, LoadResult, ManagerConfig, Owner, ProcessManager, RegionNotifier, SpawnOptions};
pub use module_cache::{CompiledModule, ModuleCache};
pub use platform::{
    HostFile, HostSocket, LoadError, LoadedModule, ModuleLoader, NoOutput, OutputSink, Platform,
};
pub use scheduler::Scheduler;
pub use wasmd_abi::{Caps, ExitStatus, ProcessInfo, RunState};
