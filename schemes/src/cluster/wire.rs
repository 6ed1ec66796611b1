//! What nodes say to each other over NATS: subjects and messages.
//!
//! Every message is one JSON object (so `nats sub 'wasmd.>'` shows it as
//! it is). Subjects:
//!
//! | subject | kind | payload |
//! |---|---|---|
//! | `wasmd.node.NODE.req` | request/reply to node `NODE` | a [`Request`]; the reply is a [`Reply`] |
//! | `wasmd.heartbeat` | published by every node each heartbeat interval | a [`Heartbeat`] |
//!
//! A [`Request`] is a file operation on the answering node's control
//! tree, done there for the node's remote identity (see
//! [`super::ClusterConfig::remote_user`]), or a spawn:
//!
//! ```text
//! {"op":"read","path":"ps"}
//! {"op":"write","path":"7/ctl","data":"kill"}
//! {"op":"spawn","spec":"cap=stdio /srv/m.wasm count 10"}
//! ```
//!
//! A [`Reply`]: `{"result":"data","data":"…"}`, `{"result":"count","count":4}`,
//! `{"result":"spawned","pid":7}` or `{"result":"failed","errno":13,"reason":"…"}`.
//! `data` is text: bytes that are not UTF-8 are replaced (the tree's
//! snapshot files are text).

use serde::{Deserialize, Serialize};

/// Most bytes of a node name.
pub const MAX_NODE_NAME: usize = 64;

/// The subject heartbeats are published on.
pub const HEARTBEAT: &str = "wasmd.heartbeat";

/// The subject node `node` answers requests on.
pub fn request_subject(node: &str) -> String {
    format!("wasmd.node.{node}.req")
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

/// A request to another node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Open `path` of the tree, read it to its end, close it.
    Read {
        /// Relative to `/scheme/wasm`.
        path: String,
    },
    /// Open `path` of the tree for writing, write `data` once, close it.
    Write {
        /// Relative to `/scheme/wasm`.
        path: String,
        /// What is written.
        data: String,
    },
    /// Spawn from a spawn spec (what is written to `spawn`).
    Spawn {
        /// The spec.
        spec: String,
    },
}

/// The answer to a [`Request`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Reply {
    /// What a read gave.
    Data {
        /// The bytes, as text.
        data: String,
    },
    /// Bytes a write took.
    Count {
        /// How many.
        count: usize,
    },
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

/// A node's sign of life.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// The node's name.
    pub node: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_have_their_documented_bytes() {
        let cases: [(Request, &str); 3] = [
            (Request::Read { path: "ps".into() }, r#"{"op":"read","path":"ps"}"#),
            (
                Request::Write { path: "7/ctl".into(), data: "kill".into() },
                r#"{"op":"write","path":"7/ctl","data":"kill"}"#,
            ),
            (
                Request::Spawn { spec: "cap=stdio /srv/m.wasm count 10".into() },
                r#"{"op":"spawn","spec":"cap=stdio /srv/m.wasm count 10"}"#,
            ),
        ];
        for (request, bytes) in cases {
            assert_eq!(serde_json::to_string(&request).unwrap(), bytes);
            assert_eq!(serde_json::from_str::<Request>(bytes).unwrap(), request);
        }
        let replies: [(Reply, &str); 4] = [
            (Reply::Data { data: "1 x\n".into() }, r#"{"result":"data","data":"1 x\n"}"#),
            (Reply::Count { count: 4 }, r#"{"result":"count","count":4}"#),
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
        let beat = Heartbeat { node: "a".into() };
        assert_eq!(serde_json::to_string(&beat).unwrap(), r#"{"node":"a"}"#);
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
        for garbage in ["", "{", r#"{"op":"format_disk"}"#, r#"{"op":"read"}"#, "[1,2]"] {
            assert!(serde_json::from_str::<Request>(garbage).is_err(), "{garbage}");
        }
    }
}
