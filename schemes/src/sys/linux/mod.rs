//! The Linux backend (the embedded backend used for development, tests
//! and benchmarks).
//!
//! - [`server`]: `wasmd daemon`'s control socket and event loop
//!   ([`serve`]); `connection` and [`session`]: one client's buffers and
//!   requests; [`control_socket`]: where the socket is and who may be at
//!   its ends; [`protocol`]: the wire format; [`client`]: the client
//!   commands' side.
//! - [`platform`]: [`OsPlatform`], regions as memfds; `virtual_memory`:
//!   the address space guests' memories live in; [`hostio`]: guests'
//!   `file:` paths beneath the file root, TCP connects, the epoll
//!   readiness queue behind [`crate::poller`]; `allocator`: mimalloc as
//!   the global allocator.

mod allocator;
pub mod client;
mod connection;
pub mod control_socket;
pub mod hostio;
mod latency;
pub mod platform;
pub mod protocol;
pub mod server;
pub mod session;
mod virtual_memory;

pub use client::Client;
pub use platform::OsPlatform;
pub use server::serve;

use crate::sys::Config;

/// The socket's path (see [`control_socket::path`]).
pub(crate) fn endpoint(config: &Config) -> String {
    control_socket::path(config).display().to_string()
}

/// Lets a closed output pipe end this process as it ends any Unix tool
/// (`wasmd ls | head -1`: killed by `SIGPIPE`, quietly, status 141),
/// instead of failing the write (Rust ignores `SIGPIPE`). For client
/// commands only: the daemon must live on when a client goes away, and
/// `run`/`cat` of a guest close their pipe themselves (killing the guest
/// and exiting 141).
pub fn end_on_closed_pipe() {
    // SAFETY: setting the disposition of SIGPIPE to its default touches no
    // memory of this program; called before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Calls `closed` (once, from a thread of its own) when this process's
/// stdout is a pipe whose reader went away, even while nothing is written
/// to it: `wasmd run X | head -1` ends when `head` does, not at the next
/// write of a guest that has gone quiet.
pub fn on_stdout_closed(closed: impl FnOnce() + Send + 'static) {
    let spawned = std::thread::Builder::new().name("stdout-watch".into()).spawn(move || {
        let stdout = std::io::stdout();
        let mut fds = [rustix::event::PollFd::new(&stdout, rustix::event::PollFlags::empty())];
        loop {
            match rustix::event::poll(&mut fds, None) {
                Ok(_) => {
                    let seen = fds[0].revents();
                    if seen.intersects(rustix::event::PollFlags::ERR | rustix::event::PollFlags::HUP) {
                        closed();
                        return;
                    }
                    if seen.contains(rustix::event::PollFlags::NVAL) {
                        return;
                    }
                }
                Err(rustix::io::Errno::INTR) => {}
                Err(_) => return,
            }
        }
    });
    drop(spawned);
}

/// The user this program runs as (whom `wasmd run` and the daemon's own
/// user act for).
pub fn current_owner() -> wasmhost::Owner {
    wasmhost::Owner { uid: rustix::process::getuid().as_raw(), gid: rustix::process::getgid().as_raw() }
}

/// Bytes of physical memory, if the OS tells.
pub fn physical_memory() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kib: u64 = info
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:")?.trim().strip_suffix("kB")?.trim().parse().ok())?;
    Some(kib * 1024)
}
