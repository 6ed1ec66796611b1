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

mod fds;
mod fs;
mod process;
mod types;

use std::sync::Arc;

use wasmd_abi::Errno;
use wasmi::{Error, Linker, Store, Val};

use crate::guest_buf::GuestBuf;
use crate::hostcalls::Ctx;
use crate::process::ProcessState;
use crate::syscall::{KernelCall, Syscall};

pub use fds::{preopen_name, Fd, FdKind, FdTable};
pub use types::WasiErrno;
use types::WasiResult;

/// The import module name.
pub const MODULE: &str = "wasi_snapshot_preview1";

/// A process's WASI state: its descriptors (made from its grants on the
/// first WASI call) and the finish of a parked call.
#[derive(Debug, Default)]
pub struct WasiState {
    fds: Option<FdTable>,
    finish: Option<Finish>,
    /// Its environment, `K=V` each.
    pub environ: Arc<[String]>,
    /// Handles of the sockets it started with (descriptors after the
    /// preopened directories).
    sockets: Vec<u32>,
}

impl WasiState {
    /// A state with `environ`; descriptors come on first use.
    pub fn new(environ: Arc<[String]>) -> WasiState {
        WasiState { fds: None, finish: None, environ, sockets: Vec::new() }
    }

    /// Gives the process the socket `handle` as a descriptor.
    pub(crate) fn preopen_socket(&mut self, handle: u32) {
        self.sockets.push(handle);
    }
}

/// The descriptor table of `state`, made from its grants on first use.
fn fds(state: &mut ProcessState) -> &mut FdTable {
    let (grants, sockets) = (&state.namespace, &state.wasi.sockets);
    state.wasi.fds.get_or_insert_with(|| FdTable::new(grants, sockets))
}

/// Most descriptors a process may hold: its handle limit, plus the
/// standard streams and its preopens.
fn max_fds(state: &ProcessState) -> usize {
    state.handles.capacity() as usize + 3 + state.namespace.len()
}

/// How a parked WASI call's native value becomes its result.
#[derive(Debug)]
pub(crate) enum Finish {
    /// 0 is success; `-errno` fails.
    Status,
    /// A byte count, written as a `u32`.
    Count(GuestBuf),
    /// A file offset, written as a `u64`.
    Offset(GuestBuf),
    /// A native handle: a new descriptor (`fd`, its handle filled in)
    /// whose number is written as a `u32`.
    NewFd { out: GuestBuf, fd: Fd },
    /// `poll_oneoff`'s events (`count` of them, encoded in `bytes`),
    /// written when the wait ends, and their count.
    Events { events: GuestBuf, bytes: Vec<u8>, count_out: GuestBuf, count: u32 },
    /// A `poll_oneoff` that waited: the events of what woke it (the
    /// value says what: see [`process::poll_events`]).
    Poll { subs: Vec<process::Subscription>, events: GuestBuf, count_out: GuestBuf },
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
            let (bytes, count) = process::poll_events(&subs, value);
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

/// The WASI `filestat` of a status.
pub(crate) fn filestat(status: &crate::platform::FileStatus) -> [u8; types::FILESTAT_SIZE] {
    let stat = &status.stat;
    types::Filestat {
        dev: status.dev,
        ino: stat.ino,
        filetype: types::filetype_of_mode(stat.mode),
        nlink: u64::from(stat.nlink),
        size: stat.size,
        atim: status.atime_ns,
        mtim: status.mtime_ns,
        ctim: status.ctime_ns,
    }
    .encode()
}

/// `fd_readdir`'s bytes: `dirent`s from entry `cookie` of `.`, `..` and
/// `entries` (whose first element is entry `first + 2`), as many as fit
/// in `cap` bytes, the last one cut there as preview 1 says (a program
/// that sees a full buffer asks again with a larger one).
pub(crate) fn dirents(cookie: u64, first: u64, dir: &WasiListing<'_>, cap: usize) -> Vec<u8> {
    let entries = dir.entries;
    let mut out = Vec::with_capacity(cap.min(64 * 1024));
    let mut index = cookie;
    while out.len() < cap {
        let (name, filetype, ino) = match index {
            0 => (".", types::filetype::DIRECTORY, dir.dot),
            1 => ("..", types::filetype::DIRECTORY, 0),
            i => match i.checked_sub(2 + first).and_then(|k| entries.get(usize::try_from(k).ok()?)) {
                Some(e) => (e.name.as_str(), types::filetype_of_kind(e.kind), e.ino),
                None => break,
            },
        };
        out.extend_from_slice(&types::dirent(index + 1, ino, name.len(), filetype));
        out.extend_from_slice(name.as_bytes());
        index += 1;
    }
    out.truncate(cap);
    out
}

/// A directory as `fd_readdir` lists it: its own inode number (for `.`)
/// and its entries.
pub(crate) struct WasiListing<'a> {
    /// The directory's inode number (0: unknown).
    pub dot: u64,
    /// Its entries.
    pub entries: &'a [crate::platform::Listed],
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
    fs::define(linker)
}

/// Every preview 1 function this layer defines (all of them).
pub const NAMES: &[&str] = &[
    "args_get",
    "args_sizes_get",
    "environ_get",
    "environ_sizes_get",
    "clock_res_get",
    "clock_time_get",
    "fd_advise",
    "fd_allocate",
    "fd_close",
    "fd_datasync",
    "fd_fdstat_get",
    "fd_fdstat_set_flags",
    "fd_fdstat_set_rights",
    "fd_filestat_get",
    "fd_filestat_set_size",
    "fd_filestat_set_times",
    "fd_pread",
    "fd_prestat_get",
    "fd_prestat_dir_name",
    "fd_pwrite",
    "fd_read",
    "fd_readdir",
    "fd_renumber",
    "fd_seek",
    "fd_sync",
    "fd_tell",
    "fd_write",
    "path_create_directory",
    "path_filestat_get",
    "path_filestat_set_times",
    "path_link",
    "path_open",
    "path_readlink",
    "path_remove_directory",
    "path_rename",
    "path_symlink",
    "path_unlink_file",
    "poll_oneoff",
    "proc_exit",
    "proc_raise",
    "random_get",
    "sched_yield",
    "sock_accept",
    "sock_recv",
    "sock_send",
    "sock_shutdown",
];
