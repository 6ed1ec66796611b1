//! WASI calls about the process itself: arguments and environment,
//! clocks, random bytes, exit, yield and `poll_oneoff`.

use std::time::{SystemTime, UNIX_EPOCH};

use wasmd_abi::Caps;
use wasmi::{Error, Linker};

use super::fds::{FdKind, Stream};
use super::state::{poll_events, Subscription, When};
use super::types::SUBSCRIPTION_CLOCK_ABSTIME;
use super::types::{clock, eventtype, WasiErrno, WasiResult, EVENT_SIZE, SUBSCRIPTION_SIZE};
use super::{errno, get_u32, memory_and_state, out, park, put, Finish, Ret, MODULE};
use crate::file::{IoRequest, ReadySource};
use crate::hostcalls::Ctx;
use crate::process::ProcessState;
use crate::syscall::{KernelCall, Syscall};

/// `ENOTCAPABLE` unless the caller holds `caps`.
fn require(state: &ProcessState, caps: Caps) -> WasiResult {
    if state.caps.contains(caps) {
        Ok(())
    } else {
        Err(WasiErrno::NOTCAPABLE)
    }
}

/// The process's arguments.
fn args(state: &ProcessState) -> Vec<&str> {
    wasmd_abi::msg::decode::<Vec<&str>>(&state.args).unwrap_or_default()
}

/// Writes `items` NUL-terminated into `buf` and their addresses into the
/// pointer array at `ptrs` (`args_get`, `environ_get`).
fn put_strings<S: AsRef<str>>(mem: &mut [u8], items: &[S], ptrs: i32, buf: i32) -> WasiResult {
    let total: usize = items.iter().map(|s| s.as_ref().len() + 1).sum();
    let strings = out(mem.len(), buf, total, 1)?;
    let table = out(mem.len(), ptrs, items.len() * 4, 4)?;
    let (mut bytes, mut addresses) = (Vec::with_capacity(total), Vec::with_capacity(items.len() * 4));
    for s in items {
        addresses.extend_from_slice(&(buf as u32).wrapping_add(bytes.len() as u32).to_le_bytes());
        bytes.extend_from_slice(s.as_ref().as_bytes());
        bytes.push(0);
    }
    strings.fill(mem, &bytes).map_err(|_| WasiErrno::FAULT)?;
    table.fill(mem, &addresses).map_err(|_| WasiErrno::FAULT)?;
    Ok(())
}

/// Writes the count and total size (NULs included) of `items`.
fn put_sizes<S: AsRef<str>>(mem: &mut [u8], items: &[S], count: i32, size: i32) -> WasiResult {
    let total: usize = items.iter().map(|s| s.as_ref().len() + 1).sum();
    put(mem, count, &(items.len() as u32).to_le_bytes(), 4)?;
    put(mem, size, &(total as u32).to_le_bytes(), 4)
}

/// Nanoseconds on `id`'s clock.
fn now(state: &ProcessState, id: u32) -> WasiResult<u64> {
    require(state, Caps::TIME)?;
    let nanos = match id {
        clock::REALTIME => SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos()),
        // The process's CPU clocks count from the daemon's start, as the
        // monotonic clock: a process cannot tell its own CPU time apart.
        clock::MONOTONIC | clock::PROCESS_CPUTIME | clock::THREAD_CPUTIME => {
            state.env.epoch.elapsed().as_nanos()
        }
        _ => return Err(WasiErrno::INVAL),
    };
    Ok(nanos.min(u128::from(u64::MAX)) as u64)
}

fn clock_time_get(c: &mut Ctx<'_>, id: i32, at: i32) -> WasiResult {
    let (mem, state) = memory_and_state(c)?;
    let t = now(state, id as u32)?;
    put(mem, at, &t.to_le_bytes(), 8)
}

fn clock_res_get(c: &mut Ctx<'_>, id: i32, at: i32) -> WasiResult {
    let (mem, state) = memory_and_state(c)?;
    now(state, id as u32)?;
    put(mem, at, &1u64.to_le_bytes(), 8)
}

