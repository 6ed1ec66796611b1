//! Region hostcalls: alloc, share, attach, detach, size, bulk read and
//! write, atomics on aligned `u32`/`u64`, wait and notify, and windows
//! (a region mapped into the guest's memory, see [`crate::arena`]).
//!
//! Handles are checked for rights (`READ` for reads, waits and notifies,
//! `WRITE` for writes and read-modify-writes, `SHARE` for share), region
//! ranges for bounds (`-Errno::OutOfRange`), atomics for alignment (`-Errno::InvalidArgument`), guest
//! buffers for bounds (`-Errno::BadAddress`). 64-bit results go to an 8-byte guest
//! out-pointer (little endian), since a `u64` does not fit the `i64`
//! return beside `-errno`. All atomics are sequentially consistent.

use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;
use wasmd_abi::Errno;

use wasmd_abi::hostcall;
use wasmd_abi::{Caps, Rights};
use wasmi::{Error, Linker};

use super::{
    charge_copy, err, guest_range, kernel, memory_and_state, memory_len, require, ret, CallResult, Ctx, Ret,
};
use crate::limits::PAGE_SIZE;
use crate::process::{HandleObject, ProcessState};
use crate::region::Region;
use crate::syscall::Syscall;
use crate::Pid;

/// Largest single region (1 GiB).
pub const MAX_REGION_SIZE: u64 = 1 << 30;

/// The region behind `handle`, if the handle carries `rights`.
#[inline]
fn region(state: &ProcessState, handle: i32, rights: Rights) -> Result<&Arc<Region>, Errno> {
    match &state.handles.get(handle as u32, rights)?.object {
        HandleObject::Region(r) => Ok(r),
        _ => Err(Errno::BadHandle),
    }
}

/// `chan_bridge`: the channel in region `h` (read by the bridge: `READ`)
/// into channel `chan` of the node named at `node..node+node_len`.
fn bridge(caller: &mut Ctx<'_>, h: i32, node: i32, node_len: i32, chan: i64) -> Result<Syscall, Errno> {
    let (mem, state) = memory_and_state(caller)?;
    let region = region(state, h, Rights::READ)?.id();
    let node = std::str::from_utf8(&mem[guest_range(mem.len(), node, node_len)?])
        .map_err(|_| Errno::InvalidArgument)?
        .to_string();
    Ok(Syscall::Bridge { region, node, chan: chan as u64 })
}

/// Writes a `u64` to an 8-byte guest out-pointer.
#[inline]
fn put_u64(mem: &mut [u8], out: i32, value: u64) -> Result<(), Errno> {
    let range = guest_range(mem.len(), out, 8)?;
    mem[range].copy_from_slice(&value.to_le_bytes());
    Ok(())
}

fn alloc(caller: &Ctx<'_>, size: i64) -> Result<Syscall, Errno> {
    require(caller, Caps::SHARED_MEMORY)?;
    if size <= 0 || size as u64 > MAX_REGION_SIZE {
        return Err(Errno::InvalidArgument);
    }
    let size = (size as u64).div_ceil(PAGE_SIZE as u64) * PAGE_SIZE as u64;
    let state = caller.data();
    let held = crate::process::lock(&state.regions);
    if held.bytes.saturating_add(size) > held.max_bytes {
        return Err(Errno::NoSpace);
    }
    drop(held);
    if state.handles.len() >= state.handles.capacity() {
        return Err(Errno::TooManyHandles);
    }
    Ok(Syscall::RegionAlloc { size })
}

fn share(caller: &Ctx<'_>, handle: i32, pid: i32, rights: i32) -> Result<Syscall, Errno> {
    require(caller, Caps::SHARED_MEMORY)?;
    let state = caller.data();
    let entry = state.handles.get(handle as u32, Rights::SHARE)?;
    let granted = Rights(rights as u32);
    if !entry.rights.contains(granted) {
        return Err(Errno::PermissionDenied);
    }
    let HandleObject::Region(region) = &entry.object else { return Err(Errno::BadHandle) };
    if pid <= 0 {
        return Err(Errno::InvalidArgument);
    }
    Ok(Syscall::RegionShare { region: region.clone(), pid: pid as Pid, rights: granted })
}

fn attach(caller: &mut Ctx<'_>, id: i64) -> CallResult {
    require(caller, Caps::SHARED_MEMORY)?;
    let state = caller.data_mut();
    let mut held = crate::process::lock(&state.regions);
    let index = held.pending_shares.iter().position(|s| s.region.id() == id as u64).ok_or(Errno::NotFound)?;
    // Its bytes were counted when it was shared.
    let share = held.pending_shares.swap_remove(index);
    match state.handles.insert(HandleObject::Region(share.region.clone()), share.rights) {
        Ok(handle) => Ok(i64::from(handle)),
        Err(e) => {
            held.pending_shares.push(share);
            Err(e)
        }
    }
}

