//! WASI calls on paths (`path_*`).
//!
//! A path is resolved against its directory descriptor lexically: the
//! directory's namespace path joined with the relative path, where `..`
//! may not climb above the directory (`ENOTCAPABLE`) and an absolute path
//! is refused (`ENOTCAPABLE`). The result is an ordinary namespace path,
//! checked against the grants ([`crate::namespace::check`]: a read-only
//! grant refuses writes) and opened beneath the grant by the platform,
//! which lets no symbolic link lead out of it; a trailing `/` asks for a
//! directory.

use wasmd_abi::scheme::flags;
use wasmi::{Error, Linker};

use super::fds::{Fd, FdKind};
use super::types::FILESTAT_SIZE;
use super::types::{fdflags, oflags, rights, WasiErrno, WasiResult};
use super::{fds, memory_and_state, out, park, Finish, Ret, MODULE};
use crate::file::{IoRequest, Removes, TimesOf};
use crate::hostcalls::Ctx;
use crate::namespace::{self, GrantedPath};
use crate::platform::NewTime;
use crate::process::ProcessState;
use crate::syscall::Syscall;

/// The guest's path string at `ptr`.
pub(super) fn path_text(mem: &[u8], ptr: i32, len: i32) -> WasiResult<String> {
    let range = out(mem.len(), ptr, len as u32 as usize, 1)?;
    let start = ptr as u32 as usize;
    let bytes = &mem[start..start + range.len()];
    std::str::from_utf8(bytes).map(str::to_string).map_err(|_| WasiErrno(25))
}

/// Resolves `path` against directory descriptor `fd`, which must hold
/// `needed`; checks the result against the grants (with `write`).
pub(super) fn resolve(
    state: &mut ProcessState,
    fd: u32,
    path: &str,
    needed: u64,
    write: bool,
) -> WasiResult<(GrantedPath, Fd)> {
    let dir = fds(state)
        .with_rights(fd, needed)
        .map_err(|e| if e == WasiErrno::NOTCAPABLE { e } else { WasiErrno::BADF })?
        .clone();
    let FdKind::Dir { path: base, .. } = &dir.kind else { return Err(WasiErrno::NOTDIR) };
    if path.is_empty() {
        return Err(WasiErrno::NOENT);
    }
    if path.contains('\0') {
        return Err(WasiErrno::INVAL);
    }
    if path.starts_with('/') {
        return Err(WasiErrno::NOTCAPABLE);
    }
    let (scheme, rest) = base.split_once(':').ok_or(WasiErrno::BADF)?;
    let mut parts: Vec<&str> = rest.split('/').filter(|p| !p.is_empty()).collect();
    let floor = parts.len();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.len() == floor {
                    return Err(WasiErrno::NOTCAPABLE);
                }
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    let joined = format!("{scheme}:/{}", parts.join("/"));
    let ns = namespace::parse_path(&joined).map_err(|_| WasiErrno::NOTCAPABLE)?;
    let granted = namespace::check(&state.namespace, &ns, write).map_err(|_| WasiErrno::NOTCAPABLE)?;
    // A trailing `/` asks for a directory.
    let granted = if path.ends_with('/') { granted.requiring_dir() } else { granted };
    Ok((granted, dir))
}

