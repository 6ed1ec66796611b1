//! WASI calls on descriptors (`fd_*`): the standard streams answered in
//! place, files and directories through the same I/O requests as wasmd's
//! own `fs_*` hostcalls (so guest schemes and OS files, grants and limits
//! behave alike); a descriptor's rights are checked first (`ENOTCAPABLE`
//! when one is missing).

use wasmd_abi::Caps;
use wasmi::{Error, Linker};

use super::fds::{FdKind, Stream};
use super::paths::{new_times, resolve};
use super::types::{fdflags, fdstat, filetype, prestat_dir, rights, whence, WasiErrno, WasiResult};
use super::types::{Filestat, FDSTAT_SIZE, FILESTAT_SIZE, IOVEC_SIZE};
use super::{errno, fds, get_u32, memory_and_state, out, park, put, Finish, Ret, MODULE};
use crate::file::{Format, IoRequest, TimesOf, MAX_IO};
use crate::guest_buf::GuestBuf;
use crate::hostcalls::Ctx;
use crate::process::{HandleObject, ProcessState};
use crate::syscall::Syscall;

/// The `(offset, length)` of each of the `count` iovecs at `ptr`, each
/// checked to lie in memory (`EFAULT` otherwise, before anything moves).
fn iovecs(mem: &[u8], ptr: i32, count: i32) -> WasiResult<impl Iterator<Item = (usize, usize)> + '_> {
    let count = count as u32 as usize;
    out(mem.len(), ptr, count.checked_mul(IOVEC_SIZE).ok_or(WasiErrno::FAULT)?, 4)?;
    let base = ptr as u32 as usize;
    for i in 0..count {
        let (at, len) = (get_u32(mem, base + i * IOVEC_SIZE)?, get_u32(mem, base + i * IOVEC_SIZE + 4)?);
        out(mem.len(), at as i32, len as usize, 1)?;
    }
    Ok((0..count).map(move |i| {
        let at = base + i * IOVEC_SIZE;
        let word = |o: usize| u32::from_le_bytes([mem[o], mem[o + 1], mem[o + 2], mem[o + 3]]) as usize;
        (word(at), word(at + 4))
    }))
}

/// The native handle of a file or directory descriptor that holds
/// `needed`.
pub(super) fn handle_of(state: &mut ProcessState, fd: u32, needed: u64) -> WasiResult<u32> {
    match fds(state).with_rights(fd, needed)?.kind {
        FdKind::File { handle, .. } | FdKind::Dir { handle: Some(handle), .. } => Ok(handle),
        FdKind::Dir { handle: None, .. } => Err(WasiErrno::BADF),
        FdKind::Stream(_) => Err(WasiErrno::SPIPE),
    }
}

pub(super) fn fd_write(
    c: &mut Ctx<'_>,
    fd: i32,
    iovs: i32,
    n: i32,
    written: i32,
    at: Option<u64>,
) -> WasiResult<Option<(Syscall, Finish)>> {
    let (mem, state) = memory_and_state(c)?;
    let count_out = out(mem.len(), written, 4, 4)?;
    let entry = fds(state).with_rights(fd as u32, rights::FD_WRITE)?;
    let (kind, append) = (entry.kind.clone(), entry.flags & fdflags::APPEND != 0);
    match kind {
        FdKind::Stream(Stream::Stdin) => Err(WasiErrno::BADF),
        FdKind::Stream(s) => {
            if at.is_some() {
                return Err(WasiErrno::SPIPE);
            }
            if !state.caps.contains(Caps::STDIO) {
                return Err(WasiErrno::NOTCAPABLE);
            }
            let stream =
                if s == Stream::Stdout { wasmd_abi::hostcall::STDOUT } else { wasmd_abi::hostcall::STDERR };
            let mut total = 0usize;
            for (at, len) in iovecs(mem, iovs, n)? {
                crate::hostcalls::process::write_stream(state, stream, &mem[at..at + len]);
                total += len;
            }
            count_out.fill(mem, &(total as u32).to_le_bytes()).map_err(|_| WasiErrno::FAULT)?;
            Ok(None)
        }
        FdKind::Dir { .. } => Err(WasiErrno::ISDIR),
        FdKind::File { handle, socket } => {
            let mut data = Vec::new();
            for (at, len) in iovecs(mem, iovs, n)? {
                let room = MAX_IO - data.len();
                data.extend_from_slice(&mem[at..at + len.min(room)]);
            }
            let req = match (socket, at) {
                (true, _) => IoRequest::Send { handle, data },
                (false, None) if append => IoRequest::Append { handle, data },
                (false, at) => IoRequest::Write { handle, data, at },
            };
            Ok(Some((Syscall::Io(req), Finish::Count(count_out))))
        }
    }
}

