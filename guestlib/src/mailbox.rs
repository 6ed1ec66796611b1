//! Mailboxes, links and monitors (see `wasmd_abi::mailbox` for the
//! semantics, byte for byte).
//!
//! A [`ProcessRef`] is a send handle to a process: [`ProcessRef::of`]
//! (the caller, an ancestor, a descendant; anyone with `PROC`), one that
//! came in a message ([`Received::handles`]), or [`ProcessRef::me`].
//! [`receive`] takes the oldest message whose tag a filter accepts, with a
//! timeout; exit and down notices arrive the same way ([`Received::notice`]).
//! Typed messages are postcard ([`ProcessRef::send_msg`],
//! [`Received::decode`]).
//!
//! ```ignore
//! let child = ProcessRef::of(Command::path("worker.wasm").spawn_link()?)?;
//! child.send_msg(PING, &Ping { n: 1 })?;
//! let reply = receive(&[PONG, TAG_EXIT], Some(Duration::from_secs(1)))?;
//! ```

use alloc::vec::Vec;
use core::time::Duration;

use serde::{de::DeserializeOwned, Serialize};
pub use wasmd_abi::mailbox::{
    Down, Header, HEADER_LEN, MAILBOX_BYTES, MAILBOX_MESSAGES, MAX_FILTER, MAX_MESSAGE_LEN, MAX_TRANSFER,
    TAG_DOWN, TAG_EXIT, TRANSFER_ENTRY_LEN,
};
use wasmd_abi::mailbox::{SEND_NOWAIT, SPAWN_LINK, SPAWN_MONITOR};
use wasmd_abi::{msg, ExitStatus};

use crate::error::{check, Error, Result};
use crate::process::{Command, Pid};
use crate::sys;

/// A send handle to a process (closed when dropped).
#[derive(Debug)]
pub struct ProcessRef {
    handle: i32,
    pid: Pid,
}

impl ProcessRef {
    /// A handle to `pid` (the caller, an ancestor or a descendant; any
    /// process with `PROC`).
    pub fn of(pid: Pid) -> Result<ProcessRef> {
        // SAFETY: scalar argument.
        let handle = check(unsafe { sys::process_handle(pid as i32) })? as i32;
        Ok(ProcessRef { handle, pid })
    }

    /// A handle to the caller itself.
    pub fn me() -> Result<ProcessRef> {
        Self::of(crate::process::id())
    }

    /// Its process.
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// The raw handle.
    pub fn handle(&self) -> i32 {
        self.handle
    }

    /// Sends `data` under `tag`, parking while the mailbox is full.
    pub fn send(&self, tag: u64, data: &[u8]) -> Result<()> {
        self.send_raw(tag, data, &[], 0)
    }

    /// Sends `data` under `tag`; a full mailbox is `Error::WouldBlock`.
    pub fn try_send(&self, tag: u64, data: &[u8]) -> Result<()> {
        self.send_raw(tag, data, &[], SEND_NOWAIT)
    }

    /// Sends `data` with copies of `handles` (at most [`MAX_TRANSFER`]).
    pub fn send_with(&self, tag: u64, data: &[u8], handles: &[&ProcessRef]) -> Result<()> {
        let mut raw = [0u32; MAX_TRANSFER];
        if handles.len() > MAX_TRANSFER {
            return Err(Error::TooBig);
        }
        for (slot, h) in raw.iter_mut().zip(handles) {
            *slot = h.handle as u32;
        }
        self.send_raw(tag, data, &raw[..handles.len()], 0)
    }

    /// Sends `value`, postcard-encoded, under `tag`.
    pub fn send_msg<T: Serialize>(&self, tag: u64, value: &T) -> Result<()> {
        self.send(tag, &msg::encode(value))
    }

    fn send_raw(&self, tag: u64, data: &[u8], handles: &[u32], flags: i32) -> Result<()> {
        // SAFETY: pointers and lengths of live buffers.
        let ret = unsafe {
            sys::send(
                self.handle,
                tag as i64,
                data.as_ptr(),
                data.len(),
                handles.as_ptr(),
                handles.len(),
                flags,
            )
        };
        check(ret).map(|_| ())
    }
}

impl Drop for ProcessRef {
    fn drop(&mut self) {
        // SAFETY: scalar argument.
        unsafe {
            sys::fs_close(self.handle);
        }
    }
}

/// True when an end is abnormal: anything but `exit(0)` (what kills
/// linked processes that do not trap exits).
pub fn is_abnormal(status: &ExitStatus) -> bool {
    !matches!(status, ExitStatus::Exited(0))
}

/// A notice: what a link or monitor tells of a process's end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// A linked process ended (the receiver traps exits).
    Exit {
        /// The process.
        pid: Pid,
        /// How it ended.
        status: ExitStatus,
    },
    /// A monitored process ended.
    Down {
        /// The process.
        pid: Pid,
        /// The monitor's reference.
        reference: u64,
        /// How it ended (`None`: it was gone before the monitor was set).
        status: Option<ExitStatus>,
    },
}

/// A received message.
#[derive(Debug)]
pub struct Received {
    /// Its tag.
    pub tag: u64,
    /// Its sender (for a notice, the process that ended).
    pub from: Pid,
    /// Handles that came with it.
    pub handles: Vec<ProcessRef>,
    /// Its payload.
    pub data: Vec<u8>,
}

impl Received {
    /// The payload, postcard-decoded.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T> {
        msg::decode(&self.data).map_err(|_| Error::InvalidArgument)
    }

    /// The notice it is, if it is one.
    pub fn notice(&self) -> Option<Notice> {
        match self.tag {
            TAG_EXIT => Some(Notice::Exit { pid: self.from, status: self.decode().ok()? }),
            TAG_DOWN => {
                let down: Down = self.decode().ok()?;
                Some(Notice::Down { pid: self.from, reference: down.reference, status: down.status })
            }
            _ => None,
        }
    }
}

