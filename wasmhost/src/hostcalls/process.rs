//! Process hostcalls: exit, write, args, clock, sleep, yield, random,
//! spawn, wait, kill, getpid, process_info, cap_check, module_open,
//! module_load, reload.

use std::time::{SystemTime, UNIX_EPOCH};
use wasmd_abi::Errno;

use wasmd_abi::hostcall::{self, CLOCK_MONOTONIC, CLOCK_REALTIME, STDERR, STDOUT};
use wasmd_abi::msg::{self, SpawnRequest, EXIT_STATUS_MAX_LEN};
use wasmd_abi::{Caps, ModuleSource, Rights};
use wasmi::{Error, Linker};

use super::{
    charge_copy, guest_range, kernel, memory_and_state, memory_len, require, ret, CallResult, Ctx, Ret,
};
use crate::guest_buf::GuestBuf;
use crate::process::{HandleObject, ProcessState};
use crate::syscall::{SpawnCall, SpawnModule, Syscall};
use crate::Pid;

/// `module_open(path, len)` (`bytes` false) or `module_load(ptr, len)`.
fn module_open(caller: &mut Ctx<'_>, ptr: i32, len: i32, bytes: bool) -> Result<Syscall, Errno> {
    require(caller, Caps::SPAWN)?;
    let (mem, state) = memory_and_state(caller)?;
    let held = state.handles.iter().filter(|(_, e)| matches!(e.object, HandleObject::Module(..))).count();
    if held >= crate::process::MAX_MODULE_HANDLES || state.handles.len() >= state.handles.capacity() {
        return Err(Errno::TooManyHandles);
    }
    let range = guest_range(mem.len(), ptr, len)?;
    let module = if bytes {
        SpawnModule::Bytes(mem[range].to_vec())
    } else {
        if range.len() > hostcall::MAX_PATH_LEN {
            return Err(Errno::TooBig);
        }
        SpawnModule::Path(std::str::from_utf8(&mem[range]).map_err(|_| Errno::InvalidArgument)?.to_string())
    };
    Ok(Syscall::ModuleOpen(module))
}

/// `reload(pid, path, len, flags)`: decoded and checked as far as the
/// caller's own state can tell.
fn reload(caller: &mut Ctx<'_>, pid: i32, ptr: i32, len: i32, flags: i32) -> Result<Syscall, Errno> {
    require(caller, Caps::SPAWN)?;
    if flags & !hostcall::RELOAD_NOWAIT != 0 {
        return Err(Errno::InvalidArgument);
    }
    if len as u32 as usize > hostcall::MAX_PATH_LEN {
        return Err(Errno::TooBig);
    }
    let (mem, state) = memory_and_state(caller)?;
    let path =
        std::str::from_utf8(&mem[guest_range(mem.len(), ptr, len)?]).map_err(|_| Errno::InvalidArgument)?;
    if pid <= 0 {
        return Err(Errno::NoSuchProcess);
    }
    if pid as Pid == state.pid {
        return Err(Errno::InvalidArgument);
    }
    Ok(Syscall::Reload {
        pid: pid as Pid,
        path: path.to_string(),
        nowait: flags & hostcall::RELOAD_NOWAIT != 0,
    })
}

fn write(caller: &mut Ctx<'_>, stream: i32, ptr: i32, len: i32) -> CallResult {
    require(caller, Caps::STDIO)?;
    if stream != STDOUT && stream != STDERR {
        return Err(Errno::BadHandle);
    }
    let (mem, state) = memory_and_state(caller)?;
    let bytes = &mem[guest_range(mem.len(), ptr, len)?];
    write_stream(state, stream, bytes);
    Ok(bytes.len() as i64)
}

/// Appends `bytes` to the process's stdout or stderr (`stream`): its log,
/// the output sink, its counters.
pub(crate) fn write_stream(state: &ProcessState, stream: i32, bytes: &[u8]) {
    let mut log = crate::process::lock(&state.log);
    let ring = if stream == STDOUT { &mut log.stdout } else { &mut log.stderr };
    ring.push(bytes);
    drop(log);
    state.env.output.output(state.pid, stream, bytes);
    state.counters.wrote(bytes.len() as u64);
}

