//! Guests' OS files (what a `file:` open gives), written once for both
//! OSes over std's [`File`]: positioned reads and writes, status, the
//! directory listing, and the rule that only regular files and
//! directories are opened ([`regular_or_dir`]).
//!
//! Where a path is resolved and how it is confined is the backend's
//! (Linux: `openat2` beneath the file root; Redox: the real root, with
//! symbolic links below a grant refused), and so is the one thing that
//! differs for an open file: how a directory is listed ([`DirListing`]).
//! Linux lists the open descriptor (it was opened beneath the file root
//! and has no path to name it by); Redox lists by path.
//!
//! Errors are the OS's errno values (`Errno::Io` when there is none).

use wasmd_abi::Errno;

use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt};

use wasmd_abi::scheme::{kind, Stat};
use wasmhost::HostFile;

/// The errno of an I/O error (`Errno::Io` when the OS gave none).
pub fn errno(e: std::io::Error) -> Errno {
    e.raw_os_error().map_or(Errno::Io, Errno::from_errno)
}

/// How an OS lists an open directory.
pub trait DirListing: std::fmt::Debug + Send + Sync + 'static {
    /// The names and kinds ([`kind`]) of the directory's entries, in any
    /// order, without `.` and `..`.
    fn entries(&self, dir: &File) -> Result<Vec<(String, u8)>, Errno>;
}

/// The entry kind ([`kind`]) of a file type.
pub fn entry_kind(file_type: std::fs::FileType) -> u8 {
    if file_type.is_dir() {
        kind::DIRECTORY
    } else if file_type.is_file() {
        kind::REGULAR
    } else {
        kind::UNSPECIFIED
    }
}

/// `Ok` for a regular file or a directory; a FIFO, a device or a socket
/// is refused (`Errno::AccessDenied`). Callers open without blocking first, so a FIFO
/// with no other end cannot hold an I/O thread before this check.
pub fn regular_or_dir(file: &File) -> Result<(), Errno> {
    let file_type = file.metadata().map_err(errno)?.file_type();
    if file_type.is_file() || file_type.is_dir() {
        Ok(())
    } else {
        Err(Errno::AccessDenied)
    }
}

/// An open OS file of a guest.
#[derive(Debug)]
pub struct OsFile<L> {
    file: File,
    listing: L,
}

impl<L: DirListing> OsFile<L> {
    /// A file opened (and checked with [`regular_or_dir`]) by the
    /// backend, listed with `listing` if it is a directory.
    pub fn new(file: File, listing: L) -> OsFile<L> {
        OsFile { file, listing }
    }
}

impl<L: DirListing> HostFile for OsFile<L> {
    fn read_at(&self, offset: u64, len: usize) -> Result<Vec<u8>, Errno> {
        let mut buf = vec![0u8; len];
        let n = self.file.read_at(&mut buf, offset).map_err(errno)?;
        buf.truncate(n);
        Ok(buf)
    }

    fn write_at(&self, offset: u64, data: &[u8]) -> Result<usize, Errno> {
        self.file.write_at(data, offset).map_err(errno)
    }

    fn stat(&self) -> Result<Stat, Errno> {
        let m = self.file.metadata().map_err(errno)?;
        Ok(Stat {
            mode: m.mode() as u16,
            size: m.len(),
            ino: m.ino(),
            nlink: m.nlink() as u32,
            mtime: m.mtime() as u64,
        })
    }

    fn entries(&self) -> Result<Vec<(String, u8)>, Errno> {
        let mut out = self.listing.entries(&self.file)?;
        out.sort();
        Ok(out)
    }
}
