//! Guest sockets over std's sockets, set non-blocking (portable: std
//! sockets work on Linux and, through relibc, on Redox). Readiness comes
//! from [`crate::poller`]. Connecting runs on an I/O thread: names
//! are resolved there, and the TCP handshake is started by the backend's
//! `start_tcp` without waiting for it (Linux: a non-blocking `connect`;
//! Redox: relibc's `connect`, which the netstack answers once the SYN is
//! queued). The socket is returned at once; the guest's first send or
//! receive waits for readiness, and a refused connection shows there, so
//! a peer that never answers holds no thread.

use wasmd_abi::Errno;

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::Arc;

use wasmhost::HostSocket;

fn io_errno(e: std::io::Error) -> Errno {
    match e.kind() {
        ErrorKind::WouldBlock => Errno::WouldBlock,
        _ => crate::host_files::errno(e),
    }
}

/// A guest's socket (std sockets, non-blocking).
#[derive(Debug)]
enum StdSocket {
    Tcp(TcpStream),
    Listener(TcpListener),
    Udp(UdpSocket),
}

impl HostSocket for StdSocket {
    fn accept(&self) -> Result<Arc<dyn HostSocket>, Errno> {
        let StdSocket::Listener(l) = self else { return Err(Errno::InvalidArgument) };
        let (stream, _) = l.accept().map_err(io_errno)?;
        stream.set_nonblocking(true).map_err(io_errno)?;
        Ok(Arc::new(StdSocket::Tcp(stream)))
    }

    fn send(&self, data: &[u8]) -> Result<usize, Errno> {
        match self {
            StdSocket::Tcp(s) => (&*s).write(data).map_err(io_errno),
            StdSocket::Udp(s) => s.send(data).map_err(io_errno),
            StdSocket::Listener(_) => Err(Errno::NotSupported),
        }
    }

    fn recv(&self, len: usize) -> Result<Vec<u8>, Errno> {
        let mut buf = vec![0u8; len];
        let n = match self {
            StdSocket::Tcp(s) => (&*s).read(&mut buf).map_err(io_errno)?,
            StdSocket::Udp(s) => s.recv(&mut buf).map_err(io_errno)?,
            StdSocket::Listener(_) => return Err(Errno::NotSupported),
        };
        buf.truncate(n);
        Ok(buf)
    }

    fn local_addr(&self) -> String {
        let addr = match self {
            StdSocket::Tcp(s) => s.local_addr(),
            StdSocket::Listener(l) => l.local_addr(),
            StdSocket::Udp(s) => s.local_addr(),
        };
        addr.map(|a| a.to_string()).unwrap_or_default()
    }

    fn shutdown(&self, read: bool, write: bool) -> Result<(), Errno> {
        let StdSocket::Tcp(s) = self else { return Err(Errno::NotSupported) };
        let how = match (read, write) {
            (true, true) => std::net::Shutdown::Both,
            (true, false) => std::net::Shutdown::Read,
            (false, true) => std::net::Shutdown::Write,
            (false, false) => return Err(Errno::InvalidArgument),
        };
        s.shutdown(how).map_err(io_errno)
    }

    fn raw_fd(&self) -> i64 {
        i64::from(match self {
            StdSocket::Tcp(s) => s.as_raw_fd(),
            StdSocket::Listener(l) => l.as_raw_fd(),
            StdSocket::Udp(s) => s.as_raw_fd(),
        })
    }
}

fn resolve(addr: &str) -> Result<std::net::SocketAddr, Errno> {
    addr.to_socket_addrs().map_err(|_| Errno::NotFound)?.next().ok_or(Errno::NotFound)
}

/// Connects a non-blocking socket; `start_tcp` starts a TCP connection
/// (see the module docs).
pub fn connect(
    proto: &str,
    addr: &str,
    start_tcp: impl FnOnce(std::net::SocketAddr) -> std::io::Result<TcpStream>,
) -> Result<Arc<dyn HostSocket>, Errno> {
    let target = resolve(addr)?;
    let socket = match proto {
        "tcp" => {
            let s = start_tcp(target).map_err(io_errno)?;
            s.set_nonblocking(true).map_err(io_errno)?;
            StdSocket::Tcp(s)
        }
        "udp" => {
            let any = if target.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" };
            let s = UdpSocket::bind(any).map_err(io_errno)?;
            s.connect(target).map_err(io_errno)?;
            s.set_nonblocking(true).map_err(io_errno)?;
            StdSocket::Udp(s)
        }
        _ => return Err(Errno::InvalidArgument),
    };
    Ok(Arc::new(socket))
}

/// Binds a listening TCP socket or a bound UDP socket.
pub fn listen(proto: &str, addr: &str) -> Result<Arc<dyn HostSocket>, Errno> {
    let at = resolve(addr)?;
    let socket = match proto {
        "tcp" => {
            let l = TcpListener::bind(at).map_err(io_errno)?;
            l.set_nonblocking(true).map_err(io_errno)?;
            StdSocket::Listener(l)
        }
        "udp" => {
            let s = UdpSocket::bind(at).map_err(io_errno)?;
            s.set_nonblocking(true).map_err(io_errno)?;
            StdSocket::Udp(s)
        }
        _ => return Err(Errno::InvalidArgument),
    };
    Ok(Arc::new(socket))
}
