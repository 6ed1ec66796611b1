//! The client side of the control socket: `wasmd ps`, `status`, `kill`,
//! `spawn`, `cat`, `ls` and `write` are thin wrappers over file
//! operations on the daemon's tree, sent as [`super::protocol`] requests.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use wasmd_abi::scheme::flags;

use super::protocol::{self, ClientMsg, Reply, Request, ServerMsg};
use crate::client::{ClientError, Files};
use crate::sys::Config;

/// A connection to the daemon.
#[derive(Debug)]
pub struct Client {
    stream: UnixStream,
    path: PathBuf,
    next_id: u32,
    buf: Vec<u8>,
}

impl Client {
    /// Connects to the daemon's socket; refuses a daemon that runs as
    /// another user than this one or root.
    pub fn connect(path: &Path) -> std::io::Result<Client> {
        let stream = UnixStream::connect(path)?;
        super::control_socket::check_daemon(&stream, path)?;
        Ok(Client { stream, path: path.to_path_buf(), next_id: 1, buf: Vec::new() })
    }

    /// Connects to the socket `config` names (see
    /// [`super::control_socket::path`]).
    pub fn connect_to(config: &Config) -> std::io::Result<Client> {
        Self::connect(&super::control_socket::path(config))
    }

    /// The socket it is connected to.
    pub fn socket_path(&self) -> &Path {
        &self.path
    }

