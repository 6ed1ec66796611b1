//! Open files and the I/O requests on them: what an fs or socket
//! hostcall asks the manager for ([`IoRequest`], decoded and checked by
//! the hostcall), and what a file handle in a process's handle table
//! holds ([`FileHandle`]: where the file lives and the positions in it).
//! The `io` service carries the requests out.

use std::sync::Arc;

use wasmd_abi::scheme::flags;

use crate::guest_buf::GuestBuf;
use crate::namespace::GrantedPath;
use crate::platform::{HostFile, Listed, NewTime};

/// Most bytes one read or receive returns.
pub const MAX_IO: usize = 1 << 20;

/// Where an open file lives.
#[derive(Debug, Clone)]
pub enum FileTarget {
    /// A file of a guest scheme: the provider's id.
    Guest {
        /// Scheme name.
        scheme: String,
        /// Provider's file id.
        id: u64,
    },
    /// An OS file.
    Host(Arc<dyn HostFile>),
}

/// An open file in a handle table.
#[derive(Debug, Clone)]
pub struct FileHandle {
    /// Where it lives.
    pub target: FileTarget,
    /// Read/write position.
    pub pos: u64,
    /// Directory position (entries returned so far).
    pub dir_pos: u64,
    /// An OS directory's entries, read once when listing starts and paged
    /// from here (reading the whole directory for every page made a big
    /// listing quadratic).
    pub listing: Option<Arc<Vec<Listed>>>,
}

/// What an fs or socket hostcall asks for.
#[derive(Debug, Clone)]
pub enum IoRequest {
    /// Open a path (grants already checked).
    Open {
        /// The path.
        path: GrantedPath,
        /// Redox flags.
        flags: u32,
    },
    /// Read into guest memory at the handle's position (which moves), or
    /// at offset `at` (which leaves it).
    Read {
        /// Handle.
        handle: u32,
        /// Guest buffer (at most [`MAX_IO`] bytes).
        buf: GuestBuf,
        /// A positional read's offset.
        at: Option<u64>,
    },
    /// Write at the handle's position (which moves), or at offset `at`.
    Write {
        /// Handle.
        handle: u32,
        /// Bytes.
        data: Vec<u8>,
        /// A positional write's offset.
        at: Option<u64>,
    },
    /// Wait until one of `sources` is ready or `timeout` (nanoseconds)
    /// passed: the value is the ready source's index + 1, 0 at the
    /// timeout (`poll_oneoff`).
    WaitReady {
        /// What to wait for.
        sources: Vec<ReadySource>,
        /// Most nanoseconds to wait (`None`: no limit).
        timeout: Option<u64>,
    },
    /// Read the process's standard input into guest memory.
    ReadStdin {
        /// Guest buffer (at most [`MAX_IO`] bytes).
        buf: GuestBuf,
    },
    /// Write at the file's end (a descriptor in append mode); the
    /// position moves to the end of what was written.
    Append {
        /// Handle.
        handle: u32,
        /// Bytes.
        data: Vec<u8>,
    },
    /// Seek relative to the end.
    SeekEnd {
        /// Handle.
        handle: u32,
        /// Offset from the end.
        offset: i64,
    },
    /// Status into a guest buffer.
    Fstat {
        /// Handle.
        handle: u32,
        /// Guest buffer.
        buf: GuestBuf,
        /// How it is encoded.
        format: Format,
    },
    /// Next directory entries into a guest buffer.
    Getdents {
        /// Handle.
        handle: u32,
        /// Guest buffer.
        buf: GuestBuf,
        /// How they are encoded, and from where.
        format: Format,
    },
    /// WASI `dirent`s of the directory at a path, from entry `cookie`
    /// (a preopened directory has no handle to list).
    ListPath {
        /// The directory.
        path: GrantedPath,
        /// Guest buffer.
        buf: GuestBuf,
        /// The entry to start at.
        cookie: u64,
    },
    /// Remove a path.
    Unlink {
        /// The path.
        path: GrantedPath,
        /// What it must be.
        kind: Removes,
    },
    /// Create a directory.
    Mkdir {
        /// The path.
        path: GrantedPath,
    },
    /// The status of a path (a WASI `filestat` into the guest buffer).
    Status {
        /// The path.
        path: GrantedPath,
        /// Guest buffer.
        buf: GuestBuf,
        /// Follow a symbolic link at the path.
        follow: bool,
    },
    /// Rename a path.
    Rename {
        /// What.
        from: GrantedPath,
        /// To where.
        to: GrantedPath,
    },
    /// Make a hard link.
    Link {
        /// The existing path.
        from: GrantedPath,
        /// The new one.
        to: GrantedPath,
    },
    /// Make a symbolic link.
    Symlink {
        /// Its text.
        target: String,
        /// Where.
        at: GrantedPath,
    },
    /// Read a symbolic link's text into guest memory (cut to the buffer).
    Readlink {
        /// The link.
        path: GrantedPath,
        /// Guest buffer.
        buf: GuestBuf,
    },
    /// Set a file's access and modification times.
    SetTimes {
        /// Whose.
        of: TimesOf,
        /// New access time (`None`: kept).
        atime: Option<NewTime>,
        /// New modification time (`None`: kept).
        mtime: Option<NewTime>,
    },
    /// Truncate or extend an open file.
    SetLen {
        /// Handle.
        handle: u32,
        /// New length.
        len: u64,
    },
    /// Make sure a range of an open file exists.
    Allocate {
        /// Handle.
        handle: u32,
        /// Start.
        offset: u64,
        /// Bytes.
        len: u64,
    },
    /// Shut a socket down.
    Shutdown {
        /// Socket handle.
        handle: u32,
        /// Its reading side.
        read: bool,
        /// Its writing side.
        write: bool,
    },
    /// Flush an open file to storage.
    Sync {
        /// Handle.
        handle: u32,
        /// Its data only.
        data_only: bool,
    },
    /// Connect a socket.
    Connect {
        /// `tcp` or `udp`, and `HOST:PORT`.
        path: GrantedPath,
    },
    /// Listen (TCP) or bind (UDP).
    Listen {
        /// `tcp` or `udp`, and `HOST:PORT`.
        path: GrantedPath,
    },
    /// Accept a connection.
    Accept {
        /// Listening socket handle.
        handle: u32,
    },
    /// Send bytes.
    Send {
        /// Socket handle.
        handle: u32,
        /// Bytes.
        data: Vec<u8>,
    },
    /// Receive into guest memory.
    Recv {
        /// Socket handle.
        handle: u32,
        /// Guest buffer (at most [`MAX_IO`] bytes).
        buf: GuestBuf,
    },
}

