//! Mailboxes, links and monitors, byte for byte.
//!
//! Every process has one mailbox. Messages are `(tag, bytes, handles)`
//! sent through a **process handle** (a handle with [`crate::Rights::WRITE`]
//! naming a process; see [`crate::hostcall`] for the calls). There is no
//! send-to-any-pid: a process handle comes from `process_handle` (for the
//! caller itself, an ancestor or a descendant; any process with
//! [`crate::Caps::PROC`]) or inside a message (handle transfer).
//!
//! ## A received message
//!
//! `receive` writes, at the start of the guest's buffer, a [`Header`] of
//! [`HEADER_LEN`] bytes (all little endian):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | `tag` (`u64`) |
//! | 8 | 4 | `from`: the sender's pid (`u32`); for a notice, the pid that ended |
//! | 12 | 4 | `len`: payload bytes (`u32`) |
//! | 16 | 4 | `handles`: handles that came with it (`u32`, at most [`MAX_TRANSFER`]) |
//! | 20 | 4 | reserved, 0 |
//!
//! then `handles` entries of 8 bytes (the new handle in the receiver's
//! table, `u32`, and the pid it names, `u32`), then the `len` payload
//! bytes.
//!
//! ## Bounds
//!
//! A payload is at most [`MAX_MESSAGE_LEN`] bytes (`-E2BIG`). A mailbox
//! holds at most [`MAILBOX_MESSAGES`] messages and [`MAILBOX_BYTES`]
//! payload bytes; a send to a full mailbox parks the sender until there is
//! room, or returns `-EAGAIN` at once with [`SEND_NOWAIT`]. Notices do not
//! count against these bounds and are never refused: each comes from a
//! link or monitor, of which a process holds at most [`MAX_WATCHES`]
//! together with the notices queued for it.
//!
//! ## Notices
//!
//! Tags from [`NOTICE_BASE`] up are reserved for the host (`send` with one
//! is `-EINVAL`):
//! - [`TAG_EXIT`]: a linked process ended and the receiver traps exits.
//!   Payload: the postcard [`crate::ExitStatus`] of the process `from`.
//! - [`TAG_DOWN`]: a monitored process ended. Payload: postcard [`Down`].
//!
//! An ending is **abnormal** unless it is `Exited(0)` (a trap, a kill, out
//! of fuel, over the memory limit, a non-zero exit). When a process ends,
//! each linked process that traps exits gets an exit notice (normal or
//! not); each that does not is killed if the ending was abnormal (and its
//! own links act in turn). Each monitor of it gives its holder one down
//! notice. Messages from one sender arrive in the order sent; a notice
//! comes after every message its process sent before it ended.

use serde::{Deserialize, Serialize};

use crate::ExitStatus;

/// Bytes of a received message's header.
pub const HEADER_LEN: usize = 24;
/// Most payload bytes of one message.
pub const MAX_MESSAGE_LEN: usize = 64 * 1024;
/// Most messages queued in one mailbox (notices aside).
pub const MAILBOX_MESSAGES: usize = 1024;
/// Most payload bytes queued in one mailbox (notices aside).
pub const MAILBOX_BYTES: usize = 1 << 20;
/// Most handles one message carries.
pub const MAX_TRANSFER: usize = 4;
/// Bytes of one received handle entry (handle, pid).
pub const TRANSFER_ENTRY_LEN: usize = 8;
/// Most tags in a `receive` filter.
pub const MAX_FILTER: usize = 16;
/// Most links, monitors held and notices queued of one process, together.
pub const MAX_WATCHES: usize = 4096;

/// `send` flag: a full mailbox is `-EAGAIN` instead of parking the sender.
pub const SEND_NOWAIT: i32 = 1;

/// `spawn_with` flag: link the caller and the child before the child runs.
pub const SPAWN_LINK: i32 = 1;
/// `spawn_with` flag: monitor the child; its reference is written to `out`.
pub const SPAWN_MONITOR: i32 = 2;

/// The first tag reserved for notices.
pub const NOTICE_BASE: u64 = 0xffff_ffff_0000_0000;
/// Tag of an exit notice (a linked process ended; the receiver traps exits).
pub const TAG_EXIT: u64 = NOTICE_BASE | 1;
/// Tag of a down notice (a monitored process ended).
pub const TAG_DOWN: u64 = NOTICE_BASE | 2;

/// The payload of a [`TAG_DOWN`] notice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Down {
    /// The monitor's reference (what `monitor` returned).
    pub reference: u64,
    /// How the process ended; `None` when it was already gone and its
    /// status forgotten when the monitor was set (Erlang's `noproc`).
    pub status: Option<ExitStatus>,
}

/// The header `receive` writes before a message's handles and payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The message's tag.
    pub tag: u64,
    /// Its sender (for a notice: the process that ended).
    pub from: u32,
    /// Payload bytes.
    pub len: u32,
    /// Handles that came with it.
    pub handles: u32,
}

impl Header {
    /// The header's bytes.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..8].copy_from_slice(&self.tag.to_le_bytes());
        b[8..12].copy_from_slice(&self.from.to_le_bytes());
        b[12..16].copy_from_slice(&self.len.to_le_bytes());
        b[16..20].copy_from_slice(&self.handles.to_le_bytes());
        b
    }

    /// Reads a header from the start of `bytes` (`None` if too short).
    pub fn from_bytes(bytes: &[u8]) -> Option<Header> {
        let b: &[u8; HEADER_LEN] = bytes.get(..HEADER_LEN)?.try_into().ok()?;
        let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        Some(Header {
            tag: u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]),
            from: u32_at(8),
            len: u32_at(12),
            handles: u32_at(16),
        })
    }

    /// Bytes of the whole message as `receive` writes it.
    pub fn total_len(&self) -> usize {
        HEADER_LEN + TRANSFER_ENTRY_LEN * self.handles as usize + self.len as usize
    }

    /// True for a host notice rather than a message from a process.
    pub fn is_notice(&self) -> bool {
        self.tag >= NOTICE_BASE
    }
}
