//! Guests' OS files (what a `file:` open gives), written once for both
//! OSes over std's [`File`]: positioned reads and writes, status, the
//! directory listing, and the rule that only regular files and
//! directories are opened ([`regular_or_dir`]).
//!
//! Where a path is resolved and how it is confined is the backend's
//! (Linux: `openat2` beneath the file root; Redox: the real root, with
//! symbolic links below a grant refused), and so is the one thing that
//! differs for an open file: how a directory is listed and how its times
//! are set ([`FileOps`]).
//! Linux lists the open descriptor (it was opened beneath the file root
//! and has no path to name it by); Redox lists by path.
//!
//! Errors are the OS's errno values (`Errno::Io` when there is none).

use wasmd_abi::Errno;

use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt};

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use wasmd_abi::scheme::{kind, Stat};
use wasmhost::{FileStatus, HostFile, Listed, NewTime};

/// The errno of an I/O error (`Errno::Io` when the OS gave none).
pub fn errno(e: std::io::Error) -> Errno {
    e.raw_os_error().map_or(Errno::Io, Errno::from_errno)
}

/// What differs between OSes for an open file.
pub trait FileOps: std::fmt::Debug + Send + Sync + 'static {
    /// The names and kinds ([`kind`]) of the directory's entries, in any
    /// order, without `.` and `..`.
    fn entries(&self, dir: &File) -> Result<Vec<Listed>, Errno>;

    /// Sets the access and modification times of `file` (`None` leaves
    /// one as it is).
    fn set_times(&self, file: &File, atime: Option<NewTime>, mtime: Option<NewTime>) -> Result<(), Errno> {
        let mut times = std::fs::FileTimes::new();
        if let Some(t) = atime {
            times = times.set_accessed(system_time(t));
        }
        if let Some(t) = mtime {
            times = times.set_modified(system_time(t));
        }
        file.set_times(times).map_err(errno)
    }
}

/// The entry kind ([`kind`]) of a file type.
pub fn entry_kind(file_type: std::fs::FileType) -> u8 {
    if file_type.is_dir() {
        kind::DIRECTORY
    } else if file_type.is_file() {
        kind::REGULAR
    } else if file_type.is_symlink() {
        kind::SYMLINK
    } else {
        kind::UNSPECIFIED
    }
}

/// The status of a file's metadata: device and nanosecond times too.
pub fn status_of(m: &std::fs::Metadata) -> FileStatus {
    let ns = |s: i64, n: i64| (s.max(0) as u64).saturating_mul(1_000_000_000).saturating_add(n.max(0) as u64);
    FileStatus {
        stat: Stat {
            mode: m.mode() as u16,
            size: m.len(),
            ino: m.ino(),
            nlink: m.nlink() as u32,
            mtime: m.mtime() as u64,
        },
        dev: m.dev(),
        atime_ns: ns(m.atime(), m.atime_nsec()),
        mtime_ns: ns(m.mtime(), m.mtime_nsec()),
        ctime_ns: ns(m.ctime(), m.ctime_nsec()),
    }
}

/// The `SystemTime` of a time to set.
pub fn system_time(t: NewTime) -> SystemTime {
    match t {
        NewTime::Now => SystemTime::now(),
        NewTime::At(ns) => UNIX_EPOCH + Duration::from_nanos(ns),
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

impl<L: FileOps> OsFile<L> {
    /// A file opened (and checked with [`regular_or_dir`]) by the
    /// backend, listed with `listing` if it is a directory.
    pub fn new(file: File, listing: L) -> OsFile<L> {
        OsFile { file, listing }
    }
}

impl<L: FileOps> HostFile for OsFile<L> {
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
        self.status().map(|s| s.stat)
    }

    fn status(&self) -> Result<FileStatus, Errno> {
        self.file.metadata().map(|m| status_of(&m)).map_err(errno)
    }

    fn set_len(&self, len: u64) -> Result<(), Errno> {
        self.file.set_len(len).map_err(errno)
    }

    fn sync(&self, data_only: bool) -> Result<(), Errno> {
        if data_only { self.file.sync_data() } else { self.file.sync_all() }.map_err(errno)
    }

    fn set_times(&self, atime: Option<NewTime>, mtime: Option<NewTime>) -> Result<(), Errno> {
        self.listing.set_times(&self.file, atime, mtime)
    }

    fn entries(&self) -> Result<Vec<Listed>, Errno> {
        let mut out = self.listing.entries(&self.file)?;
        out.sort();
        Ok(out)
    }
}
