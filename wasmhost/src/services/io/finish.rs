//! Finishing fs and socket operations: the typed results of each
//! request applied to the process (guest memory written through its
//! checked buffer, file positions moved without wrapping, handles made),
//! and providers' replies checked to be of the kind the request expects.

use std::sync::Arc;
use wasmd_abi::Errno;

use wasmd_abi::msg;
use wasmd_abi::scheme::{DirEntry, Stat};
use wasmd_abi::Rights;

use super::{file, PAGE_ENTRIES};
use crate::caller::Caller;
use crate::context::{in_context, Context, Continuation};
use crate::continuation::returning;
use crate::file::{FileHandle, FileTarget, Format};
use crate::guest_buf::GuestBuf;
use crate::guest_scheme::Reply;
use crate::platform::{FileStatus, Listed};
use crate::process::HandleObject;
use crate::wasi::encode::WasiListing;

/// One page of a listing, from entry `from` on.
pub(super) fn page(all: &[Listed], from: u64) -> Vec<Listed> {
    let start = usize::try_from(from).unwrap_or(usize::MAX).min(all.len());
    all[start..(start + PAGE_ENTRIES).min(all.len())].to_vec()
}

/// Moves a file position by `n`: `Errno::Io` rather than wrapping.
pub(super) fn advance(pos: &mut u64, n: u64) -> Result<(), Errno> {
    *pos = pos.checked_add(n).ok_or(Errno::Io)?;
    Ok(())
}

/// As many of `entries` as fit in `cap` bytes, encoded (postcard
/// `Vec<DirEntry>`), and how many: `Errno::OutOfRange` when entries remain but not
/// even the first fits. Linear: each entry is sized once.
pub(super) fn dirents_page(entries: &[Listed], cap: usize) -> Result<(Vec<u8>, usize), Errno> {
    fn entry(e: &Listed) -> DirEntry<'_> {
        DirEntry { ino: e.ino, next: 0, kind: e.kind, name: &e.name }
    }
    // postcard writes a sequence as its length (a varint) and its items.
    let varint = |n: usize| msg::encode(&(n as u64)).len();
    let mut used = 0;
    let mut taken = 0;
    for e in entries {
        let size = msg::encode(&entry(e)).len();
        if varint(taken + 1) + used + size > cap {
            break;
        }
        used += size;
        taken += 1;
    }
    if taken == 0 && !entries.is_empty() {
        return Err(Errno::OutOfRange);
    }
    let page: Vec<DirEntry<'_>> = entries[..taken].iter().map(entry).collect();
    Ok((msg::encode(&page), taken))
}

/// Applies `f` to a handle's file in place.
pub(super) fn with_file(caller: &mut Caller<'_>, handle: u32, f: impl FnOnce(&mut FileHandle)) {
    if let Ok(entry) = caller.state_mut().handles.get_mut(handle) {
        if let HandleObject::File(file) = &mut entry.object {
            f(file);
        }
    }
}

/// The value a provider's reply carries for a request answered by a
/// number; any other kind of reply is a lie (`Errno::Io`).
pub(super) fn reply_value(reply: Reply) -> Result<u64, Errno> {
    match reply {
        Reply::Value(v) => Ok(v),
        Reply::Error(e) => Err(e),
        _ => Err(Errno::Io),
    }
}

/// The bytes of a provider's reply to a read.
pub(super) fn reply_data(reply: Reply) -> Result<Vec<u8>, Errno> {
    match reply {
        Reply::Data(d) => Ok(d),
        Reply::Error(e) => Err(e),
        _ => Err(Errno::Io),
    }
}

/// The status in a provider's reply to an fstat.
pub(super) fn reply_stat(reply: Reply) -> Result<Stat, Errno> {
    match reply {
        Reply::Stat(s) => Ok(s),
        Reply::Error(e) => Err(e),
        _ => Err(Errno::Io),
    }
}

/// The entries in a provider's reply to a getdents.
pub(super) fn reply_entries(reply: Reply) -> Result<Vec<Listed>, Errno> {
    match reply {
        Reply::Dirents(v) => {
            Ok(v.into_iter().map(|e| Listed { name: e.name, kind: e.kind, ino: e.ino }).collect())
        }
        Reply::Error(e) => Err(e),
        _ => Err(Errno::Io),
    }
}

/// A continuation computing the hostcall's value for its caller, in the
/// services' context.
pub(super) fn then(
    f: impl FnOnce(&mut Context<'_>, &mut Caller<'_>) -> Result<i64, Errno> + Send + 'static,
) -> Continuation {
    in_context(move |cx, caller| returning(f(cx, caller)))
}

/// A new handle for an opened object, with the open's rights.
pub(super) fn new_handle(
    caller: &mut Caller<'_>,
    object: HandleObject,
    rights: Rights,
) -> Result<i64, Errno> {
    let handle = caller.state_mut().handles.insert(object, rights)?;
    Ok(i64::from(handle))
}

