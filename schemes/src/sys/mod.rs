//! The OS backends. Everything OS-specific lives in `linux/` or
//! `redox.rs`; each provides the same small interface: `OsPlatform`, the
//! implementation of [`wasmhost::Platform`] for that system, and
//! `serve(daemon, ...)`, which serves the control tree (a Unix socket on
//! Linux, the `wasm` scheme on Redox) and runs the daemon's loop. The rest
//! of the crate is OS-neutral and is tested on Linux.

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
pub use linux::server::serve;
#[cfg(target_os = "linux")]
pub use linux::OsPlatform;

#[cfg(target_os = "redox")]
mod redox;
#[cfg(target_os = "redox")]
pub use redox::OsPlatform;

/// Serves the control tree: the `wasm` scheme (the socket path is a Linux
/// notion and is ignored on Redox).
#[cfg(target_os = "redox")]
pub fn serve(daemon: crate::control::Daemon, _socket: &std::path::Path) -> std::io::Result<()> {
    redox::server::serve(daemon)
}
