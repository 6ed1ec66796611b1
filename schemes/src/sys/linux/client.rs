//! The client side of the control socket: `wasmd ps`, `status`, `kill`,
//! `spawn`, `cat`, `ls` and `write` are thin wrappers over file
//! operations on the daemon's tree, sent as [`super::protocol`] requests.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use wasmd_abi::scheme::flags;

use super::protocol::{self, ClientMsg, Reply, Request, ServerMsg};
use crate::client::ClientError;
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
        self.stream.write_all(&protocol::frame(&ClientMsg { id, request }))?;
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
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Err(ClientError::Io(std::io::ErrorKind::UnexpectedEof.into()));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Opens a path.
    pub fn open(&mut self, path: &str, open_flags: u32) -> Result<u64, ClientError> {
        match self.call(Request::Open { path: path.into(), flags: open_flags })? {
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
            Err(e) => Err(e),
        };
        let _ = self.call(Request::Close { fd });
        result
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
    pub fn spawn(&mut self, spec: &str) -> Result<u32, ClientError> {
        let fd = self.open("/scheme/wasm/spawn", flags::O_RDWR)?;
        let result = (|| {
            self.call(Request::Write { fd, offset: 0, data: spec.as_bytes().to_vec(), nonblock: false })?;
            // As on Redox, where the kernel keeps the offset: the answer
            // is read where the write of the spec left it.
            let offset = spec.len() as u64;
            match self.call(Request::Read { fd, offset, len: 64, nonblock: false })? {
                Reply::Data(data) => {
                    String::from_utf8_lossy(&data).trim().parse().map_err(|_| ClientError::Protocol)
                }
                _ => Err(ClientError::Protocol),
            }
        })();
        let _ = self.call(Request::Close { fd });
        result
    }
}
