//! # wasmd-guest — the userland of wasmd guests
//!
//! A `no_std` + `alloc` library for Rust guests built for
//! `wasm32-unknown-unknown`. It provides the entry macro ([`main!`]), a
//! global allocator, a panic handler that reports to stderr and exits with
//! code 101, the [`print!`]/[`println!`]/[`eprintln!`] macros, and safe
//! wrappers for every hostcall of `wasmd-abi`, with errors as the
//! [`Error`] enum.
//!
//! ```ignore
//! #![no_std]
//! #![no_main]
//! use wasmd_guest::{println, process};
//! wasmd_guest::main!(main);
//! fn main() {
//!     println!("hello from pid {}", process::id());
//! }
//! ```
//!
//! Data flow: each wrapper encodes its arguments (scalars, or postcard for
//! structured requests), calls the raw import in [`sys`], and turns the
//! `i64` result into `Result<T, Error>` with [`error::check`].
#![no_std]

extern crate alloc;

pub mod channel;
pub mod env;
pub mod error;
pub mod fs;
pub mod io;
pub mod mailbox;
pub mod net;
pub mod process;
pub mod random;
pub mod region;
pub mod reload;
pub mod rt;
pub mod scheme;
pub mod supervisor;
pub mod sys;
pub mod time;
pub mod window;

pub use error::{Error, Result};
pub use wasmd_abi as abi;