pub(super) fn fd_read(
    c: &mut Ctx<'_>,
    fd: i32,
    iovs: i32,
    n: i32,
    read: i32,
    at: Option<u64>,
) -> WasiResult<Option<(Syscall, Finish)>> {
    let (mem, state) = memory_and_state(c)?;
    let count_out = out(mem.len(), read, 4, 4)?;
    let kind = fds(state).with_rights(fd as u32, rights::FD_READ)?.kind.clone();
    // One read fills the first non-empty buffer (a short read, as POSIX
    // allows for readv).
    let first = iovecs(mem, iovs, n)?.find(|(_, len)| *len > 0);
    match kind {
        FdKind::Stream(Stream::Stdin) => {
            let Some((ptr, len)) = first else {
                count_out.fill(mem, &0u32.to_le_bytes()).map_err(|_| WasiErrno::FAULT)?;
                return Ok(None);
            };
            let buf = out(mem.len(), ptr as i32, len, 1)?.at_most(MAX_IO);
            Ok(Some((Syscall::Io(IoRequest::ReadStdin { buf }), Finish::Count(count_out))))
        }
        FdKind::Stream(_) => Err(WasiErrno::BADF),
        FdKind::Dir { .. } => Err(WasiErrno::ISDIR),
        FdKind::File { handle, socket } => {
            let Some((ptr, len)) = first else {
                count_out.fill(mem, &0u32.to_le_bytes()).map_err(|_| WasiErrno::FAULT)?;
                return Ok(None);
            };
            let buf = GuestBuf::decode(mem.len(), ptr as i32, len as i32)
                .map_err(|_| WasiErrno::FAULT)?
                .at_most(MAX_IO);
            let req =
                if socket { IoRequest::Recv { handle, buf } } else { IoRequest::Read { handle, buf, at } };
            Ok(Some((Syscall::Io(req), Finish::Count(count_out))))
        }
    }
}

/// Parks for `call` when there is one; returns success otherwise.
pub(super) fn maybe_park(c: &mut Ctx<'_>, call: WasiResult<Option<(Syscall, Finish)>>) -> Ret {
    match call {
        Ok(Some(call)) => park(c, Ok(call)),
        Ok(None) => Ok(0),
        Err(e) => Ok(i32::from(e.0)),
    }
}

fn fd_close(c: &mut Ctx<'_>, fd: i32) -> WasiResult {
    let state = c.data_mut();
    let closed = fds(state).remove(fd as u32)?;
    match closed.kind {
        FdKind::File { handle, .. } | FdKind::Dir { handle: Some(handle), .. } => {
            crate::hostcalls::fs::close_handle(state, handle as i32).map(|_| ()).map_err(WasiErrno::from)
        }
        _ => Ok(()),
    }
}

fn fd_fdstat_get(c: &mut Ctx<'_>, fd: i32, at: i32) -> WasiResult {
    let (mem, state) = memory_and_state(c)?;
    let entry = fds(state).get(fd as u32)?;
    let kind = match entry.kind {
        FdKind::Stream(_) => filetype::CHARACTER_DEVICE,
        FdKind::Dir { .. } => filetype::DIRECTORY,
        FdKind::File { socket: true, .. } => filetype::SOCKET_STREAM,
        FdKind::File { .. } => filetype::REGULAR_FILE,
    };
    let bytes: [u8; FDSTAT_SIZE] = fdstat(kind, entry.flags, entry.base, entry.inheriting);
    put(mem, at, &bytes, 8)
}

fn fd_fdstat_set_flags(c: &mut Ctx<'_>, fd: i32, flags: i32) -> WasiResult {
    let entry = fds(c.data_mut()).get_mut(fd as u32)?;
    if matches!(entry.kind, FdKind::Stream(_)) && flags as u16 & fdflags::APPEND != 0 {
        return Err(WasiErrno::NOTSUP);
    }
    entry.flags = flags as u16;
    Ok(())
}

fn fd_fdstat_set_rights(c: &mut Ctx<'_>, fd: i32, base: i64, inheriting: i64) -> WasiResult {
    let entry = fds(c.data_mut()).get_mut(fd as u32)?;
    let (base, inheriting) = (base as u64, inheriting as u64);
    // Rights can only be dropped.
    if base & !entry.base != 0 || inheriting & !entry.inheriting != 0 {
        return Err(WasiErrno::NOTCAPABLE);
    }
    entry.base = base;
    entry.inheriting = inheriting;
    Ok(())
}

