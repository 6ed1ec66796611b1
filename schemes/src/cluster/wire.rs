//! What nodes say to each other over NATS: subjects and messages.
//!
//! Every message is one JSON object (so `nats sub 'wasmd.>'` shows it as
//! it is). Subjects:
//!
//! | subject | kind | payload |
//! |---|---|---|
//! | `wasmd.node.NODE.req` | request/reply to node `NODE` | a [`Request`]; the reply is a [`Reply`] |
//! | `wasmd.node.NODE.notice` | one-way to node `NODE`, in the order sent | a [`NoticeEnvelope`] |
//! | `wasmd.node.NODE.frames` | one-way to node `NODE`: frames of a channel bridge, in order | a [`Frame`], binary |
//! | `wasmd.heartbeat` | published by every node each heartbeat interval, and at once when its registered names change | a [`Heartbeat`]: with its names when they changed, when a node joined, and every [`NAMES_EVERY`]th beat; else without |
//!
//! A request is an [`Envelope`]: the asking node's name and a
//! [`Request`], flattened into one object. Requests open files of the
//! answering node's tree for the asking node (done there for that node's
//! remote identity, see [`super::ClusterConfig::remote_user`]) and then
//! work on them by *handle*, as a local client works on a file
//! descriptor; an operation that waits there (a guest scheme's reply, a
//! process's exit, output not written yet) is answered when it is done.
//!
//! ```text
//! {"from":"b","op":"open","path":"7/wait","flags":0}        -> {"result":"opened","handle":1}
//! {"from":"b","op":"read","handle":1,"offset":0,"len":4096} -> {"result":"data","data":"ZXhpdGVkKDApCg=="}
//! {"from":"b","op":"write","handle":2,"offset":0,"data":"a2lsbA=="} -> {"result":"count","count":4}
//! {"from":"b","op":"list","handle":3,"offset":0}             -> {"result":"entries","entries":[{"name":"ps","kind":1,"next":1}]}
//! {"from":"b","op":"truncate","handle":2,"len":0}          -> {"result":"done"}
//! {"from":"b","op":"sync","handle":2}                       -> {"result":"done"}
//! {"from":"b","op":"remove","path":"scheme/ramfs/notes.txt"} -> {"result":"done"}
//! {"from":"b","op":"close","handle":1}                      -> {"result":"done"}
//! {"from":"b","op":"spawn","spec":"cap=stdio /srv/m.wasm"}  -> {"result":"spawned","pid":7}
//! {"from":"b","op":"spawn","spec":"/srv/m.wasm","by":4,"link":true,"monitor":9} -> {"result":"spawned","pid":8}
//! ```
//!
//! A spawn for a guest of the asking node (`spawn_on`) names that guest
//! (`by`, its pid there) and what it asked: `link` links the child with
//! it and `monitor` monitors the child for it under that reference, both
//! before the child runs.
//!
//! Notices tell what happens between a process of the sending node and
//! one of the receiving node (see `wasmd_abi::hostcall`, *Processes of
//! other nodes*); they are not answered. `by` is the sender's process,
//! `pid` the receiver's; in `ended`, `pid` is the sender's process that
//! ended (or was not there) and `to` the receiver's that was linked with
//! it (no `reference`) or monitored it (under `reference`); `status` is
//! the `PID/status` form of its end (`exited(0)`, `trap: …`, `killed`,
//! `noproc`, …), absent when not known; `send` is a mailbox message
//! (`tag`, payload `data` in base64) from `by` to `pid`:
//!
//! ```text
//! {"from":"a","op":"link","pid":7,"by":4}
//! {"from":"a","op":"unlink","pid":7,"by":4}
//! {"from":"a","op":"monitor","pid":7,"by":4,"reference":9}
//! {"from":"a","op":"demonitor","pid":7,"by":4,"reference":9}
//! {"from":"a","op":"kill","pid":7,"by":4}
//! {"from":"a","op":"send","pid":7,"by":4,"tag":1,"data":"cGluZw=="}
//! {"from":"b","op":"ended","pid":7,"to":4,"status":"trap: unreachable"}
//! {"from":"b","op":"ended","pid":7,"to":4,"reference":9}
//! ```
//!
//! Any request may instead be answered
//! `{"result":"failed","errno":13,"reason":"…"}` (the errno a local client
//! would have got, and why). `data` is base64 (standard alphabet, with
//! padding). `flags` are the open flags of `wasmd_abi::scheme::flags`.
//! Handles are the answering node's, per asking node; they are closed by
//! `close`, and all of a node's when it leaves the cluster.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Most bytes of a node name.
pub const MAX_NODE_NAME: usize = 64;

