//! fs and socket hostcalls. Paths are checked against the caller's
//! namespace grants here (`Errno::AccessDenied` without a grant); routing and
//! completion are in [`crate::io`].

use wasmd_abi::hostcall;
use wasmd_abi::Errno;
use wasmd_abi::Rights;
use wasmi::{Error, Linker};

use super::{guest_range, kernel, memory_and_state, memory_len, ret, CallResult, Ctx, Ret};
use crate::file::{open_needs_write, Format, IoRequest, Removes, MAX_IO};
use crate::guest_buf::GuestBuf;
use crate::namespace::{self, GrantedPath};
use crate::process::{HandleObject, ProcessState};
use crate::syscall::Syscall;

/// `SEEK_SET`.
const SEEK_SET: i32 = 0;
/// `SEEK_CUR`.
const SEEK_CUR: i32 = 1;
/// `SEEK_END`.
const SEEK_END: i32 = 2;

/// Decodes a path and checks it against the caller's grants.
fn granted_path(caller: &mut Ctx<'_>, ptr: i32, len: i32, write: bool) -> Result<GrantedPath, Errno> {
    let (mem, state) = memory_and_state(caller)?;
    let text =
        std::str::from_utf8(&mem[guest_range(mem.len(), ptr, len)?]).map_err(|_| Errno::InvalidArgument)?;
    let path = namespace::parse_path(text)?;
    namespace::check(&state.namespace, &path, write)
}

fn has_room(state: &ProcessState) -> Result<(), Errno> {
    if state.handles.len() >= state.handles.capacity() {
        return Err(Errno::TooManyHandles);
    }
    Ok(())
}

/// A kernel call, or an errno.
fn io(caller: &mut Ctx<'_>, req: Result<IoRequest, Errno>) -> Ret {
    kernel(caller, req.map(Syscall::Io))
}

fn open(caller: &mut Ctx<'_>, ptr: i32, len: i32, flags: i32) -> Result<IoRequest, Errno> {
    let flags = flags as u32;
    let path = granted_path(caller, ptr, len, open_needs_write(flags))?;
    has_room(caller.data())?;
    Ok(IoRequest::Open { path, flags })
}

fn net_path(caller: &mut Ctx<'_>, ptr: i32, len: i32, write: bool) -> Result<GrantedPath, Errno> {
    let path = granted_path(caller, ptr, len, write)?;
    if path.scheme() != "tcp" && path.scheme() != "udp" {
        return Err(Errno::InvalidArgument);
    }
    has_room(caller.data())?;
    Ok(path)
}

/// A buffer to read into (at most [`MAX_IO`] bytes of it are used).
fn read_buf(caller: &mut Ctx<'_>, buf: i32, len: i32) -> Result<GuestBuf, Errno> {
    Ok(GuestBuf::decode(memory_len(caller), buf, len)?.at_most(MAX_IO))
}

/// Copies a guest buffer (at most [`MAX_IO`] bytes).
fn guest_bytes(caller: &mut Ctx<'_>, ptr: i32, len: i32) -> Result<Vec<u8>, Errno> {
    let (mem, _) = memory_and_state(caller)?;
    let range = guest_range(mem.len(), ptr, len)?;
    Ok(mem[range.start..range.start + range.len().min(MAX_IO)].to_vec())
}

fn seek(
    caller: &mut Ctx<'_>,
    handle: i32,
    offset: i64,
    whence: i32,
) -> Result<Result<i64, IoRequest>, Errno> {
    let state = caller.data_mut();
    let entry = state.handles.get_mut(handle as u32)?;
    let HandleObject::File(file) = &mut entry.object else { return Err(Errno::BadHandle) };
    let base = match whence {
        SEEK_SET => 0,
        SEEK_CUR => file.pos as i64,
        SEEK_END => return Ok(Err(IoRequest::SeekEnd { handle: handle as u32, offset })),
        _ => return Err(Errno::InvalidArgument),
    };
    let pos = base.checked_add(offset).filter(|p| *p >= 0).ok_or(Errno::InvalidArgument)?;
    file.pos = pos as u64;
    Ok(Ok(pos))
}

fn close(caller: &mut Ctx<'_>, handle: i32) -> CallResult {
    close_handle(caller.data_mut(), handle)
}

/// Closes a file, socket, process or module handle of `state` (a guest scheme's
/// provider is told).
pub(crate) fn close_handle(state: &mut ProcessState, handle: i32) -> CallResult {
    match state.handles.get(handle as u32, Rights(0))?.object {
        HandleObject::File(_)
        | HandleObject::Socket(_)
        | HandleObject::Process(_)
        | HandleObject::Remote(_)
        | HandleObject::Module(..) => {}
        _ => return Err(Errno::BadHandle),
    }
    let entry = state.handles.remove(handle as u32)?;
    if let HandleObject::File(crate::file::FileHandle {
        target: crate::file::FileTarget::Guest { scheme, id },
        ..
    }) = entry.object
    {
        let mut table = state.env.schemes.lock().unwrap_or_else(|e| e.into_inner());
        let _ = table.submit(
            &scheme,
            state.pid,
            wasmd_abi::scheme::SchemeOp::Close { id },
            crate::guest_scheme::Origin::External,
        );
        drop(table);
        state.env.kick();
    }
    Ok(0)
}

