//! Guests' OS files on Redox: opened through std with Redox `O_*` flags
//! (on worker threads: opening a path must never happen on the serving
//! thread), kept as a [`crate::host_files::OsFile`] listed by its path.

use wasmd_abi::Errno;

use std::fs::File;
use std::sync::Arc;

use wasmd_abi::scheme::{flags, kind};
use wasmhost::{HostFile, Listed, NewTime};

use crate::host_files::{self, errno, FileOps, OsFile};

/// Redox's `O_CLOEXEC`.
const O_CLOEXEC: u32 = 0x0100_0000;

/// Lists a directory by the path it was opened as.
#[derive(Debug)]
struct PathListing {
    path: String,
}

impl FileOps for PathListing {
    fn entries(&self, _dir: &File) -> Result<Vec<Listed>, Errno> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.path).map_err(errno)? {
            let entry = entry.map_err(errno)?;
            let k = entry.file_type().map_or(kind::UNSPECIFIED, host_files::entry_kind);
            let name = entry.file_name().to_string_lossy().into_owned();
            out.push(Listed { name, kind: k, ino: std::os::unix::fs::DirEntryExt::ino(&entry) });
        }
        Ok(out)
    }

    /// Through `futimens`, which takes both times: a time left as it is
    /// is read back first; "now" is the present time.
    fn set_times(&self, file: &File, atime: Option<NewTime>, mtime: Option<NewTime>) -> Result<(), Errno> {
        set_times(file, atime, mtime)
    }
}

/// Opens `path` with Redox `O_*` flags, as they are (the ABI's flags are
/// Redox's own values: a read-only create, `O_DIRECTORY`, `O_NOFOLLOW`
/// reach the kernel unchanged, which std's `OpenOptions` would refuse or
/// drop).
pub fn open(path: &str, open_flags: u32) -> Result<Arc<dyn HostFile>, Errno> {
    // Regular files and directories only (a FIFO or a device is refused),
    // opened without blocking first so nothing can hold an I/O thread.
    let redox_flags = open_flags | flags::O_NONBLOCK | O_CLOEXEC;
    let fd =
        libredox::call::open(path, redox_flags as i32, 0o644).map_err(|e| Errno::from_errno(e.errno()))?;
    // SAFETY: `fd` was just opened by this call and is owned by nothing
    // else; the `File` takes it over and closes it.
    let file = unsafe { <File as std::os::fd::FromRawFd>::from_raw_fd(fd as i32) };
    host_files::regular_or_dir(&file)?;
    Ok(Arc::new(OsFile::new(file, PathListing { path: path.to_string() })))
}

/// Sets `file`'s times with Redox's `futimens` (both at once: one left
/// as it is keeps its present value).
pub fn set_times(file: &File, atime: Option<NewTime>, mtime: Option<NewTime>) -> Result<(), Errno> {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::MetadataExt;
    let now = || {
        let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        (d.as_secs() as i64, i64::from(d.subsec_nanos()))
    };
    let m = file.metadata().map_err(errno)?;
    let spec = |t: Option<NewTime>, kept: (i64, i64)| {
        let (sec, nsec) = match t {
            None => kept,
            Some(NewTime::Now) => now(),
            Some(NewTime::At(ns)) => ((ns / 1_000_000_000) as i64, (ns % 1_000_000_000) as i64),
        };
        libredox::data::TimeSpec { tv_sec: sec, tv_nsec: nsec }
    };
    let times = [spec(atime, (m.atime(), m.atime_nsec())), spec(mtime, (m.mtime(), m.mtime_nsec()))];
    libredox::call::futimens(file.as_raw_fd() as usize, &times).map_err(|e| Errno::from_errno(e.errno()))
}
