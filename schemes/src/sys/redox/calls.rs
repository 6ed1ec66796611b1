//! The Redox scheme protocol apart from the socket: which daemon call each
//! kernel request is, and how its answer is written into the request.
//!
//! It uses only `redox_syscall`'s types (no socket, no relibc), so it is
//! compiled and tested on Linux too; `server.rs` moves requests between
//! the scheme sockets and this module.
//!
//! Data flow for one request:
//! 1. `server.rs` reads the fields of redox-scheme's `Op` into a [`Call`]
//!    (`StdFsCall`s, which this relibc uses for `fstat`, `getdents`,
//!    `fsync` and `ftruncate`, are decoded by [`Call::std_fs`]);
//! 2. [`run`] runs it against the [`Daemon`]; opens are answered at once
//!    ([`open`]), everything else may be [`Poll::Pending`] and complete
//!    later under its token;
//! 3. [`fill`] writes the [`Output`] into the request's buffer in Redox's
//!    layout (a `Stat`, packed directory entries, bytes) according to the
//!    request's [`Shape`], and gives the number the kernel returns.
//!
//! Rules kept here (each learnt inside a booted Redox, see
//! `redox-notes.md`): files are positioned — the kernel keeps the offset
//! and passes it with each read and write, and a write moves it, so no
//! answer may depend on the offset after a write (`spawn` keeps its own
//! cursor); a directory listing never returns 0 while entries remain (a
//! buffer too small for the next entry is `Errno::InvalidArgument`); counts and lengths
//! that come from guests never exceed what was asked.

use wasmd_abi::Errno;

use syscall::dirent::{DirEntry, DirentBuf, DirentHeader, DirentKind};
use syscall::flag::StdFsCallKind;

use crate::control::{Caller, Daemon, Output, Poll, Token};

/// The root handle of a guest scheme's socket (never a daemon file id:
/// those count up from 1).
pub const GUEST_ROOT: usize = usize::MAX / 2;

/// The scheme a request came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint<'a> {
    /// `wasm`, the control tree.
    Wasm,
    /// A guest-implemented scheme, by name.
    Guest(&'a str),
}

/// A kernel request, as the daemon runs it (opens apart, see [`open`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call<'a> {
    /// Remove `path`, relative to the open directory `dirfd`.
    Unlink {
        /// Directory handle.
        dirfd: usize,
        /// Path.
        path: &'a str,
        /// Redox flags.
        flags: u32,
    },
    /// Read into a buffer of `len` bytes.
    Read {
        /// File.
        fd: usize,
        /// The kernel's offset.
        offset: u64,
        /// Buffer length.
        len: usize,
        /// `O_NONBLOCK`: answer `Errno::WouldBlock` rather than wait.
        nonblock: bool,
    },
    /// Write `data`.
    Write {
        /// File.
        fd: usize,
        /// The kernel's offset.
        offset: u64,
        /// Bytes.
        data: &'a [u8],
        /// `O_NONBLOCK`.
        nonblock: bool,
    },
    /// File status into a `Stat`.
    Fstat {
        /// File.
        fd: usize,
    },
    /// File size (the kernel's `lseek(SEEK_END)`).
    Fsize {
        /// File.
        fd: usize,
    },
    /// The path the file was opened as.
    Fpath {
        /// File.
        fd: usize,
    },
    /// Directory entries from an opaque offset.
    Getdents {
        /// Directory.
        fd: usize,
        /// Opaque offset (0, or a `next_opaque_id` given before).
        offset: u64,
        /// The size of the entry header the caller expects.
        header_size: u16,
    },
    /// Resize.
    Ftruncate {
        /// File.
        fd: usize,
        /// New length.
        len: u64,
    },
    /// Flush.
    Fsync {
        /// File.
        fd: usize,
    },
    /// Refused at once with this errno.
    Refused(Errno),
}