/// The subject heartbeats are published on.
pub const HEARTBEAT: &str = "wasmd.heartbeat";

/// The subject node `node` answers requests on.
pub fn request_subject(node: &str) -> String {
    format!("wasmd.node.{node}.req")
}

/// The subject node `node` takes bridged frames on.
pub fn frames_subject(node: &str) -> String {
    format!("wasmd.node.{node}.frames")
}

/// The subject node `node` takes notices on.
pub fn notice_subject(node: &str) -> String {
    format!("wasmd.node.{node}.notice")
}

/// Checks a node name: 1 to 64 of `A-Z a-z 0-9 _ -` (it is a NATS
/// subject token and a path component).
pub fn check_node_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NODE_NAME
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(format!("bad node name `{name}`: 1 to {MAX_NODE_NAME} letters, digits, `_` or `-`"))
    }
}

/// A request and who asks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// The asking node.
    pub from: String,
    /// What it asks.
    #[serde(flatten)]
    pub request: Request,
}

/// A request to another node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Open `path` of the tree (relative to `/scheme/wasm`) with `flags`.
    Open {
        /// The path.
        path: String,
        /// `wasmd_abi::scheme::flags`.
        flags: u32,
    },
    /// Read up to `len` bytes at `offset` of an open file.
    Read {
        /// The file.
        handle: u64,
        /// Where (streams keep their own cursor).
        offset: u64,
        /// Most bytes.
        len: u32,
    },
    /// Write `data` at `offset` of an open file.
    Write {
        /// The file.
        handle: u64,
        /// Where.
        offset: u64,
        /// The bytes (base64).
        #[serde(with = "base64_bytes")]
        data: Vec<u8>,
    },
    /// List an open directory from its `offset`-th entry (an opaque
    /// offset for guest schemes' directories).
    List {
        /// The directory.
        handle: u64,
        /// Where to start.
        offset: u64,
    },
    /// Resize an open file (`ftruncate`).
    Truncate {
        /// The file.
        handle: u64,
        /// Its new length.
        len: u64,
    },
    /// Flush an open file (`fsync`).
    Sync {
        /// The file.
        handle: u64,
    },
    /// Remove `path` of the tree (`unlink`; only files of guest schemes,
    /// `scheme/NAME/PATH`, can be removed).
    Remove {
        /// The path (relative to `/scheme/wasm`).
        path: String,
        /// The unlink flags, as `wasmd_abi::scheme::SchemeOp::Unlink` has
        /// them (a directory: `0x1000_0000`); absent when 0.
        #[serde(default, skip_serializing_if = "is_zero")]
        flags: u32,
    },
    /// Close an open file.
    Close {
        /// The file.
        handle: u64,
    },
    /// Spawn from a spawn spec (what is written to `spawn`).
    Spawn {
        /// The spec.
        spec: String,
        /// The asking node's guest this spawn is for (`spawn_on`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<u32>,
        /// Link the child with `by` before it runs.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        link: bool,
        /// Monitor the child for `by`, under this reference.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        monitor: Option<u64>,
    },
}

fn is_zero(v: &u32) -> bool {
    *v == 0
}

