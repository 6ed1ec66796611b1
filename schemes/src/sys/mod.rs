//! The OS backends. Everything OS-specific lives in `linux/` or
//! `redox/`; each provides the same small interface, re-exported here:
//!
//! - [`OsPlatform`], the implementation of [`wasmhost::Platform`] for
//!   that system (random bytes, shared memory, guests' files and
//!   sockets);
//! - [`serve`]`(daemon, &`[`Config`]`)`, which serves the control tree
//!   (a Unix socket on Linux, the `wasm` scheme on Redox) and runs the
//!   daemon's loop;
//! - [`Client`], what the client commands (`wasmd ps`, `cat`, ...) talk
//!   to the daemon through (the socket on Linux, the files under
//!   `/scheme/wasm` on Redox);
//! - [`current_owner`] and [`physical_memory`].
//!
//! What both backends share is written once outside `sys`: guests'
//! sockets ([`crate::sockets`]), guests' OS files ([`crate::host_files`])
//! and the readiness thread for guest sockets ([`crate::poller`]), each
//! with its OS-specific part behind a small trait or function that the
//! backend supplies. The rest of the crate is OS-neutral and is tested on
//! Linux; so is the part of the Redox backend that handles requests apart
//! from the socket (`redox::calls`, compiled on Linux for its tests).

use std::path::PathBuf;

#[cfg(target_os = "linux")]
pub mod linux;
#[cfg(target_os = "linux")]
use linux as os;

#[cfg(any(target_os = "redox", test))]
mod redox;
#[cfg(target_os = "redox")]
use redox as os;

pub use os::{
    current_owner, end_on_closed_pipe, on_stdout_closed, physical_memory, serve, Client, OsPlatform,
};

/// What a frontend needs to serve the control tree, and a client to
/// reach it. The scheme's name is not in it: the control tree's own
/// paths (`fpath`, `/scheme/wasm/...`) name it `wasm`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    /// The Linux control socket (`--socket`); `None`: `$WASMD_SOCKET`,
    /// else `$XDG_RUNTIME_DIR/wasmd.sock`, else
    /// `/tmp/wasmd-UID/wasmd.sock`. Redox serves the `wasm` scheme and
    /// has no socket: it is ignored there.
    pub socket: Option<PathBuf>,
}

impl Config {
    /// A configuration with the control socket at `path`.
    pub fn with_socket(path: impl Into<PathBuf>) -> Config {
        Config { socket: Some(path.into()) }
    }

    /// What the daemon serves, for messages: the socket's path on Linux,
    /// `/scheme/wasm` on Redox.
    pub fn endpoint(&self) -> String {
        os::endpoint(self)
    }
}

/// The daemon's default memory budget: three quarters of physical memory
/// (16 GiB when the OS does not tell).
pub fn default_memory_budget() -> u64 {
    physical_memory().map_or(16 << 30, |bytes| bytes / 4 * 3)
}

/// What the daemon logs once it serves: `listening on ENDPOINT (N
/// workers)`.
pub(crate) fn listening(endpoint: &str, workers: usize) -> String {
    let plural = if workers == 1 { "" } else { "s" };
    format!("listening on {endpoint} ({workers} worker{plural})")
}