pub(super) fn new_file(target: FileTarget) -> HandleObject {
    HandleObject::File(FileHandle { target, pos: 0, dir_pos: 0, listing: None })
}

// Answers come from other guests (providers) and the OS: longer data
// than asked for, or a count above what was written, is a lie and `Errno::Io`;
// nothing is written then.

/// A read's data came: into the guest's buffer; the handle's position
/// moves unless the read was positional (`at`).
pub(super) fn finish_read(
    caller: &mut Caller<'_>,
    handle: u32,
    buf: GuestBuf,
    at: Option<u64>,
    data: Vec<u8>,
) -> Result<i64, Errno> {
    let n = caller.write(buf, &data).map_err(|_| Errno::Io)?;
    caller.state().counters.read(n as u64);
    let mut moved = Ok(());
    if at.is_none() {
        with_file(caller, handle, |f| moved = advance(&mut f.pos, n as u64));
    }
    moved.map(|()| n as i64)
}

/// A write of `asked` bytes wrote `n`; the position moves unless it was
/// positional (`at`).
pub(super) fn finish_write(
    caller: &mut Caller<'_>,
    handle: u32,
    asked: usize,
    at: Option<u64>,
    n: u64,
) -> Result<i64, Errno> {
    if n > asked as u64 {
        return Err(Errno::Io);
    }
    caller.state().counters.wrote(n);
    let mut moved = Ok(());
    if at.is_none() {
        with_file(caller, handle, |f| moved = advance(&mut f.pos, n));
    }
    moved.map(|()| n as i64)
}

/// Bytes of standard input came: into the guest's buffer.
pub(super) fn finish_stdin(caller: &mut Caller<'_>, buf: GuestBuf, data: &[u8]) -> Result<i64, Errno> {
    let n = caller.write(buf, data).map_err(|_| Errno::Io)?;
    caller.state().counters.read(n as u64);
    Ok(n as i64)
}

/// An append of `asked` bytes wrote `n` at `at` (the end then): the
/// position moves past them.
pub(super) fn finish_append(
    caller: &mut Caller<'_>,
    handle: u32,
    asked: usize,
    at: u64,
    n: u64,
) -> Result<i64, Errno> {
    finish_write(caller, handle, asked, Some(at), n)?;
    let end = at.checked_add(n).ok_or(Errno::Io)?;
    with_file(caller, handle, |f| f.pos = end);
    Ok(n as i64)
}

pub(super) fn finish_seek_end(
    caller: &mut Caller<'_>,
    handle: u32,
    offset: i64,
    size: u64,
) -> Result<i64, Errno> {
    let size = i64::try_from(size).map_err(|_| Errno::Io)?;
    let pos = size.checked_add(offset).filter(|p| *p >= 0).ok_or(Errno::InvalidArgument)?;
    with_file(caller, handle, |f| f.pos = pos as u64);
    Ok(pos)
}

pub(super) fn finish_fstat(
    caller: &mut Caller<'_>,
    buf: GuestBuf,
    format: Format,
    status: FileStatus,
) -> Result<i64, Errno> {
    let bytes = match format {
        Format::Native => msg::encode(&status.stat),
        Format::Wasi { .. } => crate::wasi::encode::filestat(&status).to_vec(),
    };
    caller.write(buf, &bytes).map(|n| n as i64).map_err(|_| Errno::OutOfRange)
}

/// A WASI `fd_readdir` page: `dirent`s from entry `cookie` of `.`, `..`
/// and the listing (whose first element is entry `first + 2`), as many
/// as fit, the last one cut; the bytes used.
pub(super) fn finish_wasi_dirents(
    caller: &mut Caller<'_>,
    buf: GuestBuf,
    cookie: u64,
    first: u64,
    dir: &WasiListing<'_>,
) -> Result<i64, Errno> {
    let bytes = crate::wasi::encode::dirents(cookie, first, dir, buf.len());
    caller.write(buf, &bytes).map(|n| n as i64).map_err(|_| Errno::Io)
}

pub(super) fn finish_getdents(
    caller: &mut Caller<'_>,
    handle: u32,
    buf: GuestBuf,
    entries: &[Listed],
) -> Result<i64, Errno> {
    let (bytes, taken) = dirents_page(entries, buf.len())?;
    caller.write(buf, &bytes).map_err(|_| Errno::OutOfRange)?;
    with_file(caller, handle, |f| f.dir_pos += taken as u64);
    Ok(taken as i64)
}

/// An OS directory's whole listing came: keep it on the handle, return
/// its first page.
pub(super) fn finish_listing(
    caller: &mut Caller<'_>,
    handle: u32,
    buf: GuestBuf,
    all: Arc<Vec<Listed>>,
) -> Result<i64, Errno> {
    let entries = page(&all, file(caller, handle, Rights(0))?.dir_pos);
    with_file(caller, handle, |f| f.listing = Some(all));
    finish_getdents(caller, handle, buf, &entries)
}
