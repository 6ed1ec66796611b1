//! TCP and UDP sockets through the daemon (see the `net_*` hostcalls),
//! allowed only under the process's namespace grants (`tcp:HOST:PORT`
//! patterns). Every call blocks only the calling process.

use crate::error::{check, Result};
use crate::sys;

/// A socket: a TCP connection or listener, or a UDP socket. Closed on
/// drop.
#[derive(Debug)]
pub struct Socket {
    handle: i32,
}

impl Socket {
    /// Connects to `addr`: `tcp:HOST:PORT` or `udp:HOST:PORT`.
    pub fn connect(addr: &str) -> Result<Socket> {
        // SAFETY: pointer and length of a live string.
        let handle = check(unsafe { sys::net_connect(addr.as_ptr(), addr.len()) })?;
        Ok(Socket { handle: handle as i32 })
    }

    /// Listens on (TCP) or binds (UDP) `addr`.
    pub fn listen(addr: &str) -> Result<Socket> {
        // SAFETY: pointer and length of a live string.
        let handle = check(unsafe { sys::net_listen(addr.as_ptr(), addr.len()) })?;
        Ok(Socket { handle: handle as i32 })
    }

    /// Accepts a connection (a TCP listener).
    pub fn accept(&self) -> Result<Socket> {
        // SAFETY: scalar argument.
        let handle = check(unsafe { sys::net_accept(self.handle) })?;
        Ok(Socket { handle: handle as i32 })
    }

    /// Sends bytes; returns the count.
    pub fn send(&self, data: &[u8]) -> Result<usize> {
        // SAFETY: pointer and length of a live slice.
        check(unsafe { sys::net_send(self.handle, data.as_ptr(), data.len()) }).map(|n| n as usize)
    }

    /// Sends all of `data`.
    pub fn send_all(&self, mut data: &[u8]) -> Result<()> {
        while !data.is_empty() {
            let n = self.send(data)?;
            data = &data[n..];
        }
        Ok(())
    }

    /// Receives into `buf`; returns the count (0 at the end of a stream).
    pub fn recv(&self, buf: &mut [u8]) -> Result<usize> {
        // SAFETY: pointer and length of a live, writable slice.
        check(unsafe { sys::net_recv(self.handle, buf.as_mut_ptr(), buf.len()) }).map(|n| n as usize)
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        // SAFETY: scalar argument; the handle is ours.
        unsafe {
            sys::fs_close(self.handle);
        }
    }
}