fn fd_prestat_get(c: &mut Ctx<'_>, fd: i32, at: i32) -> WasiResult {
    let (mem, state) = memory_and_state(c)?;
    let name = fds(state).get(fd as u32)?.preopen.clone().ok_or(WasiErrno::BADF)?;
    put(mem, at, &prestat_dir(name.len()), 4)
}

fn fd_prestat_dir_name(c: &mut Ctx<'_>, fd: i32, buf: i32, len: i32) -> WasiResult {
    let (mem, state) = memory_and_state(c)?;
    let name = fds(state).get(fd as u32)?.preopen.clone().ok_or(WasiErrno::BADF)?;
    let room = out(mem.len(), buf, len as u32 as usize, 1)?;
    if room.len() < name.len() {
        return Err(WasiErrno::NAMETOOLONG);
    }
    room.fill(mem, name.as_bytes()).map(|_| ()).map_err(|_| WasiErrno::FAULT)
}

fn fd_seek(
    c: &mut Ctx<'_>,
    fd: i32,
    offset: i64,
    how: i32,
    at: i32,
) -> WasiResult<Option<(Syscall, Finish)>> {
    let (mem, state) = memory_and_state(c)?;
    let new_out = out(mem.len(), at, 8, 8)?;
    let needed = if offset == 0 && how as u8 == whence::CUR {
        rights::FD_TELL
    } else {
        rights::FD_SEEK | rights::FD_TELL
    };
    let entry = fds(state).get(fd as u32)?;
    if matches!(entry.kind, FdKind::Stream(_) | FdKind::File { socket: true, .. }) {
        return Err(WasiErrno::SPIPE);
    }
    if entry.base & needed == 0 {
        return Err(WasiErrno::NOTCAPABLE);
    }
    let handle = handle_of(state, fd as u32, 0)?;
    let HandleObject::File(file) = &mut state.handles.get_mut(handle).map_err(WasiErrno::from)?.object else {
        return Err(WasiErrno::BADF);
    };
    let base = match how as u8 {
        whence::SET => 0,
        whence::CUR => file.pos as i64,
        whence::END => {
            return Ok(Some((Syscall::Io(IoRequest::SeekEnd { handle, offset }), Finish::Offset(new_out))));
        }
        _ => return Err(WasiErrno::INVAL),
    };
    let pos = base.checked_add(offset).filter(|p| *p >= 0).ok_or(WasiErrno::INVAL)?;
    file.pos = pos as u64;
    new_out.fill(mem, &(pos as u64).to_le_bytes()).map_err(|_| WasiErrno::FAULT)?;
    Ok(None)
}

fn fd_filestat_get(c: &mut Ctx<'_>, fd: i32, at: i32) -> WasiResult<Option<(Syscall, Finish)>> {
    let (mem, state) = memory_and_state(c)?;
    let buf = out(mem.len(), at, FILESTAT_SIZE, 8)?;
    let entry = fds(state).with_rights(fd as u32, rights::FD_FILESTAT_GET)?;
    match entry.kind {
        FdKind::Stream(_) => {
            let stat = Filestat { filetype: filetype::CHARACTER_DEVICE, ..Filestat::default() };
            buf.fill(mem, &stat.encode()).map_err(|_| WasiErrno::FAULT)?;
            Ok(None)
        }
        FdKind::Dir { handle: None, .. } => {
            // A preopen has no handle: the status of its path.
            let (path, _) = resolve(state, fd as u32, ".", 0, false)?;
            Ok(Some((Syscall::Io(IoRequest::Status { path, buf, follow: true }), Finish::Status)))
        }
        FdKind::File { handle, .. } | FdKind::Dir { handle: Some(handle), .. } => {
            let req = IoRequest::Fstat { handle, buf, format: Format::Wasi { cookie: 0 } };
            Ok(Some((Syscall::Io(req), Finish::Status)))
        }
    }
}

