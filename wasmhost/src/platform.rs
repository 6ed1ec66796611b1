//! What the process manager needs from the operating system.
//!
//! `wasmhost` makes no OS calls of its own: the embedder (the `wasmd`
//! crate, with `sys/linux.rs` or `sys/redox.rs`) hands it a [`Platform`]
//! for the few things that differ between systems (random bytes, shared
//! memory for regions), a [`ModuleLoader`]
//! that reads module files (always called on a worker thread, never on the
//! scheduler thread, as Redox requires), and an [`OutputSink`] that sees
//! guest output as it is written.

use std::path::{Path, PathBuf};

use wasmd_abi::ExitStatus;

use crate::region::SharedMemory;
use crate::Pid;

/// OS services the process manager uses.
pub trait Platform: Send + Sync + 'static {
    /// Fills `buf` with OS random bytes; on failure returns an errno.
    fn random(&self, buf: &mut [u8]) -> Result<(), i32>;

    /// Creates `size` bytes (a whole number of pages) of OS shared memory,
    /// mapped read-write and shared, zero-filled. Called on a worker
    /// thread (on Redox this opens a path).
    fn create_shared_memory(&self, size: usize) -> Result<Box<dyn SharedMemory>, i32>;
}

/// A module file that was read.
#[derive(Debug)]
pub struct LoadedModule {
    /// The file's bytes (binary wasm or WAT text).
    pub bytes: Vec<u8>,
    /// The resolved path, recorded as the process's module path (used to
    /// resolve relative paths of the modules it spawns).
    pub path: PathBuf,
}

/// Why a module file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot load module `{path}`: {reason}")]
pub struct LoadError {
    /// The path as requested.
    pub path: String,
    /// What went wrong.
    pub reason: String,
    /// The errno a guest receives.
    pub errno: i32,
}

/// Reads module files named by guests (`spawn` by path) and the control
/// plane. Called on a worker thread.
pub trait ModuleLoader: Send + Sync + 'static {
    /// Resolves `path` (relative paths against `base_dir`, the directory
    /// of the requesting process's own module) and reads it, or refuses.
    fn load(&self, base_dir: Option<&Path>, path: &str) -> Result<LoadedModule, LoadError>;
}

/// Receives guest output and exits as they happen (e.g. the CLI streams
/// them to its terminal; the daemon wakes readers of `run/` files).
pub trait OutputSink: Send + Sync + 'static {
    /// `bytes` were written by `pid` to `stream` (1 stdout, 2 stderr).
    fn output(&self, pid: Pid, stream: i32, bytes: &[u8]);
    /// `pid` ended with `status`.
    fn exited(&self, _pid: Pid, _status: &ExitStatus) {}
}

/// An output sink that discards everything (output stays in the logs).
#[derive(Debug, Default)]
pub struct NoOutput;

impl OutputSink for NoOutput {
    fn output(&self, _pid: Pid, _stream: i32, _bytes: &[u8]) {}
}
