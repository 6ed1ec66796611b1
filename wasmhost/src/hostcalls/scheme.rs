//! Scheme-provider hostcalls: `scheme_register`, `scheme_next`,
//! `scheme_reply`, `scheme_unregister` (capability `SCHEME`).

use wasmd_abi::Errno;
use wasmd_abi::{hostcall, Caps, Rights};
use wasmi::{Error, Linker};

use super::{guest_range, kernel, memory_and_state, require, ret, CallResult, Ctx, Ret};
use crate::guest_buf::GuestBuf;
use crate::process::{HandleObject, ProcessState};
use crate::syscall::Syscall;

/// The scheme behind a provider's handle.
fn scheme_name(state: &ProcessState, handle: i32) -> Result<String, Errno> {
    match &state.handles.get(handle as u32, Rights(0))?.object {
        HandleObject::Scheme(name) => Ok(name.clone()),
        _ => Err(Errno::BadHandle),
    }
}

fn register(caller: &mut Ctx<'_>, ptr: i32, len: i32) -> CallResult {
    require(caller, Caps::SCHEME_PROVIDE)?;
    let (mem, state) = memory_and_state(caller)?;
    let name = std::str::from_utf8(&mem[guest_range(mem.len(), ptr, len)?])
        .map_err(|_| Errno::InvalidArgument)?
        .to_string();
    if state.handles.len() >= state.handles.capacity() {
        return Err(Errno::TooManyHandles);
    }
    state.env.schemes.lock().unwrap_or_else(|e| e.into_inner()).register(&name, state.pid)?;
    let handle = state.handles.insert(HandleObject::Scheme(name), Rights::ALL)?;
    Ok(i64::from(handle))
}

fn next(caller: &mut Ctx<'_>, handle: i32, buf: i32, cap: i32) -> Result<Result<i64, Syscall>, Errno> {
    let (mem, state) = memory_and_state(caller)?;
    let name = scheme_name(state, handle)?;
    let buf = GuestBuf::decode(mem.len(), buf, cap)?;
    let next = state.env.schemes.lock().unwrap_or_else(|e| e.into_inner()).next_request(&name, buf.len());
    Ok(match next {
        Some((len, bytes)) => {
            // Handed out only when it fits (an empty `bytes` says how big).
            let _ = buf.fill(mem, &bytes);
            // A provider's traffic: the requests it takes are its input.
            state.counters.read(bytes.len() as u64);
            Ok(len as i64)
        }
        None => Err(Syscall::SchemeWait { name, buf }),
    })
}

fn reply(caller: &mut Ctx<'_>, handle: i32, ptr: i32, len: i32) -> CallResult {
    let (mem, state) = memory_and_state(caller)?;
    let name = scheme_name(state, handle)?;
    let bytes = &mem[guest_range(mem.len(), ptr, len)?];
    state.env.schemes.lock().unwrap_or_else(|e| e.into_inner()).reply(&name, bytes)?;
    // ... and its replies its output.
    state.counters.wrote(bytes.len() as u64);
    state.env.kick();
    state.env.news();
    Ok(0)
}

fn unregister(caller: &mut Ctx<'_>, handle: i32) -> CallResult {
    let state = caller.data_mut();
    let name = scheme_name(state, handle)?;
    state.handles.remove(handle as u32)?;
    state.env.schemes.lock().unwrap_or_else(|e| e.into_inner()).unregister(&name);
    Ok(0)
}

pub(super) fn define(linker: &mut Linker<ProcessState>) -> Result<(), Error> {
    let m = hostcall::MODULE;
    linker.func_wrap(m, "scheme_register", |mut c: Ctx<'_>, ptr: i32, len: i32| -> i64 {
        c.data().count_hostcall();
        ret(register(&mut c, ptr, len))
    })?;
    linker.func_wrap(m, "scheme_next", |mut c: Ctx<'_>, h: i32, buf: i32, cap: i32| -> Ret {
        c.data().count_hostcall();
        match next(&mut c, h, buf, cap) {
            Ok(Ok(len)) => Ok(len),
            Ok(Err(wait)) => kernel(&mut c, Ok(wait)),
            Err(e) => Ok(super::err(e)),
        }
    })?;
    linker.func_wrap(m, "scheme_reply", |mut c: Ctx<'_>, h: i32, ptr: i32, len: i32| -> i64 {
        c.data().count_hostcall();
        ret(reply(&mut c, h, ptr, len))
    })?;
    linker.func_wrap(m, "scheme_unregister", |mut c: Ctx<'_>, h: i32| -> i64 {
        c.data().count_hostcall();
        ret(unregister(&mut c, h))
    })?;
    Ok(())
}