fn fd_readdir(
    c: &mut Ctx<'_>,
    fd: i32,
    buf: i32,
    len: i32,
    cookie: i64,
    used: i32,
) -> WasiResult<(Syscall, Finish)> {
    let (mem, state) = memory_and_state(c)?;
    let used_out = out(mem.len(), used, 4, 4)?;
    let buf = out(mem.len(), buf, len as u32 as usize, 1)?.at_most(MAX_IO);
    let entry = fds(state).with_rights(fd as u32, rights::FD_READDIR)?;
    let FdKind::Dir { handle, .. } = entry.kind else { return Err(WasiErrno::NOTDIR) };
    let req = match handle {
        Some(handle) => IoRequest::Getdents { handle, buf, format: Format::Wasi { cookie: cookie as u64 } },
        // A preopen has no handle: listed by its path.
        None => {
            let (path, _) = resolve(state, fd as u32, ".", 0, false)?;
            IoRequest::ListPath { path, buf, cookie: cookie as u64 }
        }
    };
    Ok((Syscall::Io(req), Finish::Count(used_out)))
}

fn fd_renumber(c: &mut Ctx<'_>, from: i32, to: i32) -> WasiResult {
    let state = c.data_mut();
    if let Some(old) = fds(state).renumber(from as u32, to as u32)? {
        if let FdKind::File { handle, .. } | FdKind::Dir { handle: Some(handle), .. } = old.kind {
            let _ = crate::hostcalls::fs::close_handle(state, handle as i32);
        }
    }
    Ok(())
}

/// An operation on descriptor `fd`'s open file, which must hold `needed`.
pub(super) fn on_handle(
    c: &mut Ctx<'_>,
    fd: i32,
    needed: u64,
    make: impl FnOnce(u32) -> IoRequest,
) -> WasiResult<(Syscall, Finish)> {
    let state = c.data_mut();
    if let FdKind::Stream(_) = fds(state).get(fd as u32)?.kind {
        return Err(WasiErrno::INVAL);
    }
    let handle = handle_of(state, fd as u32, needed)?;
    Ok((Syscall::Io(make(handle)), Finish::Status))
}

