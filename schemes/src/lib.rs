//! # wasmd — the WebAssembly process manager daemon for Redox
//!
//! This crate holds the `wasmd` binary and everything around the
//! OS-neutral process manager (`wasmhost`): the control tree
//! ([`control`]), the OS backends ([`sys`], Linux and Redox: everything
//! that knows which OS it runs on, the Linux control socket, its protocol
//! and client included), what both backends share ([`host_files`],
//! [`poller`], [`sockets`]), the module loader, terminal output, the
//! `run` command and the command line ([`cli`]).

pub mod cli;
pub mod client;
pub mod cluster;
pub mod control;
pub mod host_files;
pub mod loader;
pub mod logger;
pub mod output;
pub mod poller;
mod ring;
pub mod run;
pub mod sockets;
pub mod sys;
