//! # wasmd-abi — the contract between wasmd and its guests
//!
//! This `no_std` crate is the single source of truth for the hostcall ABI:
//! hostcall names and signatures ([`hostcall`]), message payloads byte for
//! byte ([`msg`]), capability and rights bits ([`caps`]) and error numbers
//! ([`errno`], Redox numbering; [`Errno`] as a type). The host (`wasmhost`) and the Rust guest
//! library (`wasmd-guest`) both build on it; a guest in another language
//! can be written from its documentation alone. Golden-bytes tests pin
//! every message encoding.
#![no_std]

extern crate alloc;

pub mod caps;
pub mod errno;
pub mod error;
pub mod hostcall;
pub mod mailbox;
pub mod msg;
pub mod scheme;

pub use caps::{Caps, Rights};
pub use error::Errno;
pub use msg::{ExitStatus, Grant, ModuleSource, ProcessInfo, RunState, SpawnLimits, SpawnRequest};
