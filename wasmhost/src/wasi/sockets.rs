//! WASI calls on sockets (`sock_*`), through wasmd's socket requests: a
//! program has the listening sockets it started with and what it accepts
//! on them (preview 1 cannot make sockets).

use wasmi::{Error, Linker};

use super::descriptors::{fd_read, fd_write, maybe_park, on_handle};
use super::fds::{Fd, FdKind};
use super::types::{rights, WasiErrno, WasiResult};
use super::{fds, memory_and_state, out, park, put, Finish, Ret, MODULE};
use crate::file::IoRequest;
use crate::hostcalls::Ctx;
use crate::process::ProcessState;
use crate::syscall::Syscall;

fn sock_accept(c: &mut Ctx<'_>, fd: i32, fd_out: i32) -> WasiResult<(Syscall, Finish)> {
    let (mem, state) = memory_and_state(c)?;
    let fd_out = out(mem.len(), fd_out, 4, 4)?;
    let entry = fds(state).with_rights(fd as u32, rights::SOCK_ACCEPT)?;
    let FdKind::File { handle, socket: true } = entry.kind else { return Err(WasiErrno::NOTSOCK) };
    let all = rights::FD_READ | rights::FD_WRITE | rights::POLL_FD_READWRITE | rights::SOCK_SHUTDOWN;
    let fd = Fd {
        kind: FdKind::File { handle: 0, socket: true },
        base: all,
        inheriting: 0,
        flags: 0,
        preopen: None,
    };
    Ok((Syscall::Io(IoRequest::Accept { handle }), Finish::NewFd { out: fd_out, fd }))
}

/// `ENOTSOCK` unless `fd` is a socket.
fn socket_only(c: &mut Ctx<'_>, fd: i32) -> WasiResult {
    match fds(c.data_mut()).get(fd as u32)?.kind {
        FdKind::File { socket: true, .. } => Ok(()),
        _ => Err(WasiErrno::NOTSOCK),
    }
}

pub(super) fn define(linker: &mut Linker<ProcessState>) -> Result<(), Error> {
    let m = MODULE;
    linker.func_wrap(m, "sock_accept", |mut c: Ctx<'_>, fd: i32, _flags: i32, fd_out: i32| -> Ret {
        c.data().count_hostcall();
        let call = sock_accept(&mut c, fd, fd_out);
        park(&mut c, call)
    })?;
    linker.func_wrap(
        m,
        "sock_recv",
        |mut c: Ctx<'_>, fd: i32, iovs: i32, n: i32, _flags: i32, read: i32, oflags_out: i32| -> Ret {
            c.data().count_hostcall();
            let zeroed =
                memory_and_state(&mut c).and_then(|(mem, _)| put(mem, oflags_out, &0u16.to_le_bytes(), 2));
            let call = zeroed
                .and_then(|()| socket_only(&mut c, fd))
                .and_then(|()| fd_read(&mut c, fd, iovs, n, read, None));
            maybe_park(&mut c, call)
        },
    )?;
    linker.func_wrap(
        m,
        "sock_send",
        |mut c: Ctx<'_>, fd: i32, iovs: i32, n: i32, _flags: i32, written: i32| -> Ret {
            c.data().count_hostcall();
            let call = socket_only(&mut c, fd).and_then(|()| fd_write(&mut c, fd, iovs, n, written, None));
            maybe_park(&mut c, call)
        },
    )?;
    linker.func_wrap(m, "sock_shutdown", |mut c: Ctx<'_>, fd: i32, how: i32| -> Ret {
        c.data().count_hostcall();
        // `sdflags`: 1 reading, 2 writing.
        let call = socket_only(&mut c, fd).and_then(|()| {
            if how & !3 != 0 || how == 0 {
                return Err(WasiErrno::INVAL);
            }
            on_handle(&mut c, fd, rights::SOCK_SHUTDOWN, |handle| IoRequest::Shutdown {
                handle,
                read: how & 1 != 0,
                write: how & 2 != 0,
            })
        });
        park(&mut c, call)
    })?;
    Ok(())
}