fn random_get(c: &mut Ctx<'_>, buf: i32, len: i32) -> WasiResult {
    let (mem, state) = memory_and_state(c)?;
    require(state, Caps::RANDOM)?;
    let range = out(mem.len(), buf, len as u32 as usize, 1)?;
    let start = buf as u32 as usize;
    let dst = &mut mem[start..start + range.len()];
    state.env.platform.random(dst).map_err(WasiErrno::from)
}

/// `poll_oneoff`. Regular files, directories and the standard outputs
/// are always ready; standard input when it has data or has ended; a
/// socket when the OS says so; a clock after its timeout. What is ready
/// now is reported at once (after a yield); otherwise the caller parks
/// on every source and the earliest clock together, and gets the events
/// of what woke it.
fn poll_oneoff(
    c: &mut Ctx<'_>,
    subs: i32,
    events: i32,
    n: i32,
    nevents: i32,
) -> WasiResult<(Syscall, Finish)> {
    let (mem, state) = memory_and_state(c)?;
    let n = n as u32 as usize;
    if n == 0 {
        return Err(WasiErrno::INVAL);
    }
    out(mem.len(), subs, n.checked_mul(SUBSCRIPTION_SIZE).ok_or(WasiErrno::FAULT)?, 8)?;
    let event_buf = out(mem.len(), events, n.checked_mul(EVENT_SIZE).ok_or(WasiErrno::FAULT)?, 8)?;
    let count_out = out(mem.len(), nevents, 4, 4)?;
    let base = subs as u32 as usize;
    let mut list = Vec::with_capacity(n.min(1024));
    let mut sources = Vec::new();
    for i in 0..n {
        let at = base + i * SUBSCRIPTION_SIZE;
        let s = &mem[at..at + SUBSCRIPTION_SIZE];
        let u64_at = |o: usize| u64::from_le_bytes(s[o..o + 8].try_into().unwrap_or_default());
        let (userdata, kind) = (u64_at(0), s[8]);
        let sub = |when, error| Subscription { userdata, kind, when, error };
        list.push(match kind {
            eventtype::CLOCK => {
                let id = get_u32(mem, at + 16)?;
                let (timeout, flags) = (u64_at(24), u16::from_le_bytes([s[40], s[41]]));
                match now(state, id) {
                    Ok(t) if flags & SUBSCRIPTION_CLOCK_ABSTIME != 0 => {
                        sub(When::After(timeout.saturating_sub(t)), WasiErrno::SUCCESS)
                    }
                    Ok(_) => sub(When::After(timeout), WasiErrno::SUCCESS),
                    Err(error) => sub(When::Now, error),
                }
            }
            eventtype::FD_READ | eventtype::FD_WRITE => {
                let fd = get_u32(mem, at + 16)?;
                let writing = kind == eventtype::FD_WRITE;
                let source = match super::fds(state).get(fd).map(|f| f.kind.clone()) {
                    Err(e) => Err(e),
                    Ok(FdKind::Stream(Stream::Stdin)) if !writing => {
                        let waits = state.stdin.as_ref().is_some_and(|p| !p.readable());
                        Ok(waits.then_some(ReadySource::Stdin))
                    }
                    Ok(FdKind::File { handle, socket: true }) => {
                        Ok(Some(ReadySource::Socket { handle, writable: writing }))
                    }
                    Ok(_) => Ok(None),
                };
                match source {
                    Ok(Some(source)) => {
                        sources.push(source);
                        sub(When::Source(sources.len() - 1), WasiErrno::SUCCESS)
                    }
                    Ok(None) => sub(When::Now, WasiErrno::SUCCESS),
                    Err(e) => sub(When::Now, e),
                }
            }
            _ => return Err(WasiErrno::INVAL),
        });
    }
    let soonest = list.iter().filter_map(|s| if let When::After(t) = s.when { Some(t) } else { None }).min();
    let now_ready: Vec<&Subscription> =
        list.iter().filter(|s| s.when == When::Now || (s.when == When::After(0))).collect();
    if !now_ready.is_empty() {
        let mut bytes = Vec::new();
        for s in &now_ready {
            bytes.extend_from_slice(&s.event());
        }
        let count = now_ready.len() as u32;
        return Ok((Syscall::Yield, Finish::Events { events: event_buf, bytes, count_out, count }));
    }
    if sources.is_empty() {
        // Clocks only: sleep until the earliest.
        let (bytes, count) = poll_events(&list, 0);
        let nanos = soonest.unwrap_or(0);
        return Ok((Syscall::Sleep(nanos), Finish::Events { events: event_buf, bytes, count_out, count }));
    }
    let wait = IoRequest::WaitReady { sources, timeout: soonest };
    Ok((Syscall::Io(wait), Finish::Poll { subs: list, events: event_buf, count_out }))
}

