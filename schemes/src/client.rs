//! What the client commands (`wasmd ps`, `status`, `kill`, `spawn`,
//! `cat`, `ls`, `write`) report when they fail. The connection itself is
//! OS-specific: [`crate::sys::Client`] (Linux: the control socket; Redox:
//! the files under `/scheme/wasm`).

use wasmd_abi::errno;

/// A client error: the daemon refused (errno), or the connection failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The daemon answered with an errno.
    #[error("{}", errno::describe(*.0))]
    Errno(i32),
    /// The connection failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The daemon answered something unexpected.
    #[error("unexpected answer from the daemon")]
    Protocol,
}