/// A notice and who sends it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticeEnvelope {
    /// The sending node.
    pub from: String,
    /// What it tells.
    #[serde(flatten)]
    pub notice: Notice,
}

/// What one node tells another about their processes (see the module
/// docs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Notice {
    /// `by` linked with `pid`.
    Link {
        /// The receiver's process.
        pid: u32,
        /// The sender's.
        by: u32,
    },
    /// `by` unlinked from `pid`.
    Unlink {
        /// The receiver's process.
        pid: u32,
        /// The sender's.
        by: u32,
    },
    /// `by` monitors `pid` under `reference`.
    Monitor {
        /// The receiver's process.
        pid: u32,
        /// The sender's.
        by: u32,
        /// The monitor's reference (the sender's).
        reference: u64,
    },
    /// `by` dropped its monitor `reference` of `pid`.
    Demonitor {
        /// The receiver's process.
        pid: u32,
        /// The sender's.
        by: u32,
        /// The monitor's reference.
        reference: u64,
    },
    /// `by` kills `pid`.
    Kill {
        /// The receiver's process.
        pid: u32,
        /// The sender's.
        by: u32,
    },
    /// `by` sent a message to `pid`'s mailbox (see
    /// `wasmhost::ProcessManager::remote_send`).
    Send {
        /// The receiver's process.
        pid: u32,
        /// The sender's.
        by: u32,
        /// The message's tag.
        tag: u64,
        /// Its payload (base64).
        #[serde(with = "base64_bytes")]
        data: Vec<u8>,
    },
    /// The receiver may send `frames` more frames on its bridge to the
    /// sender's channel file `handle` (see [`Frame`]).
    Credit {
        /// The sender's file (the receiver's bridge's handle).
        handle: u64,
        /// How many frames were taken.
        frames: u32,
    },
    /// The sender's `pid` ended (or was not there) and the receiver's
    /// `to` was linked with it or monitored it.
    Ended {
        /// The sender's process.
        pid: u32,
        /// The receiver's.
        to: u32,
        /// How it ended (`PID/status` form), if known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<String>,
        /// The monitor; absent for a link.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reference: Option<u64>,
    },
}

/// The answer to a [`Request`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Reply {
    /// The file is open under `handle`.
    Opened {
        /// Its handle.
        handle: u64,
    },
    /// What a read gave (empty: the end).
    Data {
        /// The bytes (base64).
        #[serde(with = "base64_bytes")]
        data: Vec<u8>,
    },
    /// Directory entries (none: the end).
    Entries {
        /// The entries.
        entries: Vec<WireEntry>,
    },
    /// Bytes a write took.
    Count {
        /// How many.
        count: usize,
    },
    /// Done (a close).
    Done,
    /// The pid of the process a spawn made, on the answering node.
    Spawned {
        /// Its pid there.
        pid: u32,
    },
    /// The request failed.
    Failed {
        /// The errno a local request would have got.
        errno: i32,
        /// Why, for a person.
        reason: String,
    },
}

/// A directory entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireEntry {
    /// Its name.
    pub name: String,
    /// Its kind (`wasmd_abi::scheme::kind`).
    pub kind: u8,
    /// The offset of the entry after it.
    pub next: u64,
}

/// Bytes as a base64 string.
mod base64_bytes {
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        base64::engine::general_purpose::STANDARD.decode(text.as_bytes()).map_err(serde::de::Error::custom)
    }
}

/// A frame of a channel bridge (see `crate::control`'s `bridge` file):
/// the sending node moves the frames of one of its channels into the
/// receiver's channel file `handle` (a `chan/ID` the receiver opened for
/// the sender, write-only), each frame as the sender's writer `writer`
/// wrote it; `end` (with no data) says the sender's channel ended.
///
/// Frames are binary, not JSON (they are the data path): one byte, the
/// length of the sending node's name; the name; `handle` (8 bytes, little
/// endian); `writer` (4 bytes, little endian); one byte, `1` for the end
/// and `0` for a frame; the payload.
///
/// ```text
/// 01 61 | 07 00 00 00 00 00 00 00 | 02 00 00 00 | 00 | 68 69    a, handle 7, writer 2: "hi"
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    /// The sending node.
    pub from: &'a str,
    /// The receiver's file.
    pub handle: u64,
    /// The sender's writer of the frame.
    pub writer: u32,
    /// The sender's channel ended (no payload).
    pub end: bool,
    /// The payload.
    pub data: &'a [u8],
}