/// Copies a sized reply into `buf` if it fits; returns its length.
pub(crate) fn sized_reply(mem: &mut [u8], buf: i32, cap: i32, reply: &[u8]) -> CallResult {
    let range = guest_range(mem.len(), buf, cap)?;
    if reply.len() <= range.len() {
        mem[range.start..range.start + reply.len()].copy_from_slice(reply);
    }
    Ok(reply.len() as i64)
}

fn args(caller: &mut Ctx<'_>, buf: i32, cap: i32) -> CallResult {
    let (mem, state) = memory_and_state(caller)?;
    sized_reply(mem, buf, cap, &state.args)
}

fn clock(caller: &Ctx<'_>, id: i32) -> CallResult {
    require(caller, Caps::TIME)?;
    let nanos = match id {
        CLOCK_MONOTONIC => caller.data().env.epoch.elapsed().as_nanos(),
        CLOCK_REALTIME => SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos()),
        _ => return Err(Errno::InvalidArgument),
    };
    Ok(nanos.min(i64::MAX as u128) as i64)
}

fn sleep(caller: &Ctx<'_>, nanos: i64) -> Result<Syscall, Errno> {
    require(caller, Caps::TIME)?;
    if nanos < 0 {
        return Err(Errno::InvalidArgument);
    }
    Ok(Syscall::Sleep(nanos as u64))
}

fn random(caller: &mut Ctx<'_>, ptr: i32, len: i32) -> CallResult {
    require(caller, Caps::RANDOM)?;
    let (mem, state) = memory_and_state(caller)?;
    let range = guest_range(mem.len(), ptr, len)?;
    let n = range.len();
    state.env.platform.random(&mut mem[range])?;
    Ok(n as i64)
}

/// Decodes a `SpawnRequest` from guest memory into an owned call.
pub(super) fn spawn(caller: &mut Ctx<'_>, ptr: i32, len: i32) -> Result<Syscall, Errno> {
    require(caller, Caps::SPAWN)?;
    let (mem, state) = memory_and_state(caller)?;
    let req: SpawnRequest<'_> =
        msg::decode(&mem[guest_range(mem.len(), ptr, len)?]).map_err(|_| Errno::InvalidArgument)?;
    let module = match req.module {
        ModuleSource::Path(p) => SpawnModule::Path(p.to_string()),
        ModuleSource::Bytes(b) => SpawnModule::Bytes(b.to_vec()),
        ModuleSource::Handle(h) => match &state.handles.get(h, Rights(0))?.object {
            HandleObject::Module(held) => SpawnModule::Compiled(held.module.clone(), held.path.clone()),
            _ => return Err(Errno::BadHandle),
        },
    };
    if req.grants.len() > crate::process::MAX_PENDING_SHARES {
        return Err(Errno::TooBig);
    }
    let mut grants = Vec::with_capacity(req.grants.len());
    for grant in &req.grants {
        let entry = state.handles.get(grant.handle, Rights::GRANT)?;
        if !entry.rights.contains(grant.rights) {
            return Err(Errno::PermissionDenied);
        }
        let HandleObject::Region(region) = &entry.object else { return Err(Errno::BadHandle) };
        grants.push((region.clone(), grant.rights));
    }
    let namespace = match &req.namespace {
        None => None,
        Some(list) => {
            Some(list.iter().map(|g| crate::namespace::parse_grant(g)).collect::<Result<Vec<_>, _>>()?)
        }
    };
    Ok(Syscall::Spawn(SpawnCall {
        module,
        args: req.args.iter().map(|a| a.to_string()).collect(),
        caps: req.caps,
        limits: req.limits,
        grants,
        namespace,
        watch: Default::default(),
        node: None,
    }))
}

fn wait(caller: &Ctx<'_>, pid: i32, buf: i32, cap: i32) -> Result<Syscall, Errno> {
    if pid < 0 {
        return Err(Errno::InvalidArgument);
    }
    let buf = if buf == 0 {
        None
    } else {
        if (cap as u32 as usize) < EXIT_STATUS_MAX_LEN {
            return Err(Errno::InvalidArgument);
        }
        Some(GuestBuf::decode(memory_len(caller), buf, cap)?)
    };
    Ok(Syscall::Wait { pid: pid as Pid, buf })
}

