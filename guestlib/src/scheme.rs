//! Implementing a scheme in a guest (capability `SCHEME`).
//!
//! Implement [`SchemeProvider`] and call [`serve`]: it registers the name
//! and answers each request with the matching method, forever. Every
//! method has a default that refuses (`EBADF`/`ENOENT`/`EOPNOTSUPP`), so a
//! provider implements only what it supports. Errors are Redox errno
//! values ([`wasmd_abi::errno`]); file ids are the provider's own.
//!
//! Native Redox programs reach the scheme at `/scheme/NAME/...` (once it
//! is registered), every namespace at `/scheme/wasm/scheme/NAME/...`, and
//! other guests through the fs hostcalls at `NAME:PATH`.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use wasmd_abi::errno::{EBADF, ENOENT, EOPNOTSUPP};
use wasmd_abi::scheme::SchemeReply;
pub use wasmd_abi::scheme::{flags, kind, mode, DirEntry, SchemeOp, SchemeRequest, SchemeResult, Stat};

use crate::error::{check, Error};
use crate::sys;

/// A directory entry a provider returns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Name.
    pub name: String,
    /// Kind ([`kind`]).
    pub kind: u8,
}

/// Who asked: the pid of the requesting guest, 0 for native programs and
/// the control tree.
pub type Caller = u32;

/// A scheme implementation. `Err` values are Redox errno numbers.
#[allow(unused_variables)]
pub trait SchemeProvider {
    /// Opens `path` (no leading `/`); returns a file id.
    fn open(&mut self, path: &str, flags: u32, caller: Caller) -> Result<u64, i32> {
        Err(ENOENT)
    }
    /// Reads up to `len` bytes at `offset`.
    fn read(&mut self, id: u64, offset: u64, len: usize) -> Result<Vec<u8>, i32> {
        Err(EBADF)
    }
    /// Writes `data` at `offset`; returns the count written.
    fn write(&mut self, id: u64, offset: u64, data: &[u8]) -> Result<usize, i32> {
        Err(EBADF)
    }
    /// Status.
    fn fstat(&mut self, id: u64) -> Result<Stat, i32> {
        Err(EBADF)
    }
    /// Size (defaults to the status's size).
    fn fsize(&mut self, id: u64) -> Result<u64, i32> {
        self.fstat(id).map(|s| s.size)
    }
    /// The path the file was opened as.
    fn fpath(&mut self, id: u64) -> Result<String, i32> {
        Err(EBADF)
    }
    /// Every entry of directory `id`. Asked once per listing (when a
    /// client reads it from the start): the serve loop keeps the list
    /// until `id` is closed or listed from the start again, and pages it.
    fn getdents(&mut self, id: u64) -> Result<Vec<Entry>, i32> {
        Err(EBADF)
    }
    /// Resize.
    fn ftruncate(&mut self, id: u64, len: u64) -> Result<(), i32> {
        Err(EOPNOTSUPP)
    }
    /// Flush.
    fn fsync(&mut self, id: u64) -> Result<(), i32> {
        Ok(())
    }
    /// The id is no longer used.
    fn close(&mut self, id: u64) {}
    /// Removes `path`.
    fn unlink(&mut self, path: &str, flags: u32) -> Result<(), i32> {
        Err(ENOENT)
    }
}

/// Directory entries per `Getdents` reply.
const DENTS_PER_REPLY: usize = 64;

/// Directory listings being read, by file id: a listing is taken from the
/// provider when a client reads the directory from the start and paged
/// from here, so reading a directory of n entries costs O(n), not O(n²).
#[derive(Debug, Default)]
pub struct Listings(BTreeMap<u64, Vec<Entry>>);

