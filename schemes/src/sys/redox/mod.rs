//! The Redox backend.
//!
//! - [`calls`]: the scheme protocol apart from the socket — which daemon
//!   call each kernel request is and how its answer is written back.
//!   OS-neutral, so it is compiled and tested on Linux as well.
//! - `server`: the scheme sockets (`wasm` and one per guest scheme) and
//!   the event loop ([`serve`]); `registrar`: the thread that names guest
//!   schemes in the namespace; `wake`: the wake-up pipe and the timer;
//!   `faults`: how the loop lives with its own calls failing (OS-neutral).
//! - `platform`: [`OsPlatform`], shared memory as `/scheme/shm` objects;
//!   `virtual_memory`: the address space guests' memories live in.
//! - `files`: guests' OS files (the listing by path behind
//!   [`crate::host_files`]); `poller`: the event queue behind
//!   [`crate::poller`].
//! - `client`: the client commands, on the files under `/scheme/wasm`.

pub mod calls;
#[cfg(target_os = "redox")]
mod client;
#[cfg_attr(not(target_os = "redox"), allow(dead_code))]
mod faults;
#[cfg(target_os = "redox")]
mod files;
#[cfg(target_os = "redox")]
mod platform;
#[cfg(target_os = "redox")]
mod poller;
#[cfg(target_os = "redox")]
mod registrar;
#[cfg(target_os = "redox")]
mod server;
#[cfg(target_os = "redox")]
mod virtual_memory;
#[cfg(target_os = "redox")]
mod wake;

#[cfg(target_os = "redox")]
pub use client::Client;
#[cfg(target_os = "redox")]
pub use platform::OsPlatform;
#[cfg(target_os = "redox")]
pub use server::serve;

/// A `redox_syscall` error as an I/O error.
#[cfg(target_os = "redox")]
fn io(e: syscall::error::Error) -> std::io::Error {
    std::io::Error::from_raw_os_error(e.errno)
}

/// A `libredox` error as an I/O error.
#[cfg(target_os = "redox")]
fn lio(e: libredox::error::Error) -> std::io::Error {
    std::io::Error::from_raw_os_error(e.errno())
}

/// The `wasm` scheme's path (Redox has no control socket).
#[cfg(target_os = "redox")]
pub(crate) fn endpoint(_config: &crate::sys::Config) -> String {
    "/scheme/wasm".to_string()
}

/// See the Linux backend's: on Redox a write to a closed pipe fails with
/// `EPIPE` and the client commands report it (not done here: relibc's
/// signal setup for a Rust program is not something this backend tested).
#[cfg(target_os = "redox")]
pub fn end_on_closed_pipe() {}

/// Redox has no poll for a closed pipe's writer: a closed output is found
/// at the next write.
#[cfg(target_os = "redox")]
pub fn on_stdout_closed(_closed: impl FnOnce() + Send + 'static) {}

/// The user this program runs as (whom `wasmd run` and the daemon's own
/// user act for).
#[cfg(target_os = "redox")]
pub fn current_owner() -> wasmhost::Owner {
    let id = |r: Result<usize, libredox::error::Error>| r.map_or(u32::MAX, |v| v as u32);
    wasmhost::Owner { uid: id(libredox::call::geteuid()), gid: id(libredox::call::getegid()) }
}

/// Bytes of physical memory, if the OS tells (the `memory` scheme's
/// `fstatvfs`). Opens a path: start-up only.
#[cfg(target_os = "redox")]
pub fn physical_memory() -> Option<u64> {
    let fd =
        libredox::Fd::open("/scheme/memory", libredox::flag::O_RDONLY | libredox::flag::O_CLOEXEC, 0).ok()?;
    let stat = fd.statvfs().ok()?;
    Some(stat.f_bsize.saturating_mul(stat.f_blocks))
}