impl Frame<'_> {
    /// The frame's bytes.
    pub fn encode(from: &str, handle: u64, writer: u32, end: bool, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(14 + from.len() + data.len());
        out.push(from.len() as u8);
        out.extend_from_slice(from.as_bytes());
        out.extend_from_slice(&handle.to_le_bytes());
        out.extend_from_slice(&writer.to_le_bytes());
        out.push(u8::from(end));
        out.extend_from_slice(data);
        out
    }

    /// Reads a frame, borrowing from `bytes` (`None`: not one, or from a
    /// name that is no node's).
    pub fn decode(bytes: &[u8]) -> Option<Frame<'_>> {
        let (&n, rest) = bytes.split_first()?;
        let from = std::str::from_utf8(rest.get(..n as usize)?).ok()?;
        check_node_name(from).ok()?;
        let rest = &rest[n as usize..];
        let handle = u64::from_le_bytes(rest.get(..8)?.try_into().ok()?);
        let writer = u32::from_le_bytes(rest.get(8..12)?.try_into().ok()?);
        let end = match rest.get(12)? {
            0 => false,
            1 => true,
            _ => return None,
        };
        let data = &rest[13..];
        if end && !data.is_empty() {
            return None;
        }
        Some(Frame { from, handle, writer, end, data })
    }
}

/// A node's sign of life, with the registry names its processes hold
/// (see [`super`]: the cluster-wide name registry) when they may be news.
///
/// ```text
/// {"node":"a","names":{"kv":7}}   a's names are kv (its pid 7), and no other
/// {"node":"a","names":{}}         a holds no names
/// {"node":"a"}                    a's names are those of its last beat with names
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// The node's name.
    pub node: String,
    /// Its registered names and their pids there (at most
    /// [`MAX_SHARED_NAMES`]), or `None`: the same as in its last beat
    /// that had them. A node sends them when they changed (at once, not
    /// waiting for the beat), at the first beat after it saw another node
    /// join, and every [`NAMES_EVERY`]th beat (so a node that missed one
    /// learns them again).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub names: Option<BTreeMap<String, u32>>,
}

/// Every this many heartbeats a node sends its names even if nothing
/// changed.
pub const NAMES_EVERY: u64 = 10;