/// How a request's answer is written back: what its buffer holds and what
/// number the kernel returns. Derived from the [`Call`] when it arrives
/// and kept with the request while it waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Bytes copied into the buffer (at most its length); returns the count.
    Bytes,
    /// Returns a count of bytes written, never more than `asked`.
    Count {
        /// What the caller wrote.
        asked: usize,
    },
    /// A Redox `Stat` in the buffer; returns 0.
    Stat,
    /// Returns the file size.
    Size,
    /// Packed directory entries with headers of `header_size` bytes;
    /// returns the bytes used.
    Dirents {
        /// Header size the caller expects.
        header_size: u16,
    },
    /// Returns 0.
    Zero,
}

impl<'a> Call<'a> {
    /// Decodes a `StdFsCall` on `fd`: `metadata[0]` is the call kind
    /// (`StdFsCallKind`), `metadata[1]` and `metadata[2]` its arguments
    /// (for `getdents`: the opaque offset and the entry header size; for
    /// `ftruncate`: the length); `payload_len` is the length of the buffer
    /// to fill.
    pub fn std_fs(fd: usize, metadata: &[u64], payload_len: usize) -> Call<'static> {
        let arg = |i: usize| metadata.get(i).copied().unwrap_or(0);
        match StdFsCallKind::try_from_raw(arg(0) as u8) {
            Some(StdFsCallKind::Fstat) if payload_len == size_of::<syscall::Stat>() => Call::Fstat { fd },
            Some(StdFsCallKind::Fstat) => Call::Refused(Errno::InvalidArgument),
            Some(StdFsCallKind::Getdents) => match u16::try_from(arg(2)) {
                Ok(header_size) if usize::from(header_size) >= size_of::<DirentHeader>() => {
                    Call::Getdents { fd, offset: arg(1), header_size }
                }
                _ => Call::Refused(Errno::InvalidArgument),
            },
            Some(StdFsCallKind::Fsync) => Call::Fsync { fd },
            Some(StdFsCallKind::Ftruncate) => Call::Ftruncate { fd, len: arg(1) },
            _ => Call::Refused(Errno::NotSupported),
        }
    }

    /// How this call's answer is written back.
    pub fn shape(&self) -> Shape {
        match self {
            Call::Read { .. } | Call::Fpath { .. } => Shape::Bytes,
            Call::Write { data, .. } => Shape::Count { asked: data.len() },
            Call::Fstat { .. } => Shape::Stat,
            Call::Fsize { .. } => Shape::Size,
            Call::Getdents { header_size, .. } => Shape::Dirents { header_size: *header_size },
            Call::Unlink { .. } | Call::Ftruncate { .. } | Call::Fsync { .. } | Call::Refused(_) => {
                Shape::Zero
            }
        }
    }
}

/// Opens `path` relative to `dirfd` on `endpoint` for `caller` (the uid
/// and gid the kernel gives the request); always answered at once (a
/// pending open would stall every open in the system). Returns the new
/// file id.
pub fn open(
    daemon: &mut Daemon,
    endpoint: Endpoint<'_>,
    dirfd: usize,
    path: &str,
    flags: u32,
    caller: Caller,
) -> Result<u64, Errno> {
    match endpoint {
        Endpoint::Guest(name) if dirfd == GUEST_ROOT => daemon.open_scheme(name, path, flags),
        // Below a directory of a guest scheme opened through its own name,
        // or anywhere in the `wasm` tree.
        _ => {
            let path = daemon.path_at(dirfd as u64, path);
            daemon.open(&path, flags, caller)
        }
    }
}

