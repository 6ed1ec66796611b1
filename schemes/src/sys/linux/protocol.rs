//! The control-socket protocol (Linux): what `wasmd` client commands send
//! to `wasmd daemon`, and its answers. The operations are the scheme
//! operations of the tree, so a client sees exactly what a Redox program
//! opening `/scheme/wasm/...` sees.
//!
//! Framing: each message is a little-endian `u32` length followed by that
//! many bytes of postcard. A client sends [`ClientMsg`]s and receives one
//! [`ServerMsg`] per request, with the same `id`; requests that block
//! (reading `run/` or `wait` files) are answered when ready, and requests
//! of one connection may be answered out of order.

use serde::{Deserialize, Serialize};
use wasmd_abi::scheme::Stat;

/// Largest frame either side accepts (16 MiB).
pub const MAX_FRAME: usize = 16 << 20;

/// An operation on the tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// Open a path such as `/scheme/wasm/ps`.
    Open {
        /// Full path.
        path: String,
        /// Redox `O_*` flags.
        flags: u32,
    },
    /// Read at an offset.
    Read {
        /// Open file.
        fd: u64,
        /// Position.
        offset: u64,
        /// Most bytes.
        len: u32,
        /// Answer `EAGAIN` instead of waiting.
        nonblock: bool,
    },
    /// Write at an offset.
    Write {
        /// Open file.
        fd: u64,
        /// Position.
        offset: u64,
        /// Bytes.
        data: Vec<u8>,
        /// Answer `EAGAIN` instead of waiting.
        nonblock: bool,
    },
    /// Status.
    Fstat {
        /// Open file.
        fd: u64,
    },
    /// Directory entries from an opaque offset (0, or the last entry's
    /// next offset); an empty answer is the end.
    Getdents {
        /// Open file.
        fd: u64,
        /// Index of the first entry.
        offset: u64,
    },
    /// The path the file was opened as.
    Fpath {
        /// Open file.
        fd: u64,
    },
    /// Close.
    Close {
        /// Open file.
        fd: u64,
    },
    /// Resize.
    Ftruncate {
        /// Open file.
        fd: u64,
        /// New length.
        len: u64,
    },
    /// Flush.
    Fsync {
        /// Open file.
        fd: u64,
    },
    /// Remove a file, e.g. `/scheme/ramfs/note.txt`.
    Unlink {
        /// Full path.
        path: String,
        /// Redox flags (`O_DIRECTORY` to remove a directory).
        flags: u32,
    },
}

/// A request with its id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientMsg {
    /// Chosen by the client; echoed in the answer.
    pub id: u32,
    /// The operation.
    pub request: Request,
}

/// An answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reply {
    /// A new open file.
    Fd(u64),
    /// Bytes.
    Data(Vec<u8>),
    /// A count (bytes written).
    Count(u64),
    /// A status.
    Stat(Stat),
    /// Directory entries: name, kind and the opaque offset of the entry
    /// after it (what the next `Getdents` starts from).
    Entries(Vec<(String, u8, u64)>),
    /// A path.
    Path(String),
    /// Done.
    Done,
    /// Failure, a Redox errno.
    Error(i32),
}

/// An answer with its request's id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerMsg {
    /// The request's id.
    pub id: u32,
    /// The answer.
    pub reply: Reply,
}

/// Encodes a message as a frame.
pub fn frame<T: Serialize>(msg: &T) -> Vec<u8> {
    let body = postcard::to_allocvec(msg).unwrap_or_default();
    let mut out = Vec::with_capacity(body.len() + 4);
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&body);
    out
}

/// The peer sent an oversized or undecodable frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed frame")]
pub struct BadFrame;

/// Decodes the complete frame at the front of `buf`, if there is one:
/// the message and the bytes it took (the caller moves past them).
pub fn decode_frame<T: for<'a> Deserialize<'a>>(buf: &[u8]) -> Result<Option<(T, usize)>, BadFrame> {
    let Some(header) = buf.get(..4) else { return Ok(None) };
    let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
    if len > MAX_FRAME {
        return Err(BadFrame);
    }
    let Some(body) = buf.get(4..4 + len) else { return Ok(None) };
    let msg = postcard::from_bytes(body).map_err(|_| BadFrame)?;
    Ok(Some((msg, 4 + len)))
}

/// Takes one complete frame off the front of `buf`, if there is one.
pub fn unframe<T: for<'a> Deserialize<'a>>(buf: &mut Vec<u8>) -> Result<Option<T>, BadFrame> {
    let decoded = decode_frame(buf)?;
    Ok(decoded.map(|(msg, used)| {
        buf.drain(..used);
        msg
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_roundtrip_and_garbage_is_refused() {
        let msg = ClientMsg { id: 7, request: Request::Open { path: "/scheme/wasm/ps".into(), flags: 1 } };
        let mut buf = frame(&msg);
        buf.extend_from_slice(&frame(&msg)[..3]);
        assert_eq!(unframe::<ClientMsg>(&mut buf), Ok(Some(msg)));
        assert_eq!(unframe::<ClientMsg>(&mut buf), Ok(None));
        let mut huge = (u32::MAX).to_le_bytes().to_vec();
        assert_eq!(unframe::<ClientMsg>(&mut huge), Err(BadFrame));
        let mut junk = vec![2, 0, 0, 0, 0xff, 0xff];
        assert_eq!(unframe::<ClientMsg>(&mut junk), Err(BadFrame));
    }
}