pub(super) fn define(linker: &mut Linker<ProcessState>) -> Result<(), Error> {
    let m = MODULE;
    linker.func_wrap(m, "args_get", |mut c: Ctx<'_>, argv: i32, buf: i32| -> i32 {
        c.data().count_hostcall();
        errno(memory_and_state(&mut c).and_then(|(mem, state)| put_strings(mem, &args(state), argv, buf)))
    })?;
    linker.func_wrap(m, "args_sizes_get", |mut c: Ctx<'_>, count: i32, size: i32| -> i32 {
        c.data().count_hostcall();
        errno(memory_and_state(&mut c).and_then(|(mem, state)| put_sizes(mem, &args(state), count, size)))
    })?;
    linker.func_wrap(m, "environ_get", |mut c: Ctx<'_>, ptrs: i32, buf: i32| -> i32 {
        c.data().count_hostcall();
        errno(memory_and_state(&mut c).and_then(|(mem, state)| {
            let env = state.wasi.environ.clone();
            put_strings(mem, &env, ptrs, buf)
        }))
    })?;
    linker.func_wrap(m, "environ_sizes_get", |mut c: Ctx<'_>, count: i32, size: i32| -> i32 {
        c.data().count_hostcall();
        errno(memory_and_state(&mut c).and_then(|(mem, state)| {
            let env = state.wasi.environ.clone();
            put_sizes(mem, &env, count, size)
        }))
    })?;
    linker.func_wrap(m, "clock_time_get", |mut c: Ctx<'_>, id: i32, _precision: i64, at: i32| -> i32 {
        c.data().count_hostcall();
        errno(clock_time_get(&mut c, id, at))
    })?;
    linker.func_wrap(m, "clock_res_get", |mut c: Ctx<'_>, id: i32, at: i32| -> i32 {
        c.data().count_hostcall();
        errno(clock_res_get(&mut c, id, at))
    })?;
    linker.func_wrap(m, "random_get", |mut c: Ctx<'_>, buf: i32, len: i32| -> i32 {
        c.data().count_hostcall();
        errno(random_get(&mut c, buf, len))
    })?;
    linker.func_wrap(m, "proc_exit", |mut c: Ctx<'_>, code: i32| -> Result<(), Error> {
        c.data().count_hostcall();
        c.data_mut().syscall = Some(Syscall::Exit(code));
        Err(Error::host(KernelCall))
    })?;
    linker.func_wrap(m, "proc_raise", |c: Ctx<'_>, _signal: i32| -> i32 {
        c.data().count_hostcall();
        // wasmd processes have no signals.
        i32::from(WasiErrno::NOSYS.0)
    })?;
    linker.func_wrap(m, "sched_yield", |mut c: Ctx<'_>| -> Ret {
        c.data().count_hostcall();
        park(&mut c, Ok((Syscall::Yield, Finish::Status)))
    })?;
    linker.func_wrap(
        m,
        "poll_oneoff",
        |mut c: Ctx<'_>, subs: i32, events: i32, n: i32, nevents: i32| -> Ret {
            c.data().count_hostcall();
            let call = poll_oneoff(&mut c, subs, events, n, nevents);
            park(&mut c, call)
        },
    )?;
    Ok(())
}
