//! Mailbox hostcalls: process_handle, send, receive, link, unlink,
//! monitor, demonitor, trap_exit, spawn_with, and the name registry's
//! name_register, name_unregister, name_lookup (see `wasmd_abi::mailbox`).
//!
//! `send` and `receive` work on the mailboxes directly (see
//! [`crate::mailbox`]); only a send to a full mailbox and a receive with
//! nothing to take become syscalls, which park. Links and monitors change
//! other processes' records: they are syscalls.

use wasmd_abi::hostcall;
use wasmd_abi::mailbox::{
    HEADER_LEN, MAX_MESSAGE_LEN, MAX_TRANSFER, NOTICE_BASE, SEND_NOWAIT, TRANSFER_ENTRY_LEN,
};
use wasmd_abi::mailbox::{SPAWN_LINK, SPAWN_MONITOR};
use wasmd_abi::{Errno, Rights};
use wasmi::{Error, Linker};

use super::{charge_copy, guest_range, kernel, memory_and_state, memory_len, ret, CallResult, Ctx, Ret};
use crate::guest_buf::GuestBuf;
use crate::handles::HandleTable;
use crate::mailbox::{Filter, Message, Refused, Transfer};
use crate::process::{HandleObject, ProcessState};
use crate::syscall::{NameOp, SpawnWatch, Syscall};
use crate::Pid;

#[allow(clippy::too_many_arguments)]
fn send(
    caller: &mut Ctx<'_>,
    h: i32,
    tag: i64,
    ptr: i32,
    len: i32,
    handles: i32,
    nhandles: i32,
    flags: i32,
) -> Result<Result<i64, Syscall>, Errno> {
    let tag = tag as u64;
    if tag >= NOTICE_BASE || flags & !SEND_NOWAIT != 0 {
        return Err(Errno::InvalidArgument);
    }
    if len as u32 as usize > MAX_MESSAGE_LEN || nhandles as u32 as usize > MAX_TRANSFER {
        return Err(Errno::TooBig);
    }
    let (mem, state) = memory_and_state(caller)?;
    let data = &mem[guest_range(mem.len(), ptr, len)?];
    let list = &mem[guest_range(mem.len(), handles, nhandles.wrapping_mul(4))?];
    let to = match &state.handles.get(h as u32, Rights::WRITE)?.object {
        HandleObject::Process(mailbox) => mailbox,
        // Handles do not cross nodes; the message is taken as it leaves.
        HandleObject::Remote(_) if nhandles != 0 => return Err(Errno::InvalidArgument),
        HandleObject::Remote(to) => {
            return Ok(Err(Syscall::SendRemote { to: to.clone(), tag, data: data.to_vec() }))
        }
        _ => return Err(Errno::BadHandle),
    };
    let mut carried: Transfer = Default::default();
    for (slot, raw) in carried.iter_mut().zip(list.chunks_exact(4)) {
        let handle = u32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]);
        let entry = state.handles.get(handle, Rights::GRANT)?;
        let HandleObject::Process(mailbox) = &entry.object else { return Err(Errno::BadHandle) };
        *slot = Some((mailbox.clone(), entry.rights));
    }
    match to.push_bytes(tag, state.pid, data, carried) {
        Ok(wake) => {
            if let Some(wake) = wake {
                state.env.mail.add(wake);
                state.env.kick();
            }
            Ok(Ok(0))
        }
        Err(Refused::Closed) => Err(Errno::NoSuchProcess),
        Err(Refused::Full(_)) if flags & SEND_NOWAIT != 0 => Err(Errno::WouldBlock),
        Err(Refused::Full(message)) => {
            Ok(Err(Syscall::SendWait { to: to.clone(), message: Box::new(message) }))
        }
    }
}