fn detach(caller: &mut Ctx<'_>, handle: i32) -> CallResult {
    let state = caller.data_mut();
    if !matches!(state.handles.get(handle as u32, Rights(0))?.object, HandleObject::Region(_)) {
        return Err(Errno::BadHandle);
    }
    let entry = state.handles.remove(handle as u32)?;
    if let HandleObject::Region(region) = entry.object {
        if let Some(slot) = state.limiter.slot.as_mut() {
            // A hostcall holds the guest's memory exclusively.
            slot.unmap_windows_of(&region);
        }
        let mut held = crate::process::lock(&state.regions);
        held.bytes = held.bytes.saturating_sub(region.len() as u64);
    }
    Ok(0)
}

/// `region_map`: a window of the region in the guest's memory 0.
fn map(caller: &mut Ctx<'_>, handle: i32, offset: i64, len: i64, ptr: i32) -> CallResult {
    let (mem, state) = memory_and_state(caller)?;
    let region = region(state, handle, Rights::READ.union(Rights::WRITE))?.clone();
    let slot = state.limiter.slot.as_mut().ok_or(Errno::NotSupported)?;
    let (Ok(offset), Ok(len), Ok(at)) = (usize::try_from(offset), usize::try_from(len), usize::try_from(ptr))
    else {
        return Err(Errno::InvalidArgument);
    };
    slot.map_window(mem, at, &region, offset, len)?;
    Ok(0)
}

/// `region_unmap`: the window at `ptr` is gone.
fn unmap(caller: &mut Ctx<'_>, ptr: i32) -> CallResult {
    let slot = caller.data_mut().limiter.slot.as_mut().ok_or(Errno::InvalidArgument)?;
    slot.unmap_window(usize::try_from(ptr).map_err(|_| Errno::InvalidArgument)?)?;
    Ok(0)
}

fn read(caller: &mut Ctx<'_>, handle: i32, offset: i64, ptr: i32, len: i32) -> CallResult {
    let (mem, state) = memory_and_state(caller)?;
    let region = region(state, handle, Rights::READ)?;
    let dst = guest_range(mem.len(), ptr, len)?;
    let src = region.range(offset as u64, dst.len())?;
    region.read_at(src, &mut mem[dst.clone()]);
    Ok(dst.len() as i64)
}

/// One range of `region_read2`: region offset, guest pointer, length.
type ReadPart = (i64, i32, i32);

fn read2(caller: &mut Ctx<'_>, handle: i32, a: ReadPart, b: ReadPart) -> CallResult {
    let (mem, state) = memory_and_state(caller)?;
    let region = region(state, handle, Rights::READ)?;
    let dst_a = guest_range(mem.len(), a.1, a.2)?;
    let dst_b = guest_range(mem.len(), b.1, b.2)?;
    let src_a = region.range(a.0 as u64, dst_a.len())?;
    let src_b = region.range(b.0 as u64, dst_b.len())?;
    let total = dst_a.len() + dst_b.len();
    region.read_at(src_a, &mut mem[dst_a]);
    region.read_at(src_b, &mut mem[dst_b]);
    Ok(total as i64)
}

fn write(caller: &mut Ctx<'_>, handle: i32, offset: i64, ptr: i32, len: i32) -> CallResult {
    let (mem, state) = memory_and_state(caller)?;
    let region = region(state, handle, Rights::WRITE)?;
    let src = guest_range(mem.len(), ptr, len)?;
    let dst = region.range(offset as u64, src.len())?;
    region.write_at(dst, &mem[src.clone()]);
    Ok(src.len() as i64)
}

fn write2(caller: &mut Ctx<'_>, handle: i32, offset: i64, head: (i32, i32), body: (i32, i32)) -> CallResult {
    let (mem, state) = memory_and_state(caller)?;
    let region = region(state, handle, Rights::WRITE)?;
    let head = guest_range(mem.len(), head.0, head.1)?;
    let body = guest_range(mem.len(), body.0, body.1)?;
    let total = head.len() + body.len();
    let dst = region.range(offset as u64, total)?;
    region.write2_at(dst, &mem[head], &mem[body]);
    Ok(total as i64)
}