pub(super) fn define(linker: &mut Linker<ProcessState>) -> Result<(), Error> {
    let m = MODULE;
    linker.func_wrap(m, "fd_write", |mut c: Ctx<'_>, fd: i32, iovs: i32, n: i32, written: i32| -> Ret {
        c.data().count_hostcall();
        let call = fd_write(&mut c, fd, iovs, n, written, None);
        maybe_park(&mut c, call)
    })?;
    linker.func_wrap(
        m,
        "fd_pwrite",
        |mut c: Ctx<'_>, fd: i32, iovs: i32, n: i32, at: i64, written: i32| -> Ret {
            c.data().count_hostcall();
            let call = if at < 0 {
                Err(WasiErrno::INVAL)
            } else {
                fd_write(&mut c, fd, iovs, n, written, Some(at as u64))
            };
            maybe_park(&mut c, call)
        },
    )?;
    linker.func_wrap(m, "fd_read", |mut c: Ctx<'_>, fd: i32, iovs: i32, n: i32, read: i32| -> Ret {
        c.data().count_hostcall();
        let call = fd_read(&mut c, fd, iovs, n, read, None);
        maybe_park(&mut c, call)
    })?;
    linker.func_wrap(
        m,
        "fd_pread",
        |mut c: Ctx<'_>, fd: i32, iovs: i32, n: i32, at: i64, read: i32| -> Ret {
            c.data().count_hostcall();
            let call = if at < 0 {
                Err(WasiErrno::INVAL)
            } else {
                fd_read(&mut c, fd, iovs, n, read, Some(at as u64))
            };
            maybe_park(&mut c, call)
        },
    )?;
    linker.func_wrap(m, "fd_close", |mut c: Ctx<'_>, fd: i32| -> i32 {
        c.data().count_hostcall();
        errno(fd_close(&mut c, fd))
    })?;
    linker.func_wrap(m, "fd_fdstat_get", |mut c: Ctx<'_>, fd: i32, at: i32| -> i32 {
        c.data().count_hostcall();
        errno(fd_fdstat_get(&mut c, fd, at))
    })?;
    linker.func_wrap(m, "fd_fdstat_set_flags", |mut c: Ctx<'_>, fd: i32, flags: i32| -> i32 {
        c.data().count_hostcall();
        errno(fd_fdstat_set_flags(&mut c, fd, flags))
    })?;
    linker.func_wrap(
        m,
        "fd_fdstat_set_rights",
        |mut c: Ctx<'_>, fd: i32, base: i64, inheriting: i64| -> i32 {
            c.data().count_hostcall();
            errno(fd_fdstat_set_rights(&mut c, fd, base, inheriting))
        },
    )?;
    linker.func_wrap(m, "fd_prestat_get", |mut c: Ctx<'_>, fd: i32, at: i32| -> i32 {
        c.data().count_hostcall();
        errno(fd_prestat_get(&mut c, fd, at))
    })?;
    linker.func_wrap(m, "fd_prestat_dir_name", |mut c: Ctx<'_>, fd: i32, buf: i32, len: i32| -> i32 {
        c.data().count_hostcall();
        errno(fd_prestat_dir_name(&mut c, fd, buf, len))
    })?;
    linker.func_wrap(m, "fd_seek", |mut c: Ctx<'_>, fd: i32, offset: i64, how: i32, at: i32| -> Ret {
        c.data().count_hostcall();
        let call = fd_seek(&mut c, fd, offset, how, at);
        maybe_park(&mut c, call)
    })?;
    linker.func_wrap(m, "fd_tell", |mut c: Ctx<'_>, fd: i32, at: i32| -> Ret {
        c.data().count_hostcall();
        let call = fd_seek(&mut c, fd, 0, i32::from(whence::CUR), at);
        maybe_park(&mut c, call)
    })?;
    linker.func_wrap(m, "fd_filestat_get", |mut c: Ctx<'_>, fd: i32, at: i32| -> Ret {
        c.data().count_hostcall();
        let call = fd_filestat_get(&mut c, fd, at);
        maybe_park(&mut c, call)
    })?;
    linker.func_wrap(
        m,
        "fd_readdir",
        |mut c: Ctx<'_>, fd: i32, buf: i32, len: i32, cookie: i64, used: i32| -> Ret {
            c.data().count_hostcall();
            let call = fd_readdir(&mut c, fd, buf, len, cookie, used);
            park(&mut c, call)
        },
    )?;
    linker.func_wrap(m, "fd_renumber", |mut c: Ctx<'_>, from: i32, to: i32| -> i32 {
        c.data().count_hostcall();
        errno(fd_renumber(&mut c, from, to))
    })?;
    linker.func_wrap(
        m,
        "fd_advise",
        |mut c: Ctx<'_>, fd: i32, _offset: i64, _len: i64, advice: i32| -> i32 {
            c.data().count_hostcall();
            // Advice is a hint; wasmd has no use for it.
            errno(fds(c.data_mut()).with_rights(fd as u32, rights::FD_ADVISE).and_then(|_| {
                if (0..=5).contains(&advice) {
                    Ok(())
                } else {
                    Err(WasiErrno::INVAL)
                }
            }))
        },
    )?;
    linker.func_wrap(m, "fd_allocate", |mut c: Ctx<'_>, fd: i32, offset: i64, len: i64| -> Ret {
        c.data().count_hostcall();
        let call = if offset < 0 || len < 0 {
            Err(WasiErrno::INVAL)
        } else {
            on_handle(&mut c, fd, rights::FD_ALLOCATE, |handle| IoRequest::Allocate {
                handle,
                offset: offset as u64,
                len: len as u64,
            })
        };
        park(&mut c, call)
    })?;
    linker.func_wrap(m, "fd_datasync", |mut c: Ctx<'_>, fd: i32| -> Ret {
        c.data().count_hostcall();
        let call =
            on_handle(&mut c, fd, rights::FD_DATASYNC, |handle| IoRequest::Sync { handle, data_only: true });
        park(&mut c, call)
    })?;
    linker.func_wrap(m, "fd_sync", |mut c: Ctx<'_>, fd: i32| -> Ret {
        c.data().count_hostcall();
        let call =
            on_handle(&mut c, fd, rights::FD_SYNC, |handle| IoRequest::Sync { handle, data_only: false });
        park(&mut c, call)
    })?;
    linker.func_wrap(m, "fd_filestat_set_size", |mut c: Ctx<'_>, fd: i32, size: i64| -> Ret {
        c.data().count_hostcall();
        let call = if size < 0 {
            Err(WasiErrno::INVAL)
        } else {
            on_handle(&mut c, fd, rights::FD_FILESTAT_SET_SIZE, |handle| IoRequest::SetLen {
                handle,
                len: size as u64,
            })
        };
        park(&mut c, call)
    })?;
    linker.func_wrap(
        m,
        "fd_filestat_set_times",
        |mut c: Ctx<'_>, fd: i32, atim: i64, mtim: i64, fst: i32| -> Ret {
            c.data().count_hostcall();
            let call = new_times(atim, mtim, fst).and_then(|(atime, mtime)| {
                on_handle(&mut c, fd, rights::FD_FILESTAT_SET_TIMES, |handle| IoRequest::SetTimes {
                    of: TimesOf::Handle(handle),
                    atime,
                    mtime,
                })
            });
            park(&mut c, call)
        },
    )?;
    Ok(())
}