/// Delivers `message` into `buf` of the receiver's memory: header,
/// handles (new ones in its table), payload; returns the bytes written.
/// A message longer than `buf` stays queued (`Errno::OutOfRange`, the
/// header written); handles that do not fit leave it queued too
/// (`Errno::TooManyHandles`).
pub(crate) fn deliver(
    mem: &mut [u8],
    handles: &mut HandleTable<HandleObject>,
    buf: GuestBuf,
    message: &Message,
) -> Result<usize, Errno> {
    let header = message.header();
    if header.total_len() > buf.len() {
        let _ = buf.fill(mem, &header.to_bytes());
        return Err(Errno::OutOfRange);
    }
    const ENTRY: usize = TRANSFER_ENTRY_LEN;
    let mut entries = [0u8; ENTRY * MAX_TRANSFER];
    let mut given = 0;
    for (mailbox, rights) in message.handles.iter().flatten() {
        match handles.insert(HandleObject::Process(mailbox.clone()), *rights) {
            Ok(h) => {
                entries[ENTRY * given..ENTRY * given + 4].copy_from_slice(&h.to_le_bytes());
                entries[ENTRY * given + 4..ENTRY * (given + 1)].copy_from_slice(&mailbox.pid().to_le_bytes());
            }
            Err(e) => {
                for raw in entries[..ENTRY * given].chunks_exact(ENTRY) {
                    let _ = handles.remove(u32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]));
                }
                return Err(e);
            }
        }
        given += 1;
    }
    buf.fill_parts(mem, &[&header.to_bytes(), &entries[..ENTRY * given], &message.data])
        .map_err(|_| Errno::OutOfRange)
}

/// Takes a message for the caller into `buf` if one `filter` accepts is
/// queued: its length, or `None`.
pub(crate) fn take_into(
    mem: &mut [u8],
    state: &mut ProcessState,
    filter: &Filter,
    buf: GuestBuf,
) -> Result<Option<usize>, Errno> {
    let mailbox = state.mailbox.clone();
    let taken = mailbox.take(filter, |m| deliver(mem, &mut state.handles, buf, m))?;
    Ok(taken.map(|(len, wake)| {
        if let Some(wake) = wake {
            state.env.mail.add(wake);
            state.env.kick();
        }
        len
    }))
}

fn receive(
    caller: &mut Ctx<'_>,
    filter: i32,
    nfilter: i32,
    buf: i32,
    cap: i32,
    timeout_ns: i64,
) -> Result<Result<i64, Syscall>, Errno> {
    let (mem, state) = memory_and_state(caller)?;
    let tags = &mem[guest_range(mem.len(), filter, nfilter.wrapping_mul(8))?];
    if nfilter as u32 as usize > wasmd_abi::mailbox::MAX_FILTER {
        return Err(Errno::TooBig);
    }
    let filter =
        Filter::of(tags.chunks_exact(8).map(|t| u64::from_le_bytes(t.try_into().unwrap_or_default())))?;
    if (cap as u32 as usize) < HEADER_LEN {
        return Err(Errno::InvalidArgument);
    }
    let buf = GuestBuf::decode(mem.len(), buf, cap)?;
    let timeout = u64::try_from(timeout_ns).ok();
    loop {
        let seen = state.mailbox.seq().load(std::sync::atomic::Ordering::Acquire);
        if let Some(len) = take_into(mem, state, &filter, buf)? {
            return Ok(Ok(len as i64));
        }
        if timeout == Some(0) {
            return Err(Errno::WouldBlock);
        }
        // Another scheduler thread's sender often answers within a few
        // microseconds: spin before parking, as `region_wait` does.
        if !state.env.wait_spin.until_changed(state.mailbox.seq(), seen, timeout) {
            return Ok(Err(Syscall::ReceiveWait { filter, buf, timeout }));
        }
    }
}

fn trap_exit(caller: &Ctx<'_>, on: i32) -> CallResult {
    Ok(i64::from(caller.data().mailbox.set_trap_exit(on != 0)))
}

/// A pid argument of `link`, `unlink` and `monitor`: any but 0 (from
/// `REMOTE_PID_BASE` up, read as negative `i32`s, they are stand-ins).
fn pid_arg(pid: i32) -> Result<Pid, Errno> {
    if pid == 0 {
        return Err(Errno::NoSuchProcess);
    }
    Ok(pid as u32 as Pid)
}

