//! The OS backends. Everything OS-specific lives in `linux/` or
//! `redox/`; each provides the same small interface: `OsPlatform`, the
//! implementation of [`wasmhost::Platform`] for that system,
//! `serve(daemon, ...)`, which serves the control tree (a Unix socket on
//! Linux, the `wasm` scheme on Redox) and runs the daemon's loop, and
//! [`endpoint`], what the daemon serves, for messages. The rest of the
//! crate is OS-neutral and is tested on Linux; so is the part of the Redox
//! backend that handles requests apart from the socket (`redox::calls`,
//! compiled on Linux for its tests).

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
pub use linux::control_socket;
#[cfg(target_os = "linux")]
pub use linux::server::serve;
#[cfg(target_os = "linux")]
pub use linux::OsPlatform;

#[cfg(any(target_os = "redox", test))]
mod redox;
#[cfg(target_os = "redox")]
pub use redox::OsPlatform;

/// Serves the control tree: the `wasm` scheme (the socket path is a Linux
/// notion and is ignored on Redox).
#[cfg(target_os = "redox")]
pub fn serve(daemon: crate::control::Daemon, _socket: &std::path::Path) -> std::io::Result<()> {
    redox::server::serve(daemon)
}

/// What the daemon serves, for messages: the socket path on Linux, the
/// `wasm` scheme on Redox.
pub fn endpoint(socket: &std::path::Path) -> String {
    if cfg!(target_os = "redox") {
        "/scheme/wasm".to_string()
    } else {
        socket.display().to_string()
    }
}

/// The user this program runs as (whom `wasmd run` and the daemon's own
/// user act for).
#[cfg(target_os = "linux")]
pub fn current_owner() -> wasmhost::Owner {
    wasmhost::Owner { uid: rustix::process::getuid().as_raw(), gid: rustix::process::getgid().as_raw() }
}

/// The user this program runs as (whom `wasmd run` and the daemon's own
/// user act for).
#[cfg(target_os = "redox")]
pub fn current_owner() -> wasmhost::Owner {
    let id = |r: Result<usize, libredox::error::Error>| r.map_or(u32::MAX, |v| v as u32);
    wasmhost::Owner { uid: id(libredox::call::geteuid()), gid: id(libredox::call::getegid()) }
}

/// Bytes of physical memory, if the OS tells.
#[cfg(target_os = "linux")]
pub fn physical_memory() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kib: u64 = info
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:")?.trim().strip_suffix("kB")?.trim().parse().ok())?;
    Some(kib * 1024)
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

/// The daemon's default memory budget: three quarters of physical memory
/// (16 GiB when the OS does not tell).
pub fn default_memory_budget() -> u64 {
    physical_memory().map_or(16 << 30, |bytes| bytes / 4 * 3)
}