pub(super) fn define(linker: &mut Linker<ProcessState>) -> Result<(), Error> {
    let m = hostcall::MODULE;
    linker.func_wrap(m, "fs_open", |mut c: Ctx<'_>, ptr: i32, len: i32, flags: i32| -> Ret {
        c.data().count_hostcall();
        let req = open(&mut c, ptr, len, flags);
        io(&mut c, req)
    })?;
    linker.func_wrap(m, "fs_read", |mut c: Ctx<'_>, h: i32, buf: i32, len: i32| -> Ret {
        c.data().count_hostcall();
        let req = read_buf(&mut c, buf, len).map(|buf| IoRequest::Read { handle: h as u32, buf, at: None });
        io(&mut c, req)
    })?;
    linker.func_wrap(m, "fs_write", |mut c: Ctx<'_>, h: i32, ptr: i32, len: i32| -> Ret {
        c.data().count_hostcall();
        let req =
            guest_bytes(&mut c, ptr, len).map(|data| IoRequest::Write { handle: h as u32, data, at: None });
        io(&mut c, req)
    })?;
    linker.func_wrap(m, "fs_seek", |mut c: Ctx<'_>, h: i32, offset: i64, whence: i32| -> Ret {
        c.data().count_hostcall();
        match seek(&mut c, h, offset, whence) {
            Ok(Ok(pos)) => Ok(pos),
            Ok(Err(req)) => io(&mut c, Ok(req)),
            Err(e) => Ok(super::err(e)),
        }
    })?;
    linker.func_wrap(m, "fs_close", |mut c: Ctx<'_>, h: i32| -> i64 {
        c.data().count_hostcall();
        ret(close(&mut c, h))
    })?;
    linker.func_wrap(m, "fs_fstat", |mut c: Ctx<'_>, h: i32, buf: i32, cap: i32| -> Ret {
        c.data().count_hostcall();
        let req = GuestBuf::decode(memory_len(&c), buf, cap).map(|buf| IoRequest::Fstat {
            handle: h as u32,
            buf,
            format: Format::Native,
        });
        io(&mut c, req)
    })?;
    linker.func_wrap(m, "fs_getdents", |mut c: Ctx<'_>, h: i32, buf: i32, cap: i32| -> Ret {
        c.data().count_hostcall();
        let req = GuestBuf::decode(memory_len(&c), buf, cap).map(|buf| IoRequest::Getdents {
            handle: h as u32,
            buf,
            format: Format::Native,
        });
        io(&mut c, req)
    })?;
    linker.func_wrap(m, "fs_unlink", |mut c: Ctx<'_>, ptr: i32, len: i32| -> Ret {
        c.data().count_hostcall();
        let req =
            granted_path(&mut c, ptr, len, true).map(|path| IoRequest::Unlink { path, kind: Removes::Any });
        io(&mut c, req)
    })?;
    linker.func_wrap(m, "fs_mkdir", |mut c: Ctx<'_>, ptr: i32, len: i32| -> Ret {
        c.data().count_hostcall();
        let req = granted_path(&mut c, ptr, len, true).map(|path| IoRequest::Mkdir { path });
        io(&mut c, req)
    })?;
    linker.func_wrap(m, "net_connect", |mut c: Ctx<'_>, ptr: i32, len: i32| -> Ret {
        c.data().count_hostcall();
        let req = net_path(&mut c, ptr, len, false).map(|path| IoRequest::Connect { path });
        io(&mut c, req)
    })?;
    linker.func_wrap(m, "net_listen", |mut c: Ctx<'_>, ptr: i32, len: i32| -> Ret {
        c.data().count_hostcall();
        let req = net_path(&mut c, ptr, len, true).map(|path| IoRequest::Listen { path });
        io(&mut c, req)
    })?;
    linker.func_wrap(m, "net_accept", |mut c: Ctx<'_>, h: i32| -> Ret {
        c.data().count_hostcall();
        let req = has_room(c.data()).map(|()| IoRequest::Accept { handle: h as u32 });
        io(&mut c, req)
    })?;
    linker.func_wrap(m, "net_send", |mut c: Ctx<'_>, h: i32, ptr: i32, len: i32| -> Ret {
        c.data().count_hostcall();
        let req = guest_bytes(&mut c, ptr, len).map(|data| IoRequest::Send { handle: h as u32, data });
        io(&mut c, req)
    })?;
    linker.func_wrap(m, "net_recv", |mut c: Ctx<'_>, h: i32, buf: i32, len: i32| -> Ret {
        c.data().count_hostcall();
        let req = read_buf(&mut c, buf, len).map(|buf| IoRequest::Recv { handle: h as u32, buf });
        io(&mut c, req)
    })?;
    Ok(())
}
