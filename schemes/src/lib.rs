//! # wasmd — the WebAssembly process manager daemon for Redox
//!
//! This crate holds the `wasmd` binary and everything around the
//! OS-neutral process manager (`wasmhost`): the OS backends
//! ([`sys`], Linux and Redox), the module loader, terminal output and the
//! `run` command.

pub mod client;
pub mod control;
pub mod loader;
pub mod logger;
pub mod output;
pub mod protocol;
pub mod run;
pub mod sockets;
pub mod sys;
