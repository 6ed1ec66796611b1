//! WASI calls about the process itself: arguments and environment,
//! clocks, random bytes, exit, yield and `poll_oneoff`.

use std::time::{SystemTime, UNIX_EPOCH};

use wasmd_abi::Caps;
use wasmi::{Error, Linker};

use super::types::SUBSCRIPTION_CLOCK_ABSTIME;
use super::types::{clock, event, eventtype, WasiErrno, WasiResult, EVENT_SIZE, SUBSCRIPTION_SIZE};
use super::{errno, get_u32, memory_and_state, out, park, put, Finish, Ret, MODULE};
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

/// One decoded subscription.
struct Subscription {
    userdata: u64,
    kind: u8,
    /// Nanoseconds from now until it fires (0 for descriptors).
    after: u64,
    /// The error its event carries (`EBADF` for a descriptor that is not
    /// there, `ENOTCAPABLE` for a clock without `time`).
    error: WasiErrno,
}

/// `poll_oneoff`: descriptors are always ready (regular files and the
/// standard streams never block here; a socket read that would block
/// parks in its own call); clocks fire after their timeout. Events for
/// what is ready now are written when the call returns at once (after a
/// yield); otherwise the caller sleeps until the earliest clock and gets
/// the events of every subscription due by then.
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
    for i in 0..n {
        let at = base + i * SUBSCRIPTION_SIZE;
        let s = &mem[at..at + SUBSCRIPTION_SIZE];
        let u64_at = |o: usize| u64::from_le_bytes(s[o..o + 8].try_into().unwrap_or_default());
        let (userdata, kind) = (u64_at(0), s[8]);
        let sub = match kind {
            eventtype::CLOCK => {
                let id = get_u32(mem, at + 16)?;
                let (timeout, flags) = (u64_at(24), u16::from_le_bytes([s[40], s[41]]));
                match now(state, id) {
                    Ok(t) if flags & SUBSCRIPTION_CLOCK_ABSTIME != 0 => Subscription {
                        userdata,
                        kind,
                        after: timeout.saturating_sub(t),
                        error: WasiErrno::SUCCESS,
                    },
                    Ok(_) => Subscription { userdata, kind, after: timeout, error: WasiErrno::SUCCESS },
                    Err(error) => Subscription { userdata, kind, after: 0, error },
                }
            }
            eventtype::FD_READ | eventtype::FD_WRITE => {
                let fd = get_u32(mem, at + 16)?;
                let error = super::fds(state).get(fd).map_or_else(|e| e, |_| WasiErrno::SUCCESS);
                Subscription { userdata, kind, after: 0, error }
            }
            _ => return Err(WasiErrno::INVAL),
        };
        list.push(sub);
    }
    let soonest = list.iter().map(|s| s.after).min().unwrap_or(0);
    let mut bytes = Vec::new();
    let mut count = 0u32;
    for s in list.iter().filter(|s| s.after <= soonest) {
        bytes.extend_from_slice(&event(s.userdata, s.error, s.kind, 0, false));
        count += 1;
    }
    let finish = Finish::Events { events: event_buf, bytes, count_out, count };
    let call = if soonest == 0 { Syscall::Yield } else { Syscall::Sleep(soonest) };
    Ok((call, finish))
}

pub(super) fn define(linker: &mut Linker<ProcessState>) -> Result<(), Error> {
    let m = MODULE;
    linker.func_wrap(m, "args_get", |mut c: Ctx<'_>, argv: i32, buf: i32| -> i32 {
        c.data().count_hostcall();
        errno(memory_and_state(&mut c).and_then(|(mem, state)| {
            let list: Vec<String> = args(state).into_iter().map(str::to_string).collect();
            put_strings(mem, &list, argv, buf)
        }))
    })?;
    linker.func_wrap(m, "args_sizes_get", |mut c: Ctx<'_>, count: i32, size: i32| -> i32 {
        c.data().count_hostcall();
        errno(memory_and_state(&mut c).and_then(|(mem, state)| {
            let list: Vec<String> = args(state).into_iter().map(str::to_string).collect();
            put_sizes(mem, &list, count, size)
        }))
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