/// Runs `call` against the daemon; [`Poll::Pending`] answers come later as
/// completions with `token`.
pub fn run(daemon: &mut Daemon, endpoint: Endpoint<'_>, call: &Call<'_>, token: Token) -> Poll<Output> {
    match *call {
        Call::Unlink { dirfd, path, flags } => match endpoint {
            Endpoint::Guest(name) if dirfd == GUEST_ROOT => daemon.unlink_scheme(name, path, flags, token),
            _ => {
                let path = daemon.path_at(dirfd as u64, path);
                daemon.unlink(&path, flags, token)
            }
        }
        .map_ok(|()| Output::Done),
        Call::Read { fd, offset, len, nonblock } => {
            daemon.read(fd as u64, offset, len, nonblock, token).map_ok(Output::Data)
        }
        Call::Write { fd, offset, data, nonblock } => {
            daemon.write(fd as u64, offset, data, nonblock, token).map_ok(Output::Count)
        }
        Call::Fstat { fd } | Call::Fsize { fd } => daemon.fstat(fd as u64, token).map_ok(Output::Stat),
        Call::Fpath { fd } => daemon.fpath(fd as u64, token).map_ok(Output::Path),
        Call::Getdents { fd, offset, .. } => {
            daemon.getdents(fd as u64, offset, token).map_ok(Output::Entries)
        }
        Call::Ftruncate { fd, len } => daemon.ftruncate(fd as u64, len, token).map_ok(|()| Output::Done),
        Call::Fsync { fd } => daemon.fsync(fd as u64, token).map_ok(|()| Output::Done),
        Call::Refused(errno) => Poll::Ready(Err(errno)),
    }
}

/// Writes an answer into the request's buffer `buf` as `shape` says and
/// returns what the kernel returns to the caller. An answer of the wrong
/// kind for the request is `Errno::Io`.
pub fn fill(shape: Shape, answer: Result<Output, Errno>, buf: &mut [u8]) -> Result<usize, Errno> {
    match (shape, answer?) {
        (Shape::Bytes, Output::Data(data)) if data.len() <= buf.len() => Ok(copy(buf, &data)),
        (Shape::Bytes, Output::Path(path)) => Ok(copy(buf, path.as_bytes())),
        // A count beyond what was written is a lie (a guest provider's):
        // never pass it on.
        (Shape::Count { asked }, Output::Count(n)) if n <= asked => Ok(n),
        (Shape::Count { .. }, Output::Count(_)) => Err(Errno::Io),
        (Shape::Stat, Output::Stat(stat)) => write_stat(buf, &stat),
        (Shape::Size, Output::Stat(stat)) => usize::try_from(stat.size).map_err(|_| Errno::Io),
        (Shape::Dirents { header_size }, Output::Entries(entries)) => {
            write_dirents(buf, header_size, &entries)
        }
        (Shape::Zero, Output::Done) => Ok(0),
        _ => Err(Errno::Io),
    }
}

/// Copies as much of `data` as fits; returns the count.
fn copy(buf: &mut [u8], data: &[u8]) -> usize {
    let n = buf.len().min(data.len());
    buf[..n].copy_from_slice(&data[..n]);
    n
}

/// A Redox `Stat` into `buf` (which must be exactly its size).
fn write_stat(buf: &mut [u8], stat: &wasmd_abi::scheme::Stat) -> Result<usize, Errno> {
    let redox = syscall::Stat {
        st_ino: stat.ino,
        st_mode: stat.mode,
        st_nlink: stat.nlink,
        st_size: stat.size,
        st_blksize: 4096,
        st_blocks: stat.size.div_ceil(512),
        st_mtime: stat.mtime,
        ..Default::default()
    };
    if buf.len() != redox.len() {
        return Err(Errno::InvalidArgument);
    }
    buf.copy_from_slice(&redox);
    Ok(0)
}

/// Packs as many entries as fit into `buf`; returns the bytes used. When
/// entries remain but not even the first fits, `Errno::InvalidArgument` (0 would mean the
/// end of the directory).
fn write_dirents(
    buf: &mut [u8],
    header_size: u16,
    entries: &[crate::control::Entry],
) -> Result<usize, Errno> {
    let mut out = DirentBuf::new(buf, header_size).ok_or(Errno::InvalidArgument)?;
    let mut written = 0;
    for e in entries {
        let kind = DirentKind::try_from_raw(e.kind).unwrap_or(DirentKind::Unspecified);
        let entry = DirEntry { inode: 0, next_opaque_id: e.next, name: &e.name, kind };
        if out.entry(entry).is_err() {
            break;
        }
        written += 1;
    }
    if written == 0 && !entries.is_empty() {
        return Err(Errno::InvalidArgument);
    }
    Ok(out.finalize())
}

#[cfg(test)]
mod tests;