fn spawn_with(caller: &mut Ctx<'_>, req: i32, len: i32, flags: i32, out: i32) -> Result<Syscall, Errno> {
    if flags & !(SPAWN_LINK | SPAWN_MONITOR) != 0 {
        return Err(Errno::InvalidArgument);
    }
    let monitor =
        if flags & SPAWN_MONITOR != 0 { Some(GuestBuf::decode(memory_len(caller), out, 8)?) } else { None };
    let Syscall::Spawn(mut call) = super::process::spawn(caller, req, len)? else {
        return Err(Errno::InvalidArgument);
    };
    call.watch = SpawnWatch { link: flags & SPAWN_LINK != 0, monitor };
    Ok(Syscall::Spawn(call))
}

/// `spawn_on(node, req, flags, out)`: `spawn_with` on another node.
fn spawn_on(
    caller: &mut Ctx<'_>,
    node: (i32, i32),
    req: (i32, i32),
    flags: i32,
    out: i32,
) -> Result<Syscall, Errno> {
    let (mem, _) = memory_and_state(caller)?;
    let name = std::str::from_utf8(&mem[guest_range(mem.len(), node.0, node.1)?])
        .map_err(|_| Errno::InvalidArgument)?
        .to_string();
    let Syscall::Spawn(mut call) = spawn_with(caller, req.0, req.1, flags, out)? else {
        return Err(Errno::InvalidArgument);
    };
    call.node = Some(name);
    Ok(Syscall::Spawn(call))
}

/// A name syscall on the name at `ptr..ptr+len`.
fn name_call(caller: &mut Ctx<'_>, op: NameOp, ptr: i32, len: i32) -> Result<Syscall, Errno> {
    let (mem, _) = memory_and_state(caller)?;
    let bytes = &mem[guest_range(mem.len(), ptr, len)?];
    let name = std::str::from_utf8(bytes).map_err(|_| Errno::InvalidArgument)?;
    crate::names::check_name(name)?;
    Ok(Syscall::Name(op, name.to_string()))
}

/// A hostcall that answers at once or parks with a syscall.
fn answer_or_park(caller: &mut Ctx<'_>, answer: Result<Result<i64, Syscall>, Errno>) -> Ret {
    match answer {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(call)) => kernel(caller, Ok(call)),
        Err(e) => kernel(caller, Err(e)),
    }
}

