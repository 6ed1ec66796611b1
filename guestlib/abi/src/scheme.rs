//! Scheme operations, as guest scheme providers receive and answer them,
//! and as the `wasm` control tree serves them.
//!
//! The operation set and all numbers follow Redox: open flags are Redox
//! `O_*` values ([`flags`]), modes Redox `MODE_*` ([`mode`]), directory
//! entry kinds Redox `DirentKind` ([`kind`]). Reads and writes are
//! positioned (`offset`), as Redox schemes see them: the kernel keeps file
//! positions. A provider names each open file by an id of its choosing.
//!
//! A provider receives a [`SchemeRequest`] from the `scheme_next` hostcall
//! and answers with a [`SchemeReply`] through `scheme_reply`, matching the
//! request's `tag` (replies may come in any order). The expected result
//! per operation:
//!
//! | op | result |
//! |---|---|
//! | `Open` | `Value(id)` |
//! | `Read` | `Data(bytes)` (empty at end of file) |
//! | `Write` | `Value(bytes written)` |
//! | `Fstat` | `Stat` |
//! | `Fsize` | `Value(size)` |
//! | `Fpath` | `Data(path bytes, without the scheme)` |
//! | `Getdents` | `Dirents` starting at the opaque `offset` (empty at the end) |
//! | `Ftruncate`, `Fsync`, `Unlink` | `Value(0)` |
//! | `Close` | no reply is expected (one is ignored) |
//!
//! Any operation may be answered with `Error(errno)`.
//!
//! Bytes: see [`crate::msg`] for the postcard rules. `SchemeOp` variants
//! are numbered in the order listed below (0 `Open` … 10 `Unlink`);
//! `SchemeResult` variants 0 `Value`, 1 `Data`, 2 `Stat`, 3 `Dirents`,
//! 4 `Error`.

use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

/// Open flags (Redox values).
pub mod flags {
    /// Read only.
    pub const O_RDONLY: u32 = 0x0001_0000;
    /// Write only.
    pub const O_WRONLY: u32 = 0x0002_0000;
    /// Read and write.
    pub const O_RDWR: u32 = 0x0003_0000;
    /// Access mode mask.
    pub const O_ACCMODE: u32 = O_RDONLY | O_WRONLY | O_RDWR;
    /// Non-blocking I/O.
    pub const O_NONBLOCK: u32 = 0x0004_0000;
    /// Append.
    pub const O_APPEND: u32 = 0x0008_0000;
    /// Create if missing.
    pub const O_CREAT: u32 = 0x0200_0000;
    /// Truncate.
    pub const O_TRUNC: u32 = 0x0400_0000;
    /// Fail if it exists (with `O_CREAT`).
    pub const O_EXCL: u32 = 0x0800_0000;
    /// Must be (or, with `O_CREAT`, create) a directory.
    pub const O_DIRECTORY: u32 = 0x1000_0000;
    /// Open for `fstat` only.
    pub const O_STAT: u32 = 0x2000_0000;
    /// Do not follow a symbolic link as the last component (`ELOOP`
    /// when it is one).
    pub const O_NOFOLLOW: u32 = 0x8000_0000;
}

/// Mode bits (Redox values).
pub mod mode {
    /// Type mask.
    pub const MODE_TYPE: u16 = 0xF000;
    /// Directory.
    pub const MODE_DIR: u16 = 0x4000;
    /// Regular file.
    pub const MODE_FILE: u16 = 0x8000;
    /// Character device (streams such as `run/` files).
    pub const MODE_CHR: u16 = 0x2000;
}

/// Directory entry kinds (Redox `DirentKind`).
pub mod kind {
    /// Unknown.
    pub const UNSPECIFIED: u8 = 0;
    /// Directory.
    pub const DIRECTORY: u8 = 4;
    /// Regular file.
    pub const REGULAR: u8 = 8;
    /// Character device.
    pub const CHAR_DEV: u8 = 2;
    /// Symbolic link.
    pub const SYMLINK: u8 = 10;
}

/// File status.
///
/// Bytes: `mode` varint, `size` varint, `ino` varint, `nlink` varint,
/// `mtime` varint (seconds since the epoch).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stat {
    /// Type and permission bits ([`mode`]).
    pub mode: u16,
    /// Size in bytes.
    pub size: u64,
    /// Inode number (any stable number).
    pub ino: u64,
    /// Links.
    pub nlink: u32,
    /// Modification time, seconds since the epoch.
    pub mtime: u64,
}

/// A directory entry.
///
/// Bytes: `ino` varint, `next` varint, `kind` byte, `name` string.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirEntry<'a> {
    /// Inode number.
    pub ino: u64,
    /// Opaque offset of the entry after this one (pass it to the next
    /// `Getdents`).
    pub next: u64,
    /// Kind ([`kind`]).
    pub kind: u8,
    /// Name.
    #[serde(borrow)]
    pub name: &'a str,
}

/// An operation on a scheme.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SchemeOp<'a> {
    /// Open `path` (relative to the scheme root, no leading `/`).
    Open {
        /// Path.
        path: &'a str,
        /// Redox `O_*` flags.
        flags: u32,
    },
    /// Read up to `len` bytes at `offset`.
    Read {
        /// File id.
        id: u64,
        /// Position.
        offset: u64,
        /// Most bytes.
        len: u32,
    },
    /// Write `data` at `offset`.
    Write {
        /// File id.
        id: u64,
        /// Position.
        offset: u64,
        /// Bytes.
        #[serde(borrow)]
        data: &'a [u8],
    },
    /// File status.
    Fstat {
        /// File id.
        id: u64,
    },
    /// File size.
    Fsize {
        /// File id.
        id: u64,
    },
    /// The path the file was opened as.
    Fpath {
        /// File id.
        id: u64,
    },
    /// Directory entries from an opaque offset.
    Getdents {
        /// File id.
        id: u64,
        /// Opaque offset (0 for the first entry).
        offset: u64,
    },
    /// Resize.
    Ftruncate {
        /// File id.
        id: u64,
        /// New length.
        len: u64,
    },
    /// Flush.
    Fsync {
        /// File id.
        id: u64,
    },
    /// The file id is no longer used.
    Close {
        /// File id.
        id: u64,
    },
    /// Remove `path`.
    Unlink {
        /// Path.
        path: &'a str,
        /// Redox flags (`O_DIRECTORY`-like bit for directories: 0x1000_0000).
        flags: u32,
    },
}

/// A request to a provider.
///
/// Bytes: `tag` varint, `caller` varint (the requesting guest's pid, 0 for
/// native programs and the control tree), `op` ([`SchemeOp`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemeRequest<'a> {
    /// Matches the reply to the request.
    pub tag: u64,
    /// The requesting guest's pid, or 0.
    pub caller: u32,
    /// The operation.
    #[serde(borrow)]
    pub op: SchemeOp<'a>,
}

/// The outcome of an operation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SchemeResult<'a> {
    /// A number (id, count, size, or 0).
    Value(u64),
    /// Bytes.
    #[serde(borrow)]
    Data(&'a [u8]),
    /// A status.
    Stat(Stat),
    /// Directory entries.
    #[serde(borrow)]
    Dirents(Vec<DirEntry<'a>>),
    /// Failure, a Redox errno.
    Error(i32),
}

/// A provider's answer.
///
/// Bytes: `tag` varint, `result` ([`SchemeResult`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemeReply<'a> {
    /// The request's tag.
    pub tag: u64,
    /// The outcome.
    #[serde(borrow)]
    pub result: SchemeResult<'a>,
}