/// The encoding of a status or a directory listing in guest memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// wasmd's ABI: postcard `Stat`, pages of `DirEntry` from the
    /// handle's directory position.
    Native,
    /// WASI preview 1: a `filestat`; `dirent`s from entry `cookie` on
    /// (`.` and `..` first), the last one cut at the buffer's end.
    Wasi {
        /// The entry to start at (0 for a status).
        cookie: u64,
    },
}

/// Something [`IoRequest::WaitReady`] waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadySource {
    /// Standard input has data or has ended.
    Stdin,
    /// A socket is readable (or writable).
    Socket {
        /// Socket handle.
        handle: u32,
        /// Wait to write rather than to read.
        writable: bool,
    },
}

/// Whose times [`IoRequest::SetTimes`] sets.
#[derive(Debug, Clone)]
pub enum TimesOf {
    /// An open file's.
    Handle(u32),
    /// A path's (with `follow`, what a link there leads to).
    Path(GrantedPath, bool),
}

/// What an unlink may remove.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removes {
    /// A file or an empty directory (wasmd's `fs_unlink`).
    Any,
    /// Only a file (`EISDIR` for a directory).
    File,
    /// Only an empty directory (`ENOTDIR` for a file).
    Dir,
}

fn is_write(open_flags: u32) -> bool {
    let acc = open_flags & flags::O_ACCMODE;
    acc == flags::O_WRONLY || acc == flags::O_RDWR || open_flags & (flags::O_CREAT | flags::O_TRUNC) != 0
}

/// True when opening with `flags` needs a read-write grant.
pub fn open_needs_write(open_flags: u32) -> bool {
    is_write(open_flags)
}
