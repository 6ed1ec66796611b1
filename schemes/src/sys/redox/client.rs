//! The client commands on Redox (`wasmd ps`, `status`, `kill`, `spawn`,
//! `cat`, `ls`, `write`). The control tree is `/scheme/wasm` itself, so
//! the client opens its files as any program does, through std; there is
//! no socket and `--socket` is not used. The daemon's errno answers come
//! back as [`ClientError::Errno`], as on Linux.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};

use wasmd_abi::scheme::kind;

use crate::client::{ClientError, Files};
use crate::sys::Config;

/// The scheme the daemon serves.
const ROOT: &str = "/scheme/wasm";

/// The files of `/scheme/wasm`.
#[derive(Debug)]
pub struct Client;

/// An OS error with its errno (the daemon's answer), others as they are.
fn failed(e: std::io::Error) -> ClientError {
    match e.raw_os_error() {
        Some(errno) => ClientError::Errno(errno),
        None => ClientError::Io(e),
    }
}

impl Client {
    /// Checks that the `wasm` scheme is there.
    pub fn connect_to(_config: &Config) -> std::io::Result<Client> {
        std::fs::metadata(ROOT)?;
        Ok(Client)
    }

    /// Reads a file to its end, handing each chunk to `sink` as it arrives
    /// (so `run/` output streams).
    pub fn stream(&mut self, path: &str, mut sink: impl FnMut(&[u8])) -> Result<(), ClientError> {
        let mut file = File::open(path).map_err(|e| failed(e).on_open(path))?;
        let mut chunk = vec![0u8; 65536];
        loop {
            match file.read(&mut chunk).map_err(failed)? {
                0 => return Ok(()),
                n => sink(&chunk[..n]),
            }
        }
    }

    /// Reads a whole file.
    pub fn read_all(&mut self, path: &str) -> Result<Vec<u8>, ClientError> {
        std::fs::read(path).map_err(|e| failed(e).on_open(path))
    }

    /// Writes `data` to a file with one write.
    pub fn write_file(&mut self, path: &str, data: &[u8]) -> Result<(), ClientError> {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .map_err(|e| failed(e).on_open(path))?;
        match file.write(data).map_err(|e| failed(e).with_reason(reason_of(&file)))? {
            n if n == data.len() => Ok(()),
            _ => Err(ClientError::Protocol),
        }
    }

    /// Lists a directory.
    pub fn list(&mut self, path: &str) -> Result<Vec<(String, u8)>, ClientError> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(path).map_err(failed)? {
            let entry = entry.map_err(failed)?;
            let k = match entry.file_type() {
                Ok(t) if t.is_dir() => kind::DIRECTORY,
                Ok(t) if t.is_file() => kind::REGULAR,
                _ => kind::UNSPECIFIED,
            };
            out.push((entry.file_name().to_string_lossy().into_owned(), k));
        }
        Ok(out)
    }

    /// Spawns from a spec; returns the new pid.
    pub fn spawn(&mut self, spec: &str) -> Result<crate::client::ProcessRef, ClientError> {
        let answer = self.write_then_read(&format!("{ROOT}/spawn"), spec.as_bytes())?;
        String::from_utf8_lossy(&answer).trim().parse().map_err(|_| ClientError::Protocol)
    }

    /// Opens `path` read-write, writes `data` with one write and returns
    /// what the reads then give (read where the write left the kernel's
    /// offset, waiting as the file does).
    pub fn write_then_read(&mut self, path: &str, data: &[u8]) -> Result<Vec<u8>, ClientError> {
        let mut file = OpenOptions::new().read(true).write(true).open(path).map_err(failed)?;
        file.write_all(data).map_err(|e| failed(e).with_reason(reason_of(&file)))?;
        let mut answer = Vec::new();
        file.read_to_end(&mut answer).map_err(|e| failed(e).with_reason(reason_of(&file)))?;
        Ok(answer)
    }
}

impl Files for Client {
    type Handle = File;

    fn open_read(&mut self, path: &str) -> Result<File, ClientError> {
        File::open(path).map_err(|e| failed(e).on_open(path))
    }

    fn read_next(&mut self, file: &mut File) -> Result<Vec<u8>, ClientError> {
        let mut chunk = vec![0u8; 65536];
        let n = file.read(&mut chunk).map_err(failed)?;
        chunk.truncate(n);
        Ok(chunk)
    }

    fn open_write(&mut self, path: &str) -> Result<File, ClientError> {
        std::fs::OpenOptions::new().write(true).open(path).map_err(|e| failed(e).on_open(path))
    }

    fn write_next(&mut self, file: &mut File, data: &[u8]) -> Result<usize, ClientError> {
        std::io::Write::write(file, data).map_err(failed)
    }

    fn path_of(&mut self, file: &File) -> Result<String, ClientError> {
        use std::os::fd::AsRawFd;
        let mut buf = [0u8; 4096];
        let n = libredox::call::fpath(file.as_raw_fd() as usize, &mut buf)
            .map_err(|e| ClientError::Errno(e.errno()))?;
        Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
    }

    fn close(&mut self, file: File) {
        drop(file);
    }

    fn reason(&mut self, file: &File) -> Option<String> {
        reason_of(file)
    }
}

/// What the daemon says about the last failed request on `file` (its
/// `error/ID`, ID being the file's inode number).
fn reason_of(file: &File) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let ino = file.metadata().ok()?.ino();
    std::fs::read_to_string(crate::client::reason_path(ino)).ok()
}