/// Most names one node tells the cluster (a node with more keeps the
/// rest to itself, in name order).
pub const MAX_SHARED_NAMES: usize = 4096;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_have_their_documented_bytes() {
        let envelope = |request| Envelope { from: "b".into(), request };
        let cases: [(Envelope, &str); 11] = [
            (
                envelope(Request::List { handle: 3, offset: 0 }),
                r#"{"from":"b","op":"list","handle":3,"offset":0}"#,
            ),
            (
                envelope(Request::Open { path: "7/wait".into(), flags: 0 }),
                r#"{"from":"b","op":"open","path":"7/wait","flags":0}"#,
            ),
            (
                envelope(Request::Read { handle: 1, offset: 0, len: 4096 }),
                r#"{"from":"b","op":"read","handle":1,"offset":0,"len":4096}"#,
            ),
            (
                envelope(Request::Write { handle: 2, offset: 0, data: b"kill".to_vec() }),
                r#"{"from":"b","op":"write","handle":2,"offset":0,"data":"a2lsbA=="}"#,
            ),
            (envelope(Request::Close { handle: 1 }), r#"{"from":"b","op":"close","handle":1}"#),
            (
                envelope(Request::Truncate { handle: 2, len: 0 }),
                r#"{"from":"b","op":"truncate","handle":2,"len":0}"#,
            ),
            (envelope(Request::Sync { handle: 2 }), r#"{"from":"b","op":"sync","handle":2}"#),
            (
                envelope(Request::Remove { path: "scheme/ramfs/notes.txt".into(), flags: 0 }),
                r#"{"from":"b","op":"remove","path":"scheme/ramfs/notes.txt"}"#,
            ),
            (
                envelope(Request::Remove { path: "scheme/ramfs/d".into(), flags: 0x1000_0000 }),
                r#"{"from":"b","op":"remove","path":"scheme/ramfs/d","flags":268435456}"#,
            ),
            (
                envelope(Request::Spawn {
                    spec: "cap=stdio /srv/m.wasm".into(),
                    by: None,
                    link: false,
                    monitor: None,
                }),
                r#"{"from":"b","op":"spawn","spec":"cap=stdio /srv/m.wasm"}"#,
            ),
            (
                envelope(Request::Spawn {
                    spec: "/srv/m.wasm".into(),
                    by: Some(4),
                    link: true,
                    monitor: Some(9),
                }),
                r#"{"from":"b","op":"spawn","spec":"/srv/m.wasm","by":4,"link":true,"monitor":9}"#,
            ),
        ];
        for (request, bytes) in cases {
            assert_eq!(serde_json::to_string(&request).unwrap(), bytes);
            assert_eq!(serde_json::from_str::<Envelope>(bytes).unwrap(), request);
        }
        let replies: [(Reply, &str); 7] = [
            (
                Reply::Entries { entries: vec![WireEntry { name: "ps".into(), kind: 1, next: 1 }] },
                r#"{"result":"entries","entries":[{"name":"ps","kind":1,"next":1}]}"#,
            ),
            (Reply::Opened { handle: 1 }, r#"{"result":"opened","handle":1}"#),
            (Reply::Data { data: b"exited(0)\n".to_vec() }, r#"{"result":"data","data":"ZXhpdGVkKDApCg=="}"#),
            (Reply::Count { count: 4 }, r#"{"result":"count","count":4}"#),
            (Reply::Done, r#"{"result":"done"}"#),
            (Reply::Spawned { pid: 7 }, r#"{"result":"spawned","pid":7}"#),
            (
                Reply::Failed { errno: 13, reason: "no".into() },
                r#"{"result":"failed","errno":13,"reason":"no"}"#,
            ),
        ];
        for (reply, bytes) in replies {
            assert_eq!(serde_json::to_string(&reply).unwrap(), bytes);
            assert_eq!(serde_json::from_str::<Reply>(bytes).unwrap(), reply);
        }
        // Bytes that are not text cross as they are.
        let binary = Reply::Data { data: (0..=255).collect() };
        let text = serde_json::to_string(&binary).unwrap();
        assert_eq!(serde_json::from_str::<Reply>(&text).unwrap(), binary);
        let notice = |from: &str, notice| NoticeEnvelope { from: from.into(), notice };
        let notices = [
            (notice("a", Notice::Link { pid: 7, by: 4 }), r#"{"from":"a","op":"link","pid":7,"by":4}"#),
            (notice("a", Notice::Unlink { pid: 7, by: 4 }), r#"{"from":"a","op":"unlink","pid":7,"by":4}"#),
            (
                notice("a", Notice::Monitor { pid: 7, by: 4, reference: 9 }),
                r#"{"from":"a","op":"monitor","pid":7,"by":4,"reference":9}"#,
            ),
            (
                notice("a", Notice::Demonitor { pid: 7, by: 4, reference: 9 }),
                r#"{"from":"a","op":"demonitor","pid":7,"by":4,"reference":9}"#,
            ),
            (notice("a", Notice::Kill { pid: 7, by: 4 }), r#"{"from":"a","op":"kill","pid":7,"by":4}"#),
            (
                notice("a", Notice::Send { pid: 7, by: 4, tag: 1, data: b"ping".to_vec() }),
                r#"{"from":"a","op":"send","pid":7,"by":4,"tag":1,"data":"cGluZw=="}"#,
            ),
            (
                notice(
                    "b",
                    Notice::Ended {
                        pid: 7,
                        to: 4,
                        status: Some("trap: unreachable".into()),
                        reference: None,
                    },
                ),
                r#"{"from":"b","op":"ended","pid":7,"to":4,"status":"trap: unreachable"}"#,
            ),
            (
                notice("b", Notice::Credit { handle: 3, frames: 32 }),
                r#"{"from":"b","op":"credit","handle":3,"frames":32}"#,
            ),
            (
                notice("b", Notice::Ended { pid: 7, to: 4, status: None, reference: Some(9) }),
                r#"{"from":"b","op":"ended","pid":7,"to":4,"reference":9}"#,
            ),
        ];
        for (notice, bytes) in notices {
            assert_eq!(serde_json::to_string(&notice).unwrap(), bytes);
            assert_eq!(serde_json::from_str::<NoticeEnvelope>(bytes).unwrap(), notice);
        }
        let same = Heartbeat { node: "a".into(), names: None };
        assert_eq!(serde_json::to_string(&same).unwrap(), r#"{"node":"a"}"#);
        assert_eq!(serde_json::from_str::<Heartbeat>(r#"{"node":"a"}"#).unwrap(), same);
        let none = Heartbeat { node: "a".into(), names: Some(BTreeMap::new()) };
        assert_eq!(serde_json::to_string(&none).unwrap(), r#"{"node":"a","names":{}}"#);
        assert_eq!(serde_json::from_str::<Heartbeat>(r#"{"node":"a","names":{}}"#).unwrap(), none);
        let named = Heartbeat { node: "a".into(), names: Some([("kv".to_string(), 7)].into()) };
        let bytes = r#"{"node":"a","names":{"kv":7}}"#;
        assert_eq!(serde_json::to_string(&named).unwrap(), bytes);
        assert_eq!(serde_json::from_str::<Heartbeat>(bytes).unwrap(), named);
    }

    #[test]
    fn frames_have_their_documented_bytes_and_garbage_is_no_frame() {
        let bytes = Frame::encode("a", 7, 2, false, b"hi");
        assert_eq!(bytes, [1, b'a', 7, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, b'h', b'i']);
        let frame = Frame::decode(&bytes).unwrap();
        assert_eq!(frame, Frame { from: "a", handle: 7, writer: 2, end: false, data: b"hi" });
        assert!(Frame::decode(&Frame::encode("b", 1, 0, true, b"")).unwrap().end);
        for garbage in [
            &b""[..],
            &[5, b'a'],
            &[1, b'.', 7, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0],
            &[1, b'a', 7, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 9],
            &[1, b'a', 7, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 1, b'x'],
            &[1, b'a', 7, 0],
        ] {
            assert_eq!(Frame::decode(garbage), None, "{garbage:?}");
        }
    }

    #[test]
    fn node_names_are_subject_tokens_and_path_components() {
        for good in ["a", "node-1", "B_2", &"x".repeat(64)] {
            assert!(check_node_name(good).is_ok(), "{good}");
        }
        for bad in ["", "a.b", "a/b", "*", ">", "a b", &"x".repeat(65), "é"] {
            assert!(check_node_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn garbage_is_refused_not_misread() {
        for garbage in [
            "",
            "{",
            r#"{"from":"b","op":"format_disk"}"#,
            r#"{"from":"b","op":"read"}"#,
            r#"{"op":"close","handle":1}"#,
            r#"{"from":"b","op":"write","handle":1,"offset":0,"data":"!!"}"#,
            "[1,2]",
        ] {
            assert!(serde_json::from_str::<Envelope>(garbage).is_err(), "{garbage}");
        }
    }
}
