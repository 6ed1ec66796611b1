//! The hostcall implementations, registered on the shared linker.
//!
//! Local hostcalls (write, args, clock, random, getpid, cap_check) work on
//! the caller's [`ProcessState`] and guest memory directly: a capability
//! bit test, one bounds check at decode ([`guest_range`]), then infallible
//! slice access; no allocation, no lookup. Hostcalls that need the rest
//! of the system record a [`Syscall`] and return [`KernelCall`] (see
//! [`crate::process`]). Every guest pointer and length is checked before
//! anything is read or written: a bad range is `-EFAULT`, never a trap.

use std::ops::Range;
use std::time::{SystemTime, UNIX_EPOCH};

use wasmd_abi::errno::{EBADF, EFAULT, EINVAL, EPERM};
use wasmd_abi::hostcall::{self, CLOCK_MONOTONIC, CLOCK_REALTIME, STDERR, STDOUT};
use wasmd_abi::msg::{self, SpawnRequest, EXIT_STATUS_MAX_LEN};
use wasmd_abi::{Caps, ModuleSource};
use wasmi::{Caller, Error, Linker};

use crate::process::{KernelCall, ProcessState, SpawnCall, SpawnModule, Syscall};
use crate::Pid;

type Ctx<'a> = Caller<'a, ProcessState>;
type Ret = Result<i64, Error>;

/// `-errno` as a hostcall return value.
#[inline]
fn err(errno: i32) -> i64 {
    -i64::from(errno)
}

/// Checks a guest range `ptr..ptr+len` against a memory of `mem_len`
/// bytes. Both values are unsigned 32-bit offsets carried in `i32`.
#[inline]
pub fn guest_range(mem_len: usize, ptr: i32, len: i32) -> Result<Range<usize>, i32> {
    let start = ptr as u32 as usize;
    let end = start.checked_add(len as u32 as usize).ok_or(EFAULT)?;
    if end > mem_len {
        return Err(EFAULT);
    }
    Ok(start..end)
}

/// Records a syscall and suspends the guest.
#[inline]
fn kernel(caller: &mut Ctx<'_>, call: Syscall) -> Ret {
    caller.data_mut().syscall = Some(call);
    Err(Error::host(KernelCall))
}

#[inline]
fn has(caller: &Ctx<'_>, caps: Caps) -> bool {
    caller.data().caps.contains(caps)
}

/// The guest memory and the process state, or `-EFAULT` when the guest
/// exports no memory.
#[inline]
fn memory_and_state<'a>(caller: &'a mut Ctx<'_>) -> Result<(&'a mut [u8], &'a mut ProcessState), i32> {
    let memory = caller.data().memory.ok_or(EFAULT)?;
    Ok(memory.data_and_store_mut(caller))
}

fn write(caller: &mut Ctx<'_>, stream: i32, ptr: i32, len: i32) -> i64 {
    if !has(caller, Caps::STDIO) {
        return err(EPERM);
    }
    if stream != STDOUT && stream != STDERR {
        return err(EBADF);
    }
    let (mem, state) = match memory_and_state(caller) {
        Ok(v) => v,
        Err(e) => return err(e),
    };
    let range = match guest_range(mem.len(), ptr, len) {
        Ok(r) => r,
        Err(e) => return err(e),
    };
    let bytes = &mem[range];
    let ring = if stream == STDOUT { &mut state.log.stdout } else { &mut state.log.stderr };
    ring.push(bytes);
    state.env.output.output(state.pid, stream, bytes);
    bytes.len() as i64
}

/// Copies a sized reply into `buf` if it fits; returns its length.
fn sized_reply(mem: &mut [u8], buf: i32, cap: i32, reply: &[u8]) -> i64 {
    let range = match guest_range(mem.len(), buf, cap) {
        Ok(r) => r,
        Err(e) => return err(e),
    };
    if reply.len() <= range.len() {
        mem[range.start..range.start + reply.len()].copy_from_slice(reply);
    }
    reply.len() as i64
}

fn args(caller: &mut Ctx<'_>, buf: i32, cap: i32) -> i64 {
    let (mem, state) = match memory_and_state(caller) {
        Ok(v) => v,
        Err(e) => return err(e),
    };
    sized_reply(mem, buf, cap, &state.args)
}

fn clock(caller: &Ctx<'_>, id: i32) -> i64 {
    if !has(caller, Caps::TIME) {
        return err(EPERM);
    }
    match id {
        CLOCK_MONOTONIC => caller.data().env.epoch.elapsed().as_nanos().min(i64::MAX as u128) as i64,
        CLOCK_REALTIME => SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos().min(i64::MAX as u128) as i64)
            .unwrap_or(0),
        _ => err(EINVAL),
    }
}

fn random(caller: &mut Ctx<'_>, ptr: i32, len: i32) -> i64 {
    if !has(caller, Caps::RANDOM) {
        return err(EPERM);
    }
    let (mem, state) = match memory_and_state(caller) {
        Ok(v) => v,
        Err(e) => return err(e),
    };
    let range = match guest_range(mem.len(), ptr, len) {
        Ok(r) => r,
        Err(e) => return err(e),
    };
    let n = range.len();
    match state.env.platform.random(&mut mem[range]) {
        Ok(()) => n as i64,
        Err(e) => err(e),
    }
}