/// The Redox open flags and the new descriptor of a `path_open`.
#[allow(clippy::too_many_arguments)]
fn path_open(
    c: &mut Ctx<'_>,
    dirfd: i32,
    lookup: i32,
    path: i32,
    path_len: i32,
    oflags_bits: i32,
    base: i64,
    inheriting: i64,
    fd_flags: i32,
    fd_out: i32,
) -> WasiResult<(Syscall, Finish)> {
    let (mem, state) = memory_and_state(c)?;
    let fd_out = out(mem.len(), fd_out, 4, 4)?;
    let text = path_text(mem, path, path_len)?;
    let (o, fdf, requested) = (oflags_bits as u16, fd_flags as u16, base as u64);
    let mut needed = rights::PATH_OPEN;
    if o & oflags::CREAT != 0 {
        needed |= rights::PATH_CREATE_FILE;
    }
    if o & oflags::TRUNC != 0 {
        needed |= rights::PATH_FILESTAT_SET_SIZE;
    }
    let write_rights = rights::FD_WRITE | rights::FD_ALLOCATE | rights::FD_FILESTAT_SET_SIZE;
    let writes = requested & write_rights != 0 || fdf & fdflags::APPEND != 0;
    let reads = requested & (rights::FD_READ | rights::FD_READDIR) != 0 || !writes;
    let mutates = writes || o & (oflags::CREAT | oflags::TRUNC) != 0;
    let (granted, dir) = resolve(state, dirfd as u32, &text, needed, mutates)?;
    if state.handles.len() >= state.handles.capacity() {
        return Err(WasiErrno::MFILE);
    }
    let mut open = if lookup & 1 == 0 { flags::O_NOFOLLOW } else { 0 };
    open |= match (reads, writes) {
        (true, true) => flags::O_RDWR,
        (false, true) => flags::O_WRONLY,
        _ => flags::O_RDONLY,
    };
    if o & oflags::CREAT != 0 {
        open |= flags::O_CREAT;
    }
    if o & oflags::EXCL != 0 {
        open |= flags::O_EXCL;
    }
    if o & oflags::TRUNC != 0 {
        open |= flags::O_TRUNC;
    }
    if o & oflags::DIRECTORY != 0 {
        open |= flags::O_DIRECTORY;
    }
    // Append mode is the descriptor's (`fd_fdstat_set_flags` may turn it
    // off): its writes go to the end ([`IoRequest::Append`]), the OS file
    // is opened without it.
    let directory = o & oflags::DIRECTORY != 0;
    // A directory gets directory rights only (no seek, no read or write).
    let kinds =
        if directory { rights::DIR_READ | rights::DIR_WRITE } else { rights::FILE_READ | rights::FILE_WRITE };
    let base_rights = requested & dir.inheriting & kinds;
    let kind = if directory {
        let ns = format!("{}:{}", granted.scheme(), granted.rest());
        FdKind::Dir { path: ns.into(), handle: None }
    } else {
        FdKind::File { handle: 0, socket: false }
    };
    let fd = Fd {
        kind,
        base: base_rights,
        inheriting: inheriting as u64 & dir.inheriting,
        flags: fdf,
        preopen: None,
    };
    Ok((Syscall::Io(IoRequest::Open { path: granted, flags: open }), Finish::NewFd { out: fd_out, fd }))
}

fn path_call(
    c: &mut Ctx<'_>,
    fd: i32,
    path: i32,
    len: i32,
    needed: u64,
    make: impl FnOnce(GrantedPath) -> IoRequest,
) -> WasiResult<(Syscall, Finish)> {
    let (mem, state) = memory_and_state(c)?;
    let text = path_text(mem, path, len)?;
    let (granted, _) = resolve(state, fd as u32, &text, needed, true)?;
    Ok((Syscall::Io(make(granted)), Finish::Status))
}

/// The two paths of a rename or link, each against its own directory.
#[allow(clippy::too_many_arguments)]
fn two_paths(
    c: &mut Ctx<'_>,
    old_fd: i32,
    old: (i32, i32),
    old_right: u64,
    new_fd: i32,
    new: (i32, i32),
    new_right: u64,
) -> WasiResult<(GrantedPath, GrantedPath)> {
    let (mem, state) = memory_and_state(c)?;
    let (old_text, new_text) = (path_text(mem, old.0, old.1)?, path_text(mem, new.0, new.1)?);
    let (from, _) = resolve(state, old_fd as u32, &old_text, old_right, true)?;
    let (to, _) = resolve(state, new_fd as u32, &new_text, new_right, true)?;
    Ok((from, to))
}

