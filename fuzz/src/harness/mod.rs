//! The bodies of the wasmd fuzz targets.
//!
//! Shared by the `cargo fuzz` targets (`fuzz/fuzz_targets/*.rs`, through
//! the `wasmd-fuzz` library) and by the regression test of the test crate
//! (`tests/tests/fuzz_regressions.rs`, which includes this very file with
//! `#[path]` and replays `tests/fuzz-regressions/TARGET/*` through it), so
//! a saved input runs the same code in CI as it did under the fuzzer.
//!
//! It only uses what both crates have: `wasmd`, `wasmhost`, `wasmd-abi`
//! and the standard library. Inputs are decoded with [`Input`], a byte
//! cursor that never fails (an exhausted input reads as zeros), so every
//! byte string is a valid program for every target.
//!
//! Besides "no panic, no hang", some targets check properties whose
//! failure is a bug too (each `assert!` says which): the framing of the
//! socket protocol gives the same messages whatever the chunking, every
//! guest-scheme request gets exactly one answer, every deferred request
//! of the control tree completes exactly once, and a native reader of a
//! channel sees every frame written after it joined, in order.
#![allow(dead_code)]

mod input;
#[macro_use]
mod common;
mod channel_ring;
mod guests;
mod hostcalls;
mod rig;
mod scheme_replies;
mod socket_protocol;
mod wasi_calls;

pub use channel_ring::*;
pub use common::*;
pub use guests::*;
pub use hostcalls::*;
pub use input::*;
pub use rig::*;
pub use scheme_replies::*;
pub use socket_protocol::*;
pub use wasi_calls::*;

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use wasmd::control::shared_memory::{ChanFile, HostRing};
use wasmd::control::{Caller, Daemon, Output, Policy, Poll};
use wasmd::loader::FsModuleLoader;
use wasmd::sys::linux::protocol::{self, ClientMsg, Reply as WireReply, Request, ServerMsg};
use wasmd::sys::linux::session::{self, Session};
use wasmd::sys::OsPlatform;
use wasmd_abi::hostcall;
use wasmd_abi::msg::{self, Grant, ModuleSource, SpawnRequest};
use wasmd_abi::scheme::{flags, DirEntry, SchemeOp, SchemeReply, SchemeRequest, SchemeResult, Stat};
use wasmd_abi::Errno;
use wasmd_abi::{Caps, Rights, SpawnLimits};
use wasmhost::guest_scheme::{Origin, Reply as SchemeAnswer, SchemeTable};
use wasmhost::region::{Region, RegionAccounting, SharedMemory};
use wasmhost::{
    CompiledModule, Limits, ManagerConfig, Owner, Pid, ProcessManager, RegionNotifier, SpawnOptions,
};
