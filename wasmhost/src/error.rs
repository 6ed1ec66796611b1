//! Errors of the process manager's API (spawning, control). Errors that a
//! guest sees are errno values (`wasmd_abi::errno`); each error here maps
//! to one with `errno()`. Traps that end a process are not errors here:
//! they become its `ExitStatus`.

use wasmd_abi::Errno;

use crate::platform::LoadError;

/// Why a process could not be spawned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpawnError {
    /// The bytes are not a valid wasm module (or WAT text).
    #[error("not a valid wasm module: {0}")]
    InvalidModule(String),
    /// The module imports something wasmd does not provide.
    #[error("module imports unknown function `{module}::{name}`")]
    UnknownImport {
        /// Import module name.
        module: String,
        /// Import field name.
        name: String,
    },
    /// No exported `_start: () -> ()`.
    #[error("module has no exported `_start` function taking and returning nothing")]
    NoEntry,
    /// Instantiation failed (e.g. a hostcall imported with the wrong type).
    #[error("cannot instantiate module: {0}")]
    Instantiate(String),
    /// The module file could not be read.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// Capabilities or limits beyond the parent's.
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    /// The process table, the parent's children or the tree is full.
    #[error("too many processes")]
    TooManyProcesses,
    /// The daemon's memory budget is spent.
    #[error("the daemon's memory budget is spent")]
    OutOfMemory,
}

impl SpawnError {
    /// The errno a guest receives for this error.
    pub fn errno(&self) -> Errno {
        match self {
            SpawnError::InvalidModule(_) | SpawnError::UnknownImport { .. } | SpawnError::NoEntry => {
                Errno::BadModule
            }
            SpawnError::Instantiate(_) => Errno::BadModule,
            SpawnError::Load(e) => e.errno,
            SpawnError::PermissionDenied(_) => Errno::PermissionDenied,
            SpawnError::TooManyProcesses => Errno::WouldBlock,
            SpawnError::OutOfMemory => Errno::OutOfMemory,
        }
    }
}

/// Errors of control operations on existing processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    /// No such process (or it already exited).
    #[error("no such process")]
    NoSuchProcess,
    /// The operation does not apply in the process's state.
    #[error("operation not valid in the process's state")]
    InvalidState,
}

impl ControlError {
    /// The errno for this error.
    pub fn errno(&self) -> Errno {
        match self {
            ControlError::NoSuchProcess => Errno::NoSuchProcess,
            ControlError::InvalidState => Errno::InvalidArgument,
        }
    }
}