/// `region_wait`: `None` when the value changed during the spin before
/// parking (the guest sees a wake-up), else the syscall that parks it.
fn wait(
    caller: &Ctx<'_>,
    handle: i32,
    offset: i64,
    expected: i32,
    timeout: i64,
) -> Result<Option<Syscall>, Errno> {
    let state = caller.data();
    let region = region(state, handle, Rights::READ)?;
    let word = region.atomic_u32(offset as u64)?;
    if word.load(SeqCst) != expected as u32 {
        return Err(Errno::WouldBlock);
    }
    let timeout = u64::try_from(timeout).ok();
    // A region fed from another machine is waited for without a spin.
    if !region.is_fed_remotely() && state.env.wait_spin.until_changed(word, expected as u32, timeout) {
        return Ok(None);
    }
    Ok(Some(Syscall::FutexWait {
        region: region.clone(),
        offset: offset as u64,
        expected: expected as u32,
        timeout,
    }))
}

fn notify(caller: &Ctx<'_>, handle: i32, offset: i64, count: i32) -> CallResult {
    let state = caller.data();
    let region = region(state, handle, Rights::READ)?;
    region.atomic_u32(offset as u64)?;
    let (woken, fired) = {
        let mut futex = state.env.futex.lock().unwrap_or_else(|e| e.into_inner());
        let woken = futex.notify((region.id(), offset as u64), count.max(0) as u32);
        (woken, futex.take_fired())
    };
    for wake in fired {
        wake();
    }
    if woken > 0 {
        state.env.kick();
    }
    Ok(i64::from(woken))
}

/// Registers a region hostcall whose body only needs `&ProcessState`.
macro_rules! state_call {
    ($linker:ident, $name:literal, |$s:ident $(, $arg:ident : $ty:ty)*| $body:expr) => {
        $linker.func_wrap(hostcall::MODULE, $name, |c: Ctx<'_>, $($arg: $ty),*| -> i64 { c.data().count_hostcall();
            let $s = c.data();
            ret((|| -> CallResult { $body })())
        })?;
    };
}

