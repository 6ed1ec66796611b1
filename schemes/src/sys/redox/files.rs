//! Guest access to OS files on Redox, through std (called on worker
//! threads: opening a path must never happen on the serving thread).

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::sync::Arc;

use wasmd_abi::errno::EIO;
use wasmd_abi::scheme::{flags, kind, Stat};
use wasmhost::HostFile;

fn errno(e: std::io::Error) -> i32 {
    e.raw_os_error().unwrap_or(EIO)
}

#[derive(Debug)]
struct RedoxFile {
    file: File,
    path: String,
}

/// Opens `path` with Redox `O_*` flags.
pub fn open(path: &str, open_flags: u32) -> Result<Arc<dyn HostFile>, i32> {
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
    use std::os::unix::fs::OpenOptionsExt;
    options.custom_flags(flags::O_NONBLOCK as i32);
    let file = options.open(path).map_err(errno)?;
    let kind = file.metadata().map_err(errno)?.file_type();
    if !(kind.is_file() || kind.is_dir()) {
        return Err(wasmd_abi::errno::EACCES);
    }
    Ok(Arc::new(RedoxFile { file, path: path.to_string() }))
}

impl HostFile for RedoxFile {
    fn read_at(&self, offset: u64, len: usize) -> Result<Vec<u8>, i32> {
        let mut buf = vec![0u8; len];
        let n = self.file.read_at(&mut buf, offset).map_err(errno)?;
        buf.truncate(n);
        Ok(buf)
    }

    fn write_at(&self, offset: u64, data: &[u8]) -> Result<usize, i32> {
        self.file.write_at(data, offset).map_err(errno)
    }

    fn stat(&self) -> Result<Stat, i32> {
        let m = self.file.metadata().map_err(errno)?;
        Ok(Stat {
            mode: m.mode() as u16,
            size: m.len(),
            ino: m.ino(),
            nlink: m.nlink() as u32,
            mtime: m.mtime() as u64,
        })
    }

    fn entries(&self) -> Result<Vec<(String, u8)>, i32> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.path).map_err(errno)? {
            let entry = entry.map_err(errno)?;
            let k = match entry.file_type() {
                Ok(t) if t.is_dir() => kind::DIRECTORY,
                Ok(t) if t.is_file() => kind::REGULAR,
                _ => kind::UNSPECIFIED,
            };
            out.push((entry.file_name().to_string_lossy().into_owned(), k));
        }
        out.sort();
        Ok(out)
    }
}