/// Decodes a `SpawnRequest` from guest memory into an owned call.
fn decode_spawn(caller: &mut Ctx<'_>, ptr: i32, len: i32) -> Result<SpawnCall, i32> {
    let (mem, _) = memory_and_state(caller)?;
    let range = guest_range(mem.len(), ptr, len)?;
    let req: SpawnRequest<'_> = msg::decode(&mem[range]).map_err(|_| EINVAL)?;
    let module = match req.module {
        ModuleSource::Path(p) => SpawnModule::Path(p.to_string()),
        ModuleSource::Bytes(b) => SpawnModule::Bytes(b.to_vec()),
    };
    Ok(SpawnCall {
        module,
        args: req.args.iter().map(|a| a.to_string()).collect(),
        caps: req.caps,
        limits: req.limits,
    })
}

fn spawn(caller: &mut Ctx<'_>, ptr: i32, len: i32) -> Ret {
    if !has(caller, Caps::SPAWN) {
        return Ok(err(EPERM));
    }
    match decode_spawn(caller, ptr, len) {
        Ok(call) => kernel(caller, Syscall::Spawn(call)),
        Err(e) => Ok(err(e)),
    }
}

fn wait(caller: &mut Ctx<'_>, pid: i32, buf: i32, cap: i32) -> Ret {
    if pid < 0 {
        return Ok(err(EINVAL));
    }
    let buf = if buf == 0 {
        None
    } else {
        if (cap as u32 as usize) < EXIT_STATUS_MAX_LEN {
            return Ok(err(EINVAL));
        }
        let mem_len = match memory_and_state(caller) {
            Ok((mem, _)) => mem.len(),
            Err(e) => return Ok(err(e)),
        };
        if let Err(e) = guest_range(mem_len, buf, cap) {
            return Ok(err(e));
        }
        Some(buf as u32)
    };
    kernel(caller, Syscall::Wait { pid: pid as Pid, buf })
}

fn process_info(caller: &mut Ctx<'_>, pid: i32, buf: i32, cap: i32) -> Ret {
    if pid < 0 {
        return Ok(err(EINVAL));
    }
    let mem_len = match memory_and_state(caller) {
        Ok((mem, _)) => mem.len(),
        Err(e) => return Ok(err(e)),
    };
    if let Err(e) = guest_range(mem_len, buf, cap) {
        return Ok(err(e));
    }
    kernel(caller, Syscall::Info { pid: pid as Pid, buf: buf as u32, cap: cap as u32 })
}

/// Registers every hostcall of the ABI on `linker`.
pub fn define(linker: &mut Linker<ProcessState>) -> Result<(), Error> {
    let m = hostcall::MODULE;
    linker
        .func_wrap(m, "exit", |mut c: Ctx<'_>, code: i32| -> Ret { kernel(&mut c, Syscall::Exit(code)) })?;
    linker.func_wrap(m, "write", |mut c: Ctx<'_>, stream: i32, ptr: i32, len: i32| -> i64 {
        write(&mut c, stream, ptr, len)
    })?;
    linker.func_wrap(m, "args", |mut c: Ctx<'_>, buf: i32, cap: i32| -> i64 { args(&mut c, buf, cap) })?;
    linker.func_wrap(m, "clock", |c: Ctx<'_>, id: i32| -> i64 { clock(&c, id) })?;
    linker.func_wrap(m, "sleep", |mut c: Ctx<'_>, nanos: i64| -> Ret {
        if !has(&c, Caps::TIME) {
            return Ok(err(EPERM));
        }
        if nanos < 0 {
            return Ok(err(EINVAL));
        }
        kernel(&mut c, Syscall::Sleep(nanos as u64))
    })?;
    linker.func_wrap(m, "yield", |mut c: Ctx<'_>| -> Ret { kernel(&mut c, Syscall::Yield) })?;
    linker
        .func_wrap(m, "random", |mut c: Ctx<'_>, ptr: i32, len: i32| -> i64 { random(&mut c, ptr, len) })?;
    linker.func_wrap(m, "spawn", |mut c: Ctx<'_>, ptr: i32, len: i32| -> Ret { spawn(&mut c, ptr, len) })?;
    linker.func_wrap(m, "wait", |mut c: Ctx<'_>, pid: i32, buf: i32, cap: i32| -> Ret {
        wait(&mut c, pid, buf, cap)
    })?;
    linker.func_wrap(m, "kill", |mut c: Ctx<'_>, pid: i32| -> Ret {
        if pid <= 0 {
            return Ok(err(wasmd_abi::errno::ESRCH));
        }
        kernel(&mut c, Syscall::Kill(pid as Pid))
    })?;
    linker.func_wrap(m, "getpid", |c: Ctx<'_>| -> i64 { i64::from(c.data().pid) })?;
    linker.func_wrap(m, "process_info", |mut c: Ctx<'_>, pid: i32, buf: i32, cap: i32| -> Ret {
        process_info(&mut c, pid, buf, cap)
    })?;
    linker.func_wrap(m, "cap_check", |c: Ctx<'_>, caps: i64| -> i64 {
        if has(&c, Caps(caps as u64)) {
            0
        } else {
            err(EPERM)
        }
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(guest_range(10, 0, 10), Ok(0..10));
        assert_eq!(guest_range(10, 10, 0), Ok(10..10));
        assert_eq!(guest_range(10, 5, 6), Err(EFAULT));
        assert_eq!(guest_range(10, -1, 1), Err(EFAULT));
        assert_eq!(guest_range(10, 1, -1), Err(EFAULT));
        assert_eq!(guest_range(usize::MAX, -1, -1), Ok(u32::MAX as usize..2 * u32::MAX as usize));
    }
}