fn timeout_ns(timeout: Option<Duration>) -> i64 {
    timeout.map_or(-1, |t| t.as_nanos().min(i64::MAX as u128) as i64)
}

/// Takes the oldest message whose tag is in `filter` (empty: any), waiting
/// up to `timeout` (`None`: for ever; `Error::TimedOut` after it;
/// `Some(ZERO)`: `Error::WouldBlock` at once when none is queued). The
/// message (header, handles, payload) goes into `buf`, grown to fit; its
/// header is returned.
pub fn receive_into(filter: &[u64], timeout: Option<Duration>, buf: &mut Vec<u8>) -> Result<Header> {
    if buf.len() < HEADER_LEN {
        buf.resize(256, 0);
    }
    let ns = timeout_ns(timeout);
    loop {
        // SAFETY: pointers and lengths of live buffers.
        let ret = unsafe { sys::receive(filter.as_ptr(), filter.len(), buf.as_mut_ptr(), buf.len(), ns) };
        match check(ret) {
            Ok(_) => return Header::from_bytes(buf).ok_or(Error::InvalidArgument),
            Err(Error::OutOfRange) => {
                let header = Header::from_bytes(buf).ok_or(Error::InvalidArgument)?;
                buf.resize(header.total_len(), 0);
            }
            Err(e) => return Err(e),
        }
    }
}

/// As [`receive_into`], into a message of its own.
pub fn receive(filter: &[u64], timeout: Option<Duration>) -> Result<Received> {
    let mut buf = Vec::new();
    let header = receive_into(filter, timeout, &mut buf)?;
    let handles_at = HEADER_LEN;
    let data_at = handles_at + TRANSFER_ENTRY_LEN * header.handles as usize;
    let handles = buf[handles_at..data_at]
        .chunks_exact(TRANSFER_ENTRY_LEN)
        .map(|h| ProcessRef {
            handle: i32::from_le_bytes([h[0], h[1], h[2], h[3]]),
            pid: u32::from_le_bytes([h[4], h[5], h[6], h[7]]),
        })
        .collect();
    let data = buf[data_at..data_at + header.len as usize].to_vec();
    Ok(Received { tag: header.tag, from: header.from, handles, data })
}

/// Links the caller with `pid` (see the module docs for what a link does).
pub fn link(pid: Pid) -> Result<()> {
    // SAFETY: scalar argument.
    check(unsafe { sys::link(pid as i32) }).map(|_| ())
}

/// Removes the link with `pid`, if any.
pub fn unlink(pid: Pid) -> Result<()> {
    // SAFETY: scalar argument.
    check(unsafe { sys::unlink(pid as i32) }).map(|_| ())
}

/// Monitors `pid`; returns the reference its down notice will carry.
pub fn monitor(pid: Pid) -> Result<u64> {
    // SAFETY: scalar argument.
    check(unsafe { sys::monitor(pid as i32) })
}

/// Removes a monitor and its down notice if one is queued.
pub fn demonitor(reference: u64) -> Result<()> {
    // SAFETY: scalar argument.
    check(unsafe { sys::demonitor(reference as i64) }).map(|_| ())
}

/// Turns trapping exits on or off; returns the old setting.
pub fn trap_exit(on: bool) -> bool {
    // SAFETY: scalar argument.
    unsafe { sys::trap_exit(i32::from(on)) == 1 }
}

impl Command<'_> {
    /// Spawns the child linked to the caller (before it runs).
    pub fn spawn_link(&self) -> Result<Pid> {
        self.spawn_flags(SPAWN_LINK).map(|(pid, _)| pid)
    }

    /// Spawns the child monitored by the caller: its pid and the monitor's
    /// reference.
    pub fn spawn_monitor(&self) -> Result<(Pid, u64)> {
        self.spawn_flags(SPAWN_MONITOR)
    }
}

/// Registers the caller under `name` (1–64 of `[a-z0-9._-]`) until it
/// ends or unregisters; `Error::Exists` while another process holds it.
pub fn register(name: &str) -> Result<()> {
    // SAFETY: pointer and length of a live string.
    check(unsafe { sys::name_register(name.as_ptr(), name.len()) }).map(|_| ())
}

/// Removes the caller's registration as `name`.
pub fn unregister(name: &str) -> Result<()> {
    // SAFETY: pointer and length of a live string.
    check(unsafe { sys::name_unregister(name.as_ptr(), name.len()) }).map(|_| ())
}

/// A handle to the process registered as `name` (`Error::NotFound` if
/// none): how a restarted process is found again.
pub fn whereis(name: &str) -> Result<ProcessRef> {
    let mut pid = 0u32;
    // SAFETY: pointers and lengths of live buffers.
    let handle = check(unsafe { sys::name_lookup(name.as_ptr(), name.len(), &mut pid) })? as i32;
    Ok(ProcessRef { handle, pid })
}

/// The pid of the process registered as `name`, here or (with `PROC`)
/// on another node of the cluster, where it is a stand-in pid that
/// `link`, `monitor` and `kill` take (`Error::NotFound` if none).
pub fn whereis_pid(name: &str) -> Result<Pid> {
    // SAFETY: pointer and length of a live string.
    check(unsafe { sys::name_whereis(name.as_ptr(), name.len()) }).map(|pid| pid as Pid)
}

/// Sends `data` under `tag` to the process registered as `name`.
pub fn send_to(name: &str, tag: u64, data: &[u8]) -> Result<()> {
    whereis(name)?.send(tag, data)
}
