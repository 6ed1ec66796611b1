//! Errors as a type ([`Errno`]) over the raw numbers of [`crate::errno`].

use crate::errno;

/// A hostcall error. Each variant is one Redox errno value; values this
/// library has no name for are kept in [`Errno::Other`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Errno {
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
    /// `EEXIST`: it exists already.
    Exists,
    /// `EISDIR`: a directory where a file was expected.
    IsADirectory,
    /// `ENOTDIR`: not a directory.
    NotADirectory,
    /// `EOPNOTSUPP`: the operation is not supported on this object.
    NotSupported,
    /// `E2BIG`: an argument list or message is too long.
    TooBig,
    /// `EBUSY`: it is busy.
    Busy,
    /// `ECANCELED`: the request was canceled.
    Canceled,
    /// `EMSGSIZE`: a message too long for the channel.
    MessageTooLong,
    /// `ENODEV`: the operation does not apply to this kind of object (e.g. `mmap` of a non-memory file).
    NoDevice,
    /// Any other errno value.
    Other(i32),
}

impl Errno {
    /// The error for a positive errno value.
    pub fn from_errno(value: i32) -> Errno {
        match value {
            errno::EPERM => Errno::PermissionDenied,
            errno::EACCES => Errno::AccessDenied,
            errno::ENOENT => Errno::NotFound,
            errno::ESRCH => Errno::NoSuchProcess,
            errno::ECHILD => Errno::NotAChild,
            errno::EIO => Errno::Io,
            errno::ENOEXEC => Errno::BadModule,
            errno::EBADF => Errno::BadHandle,
            errno::EAGAIN | errno::EWOULDBLOCK => Errno::WouldBlock,
            errno::ENOMEM => Errno::OutOfMemory,
            errno::EFAULT => Errno::BadAddress,
            errno::EINVAL => Errno::InvalidArgument,
            errno::EMFILE => Errno::TooManyHandles,
            errno::ENOSPC => Errno::NoSpace,
            errno::ERANGE => Errno::OutOfRange,
            errno::ENOSYS => Errno::NotImplemented,
            errno::ETIMEDOUT => Errno::TimedOut,
            errno::EPIPE => Errno::BrokenPipe,
            errno::EEXIST => Errno::Exists,
            errno::EISDIR => Errno::IsADirectory,
            errno::ENOTDIR => Errno::NotADirectory,
            errno::EOPNOTSUPP => Errno::NotSupported,
            errno::E2BIG => Errno::TooBig,
            errno::EBUSY => Errno::Busy,
            errno::ECANCELED => Errno::Canceled,
            errno::EMSGSIZE => Errno::MessageTooLong,
            errno::ENODEV => Errno::NoDevice,
            other => Errno::Other(other),
        }
    }

    /// The (positive) errno value of this error.
    pub fn errno(self) -> i32 {
        match self {
            Errno::PermissionDenied => errno::EPERM,
            Errno::AccessDenied => errno::EACCES,
            Errno::NotFound => errno::ENOENT,
            Errno::NoSuchProcess => errno::ESRCH,
            Errno::NotAChild => errno::ECHILD,
            Errno::Io => errno::EIO,
            Errno::BadModule => errno::ENOEXEC,
            Errno::BadHandle => errno::EBADF,
            Errno::WouldBlock => errno::EAGAIN,
            Errno::OutOfMemory => errno::ENOMEM,
            Errno::BadAddress => errno::EFAULT,
            Errno::InvalidArgument => errno::EINVAL,
            Errno::TooManyHandles => errno::EMFILE,
            Errno::NoSpace => errno::ENOSPC,
            Errno::OutOfRange => errno::ERANGE,
            Errno::NotImplemented => errno::ENOSYS,
            Errno::TimedOut => errno::ETIMEDOUT,
            Errno::BrokenPipe => errno::EPIPE,
            Errno::Exists => errno::EEXIST,
            Errno::IsADirectory => errno::EISDIR,
            Errno::NotADirectory => errno::ENOTDIR,
            Errno::NotSupported => errno::EOPNOTSUPP,
            Errno::TooBig => errno::E2BIG,
            Errno::Busy => errno::EBUSY,
            Errno::Canceled => errno::ECANCELED,
            Errno::MessageTooLong => errno::EMSGSIZE,
            Errno::NoDevice => errno::ENODEV,
            Errno::Other(v) => v,
        }
    }
}

impl core::fmt::Display for Errno {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let n = self.errno();
        write!(f, "{} (errno {n})", errno::describe(n))
    }
}

impl core::error::Error for Errno {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_roundtrip() {
        for v in 1..140 {
            let e = Errno::from_errno(v);
            if v != errno::EWOULDBLOCK {
                assert_eq!(e.errno(), v);
            }
        }
        assert_eq!(Errno::from_errno(errno::EAGAIN), Errno::WouldBlock);
        assert_eq!(Errno::from_errno(9999), Errno::Other(9999));
    }
}
