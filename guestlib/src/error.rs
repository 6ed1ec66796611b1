//! Errors returned by hostcalls, as a Rust enum built from `-errno`.

use wasmd_abi::errno;

/// A hostcall error. Each variant is one Redox errno value; values this
/// library has no name for are kept in [`Error::Other`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// `EPERM`: a capability or right is missing.
    PermissionDenied,
    /// `EACCES`: a namespace grant forbids it.
    AccessDenied,
    /// `ENOENT`: no such file or entry.
    NotFound,
    /// `ESRCH`: no such process.
    NoSuchProcess,
    /// `ECHILD`: not a child of the caller.
    NotAChild,
    /// `EIO`: I/O error.
    Io,
    /// `ENOEXEC`: not a valid wasm module.
    BadModule,
    /// `EBADF`: bad handle.
    BadHandle,
    /// `EAGAIN` / `EWOULDBLOCK`: would block.
    WouldBlock,
    /// `ENOMEM`: out of memory.
    OutOfMemory,
    /// `EFAULT`: a pointer or length outside guest memory.
    BadAddress,
    /// `EINVAL`: invalid argument.
    InvalidArgument,
    /// `EMFILE`: handle table full.
    TooManyHandles,
    /// `ENOSPC`: a limit is reached.
    NoSpace,
    /// `ERANGE`: out of range.
    OutOfRange,
    /// `ENOSYS`: not implemented.
    NotImplemented,
    /// `ETIMEDOUT`: timed out.
    TimedOut,
    /// `EPIPE`: the other side is gone.
    BrokenPipe,
    /// Any other errno value.
    Other(i32),
}

impl Error {
    /// The error for a positive errno value.
    pub fn from_errno(value: i32) -> Error {
        match value {
            errno::EPERM => Error::PermissionDenied,
            errno::EACCES => Error::AccessDenied,
            errno::ENOENT => Error::NotFound,
            errno::ESRCH => Error::NoSuchProcess,
            errno::ECHILD => Error::NotAChild,
            errno::EIO => Error::Io,
            errno::ENOEXEC => Error::BadModule,
            errno::EBADF => Error::BadHandle,
            errno::EAGAIN | errno::EWOULDBLOCK => Error::WouldBlock,
            errno::ENOMEM => Error::OutOfMemory,
            errno::EFAULT => Error::BadAddress,
            errno::EINVAL => Error::InvalidArgument,
            errno::EMFILE => Error::TooManyHandles,
            errno::ENOSPC => Error::NoSpace,
            errno::ERANGE => Error::OutOfRange,
            errno::ENOSYS => Error::NotImplemented,
            errno::ETIMEDOUT => Error::TimedOut,
            errno::EPIPE => Error::BrokenPipe,
            other => Error::Other(other),
        }
    }

    /// The (positive) errno value of this error.
    pub fn errno(self) -> i32 {
        match self {
            Error::PermissionDenied => errno::EPERM,
            Error::AccessDenied => errno::EACCES,
            Error::NotFound => errno::ENOENT,
            Error::NoSuchProcess => errno::ESRCH,
            Error::NotAChild => errno::ECHILD,
            Error::Io => errno::EIO,
            Error::BadModule => errno::ENOEXEC,
            Error::BadHandle => errno::EBADF,
            Error::WouldBlock => errno::EAGAIN,
            Error::OutOfMemory => errno::ENOMEM,
            Error::BadAddress => errno::EFAULT,
            Error::InvalidArgument => errno::EINVAL,
            Error::TooManyHandles => errno::EMFILE,
            Error::NoSpace => errno::ENOSPC,
            Error::OutOfRange => errno::ERANGE,
            Error::NotImplemented => errno::ENOSYS,
            Error::TimedOut => errno::ETIMEDOUT,
            Error::BrokenPipe => errno::EPIPE,
            Error::Other(v) => v,
        }
    }
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let n = self.errno();
        write!(f, "{} (errno {n})", errno::describe(n))
    }
}

impl core::error::Error for Error {}

/// A hostcall result.
pub type Result<T> = core::result::Result<T, Error>;

/// Turns a raw hostcall return value into a result.
#[inline]
pub fn check(ret: i64) -> Result<u64> {
    if ret < 0 {
        Err(Error::from_errno(i32::try_from(ret.unsigned_abs()).unwrap_or(i32::MAX)))
    } else {
        Ok(ret as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_roundtrip() {
        for v in 1..140 {
            let e = Error::from_errno(v);
            if v != errno::EWOULDBLOCK {
                assert_eq!(e.errno(), v);
            }
        }
        assert_eq!(check(-1), Err(Error::PermissionDenied));
        assert_eq!(check(5), Ok(5));
        assert_eq!(check(i64::MIN), Err(Error::Other(i32::MAX)));
    }
}
