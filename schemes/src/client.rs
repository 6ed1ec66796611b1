//! The client side of the control socket (Linux): `wasmd ps`, `status`,
//! `kill`, `spawn`, `cat`, `ls` and `write` are thin wrappers over file
//! operations on the daemon's tree.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use wasmd_abi::errno;
use wasmd_abi::scheme::flags;

use crate::protocol::{self, ClientMsg, Reply, Request, ServerMsg};

/// Where the control socket is: `--socket`, else `$WASMD_SOCKET`, else
/// `$XDG_RUNTIME_DIR/wasmd.sock`, else `/tmp/wasmd-UID/wasmd.sock` (a
/// directory only that user may write; see `sys::control_socket`).
pub fn socket_path(explicit: Option<PathBuf>) -> PathBuf {
    if let Some(p) = explicit {
        return p;
    }
    if let Some(p) = std::env::var_os("WASMD_SOCKET") {
        return PathBuf::from(p);
    }
    if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR") {
        return PathBuf::from(dir).join("wasmd.sock");
    }
    #[cfg(target_os = "linux")]
    return crate::sys::control_socket::fallback_socket();
    #[cfg(not(target_os = "linux"))]
    PathBuf::from("/tmp/wasmd.sock")
}

/// A client error: the daemon refused (errno), or the socket failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The daemon answered with an errno.
    #[error("{}", errno::describe(*.0))]
    Errno(i32),
    /// The socket failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The daemon answered something unexpected.
    #[error("unexpected answer from the daemon")]
    Protocol,
}

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
        #[cfg(target_os = "linux")]
        crate::sys::control_socket::check_daemon(&stream, path)?;
        Ok(Client { stream, path: path.to_path_buf(), next_id: 1, buf: Vec::new() })
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

    /// Writes `data` to a file with one write.
    pub fn write_file(&mut self, path: &str, data: &[u8]) -> Result<(), ClientError> {
        let fd = self.open(path, flags::O_WRONLY | flags::O_CREAT | flags::O_TRUNC)?;
        let result =
            self.call(Request::Write { fd, offset: 0, data: data.to_vec(), nonblock: false }).map(|_| ());
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