pub(super) fn define(linker: &mut Linker<ProcessState>) -> Result<(), Error> {
    let m = hostcall::MODULE;
    linker.func_wrap(m, "process_handle", |mut c: Ctx<'_>, pid: i32| -> Ret {
        c.data().count_hostcall();
        // Pids from `REMOTE_PID_BASE` up (negative here) are stand-ins.
        let call = Ok(Syscall::ProcessHandle(pid as u32 as Pid));
        kernel(&mut c, call)
    })?;
    linker.func_wrap(
        m,
        "send",
        |mut c: Ctx<'_>, h: i32, tag: i64, ptr: i32, len: i32, handles: i32, n: i32, flags: i32| -> Ret {
            c.data().count_hostcall();
            let sent = send(&mut c, h, tag, ptr, len, handles, n, flags);
            if matches!(sent, Ok(Ok(_)) | Ok(Err(Syscall::SendRemote { .. }))) {
                let _ = charge_copy(&mut c, Ok(i64::from(len)));
            }
            answer_or_park(&mut c, sent)
        },
    )?;
    linker.func_wrap(
        m,
        "receive",
        |mut c: Ctx<'_>, filter: i32, nfilter: i32, buf: i32, cap: i32, timeout: i64| -> Ret {
            c.data().count_hostcall();
            let received = receive(&mut c, filter, nfilter, buf, cap, timeout);
            if let Ok(Ok(len)) = received {
                let _ = charge_copy(&mut c, Ok(len));
            }
            answer_or_park(&mut c, received)
        },
    )?;
    linker.func_wrap(m, "link", |mut c: Ctx<'_>, pid: i32| -> Ret {
        c.data().count_hostcall();
        let call = pid_arg(pid).map(Syscall::Link);
        kernel(&mut c, call)
    })?;
    linker.func_wrap(m, "unlink", |mut c: Ctx<'_>, pid: i32| -> Ret {
        c.data().count_hostcall();
        let call = pid_arg(pid).map(Syscall::Unlink);
        kernel(&mut c, call)
    })?;
    linker.func_wrap(m, "monitor", |mut c: Ctx<'_>, pid: i32| -> Ret {
        c.data().count_hostcall();
        let call = pid_arg(pid).map(Syscall::Monitor);
        kernel(&mut c, call)
    })?;
    linker.func_wrap(m, "demonitor", |mut c: Ctx<'_>, reference: i64| -> Ret {
        c.data().count_hostcall();
        kernel(&mut c, Ok(Syscall::Demonitor(reference as u64)))
    })?;
    linker.func_wrap(m, "trap_exit", |c: Ctx<'_>, on: i32| -> i64 {
        c.data().count_hostcall();
        ret(trap_exit(&c, on))
    })?;
    let plain = [
        ("name_register", NameOp::Register),
        ("name_unregister", NameOp::Unregister),
        ("name_whereis", NameOp::Whereis),
    ];
    for (name, op) in plain {
        linker.func_wrap(m, name, move |mut c: Ctx<'_>, ptr: i32, len: i32| -> Ret {
            c.data().count_hostcall();
            let call = name_call(&mut c, op, ptr, len);
            kernel(&mut c, call)
        })?;
    }
    linker.func_wrap(m, "name_lookup", |mut c: Ctx<'_>, ptr: i32, len: i32, pid_out: i32| -> Ret {
        c.data().count_hostcall();
        let out =
            if pid_out == 0 { Ok(None) } else { GuestBuf::decode(memory_len(&c), pid_out, 4).map(Some) };
        let call = out.and_then(|out| name_call(&mut c, NameOp::Lookup(out), ptr, len));
        kernel(&mut c, call)
    })?;
    linker.func_wrap(m, "spawn_with", |mut c: Ctx<'_>, req: i32, len: i32, flags: i32, out: i32| -> Ret {
        c.data().count_hostcall();
        let call = spawn_with(&mut c, req, len, flags, out);
        kernel(&mut c, call)
    })?;
    linker.func_wrap(
        m,
        "spawn_on",
        |mut c: Ctx<'_>, node: i32, node_len: i32, req: i32, len: i32, flags: i32, out: i32| -> Ret {
            c.data().count_hostcall();
            let call = spawn_on(&mut c, (node, node_len), (req, len), flags, out);
            kernel(&mut c, call)
        },
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mailbox::Mailbox;
    use wasmd_abi::mailbox::Header;

    #[test]
    fn delivery_writes_header_handles_and_payload_or_leaves_the_message() {
        let mut handles = HandleTable::new(1);
        let other = Mailbox::new(4, None);
        let mut carried: Transfer = Default::default();
        carried[0] = Some((other.clone(), Rights::WRITE));
        let message = Message { tag: 77, from: 3, data: b"hello".to_vec(), handles: carried, charged: 0 };
        let mut mem = vec![0u8; 128];
        let small = GuestBuf::decode(mem.len(), 0, 30).unwrap();
        assert_eq!(deliver(&mut mem, &mut handles, small, &message), Err(Errno::OutOfRange));
        let header = Header::from_bytes(&mem).unwrap();
        assert_eq!((header.tag, header.from, header.len, header.handles), (77, 3, 5, 1));
        assert!(handles.is_empty(), "no handle given for a message left queued");
        let buf = GuestBuf::decode(mem.len(), 0, 64).unwrap();
        assert_eq!(deliver(&mut mem, &mut handles, buf, &message), Ok(HEADER_LEN + 8 + 5));
        let h = u32::from_le_bytes(mem[HEADER_LEN..HEADER_LEN + 4].try_into().unwrap());
        assert!(
            matches!(&handles.get(h, Rights::WRITE).unwrap().object, HandleObject::Process(m) if m.pid() == 4)
        );
        assert_eq!(&mem[HEADER_LEN + 4..HEADER_LEN + 8], &4u32.to_le_bytes(), "the pid it names");
        assert_eq!(&mem[HEADER_LEN + 8..HEADER_LEN + 13], b"hello");
        // A full table: the message stays, no handle is left behind.
        assert_eq!(deliver(&mut mem, &mut handles, buf, &message), Err(Errno::TooManyHandles));
        assert_eq!(handles.len(), 1);
    }
}