/// Answers one request with `provider`; `None` for requests that take no
/// reply (`Close`).
pub fn answer<'a, P: SchemeProvider>(
    provider: &mut P,
    req: &SchemeRequest<'_>,
    data: &'a mut Vec<u8>,
    listings: &'a mut Listings,
) -> Option<SchemeResult<'a>> {
    let value = |r: Result<u64, i32>| r.map_or_else(SchemeResult::Error, SchemeResult::Value);
    Some(match req.op {
        SchemeOp::Open { path, flags } => value(provider.open(path, flags, req.caller)),
        SchemeOp::Read { id, offset, len } => match provider.read(id, offset, len as usize) {
            Ok(bytes) => {
                *data = bytes;
                SchemeResult::Data(data)
            }
            Err(e) => SchemeResult::Error(e),
        },
        SchemeOp::Write { id, offset, data } => value(provider.write(id, offset, data).map(|n| n as u64)),
        SchemeOp::Fstat { id } => provider.fstat(id).map_or_else(SchemeResult::Error, SchemeResult::Stat),
        SchemeOp::Fsize { id } => value(provider.fsize(id)),
        SchemeOp::Fpath { id } => match provider.fpath(id) {
            Ok(path) => {
                *data = path.into_bytes();
                SchemeResult::Data(data)
            }
            Err(e) => SchemeResult::Error(e),
        },
        SchemeOp::Getdents { id, offset } => {
            if offset == 0 || !listings.0.contains_key(&id) {
                match provider.getdents(id) {
                    Ok(all) => {
                        listings.0.insert(id, all);
                    }
                    Err(e) => return Some(SchemeResult::Error(e)),
                }
            }
            let names = listings.0.get(&id).map_or(&[][..], Vec::as_slice);
            let start = usize::try_from(offset).unwrap_or(usize::MAX).min(names.len());
            let end = (start + DENTS_PER_REPLY).min(names.len());
            SchemeResult::Dirents(
                names[start..end]
                    .iter()
                    .enumerate()
                    .map(|(i, e)| DirEntry {
                        ino: (start + i) as u64 + 1,
                        next: (start + i) as u64 + 1,
                        kind: e.kind,
                        name: &e.name,
                    })
                    .collect(),
            )
        }
        SchemeOp::Ftruncate { id, len } => value(provider.ftruncate(id, len).map(|()| 0)),
        SchemeOp::Fsync { id } => value(provider.fsync(id).map(|()| 0)),
        SchemeOp::Close { id } => {
            listings.0.remove(&id);
            provider.close(id);
            return None;
        }
        SchemeOp::Unlink { path, flags } => value(provider.unlink(path, flags).map(|()| 0)),
    })
}

/// A registered scheme.
#[derive(Debug)]
pub struct Scheme {
    handle: i32,
}

impl Scheme {
    /// Registers `name`.
    pub fn register(name: &str) -> crate::Result<Scheme> {
        // SAFETY: pointer and length of a live string.
        let handle = check(unsafe { sys::scheme_register(name.as_ptr(), name.len()) })?;
        Ok(Scheme { handle: handle as i32 })
    }

    /// Takes ownership of a raw scheme handle of this process (one kept
    /// across a hot reload, see [`crate::reload`]).
    pub fn from_handle(handle: i32) -> Scheme {
        Scheme { handle }
    }

    /// The raw handle.
    pub fn handle(&self) -> i32 {
        self.handle
    }

    /// Gives up the wrapper without unregistering: the scheme and its raw
    /// handle stay (for [`Scheme::from_handle`]).
    pub fn into_handle(self) -> i32 {
        let handle = self.handle;
        core::mem::forget(self);
        handle
    }

    /// Waits for the next request; returns its bytes (decode with
    /// `wasmd_abi::msg::decode::<SchemeRequest>`).
    pub fn next_request<'b>(&self, buf: &'b mut Vec<u8>) -> crate::Result<&'b [u8]> {
        loop {
            // SAFETY: pointer and capacity of a live buffer.
            let len = check(unsafe { sys::scheme_next(self.handle, buf.as_mut_ptr(), buf.len()) })? as usize;
            if len <= buf.len() {
                return Ok(&buf[..len]);
            }
            buf.resize(len, 0);
        }
    }

    /// Sends a reply.
    pub fn reply(&self, tag: u64, result: SchemeResult<'_>) -> crate::Result<()> {
        let bytes = wasmd_abi::msg::encode(&SchemeReply { tag, result });
        // SAFETY: pointer and length of a live buffer.
        check(unsafe { sys::scheme_reply(self.handle, bytes.as_ptr(), bytes.len()) }).map(|_| ())
    }
}

impl Drop for Scheme {
    fn drop(&mut self) {
        // SAFETY: scalar argument; the handle is ours.
        unsafe {
            sys::scheme_unregister(self.handle);
        }
    }
}

/// Registers `name` and serves it with `provider` until a hostcall fails.
pub fn serve<P: SchemeProvider>(name: &str, provider: &mut P) -> Result<(), Error> {
    let scheme = Scheme::register(name)?;
    let mut buf = vec![0u8; 4096];
    let mut data = Vec::new();
    let mut listings = Listings::default();
    loop {
        let bytes = scheme.next_request(&mut buf)?;
        let Ok(req) = wasmd_abi::msg::decode::<SchemeRequest<'_>>(bytes) else { continue };
        let tag = req.tag;
        if let Some(result) = answer(provider, &req, &mut data, &mut listings) {
            scheme.reply(tag, result)?;
        }
    }
}