fn path_filestat_get(
    c: &mut Ctx<'_>,
    fd: i32,
    lookup: i32,
    path: i32,
    len: i32,
    at: i32,
) -> WasiResult<(Syscall, Finish)> {
    let (mem, state) = memory_and_state(c)?;
    let buf = out(mem.len(), at, FILESTAT_SIZE, 8)?;
    let text = path_text(mem, path, len)?;
    let (path, _) = resolve(state, fd as u32, &text, rights::PATH_FILESTAT_GET, false)?;
    Ok((Syscall::Io(IoRequest::Status { path, buf, follow: lookup & 1 != 0 }), Finish::Status))
}

fn path_readlink(
    c: &mut Ctx<'_>,
    fd: i32,
    path: i32,
    len: i32,
    buf: i32,
    cap: i32,
    used: i32,
) -> WasiResult<(Syscall, Finish)> {
    let (mem, state) = memory_and_state(c)?;
    let used = out(mem.len(), used, 4, 4)?;
    let buf = out(mem.len(), buf, cap as u32 as usize, 1)?;
    let text = path_text(mem, path, len)?;
    let (path, _) = resolve(state, fd as u32, &text, rights::PATH_READLINK, false)?;
    Ok((Syscall::Io(IoRequest::Readlink { path, buf }), Finish::Count(used)))
}

fn path_symlink(
    c: &mut Ctx<'_>,
    target: i32,
    target_len: i32,
    fd: i32,
    path: i32,
    len: i32,
) -> WasiResult<(Syscall, Finish)> {
    let (mem, state) = memory_and_state(c)?;
    let target = path_text(mem, target, target_len)?;
    // A link to an absolute path would name something outside every
    // descriptor: refused, as other capability-based hosts do.
    if target.starts_with('/') {
        return Err(WasiErrno::NOTCAPABLE);
    }
    let text = path_text(mem, path, len)?;
    let (at, _) = resolve(state, fd as u32, &text, rights::PATH_SYMLINK, true)?;
    Ok((Syscall::Io(IoRequest::Symlink { target, at }), Finish::Status))
}

#[allow(clippy::too_many_arguments)]
fn path_filestat_set_times(
    c: &mut Ctx<'_>,
    fd: i32,
    lookup: i32,
    path: i32,
    len: i32,
    atim: i64,
    mtim: i64,
    fst: i32,
) -> WasiResult<(Syscall, Finish)> {
    let (atime, mtime) = new_times(atim, mtim, fst)?;
    let (mem, state) = memory_and_state(c)?;
    let text = path_text(mem, path, len)?;
    let (path, _) = resolve(state, fd as u32, &text, rights::PATH_FILESTAT_SET_TIMES, true)?;
    let of = TimesOf::Path(path, lookup & 1 != 0);
    Ok((Syscall::Io(IoRequest::SetTimes { of, atime, mtime }), Finish::Status))
}

/// New times from `fstflags` (`EINVAL` for a time both given and "now").
pub(super) fn new_times(atim: i64, mtim: i64, fst: i32) -> WasiResult<(Option<NewTime>, Option<NewTime>)> {
    let fst = fst as u16;
    let one = |given: u16, now: u16, at: i64| match (fst & given != 0, fst & now != 0) {
        (true, true) => Err(WasiErrno::INVAL),
        (true, false) => Ok(Some(NewTime::At(at as u64))),
        (false, true) => Ok(Some(NewTime::Now)),
        (false, false) => Ok(None),
    };
    if fst & !0xf != 0 {
        return Err(WasiErrno::INVAL);
    }
    Ok((one(1, 2, atim)?, one(4, 8, mtim)?))
}

