//! WASI preview 1 (`wasi_snapshot_preview1`) as a layer beside wasmd's
//! own ABI: stock `wasm32-wasip1` programs run as wasmd processes, on the
//! same capabilities, handles, grants and scheduler as native guests (a
//! module may import both). Nothing below this module knows WASI; it
//! decodes each call, checks it against the process's capabilities and
//! its descriptors ([`fds`]), and either answers at once or hands the
//! manager the same [`Syscall`] a native hostcall would (an fs request, a
//! sleep, a yield), parking only that process.
//!
//! How a parked call's answer reaches a WASI program: native hostcalls
//! resume with an `i64` (`-errno` on failure); a WASI function returns an
//! `i32` errno and writes its results through pointers. A WASI call that
//! parks records a [`Finish`] beside its syscall, checked when the call
//! was decoded (its out-pointers are [`GuestBuf`]s), and the turn resumes
//! it through [`resume_value`]: the native value becomes the WASI result
//! (a count or offset written out, a native handle wrapped in a new
//! descriptor, `-errno` mapped to the WASI errno by meaning).
//!
//! Mapping (see the README's WASI section for the user's view):
//! - descriptors 0, 1, 2: the process's stdin (end of file until stdin is
//!   connected), stdout and stderr (its log, `run/` streaming, the CLI);
//! - 3…: one preopened directory per file-like namespace grant, named by
//!   its path ([`fds::preopen_name`]); rights follow the grant;
//! - args: the spawn's arguments; environ: its `env=` pairs;
//! - clocks need `time`, `random_get` needs `random` (else
//!   `ENOTCAPABLE`); `proc_exit` is a normal exit; `sched_yield` yields.

mod descriptors;
pub(crate) mod encode;
mod fds;
pub(crate) mod names;
mod paths;
mod process;
mod sockets;
pub(crate) mod state;
mod types;

use wasmd_abi::Errno;
use wasmi::{Error, Linker, Store, Val};

use crate::guest_buf::GuestBuf;
use crate::hostcalls::Ctx;
use crate::process::ProcessState;
use crate::syscall::{KernelCall, Syscall};

pub use fds::{preopen_name, Fd, FdKind, FdTable, PreopenAlias};
pub use names::{MODULE, NAMES};
use state::Finish;
pub use types::WasiErrno;
use types::WasiResult;

/// The descriptor table of `state`, made from its grants on first use.
fn fds(state: &mut ProcessState) -> &mut FdTable {
    let (grants, wasi) = (&state.namespace, &mut state.wasi);
    wasi.fds.get_or_insert_with(|| FdTable::new(grants, &wasi.aliases, &wasi.sockets))
}

/// Most descriptors a process may hold: its handle limit, plus the
/// standard streams and its preopens.
fn max_fds(state: &ProcessState) -> usize {
    state.handles.capacity() as usize + 3 + state.namespace.len()
}

/// The value a suspended hostcall resumes with: the native `value`
/// itself, or, for a WASI call, its [`Finish`] applied to it.
pub(crate) fn resume_value(store: &mut Store<ProcessState>, value: i64) -> Val {
    match store.data_mut().wasi.finish.take() {
        None => Val::I64(value),
        Some(finish) => Val::I32(i32::from(apply(store, finish, value).0)),
    }
}

fn apply(store: &mut Store<ProcessState>, finish: Finish, value: i64) -> WasiErrno {
    if value < 0 {
        let errno = i32::try_from(-value).unwrap_or(i32::MAX);
        return WasiErrno::from(Errno::from_errno(errno));
    }
    let Some(memory) = store.data().memory else { return WasiErrno::FAULT };
    let (mem, state) = memory.data_and_store_mut(store);
    let written = match finish {
        Finish::Status => Ok(0),
        Finish::Count(out) => out.fill(mem, &(value as u32).to_le_bytes()),
        Finish::Offset(out) => out.fill(mem, &(value as u64).to_le_bytes()),
        Finish::Events { events, bytes, count_out, count } => {
            events.fill(mem, &bytes).and_then(|_| count_out.fill(mem, &count.to_le_bytes()))
        }
        Finish::Poll { subs, events, count_out } => {
            let (bytes, count) = state::poll_events(&subs, value);
            events.fill(mem, &bytes).and_then(|_| count_out.fill(mem, &count.to_le_bytes()))
        }
        Finish::NewFd { out, mut fd } => {
            let handle = value as u32;
            match &mut fd.kind {
                FdKind::Dir { handle: h, .. } => *h = Some(handle),
                FdKind::File { handle: h, .. } => *h = handle,
                FdKind::Stream(_) => {}
            }
            let max = max_fds(state);
            match fds(state).insert(fd, max) {
                Ok(number) => out.fill(mem, &number.to_le_bytes()),
                Err(e) => {
                    let _ = crate::hostcalls::fs::close_handle(state, handle as i32);
                    return e;
                }
            }
        }
    };
    match written {
        Ok(_) => WasiErrno::SUCCESS,
        Err(_) => WasiErrno::FAULT,
    }
}

/// A WASI function's return value.
type Ret = Result<i32, Error>;

/// The errno of `result`.
fn errno(result: WasiResult) -> i32 {
    match result {
        Ok(()) => 0,
        Err(e) => i32::from(e.0),
    }
}

/// Suspends the caller for `call`, to be finished by its [`Finish`]; or
/// returns the errno that refused it.
fn park(c: &mut Ctx<'_>, call: WasiResult<(Syscall, Finish)>) -> Ret {
    match call {
        Ok((syscall, finish)) => {
            let state = c.data_mut();
            state.syscall = Some(syscall);
            state.wasi.finish = Some(finish);
            Err(Error::host(KernelCall))
        }
        Err(e) => Ok(i32::from(e.0)),
    }
}

/// The caller's memory and state (`EFAULT` without a memory).
fn memory_and_state<'a>(c: &'a mut Ctx<'_>) -> WasiResult<(&'a mut [u8], &'a mut ProcessState)> {
    crate::hostcalls::memory_and_state(c).map_err(WasiErrno::from)
}

/// A checked guest range of `len` bytes at `ptr`, aligned to `align`
/// (1 for bytes; a value's or structure's alignment otherwise, as the
/// witx gives it): `EFAULT` when it is outside memory or misaligned.
fn out(mem_len: usize, ptr: i32, len: usize, align: u32) -> WasiResult<GuestBuf> {
    if !(ptr as u32).is_multiple_of(align) {
        return Err(WasiErrno::FAULT);
    }
    GuestBuf::decode(mem_len, ptr, i32::try_from(len).map_err(|_| WasiErrno::FAULT)?)
        .map_err(|_| WasiErrno::FAULT)
}

/// Writes `bytes` (a value or structure aligned to `align`) at the
/// guest's `ptr`.
fn put(mem: &mut [u8], ptr: i32, bytes: &[u8], align: u32) -> WasiResult {
    let buf = out(mem.len(), ptr, bytes.len(), align)?;
    buf.fill(mem, bytes).map(|_| ()).map_err(|_| WasiErrno::FAULT)
}

/// Reads a little-endian `u32` at the guest's `ptr`.
fn get_u32(mem: &[u8], at: usize) -> WasiResult<u32> {
    let bytes = mem.get(at..at.checked_add(4).ok_or(WasiErrno::FAULT)?).ok_or(WasiErrno::FAULT)?;
    Ok(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

/// Registers every preview 1 function on `linker`.
pub fn define(linker: &mut Linker<ProcessState>) -> Result<(), Error> {
    process::define(linker)?;
    descriptors::define(linker)?;
    paths::define(linker)?;
    sockets::define(linker)
}
