//! The OS backends. Everything OS-specific lives in `linux.rs` or
//! `redox.rs`; both provide `OsPlatform`, the implementation of
//! [`wasmhost::Platform`] for that system. The rest of the crate is
//! OS-neutral and is tested on Linux.

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
pub use linux::OsPlatform;

#[cfg(target_os = "redox")]
mod redox;
#[cfg(target_os = "redox")]
pub use redox::OsPlatform;