pub(super) fn define(linker: &mut Linker<ProcessState>) -> Result<(), Error> {
    let m = MODULE;
    linker.func_wrap(
        m,
        "path_open",
        |mut c: Ctx<'_>,
         dirfd: i32,
         lookup: i32,
         path: i32,
         len: i32,
         o: i32,
         base: i64,
         inheriting: i64,
         fdf: i32,
         fd_out: i32|
         -> Ret {
            c.data().count_hostcall();
            let call = path_open(&mut c, dirfd, lookup, path, len, o, base, inheriting, fdf, fd_out);
            park(&mut c, call)
        },
    )?;
    linker.func_wrap(m, "path_create_directory", |mut c: Ctx<'_>, fd: i32, path: i32, len: i32| -> Ret {
        c.data().count_hostcall();
        let call =
            path_call(&mut c, fd, path, len, rights::PATH_CREATE_DIRECTORY, |path| IoRequest::Mkdir { path });
        park(&mut c, call)
    })?;
    linker.func_wrap(m, "path_unlink_file", |mut c: Ctx<'_>, fd: i32, path: i32, len: i32| -> Ret {
        c.data().count_hostcall();
        let call = path_call(&mut c, fd, path, len, rights::PATH_UNLINK_FILE, |path| IoRequest::Unlink {
            path,
            kind: Removes::File,
        });
        park(&mut c, call)
    })?;
    linker.func_wrap(m, "path_remove_directory", |mut c: Ctx<'_>, fd: i32, path: i32, len: i32| -> Ret {
        c.data().count_hostcall();
        let call = path_call(&mut c, fd, path, len, rights::PATH_REMOVE_DIRECTORY, |path| {
            IoRequest::Unlink { path, kind: Removes::Dir }
        });
        park(&mut c, call)
    })?;
    linker.func_wrap(
        m,
        "path_filestat_get",
        |mut c: Ctx<'_>, fd: i32, lookup: i32, path: i32, len: i32, at: i32| -> Ret {
            c.data().count_hostcall();
            let call = path_filestat_get(&mut c, fd, lookup, path, len, at);
            park(&mut c, call)
        },
    )?;
    linker.func_wrap(
        m,
        "path_filestat_set_times",
        |mut c: Ctx<'_>, fd: i32, lookup: i32, path: i32, len: i32, atim: i64, mtim: i64, fst: i32| -> Ret {
            c.data().count_hostcall();
            let call = path_filestat_set_times(&mut c, fd, lookup, path, len, atim, mtim, fst);
            park(&mut c, call)
        },
    )?;
    linker.func_wrap(
        m,
        "path_link",
        |mut c: Ctx<'_>,
         old_fd: i32,
         lookup: i32,
         old: i32,
         old_len: i32,
         new_fd: i32,
         new: i32,
         new_len: i32|
         -> Ret {
            c.data().count_hostcall();
            let call = if lookup & 1 != 0 {
                // Links are made to what the old path names itself.
                Err(WasiErrno::INVAL)
            } else {
                two_paths(
                    &mut c,
                    old_fd,
                    (old, old_len),
                    rights::PATH_LINK_SOURCE,
                    new_fd,
                    (new, new_len),
                    rights::PATH_LINK_TARGET,
                )
                .map(|(from, to)| (Syscall::Io(IoRequest::Link { from, to }), Finish::Status))
            };
            park(&mut c, call)
        },
    )?;
    linker.func_wrap(
        m,
        "path_rename",
        |mut c: Ctx<'_>, old_fd: i32, old: i32, old_len: i32, new_fd: i32, new: i32, new_len: i32| -> Ret {
            c.data().count_hostcall();
            let call = two_paths(
                &mut c,
                old_fd,
                (old, old_len),
                rights::PATH_RENAME_SOURCE,
                new_fd,
                (new, new_len),
                rights::PATH_RENAME_TARGET,
            )
            .map(|(from, to)| (Syscall::Io(IoRequest::Rename { from, to }), Finish::Status));
            park(&mut c, call)
        },
    )?;
    linker.func_wrap(
        m,
        "path_readlink",
        |mut c: Ctx<'_>, fd: i32, path: i32, len: i32, buf: i32, cap: i32, used: i32| -> Ret {
            c.data().count_hostcall();
            let call = path_readlink(&mut c, fd, path, len, buf, cap, used);
            park(&mut c, call)
        },
    )?;
    linker.func_wrap(
        m,
        "path_symlink",
        |mut c: Ctx<'_>, target: i32, target_len: i32, fd: i32, path: i32, len: i32| -> Ret {
            c.data().count_hostcall();
            let call = path_symlink(&mut c, target, target_len, fd, path, len);
            park(&mut c, call)
        },
    )?;
    Ok(())
}
