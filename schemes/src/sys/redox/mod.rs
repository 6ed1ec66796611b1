//! The Redox backend.
//!
//! - [`calls`]: the scheme protocol apart from the socket — which daemon
//!   call each kernel request is and how its answer is written back.
//!   OS-neutral, so it is compiled and tested on Linux as well.
//! - `server`: the scheme sockets (`wasm` and one per guest scheme), the
//!   event loop, the registrar thread.
//! - `platform`: [`OsPlatform`], shared memory as `/scheme/shm` objects.
//! - `files`, `poller`: guests' OS files and sockets.

pub mod calls;
#[cfg(target_os = "redox")]
mod files;
#[cfg(target_os = "redox")]
mod platform;
#[cfg(target_os = "redox")]
mod poller;
#[cfg(target_os = "redox")]
pub mod server;

#[cfg(target_os = "redox")]
pub use platform::OsPlatform;