    /// Sends one request and waits for its answer.
    pub fn call(&mut self, request: Request) -> Result<Reply, ClientError> {
        let id = self.next_id;
        self.next_id += 1;
        let gone = |e: std::io::Error| match e.kind() {
            std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset => ClientError::DaemonGone,
            _ => ClientError::Io(e),
        };
        self.stream.write_all(&protocol::frame(&ClientMsg { id, request })).map_err(gone)?;
        loop {
            match protocol::unframe::<ServerMsg>(&mut self.buf) {
                Ok(Some(msg)) if msg.id == id => {
                    return match msg.reply {
                        Reply::Error(e) => Err(ClientError::Errno(e)),
                        reply => Ok(reply),
                    };
                }
                Ok(Some(_)) => continue,
                Ok(None) => {}
                Err(_) => return Err(ClientError::Protocol),
            }
            let mut chunk = [0u8; 65536];
            let n = self.stream.read(&mut chunk).map_err(gone)?;
            if n == 0 {
                return Err(ClientError::DaemonGone);
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Opens a path.
    pub fn open(&mut self, path: &str, open_flags: u32) -> Result<u64, ClientError> {
        let opened = self.call(Request::Open { path: path.into(), flags: open_flags });
        match opened.map_err(|e| e.on_open(path))? {
            Reply::Fd(fd) => Ok(fd),
            _ => Err(ClientError::Protocol),
        }
    }

    /// Reads a file to its end, handing each chunk to `sink` as it arrives
    /// (so `run/` output streams).
    pub fn stream(&mut self, path: &str, mut sink: impl FnMut(&[u8])) -> Result<(), ClientError> {
        let fd = self.open(path, flags::O_RDONLY)?;
        let mut offset = 0u64;
        let result = loop {
            match self.call(Request::Read { fd, offset, len: 65536, nonblock: false }) {
                Ok(Reply::Data(data)) if data.is_empty() => break Ok(()),
                Ok(Reply::Data(data)) => {
                    offset += data.len() as u64;
                    sink(&data);
                }
                Ok(_) => break Err(ClientError::Protocol),
                Err(e) => break Err(e),
            }
        };
        let _ = self.call(Request::Close { fd });
        result
    }

    /// Reads a whole file.
    pub fn read_all(&mut self, path: &str) -> Result<Vec<u8>, ClientError> {
        let mut out = Vec::new();
        self.stream(path, |chunk| out.extend_from_slice(chunk))?;
        Ok(out)
    }

    /// Writes `data` to a file with one write; a file that takes less is
    /// [`ClientError::Protocol`] (as on Redox).
    pub fn write_file(&mut self, path: &str, data: &[u8]) -> Result<(), ClientError> {
        let fd = self.open(path, flags::O_WRONLY | flags::O_CREAT | flags::O_TRUNC)?;
        let result = match self.call(Request::Write { fd, offset: 0, data: data.to_vec(), nonblock: false }) {
            Ok(Reply::Count(n)) if n == data.len() as u64 => Ok(()),
            Ok(_) => Err(ClientError::Protocol),
            Err(e) => Err(e.with_reason(self.reason_of(fd))),
        };
        let _ = self.call(Request::Close { fd });
        result
    }

    /// What the daemon says about the last failed request on `fd` (its
    /// `error/ID`, ID being the file's inode number).
    fn reason_of(&mut self, fd: u64) -> Option<String> {
        let Ok(Reply::Stat(stat)) = self.call(Request::Fstat { fd }) else { return None };
        let reason = self.read_all(&crate::client::reason_path(stat.ino)).ok()?;
        Some(String::from_utf8_lossy(&reason).into_owned())
    }

    /// Removes a file (`O_DIRECTORY` in `unlink_flags`: a directory).
    pub fn remove(&mut self, path: &str, unlink_flags: u32) -> Result<(), ClientError> {
        self.call(Request::Unlink { path: path.to_string(), flags: unlink_flags }).map(|_| ())
    }

    /// Lists a directory.
    pub fn list(&mut self, path: &str) -> Result<Vec<(String, u8)>, ClientError> {
        let fd = self.open(path, flags::O_RDONLY | flags::O_DIRECTORY)?;
        let mut all = Vec::new();
        let mut offset = 0;
        // Page by page: a guest scheme answers a batch at a time.
        let result = loop {
            match self.call(Request::Getdents { fd, offset }) {
                Ok(Reply::Entries(entries)) if entries.is_empty() => break Ok(all),
                Ok(Reply::Entries(entries)) => {
                    let next = entries.last().map_or(offset, |e| e.2);
                    if next == offset {
                        break Err(ClientError::Protocol);
                    }
                    offset = next;
                    all.extend(entries.into_iter().map(|(name, kind, _)| (name, kind)));
                }
                Ok(_) => break Err(ClientError::Protocol),
                Err(e) => break Err(e),
            }
        };
        let _ = self.call(Request::Close { fd });
        result
    }

    /// Spawns from a spec; returns the new pid.
    pub fn spawn(&mut self, spec: &str) -> Result<crate::client::ProcessRef, ClientError> {
        let answer = self.write_then_read("/scheme/wasm/spawn", spec.as_bytes())?;
        String::from_utf8_lossy(&answer).trim().parse().map_err(|_| ClientError::Protocol)
    }

    /// Opens `path` read-write, writes `data` with one write and returns
    /// what one read then gives (waiting for it as the file does).
    pub fn write_then_read(&mut self, path: &str, data: &[u8]) -> Result<Vec<u8>, ClientError> {
        let fd = self.open(path, flags::O_RDWR)?;
        let result = (|| {
            self.call(Request::Write { fd, offset: 0, data: data.to_vec(), nonblock: false })
                .map_err(|e| e.with_reason(self.reason_of(fd)))?;
            // As on Redox, where the kernel keeps the offset: the answer
            // is read where the write left it.
            let offset = data.len() as u64;
            let read = self.call(Request::Read { fd, offset, len: 4096, nonblock: false });
            match read.map_err(|e| e.with_reason(self.reason_of(fd)))? {
                Reply::Data(data) => Ok(data),
                _ => Err(ClientError::Protocol),
            }
        })();
        let _ = self.call(Request::Close { fd });
        result
    }
}

/// An open file of the tree and where the next read starts.
#[derive(Debug)]
pub struct OpenFile {
    fd: u64,
    offset: u64,
}

impl Files for Client {
    type Handle = OpenFile;

    fn open_read(&mut self, path: &str) -> Result<OpenFile, ClientError> {
        Ok(OpenFile { fd: self.open(path, flags::O_RDONLY)?, offset: 0 })
    }

    fn read_next(&mut self, file: &mut OpenFile) -> Result<Vec<u8>, ClientError> {
        let (fd, offset) = (file.fd, file.offset);
        match self.call(Request::Read { fd, offset, len: 65536, nonblock: false })? {
            Reply::Data(data) => {
                file.offset += data.len() as u64;
                Ok(data)
            }
            _ => Err(ClientError::Protocol),
        }
    }

    fn open_write(&mut self, path: &str) -> Result<OpenFile, ClientError> {
        Ok(OpenFile { fd: self.open(path, flags::O_WRONLY)?, offset: 0 })
    }

    fn write_next(&mut self, file: &mut OpenFile, data: &[u8]) -> Result<usize, ClientError> {
        let (fd, offset) = (file.fd, file.offset);
        match self.call(Request::Write { fd, offset, data: data.to_vec(), nonblock: false })? {
            Reply::Count(n) if n <= data.len() as u64 => {
                file.offset += n;
                Ok(n as usize)
            }
            _ => Err(ClientError::Protocol),
        }
    }

    fn path_of(&mut self, file: &OpenFile) -> Result<String, ClientError> {
        match self.call(Request::Fpath { fd: file.fd })? {
            Reply::Path(path) => Ok(path),
            _ => Err(ClientError::Protocol),
        }
    }

    fn close(&mut self, file: OpenFile) {
        let _ = self.call(Request::Close { fd: file.fd });
    }

    fn reason(&mut self, file: &OpenFile) -> Option<String> {
        self.reason_of(file.fd)
    }
}
