//! Open files and the I/O requests on them: what an fs or socket
//! hostcall asks the manager for ([`IoRequest`], decoded and checked by
//! the hostcall), and what a file handle in a process's handle table
//! holds ([`FileHandle`]: where the file lives and the positions in it).
//! The `io` service carries the requests out.

use std::sync::Arc;

use wasmd_abi::scheme::flags;

use crate::guest_buf::GuestBuf;
use crate::namespace::GrantedPath;
use crate::platform::HostFile;

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
    pub listing: Option<Arc<Vec<(String, u8)>>>,
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
    /// Read at the handle's position into guest memory.
    Read {
        /// Handle.
        handle: u32,
        /// Guest buffer (at most [`MAX_IO`] bytes).
        buf: GuestBuf,
    },
    /// Write at the handle's position.
    Write {
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
    },
    /// Next directory entries into a guest buffer.
    Getdents {
        /// Handle.
        handle: u32,
        /// Guest buffer.
        buf: GuestBuf,
    },
    /// Remove a path.
    Unlink {
        /// The path.
        path: GrantedPath,
    },
    /// Create a directory.
    Mkdir {
        /// The path.
        path: GrantedPath,
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

fn is_write(open_flags: u32) -> bool {
    let acc = open_flags & flags::O_ACCMODE;
    acc == flags::O_WRONLY || acc == flags::O_RDWR || open_flags & (flags::O_CREAT | flags::O_TRUNC) != 0
}

/// True when opening with `flags` needs a read-write grant.
pub fn open_needs_write(open_flags: u32) -> bool {
    is_write(open_flags)
}
