//! Files by path, through the daemon (see the `fs_*` hostcalls): guest
//! schemes (`ramfs:/notes.txt`), OS files (`file:/data/x`), each allowed
//! only under the process's namespace grants.

use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use wasmd_abi::scheme::DirEntry;
pub use wasmd_abi::scheme::{flags, kind, mode, Stat};

use crate::error::{check, Error, Result};
use crate::sys;

/// An open file. Closed on drop.
#[derive(Debug)]
pub struct File {
    handle: i32,
}

/// Where [`File::seek`] counts from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeekFrom {
    /// From the start.
    Start(u64),
    /// From the current position.
    Current(i64),
    /// From the end.
    End(i64),
}

impl File {
    /// Opens `path` with Redox `O_*` flags ([`flags`]).
    pub fn open_with(path: &str, open_flags: u32) -> Result<File> {
        // SAFETY: pointer and length of a live string.
        let handle = check(unsafe { sys::fs_open(path.as_ptr(), path.len(), open_flags as i32) })?;
        Ok(File { handle: handle as i32 })
    }

    /// Opens for reading.
    pub fn open(path: &str) -> Result<File> {
        Self::open_with(path, flags::O_RDONLY)
    }

    /// Creates (or truncates) for writing.
    pub fn create(path: &str) -> Result<File> {
        Self::open_with(path, flags::O_WRONLY | flags::O_CREAT | flags::O_TRUNC)
    }

    /// Reads into `buf`; returns the count (0 at the end).
    pub fn read(&mut self, buf: &mut [u8]) -> Result<usize> {
        // SAFETY: pointer and length of a live, writable slice.
        check(unsafe { sys::fs_read(self.handle, buf.as_mut_ptr(), buf.len()) }).map(|n| n as usize)
    }

    /// Writes `data`; returns the count.
    pub fn write(&mut self, data: &[u8]) -> Result<usize> {
        // SAFETY: pointer and length of a live slice.
        check(unsafe { sys::fs_write(self.handle, data.as_ptr(), data.len()) }).map(|n| n as usize)
    }

    /// Writes all of `data`.
    pub fn write_all(&mut self, mut data: &[u8]) -> Result<()> {
        while !data.is_empty() {
            let n = self.write(data)?;
            if n == 0 {
                return Err(Error::Io);
            }
            data = &data[n..];
        }
        Ok(())
    }

    /// Reads to the end.
    pub fn read_to_end(&mut self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; 16384];
        loop {
            let n = self.read(&mut buf)?;
            if n == 0 {
                return Ok(out);
            }
            out.extend_from_slice(&buf[..n]);
        }
    }

    /// Moves the position; returns the new one.
    pub fn seek(&mut self, to: SeekFrom) -> Result<u64> {
        let (offset, whence) = match to {
            SeekFrom::Start(o) => (o as i64, 0),
            SeekFrom::Current(o) => (o, 1),
            SeekFrom::End(o) => (o, 2),
        };
        // SAFETY: scalar arguments.
        check(unsafe { sys::fs_seek(self.handle, offset, whence) })
    }

    /// Status.
    pub fn stat(&self) -> Result<Stat> {
        let mut buf = [0u8; 64];
        // SAFETY: pointer and capacity of a live buffer.
        let len = check(unsafe { sys::fs_fstat(self.handle, buf.as_mut_ptr(), buf.len()) })? as usize;
        wasmd_abi::msg::decode(&buf[..len]).map_err(|_| Error::Io)
    }

    /// The directory's entries (name and kind), read to the end.
    pub fn entries(&mut self) -> Result<Vec<(String, u8)>> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; 4096];
        loop {
            // SAFETY: pointer and capacity of a live buffer.
            let count = check(unsafe { sys::fs_getdents(self.handle, buf.as_mut_ptr(), buf.len()) })?;
            if count == 0 {
                return Ok(out);
            }
            let page: Vec<DirEntry<'_>> =
                postcard::take_from_bytes(&buf).map(|(v, _)| v).map_err(|_| Error::Io)?;
            out.extend(page.into_iter().map(|e| (e.name.to_string(), e.kind)));
        }
    }
}

impl Drop for File {
    fn drop(&mut self) {
        // SAFETY: scalar argument; the handle is ours.
        unsafe {
            sys::fs_close(self.handle);
        }
    }
}

/// Reads a whole file.
pub fn read(path: &str) -> Result<Vec<u8>> {
    File::open(path)?.read_to_end()
}

/// Writes a whole file (created or truncated).
pub fn write(path: &str, data: &[u8]) -> Result<()> {
    File::create(path)?.write_all(data)
}

/// Lists a directory.
pub fn read_dir(path: &str) -> Result<Vec<(String, u8)>> {
    File::open_with(path, flags::O_RDONLY | flags::O_DIRECTORY)?.entries()
}

/// Removes a file or empty directory.
pub fn remove(path: &str) -> Result<()> {
    // SAFETY: pointer and length of a live string.
    check(unsafe { sys::fs_unlink(path.as_ptr(), path.len()) }).map(|_| ())
}

/// Creates a directory.
pub fn create_dir(path: &str) -> Result<()> {
    // SAFETY: pointer and length of a live string.
    check(unsafe { sys::fs_mkdir(path.as_ptr(), path.len()) }).map(|_| ())
}