fn process_info(caller: &Ctx<'_>, pid: i32, buf: i32, cap: i32) -> Result<Syscall, Errno> {
    if pid < 0 {
        return Err(Errno::InvalidArgument);
    }
    Ok(Syscall::Info { pid: pid as Pid, buf: GuestBuf::decode(memory_len(caller), buf, cap)? })
}

pub(super) fn define(linker: &mut Linker<ProcessState>) -> Result<(), Error> {
    let m = hostcall::MODULE;
    linker.func_wrap(m, "exit", |mut c: Ctx<'_>, code: i32| -> Ret {
        c.data().count_hostcall();
        kernel(&mut c, Ok(Syscall::Exit(code)))
    })?;
    linker.func_wrap(m, "write", |mut c: Ctx<'_>, stream: i32, ptr: i32, len: i32| -> i64 {
        c.data().count_hostcall();
        let written = write(&mut c, stream, ptr, len);
        ret(charge_copy(&mut c, written))
    })?;
    linker.func_wrap(m, "args", |mut c: Ctx<'_>, buf: i32, cap: i32| -> i64 {
        c.data().count_hostcall();
        ret(args(&mut c, buf, cap))
    })?;
    linker.func_wrap(m, "clock", |c: Ctx<'_>, id: i32| -> i64 {
        c.data().count_hostcall();
        ret(clock(&c, id))
    })?;
    linker.func_wrap(m, "sleep", |mut c: Ctx<'_>, nanos: i64| -> Ret {
        c.data().count_hostcall();
        let call = sleep(&c, nanos);
        kernel(&mut c, call)
    })?;
    linker.func_wrap(m, "yield", |mut c: Ctx<'_>| -> Ret {
        c.data().count_hostcall();
        kernel(&mut c, Ok(Syscall::Yield))
    })?;
    linker.func_wrap(m, "random", |mut c: Ctx<'_>, ptr: i32, len: i32| -> i64 {
        c.data().count_hostcall();
        let filled = random(&mut c, ptr, len);
        ret(charge_copy(&mut c, filled))
    })?;
    linker.func_wrap(m, "spawn", |mut c: Ctx<'_>, ptr: i32, len: i32| -> Ret {
        c.data().count_hostcall();
        let call = spawn(&mut c, ptr, len);
        kernel(&mut c, call)
    })?;
    linker.func_wrap(m, "wait", |mut c: Ctx<'_>, pid: i32, buf: i32, cap: i32| -> Ret {
        c.data().count_hostcall();
        let call = wait(&c, pid, buf, cap);
        kernel(&mut c, call)
    })?;
    linker.func_wrap(m, "kill", |mut c: Ctx<'_>, pid: i32| -> Ret {
        c.data().count_hostcall();
        // Stand-ins of other nodes' processes read as negative `i32`s.
        let call = if pid == 0 { Err(Errno::NoSuchProcess) } else { Ok(Syscall::Kill(pid as u32 as Pid)) };
        kernel(&mut c, call)
    })?;
    for (name, bytes) in [("module_open", false), ("module_load", true)] {
        linker.func_wrap(m, name, move |mut c: Ctx<'_>, ptr: i32, len: i32| -> Ret {
            c.data().count_hostcall();
            let call = module_open(&mut c, ptr, len, bytes);
            kernel(&mut c, call)
        })?;
    }
    linker.func_wrap(m, "reload", |mut c: Ctx<'_>, pid: i32, ptr: i32, len: i32, flags: i32| -> Ret {
        c.data().count_hostcall();
        let call = reload(&mut c, pid, ptr, len, flags);
        kernel(&mut c, call)
    })?;
    linker.func_wrap(m, "getpid", |c: Ctx<'_>| -> i64 {
        c.data().count_hostcall();
        i64::from(c.data().pid)
    })?;
    linker.func_wrap(m, "process_info", |mut c: Ctx<'_>, pid: i32, buf: i32, cap: i32| -> Ret {
        c.data().count_hostcall();
        let call = process_info(&c, pid, buf, cap);
        kernel(&mut c, call)
    })?;
    linker.func_wrap(m, "cap_check", |c: Ctx<'_>, caps: i64| -> i64 {
        c.data().count_hostcall();
        ret(require(&c, Caps(caps as u64)).map(|_| 0))
    })?;
    Ok(())
}
