//! WASI encodings of what the I/O service computed: a `filestat` from a
//! file's status, `fd_readdir`'s `dirent`s from a listing.

use super::types;
use crate::platform::{FileStatus, Listed};

/// The WASI `filestat` of a status.
pub(crate) fn filestat(status: &FileStatus) -> [u8; types::FILESTAT_SIZE] {
    let stat = &status.stat;
    types::Filestat {
        dev: status.dev,
        ino: stat.ino,
        filetype: types::filetype_of_mode(stat.mode),
        nlink: u64::from(stat.nlink),
        size: stat.size,
        atim: status.atime_ns,
        mtim: status.mtime_ns,
        ctim: status.ctime_ns,
    }
    .encode()
}

/// `fd_readdir`'s bytes: `dirent`s from entry `cookie` of `.`, `..` and
/// `entries` (whose first element is entry `first + 2`), as many as fit
/// in `cap` bytes, the last one cut there as preview 1 says (a program
/// that sees a full buffer asks again with a larger one).
pub(crate) fn dirents(cookie: u64, first: u64, dir: &WasiListing<'_>, cap: usize) -> Vec<u8> {
    let entries = dir.entries;
    let mut out = Vec::with_capacity(cap.min(64 * 1024));
    let mut index = cookie;
    while out.len() < cap {
        let (name, filetype, ino) = match index {
            0 => (".", types::filetype::DIRECTORY, dir.dot),
            1 => ("..", types::filetype::DIRECTORY, 0),
            i => match i.checked_sub(2 + first).and_then(|k| entries.get(usize::try_from(k).ok()?)) {
                Some(e) => (e.name.as_str(), types::filetype_of_kind(e.kind), e.ino),
                None => break,
            },
        };
        out.extend_from_slice(&types::dirent(index + 1, ino, name.len(), filetype));
        out.extend_from_slice(name.as_bytes());
        index += 1;
    }
    out.truncate(cap);
    out
}

/// A directory as `fd_readdir` lists it: its own inode number (for `.`)
/// and its entries.
pub(crate) struct WasiListing<'a> {
    /// The directory's inode number (0: unknown).
    pub dot: u64,
    /// Its entries.
    pub entries: &'a [Listed],
}
