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
