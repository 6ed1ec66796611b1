//! Error numbers, Redox numbering.
//!
//! Every hostcall returns an `i64`: `>= 0` is success, `< 0` is `-errno`
//! with these values. They are Redox's own numbers (`syscall::error`), so
//! they travel unchanged between guests, guest-implemented schemes and the
//! Redox kernel. A test checks each value against `redox_syscall`.

/// Operation not permitted: a capability or right is missing.
pub const EPERM: i32 = 1;
/// No such file, module or entry.
pub const ENOENT: i32 = 2;
/// No such process.
pub const ESRCH: i32 = 3;
/// Interrupted.
pub const EINTR: i32 = 4;
/// I/O error; also a guest scheme provider that died with requests in flight.
pub const EIO: i32 = 5;
/// Argument list too long.
pub const E2BIG: i32 = 7;
/// Not a valid module (exec format error).
pub const ENOEXEC: i32 = 8;
/// Bad handle.
pub const EBADF: i32 = 9;
/// Not a child of the caller, or no child to wait for.
pub const ECHILD: i32 = 10;
/// Try again (non-blocking operation would block).
pub const EAGAIN: i32 = 11;
/// Out of memory.
pub const ENOMEM: i32 = 12;
/// Permission denied by a namespace grant.
pub const EACCES: i32 = 13;
/// A guest pointer or length lies outside the guest's memory.
pub const EFAULT: i32 = 14;
/// Busy.
pub const EBUSY: i32 = 16;
/// Already exists.
pub const EEXIST: i32 = 17;
/// No such device (e.g. `mmap` of a file that cannot be mapped).
pub const ENODEV: i32 = 19;
/// Not a directory.
pub const ENOTDIR: i32 = 20;
/// Is a directory.
pub const EISDIR: i32 = 21;
/// Invalid argument, including undecodable postcard payloads.
pub const EINVAL: i32 = 22;
/// Handle table full.
pub const EMFILE: i32 = 24;
/// No space (a region or global limit is reached).
pub const ENOSPC: i32 = 28;
/// Illegal seek.
pub const ESPIPE: i32 = 29;
/// Broken pipe: the other side is gone.
pub const EPIPE: i32 = 32;
/// Out of range: an offset or a result does not fit.
pub const ERANGE: i32 = 34;
/// Name too long.
pub const ENAMETOOLONG: i32 = 36;
/// Unknown hostcall or operation.
pub const ENOSYS: i32 = 38;
/// Directory not empty.
pub const ENOTEMPTY: i32 = 39;
/// Operation would block (Redox's scheme blocking convention).
pub const EWOULDBLOCK: i32 = 41;
/// Message too long.
pub const EMSGSIZE: i32 = 90;
/// Operation not supported.
pub const EOPNOTSUPP: i32 = 95;
/// Address in use.
pub const EADDRINUSE: i32 = 98;
/// Connection reset.
pub const ECONNRESET: i32 = 104;
/// Not connected.
pub const ENOTCONN: i32 = 107;
/// Timed out.
pub const ETIMEDOUT: i32 = 110;
/// Connection refused.
pub const ECONNREFUSED: i32 = 111;
/// Cancelled.
pub const ECANCELED: i32 = 125;

/// A short description of an errno value, for messages.
pub fn describe(errno: i32) -> &'static str {
    match errno {
        EPERM => "operation not permitted",
        ENOENT => "no such file or entry",
        ESRCH => "no such process",
        EINTR => "interrupted",
        EIO => "I/O error",
        E2BIG => "argument list too long",
        ENOEXEC => "not a valid wasm module",
        EBADF => "bad handle",
        ECHILD => "no such child process",
        EAGAIN => "try again",
        ENOMEM => "out of memory",
        EACCES => "permission denied",
        EFAULT => "bad address",
        EBUSY => "busy",
        EEXIST => "already exists",
        ENODEV => "no such device",
        ENOTDIR => "not a directory",
        EISDIR => "is a directory",
        EINVAL => "invalid argument",
        EMFILE => "too many handles",
        ENOSPC => "no space left",
        ESPIPE => "illegal seek",
        EPIPE => "broken pipe",
        ERANGE => "out of range",
        ENAMETOOLONG => "name too long",
        ENOSYS => "not implemented",
        ENOTEMPTY => "directory not empty",
        EWOULDBLOCK => "operation would block",
        EMSGSIZE => "message too long",
        EOPNOTSUPP => "operation not supported",
        EADDRINUSE => "address in use",
        ECONNRESET => "connection reset",
        ENOTCONN => "not connected",
        ETIMEDOUT => "timed out",
        ECONNREFUSED => "connection refused",
        ECANCELED => "cancelled",
        _ => "unknown error",
    }
}