pub(super) fn define(linker: &mut Linker<ProcessState>) -> Result<(), Error> {
    let m = hostcall::MODULE;
    linker.func_wrap(m, "region_alloc", |mut c: Ctx<'_>, size: i64| -> Ret {
        c.data().count_hostcall();
        let call = alloc(&c, size);
        kernel(&mut c, call)
    })?;
    linker.func_wrap(m, "region_share", |mut c: Ctx<'_>, handle: i32, pid: i32, rights: i32| -> Ret {
        c.data().count_hostcall();
        let call = share(&c, handle, pid, rights);
        kernel(&mut c, call)
    })?;
    linker.func_wrap(
        m,
        "chan_bridge",
        |mut c: Ctx<'_>, h: i32, node: i32, node_len: i32, chan: i64| -> Ret {
            c.data().count_hostcall();
            let call = bridge(&mut c, h, node, node_len, chan);
            kernel(&mut c, call)
        },
    )?;
    linker.func_wrap(m, "region_attach", |mut c: Ctx<'_>, id: i64| -> i64 {
        c.data().count_hostcall();
        ret(attach(&mut c, id))
    })?;
    linker.func_wrap(m, "region_detach", |mut c: Ctx<'_>, h: i32| -> i64 {
        c.data().count_hostcall();
        ret(detach(&mut c, h))
    })?;
    linker.func_wrap(m, "region_read", |mut c: Ctx<'_>, h: i32, off: i64, ptr: i32, len: i32| -> i64 {
        c.data().count_hostcall();
        let copied = read(&mut c, h, off, ptr, len);
        ret(charge_copy(&mut c, copied))
    })?;
    linker.func_wrap(
        m,
        "region_read2",
        |mut c: Ctx<'_>,
         h: i32,
         off_a: i64,
         ptr_a: i32,
         len_a: i32,
         off_b: i64,
         ptr_b: i32,
         len_b: i32|
         -> i64 {
            c.data().count_hostcall();
            let copied = read2(&mut c, h, (off_a, ptr_a, len_a), (off_b, ptr_b, len_b));
            ret(charge_copy(&mut c, copied))
        },
    )?;
    linker.func_wrap(m, "region_write", |mut c: Ctx<'_>, h: i32, off: i64, ptr: i32, len: i32| -> i64 {
        c.data().count_hostcall();
        let copied = write(&mut c, h, off, ptr, len);
        ret(charge_copy(&mut c, copied))
    })?;
    linker.func_wrap(
        m,
        "region_write2",
        |mut c: Ctx<'_>, h: i32, off: i64, head: i32, head_len: i32, body: i32, body_len: i32| -> i64 {
            c.data().count_hostcall();
            let copied = write2(&mut c, h, off, (head, head_len), (body, body_len));
            ret(charge_copy(&mut c, copied))
        },
    )?;
    state_call!(linker, "region_size", |s, h: i32| Ok(region(s, h, Rights(0))?.len() as i64));
    state_call!(linker, "region_id", |s, h: i32| Ok(region(s, h, Rights(0))?.id() as i64));
    state_call!(linker, "region_load32", |s, h: i32, off: i64| {
        Ok(i64::from(region(s, h, Rights::READ)?.atomic_u32(off as u64)?.load(SeqCst)))
    });
    state_call!(linker, "region_store32", |s, h: i32, off: i64, v: i32| {
        region(s, h, Rights::WRITE)?.atomic_u32(off as u64)?.store(v as u32, SeqCst);
        Ok(0)
    });
    state_call!(linker, "region_fetch_add32", |s, h: i32, off: i64, v: i32| {
        Ok(i64::from(region(s, h, Rights::WRITE)?.atomic_u32(off as u64)?.fetch_add(v as u32, SeqCst)))
    });
    state_call!(linker, "region_cas32", |s, h: i32, off: i64, expected: i32, new: i32| {
        let atomic = region(s, h, Rights::WRITE)?.atomic_u32(off as u64)?;
        let prev = atomic.compare_exchange(expected as u32, new as u32, SeqCst, SeqCst).unwrap_or_else(|v| v);
        Ok(i64::from(prev))
    });
    state_call!(linker, "region_store64", |s, h: i32, off: i64, v: i64| {
        region(s, h, Rights::WRITE)?.atomic_u64(off as u64)?.store(v as u64, SeqCst);
        Ok(0)
    });
    linker.func_wrap(m, "region_load64", |mut c: Ctx<'_>, h: i32, off: i64, out: i32| -> i64 {
        c.data().count_hostcall();
        ret((|| {
            let (mem, s) = memory_and_state(&mut c)?;
            let v = region(s, h, Rights::READ)?.atomic_u64(off as u64)?.load(SeqCst);
            put_u64(mem, out, v).map(|_| 0)
        })())
    })?;
    linker.func_wrap(
        m,
        "region_fetch_add64",
        |mut c: Ctx<'_>, h: i32, off: i64, v: i64, out: i32| -> i64 {
            c.data().count_hostcall();
            ret((|| {
                let (mem, s) = memory_and_state(&mut c)?;
                guest_range(mem.len(), out, 8)?;
                let prev = region(s, h, Rights::WRITE)?.atomic_u64(off as u64)?.fetch_add(v as u64, SeqCst);
                put_u64(mem, out, prev).map(|_| 0)
            })())
        },
    )?;
    linker.func_wrap(
        m,
        "region_cas64",
        |mut c: Ctx<'_>, h: i32, off: i64, exp: i64, new: i64, out: i32| -> i64 {
            c.data().count_hostcall();
            ret((|| {
                let (mem, s) = memory_and_state(&mut c)?;
                guest_range(mem.len(), out, 8)?;
                let atomic = region(s, h, Rights::WRITE)?.atomic_u64(off as u64)?;
                let prev =
                    atomic.compare_exchange(exp as u64, new as u64, SeqCst, SeqCst).unwrap_or_else(|v| v);
                put_u64(mem, out, prev).map(|_| 0)
            })())
        },
    )?;
    linker.func_wrap(
        m,
        "region_wait",
        |mut c: Ctx<'_>, h: i32, off: i64, expected: i32, timeout: i64| -> Ret {
            c.data().count_hostcall();
            match wait(&c, h, off, expected, timeout) {
                Ok(None) => Ok(0),
                Ok(Some(call)) => kernel(&mut c, Ok(call)),
                Err(e) => Ok(err(e)),
            }
        },
    )?;
    linker.func_wrap(m, "region_map", |mut c: Ctx<'_>, h: i32, off: i64, len: i64, ptr: i32| -> i64 {
        c.data().count_hostcall();
        let mapped = map(&mut c, h, off, len, ptr);
        // Checking that the guest does not use the range reads up to `len`
        // bytes of its memory: paid in fuel like a copy, whatever the
        // outcome.
        let scanned = len.clamp(0, memory_len(&c) as i64);
        let _ = charge_copy(&mut c, Ok(scanned));
        ret(mapped)
    })?;
    linker.func_wrap(m, "region_unmap", |mut c: Ctx<'_>, ptr: i32| -> i64 {
        c.data().count_hostcall();
        ret(unmap(&mut c, ptr))
    })?;
    linker.func_wrap(m, "region_notify", |c: Ctx<'_>, h: i32, off: i64, count: i32| -> i64 {
        c.data().count_hostcall();
        ret(notify(&c, h, off, count))
    })?;
    Ok(())
}
