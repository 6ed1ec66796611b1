//! Guests' OS files on Redox: opened through std with Redox `O_*` flags
//! (on worker threads: opening a path must never happen on the serving
//! thread), kept as a [`crate::host_files::OsFile`] listed by its path.

use wasmd_abi::Errno;

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::sync::Arc;

use wasmd_abi::scheme::{flags, kind};
use wasmhost::{HostFile, Listed};

use crate::host_files::{self, errno, DirListing, OsFile};

/// Lists a directory by the path it was opened as.
#[derive(Debug)]
struct PathListing {
    path: String,
}

impl DirListing for PathListing {
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
}

/// Opens `path` with Redox `O_*` flags.
pub fn open(path: &str, open_flags: u32) -> Result<Arc<dyn HostFile>, Errno> {
    let acc = open_flags & flags::O_ACCMODE;
    let mut options = OpenOptions::new();
    options
        .read(acc == flags::O_RDONLY || acc == flags::O_RDWR || acc == 0)
        .write(acc == flags::O_WRONLY || acc == flags::O_RDWR)
        .append(open_flags & flags::O_APPEND != 0)
        .truncate(open_flags & flags::O_TRUNC != 0);
    if open_flags & flags::O_CREAT != 0 {
        if open_flags & flags::O_EXCL != 0 {
            options.create_new(true);
        } else {
            options.create(true);
        }
    }
    // Regular files and directories only (a FIFO or a device is refused),
    // opened without blocking first so nothing can hold an I/O thread.
    options.custom_flags(flags::O_NONBLOCK as i32);
    let file = options.open(path).map_err(errno)?;
    host_files::regular_or_dir(&file)?;
    Ok(Arc::new(OsFile::new(file, PathListing { path: path.to_string() })))
}
