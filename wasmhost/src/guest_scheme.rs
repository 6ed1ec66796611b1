//! Guest-implemented schemes: the table of schemes, their request queues
//! and the requests in flight.
//!
//! A provider (a guest with `SCHEME_PROVIDE`) registers a name
//! (`scheme_register`) and loops on `scheme_next` (blocking) and
//! `scheme_reply`. Requests come from the daemon (the control tree, the
//! Redox kernel, the Linux socket) through
//! [`crate::ProcessManager::scheme_request`], and from other guests'
//! fs hostcalls. Each gets a tag; the reply with that tag goes back to its
//! [`Origin`]. When a provider dies, its schemes go away and every request
//! it had — queued or in flight — fails with `Errno::Io`; nothing waits for ever.
//!
//! The table sits behind a mutex in the host environment so the provider
//! hostcalls can work on it without leaving the guest; waking other
//! processes is left to the manager (see [`SchemeTable::take_guest_replies`]).

use std::collections::{HashMap, VecDeque};
use wasmd_abi::Errno;

use wasmd_abi::msg;
use wasmd_abi::scheme::{DirEntry, SchemeOp, SchemeRequest, SchemeResult, Stat};

use crate::Pid;

/// Names a provider cannot take: the control tree, the OS schemes the
/// fs hostcalls route themselves, and `node` (other nodes' trees, which
/// the embedder serves in a cluster, see [`SchemeTable::serve_embedded`]).
pub const RESERVED: &[&str] =
    &["wasm", "file", "tcp", "udp", "memory", "pipe", "shm", "event", "time", "rand", "node"];

/// The provider "pid" of a scheme the embedder serves (pids are never 0).
pub const EMBEDDER: Pid = 0;

/// An owned directory entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Inode.
    pub ino: u64,
    /// Opaque offset of the next entry.
    pub next: u64,
    /// Kind.
    pub kind: u8,
    /// Name.
    pub name: String,
}

/// An owned result (see [`SchemeResult`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// A number.
    Value(u64),
    /// Bytes.
    Data(Vec<u8>),
    /// A status.
    Stat(Stat),
    /// Directory entries.
    Dirents(Vec<Entry>),
    /// An errno.
    Error(Errno),
}

impl Reply {
    fn owned(result: &SchemeResult<'_>) -> Reply {
        match result {
            SchemeResult::Value(v) => Reply::Value(*v),
            SchemeResult::Data(d) => Reply::Data(d.to_vec()),
            SchemeResult::Stat(s) => Reply::Stat(*s),
            SchemeResult::Dirents(v) => Reply::Dirents(
                v.iter()
                    .map(|e: &DirEntry<'_>| Entry {
                        ino: e.ino,
                        next: e.next,
                        kind: e.kind,
                        name: e.name.into(),
                    })
                    .collect(),
            ),
            SchemeResult::Error(e) => Reply::Error(Errno::from_errno(*e)),
        }
    }
}

/// Where a reply goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The embedder; it collects the reply with
    /// [`crate::ProcessManager::take_scheme_replies`].
    External,
    /// A guest parked in an fs hostcall (see `crate::fs`).
    Guest {
        /// The guest.
        pid: Pid,
        /// Its wait token.
        token: u64,
    },
}

/// A change the embedder may mirror (Redox registers real schemes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemeEvent {
    /// A scheme appeared.
    Registered(String),
    /// A scheme went away.
    Gone(String),
}

/// A queued request, already encoded (postcard [`SchemeRequest`]).
#[derive(Debug)]
struct Queued {
    tag: u64,
    bytes: Vec<u8>,
}

#[derive(Debug)]
struct Scheme {
    provider: Pid,
    queue: VecDeque<Queued>,
    /// Tags handed to the provider and not yet answered.
    in_flight: Vec<u64>,
}

/// A provider's reply to a guest's request.
#[derive(Debug, PartialEq)]
pub struct GuestReply {
    /// The guest.
    pub pid: Pid,
    /// Its wait.
    pub token: u64,
    /// The reply.
    pub reply: Reply,
    /// The scheme, when the request was an open: if the guest no longer
    /// waits for it, the id it opened is closed there.
    pub opened_on: Option<String>,
}

/// All guest schemes.
#[derive(Debug, Default)]
pub struct SchemeTable {
    schemes: HashMap<String, Scheme>,
    /// Where each request's reply goes, and whether it is an open.
    origins: HashMap<u64, (String, Origin, bool)>,
    next_tag: u64,
    external: Vec<(u64, Reply)>,
    guest: Vec<GuestReply>,
    events: Vec<SchemeEvent>,
    /// Providers parked in `scheme_next`, by scheme name.
    parked: HashMap<String, Pid>,
    /// The schemes the embedder serves.
    embedded: Vec<String>,
}

/// Checks a scheme name: 1 to 64 of `[a-z0-9._-]`, not reserved.
pub fn valid_name(name: &str) -> Result<(), Errno> {
    let ok_chars = name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
    // `.` and `..` would name the namespace itself or its parent as paths.
    if name.is_empty() || name.len() > 64 || !ok_chars || name.bytes().all(|b| b == b'.') {
        return Err(Errno::InvalidArgument);
    }
    if RESERVED.contains(&name) {
        return Err(Errno::Exists);
    }
    Ok(())
}

impl SchemeTable {
    /// Registers `name` for `provider`.
    pub fn register(&mut self, name: &str, provider: Pid) -> Result<(), Errno> {
        valid_name(name)?;
        if self.schemes.contains_key(name) {
            return Err(Errno::Exists);
        }
        self.schemes.insert(name.into(), Scheme { provider, queue: VecDeque::new(), in_flight: Vec::new() });
        self.events.push(SchemeEvent::Registered(name.into()));
        Ok(())
    }

    /// Serves `name` (a reserved name, for the embedder only) from the
    /// embedder: guests' requests on it queue for
    /// [`SchemeTable::take_embedded`] and its answers go through
    /// [`SchemeTable::reply`], as a guest provider's would. Not listed,
    /// not mirrored to the OS.
    pub fn serve_embedded(&mut self, name: &str) -> Result<(), Errno> {
        if self.schemes.contains_key(name) {
            return Err(Errno::Exists);
        }
        let scheme = Scheme { provider: EMBEDDER, queue: VecDeque::new(), in_flight: Vec::new() };
        self.schemes.insert(name.into(), scheme);
        self.embedded.push(name.into());
        Ok(())
    }

    /// The requests queued on the embedder's scheme `name`, encoded
    /// (postcard [`SchemeRequest`]), now in flight.
    pub fn take_embedded(&mut self, name: &str) -> Vec<Vec<u8>> {
        if self.provider(name) != Some(EMBEDDER) {
            return Vec::new();
        }
        let mut out = Vec::new();
        while let Some((_, bytes)) = self.next_request(name, usize::MAX) {
            out.push(bytes);
        }
        out
    }

    /// The provider of `name`.
    pub fn provider(&self, name: &str) -> Option<Pid> {
        self.schemes.get(name).map(|s| s.provider)
    }

    /// Names guests registered, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> =
            self.schemes.iter().filter(|(_, s)| s.provider != EMBEDDER).map(|(n, _)| n.clone()).collect();
        v.sort();
        v
    }

    /// Queues a request (encoded now, so it borrows nothing); returns its
    /// tag (`Errno::NotFound` for no such scheme). `Close` has no reply and gets no
    /// origin.
    pub fn submit(
        &mut self,
        name: &str,
        caller: Pid,
        op: SchemeOp<'_>,
        origin: Origin,
    ) -> Result<u64, Errno> {
        let scheme = self.schemes.get_mut(name).ok_or(Errno::NotFound)?;
        self.next_tag += 1;
        let tag = self.next_tag;
        if !matches!(op, SchemeOp::Close { .. }) {
            self.origins.insert(tag, (name.into(), origin, matches!(op, SchemeOp::Open { .. })));
        }
        scheme.queue.push_back(Queued { tag, bytes: msg::encode(&SchemeRequest { tag, caller, op }) });
        Ok(tag)
    }

    /// Encodes the next request of `name` for its provider if it fits in
    /// `cap` bytes (then it is in flight). Returns the encoded length (the
    /// request stays queued when it is larger than `cap`), or `None` when
    /// the queue is empty.
    pub fn next_request(&mut self, name: &str, cap: usize) -> Option<(usize, Vec<u8>)> {
        let scheme = self.schemes.get_mut(name)?;
        let len = scheme.queue.front()?.bytes.len();
        if len > cap {
            return Some((len, Vec::new()));
        }
        let taken = scheme.queue.pop_front()?;
        if self.origins.contains_key(&taken.tag) {
            scheme.in_flight.push(taken.tag);
        }
        Some((len, taken.bytes))
    }

    /// Takes a provider's reply (postcard `SchemeReply`).
    pub fn reply(&mut self, name: &str, bytes: &[u8]) -> Result<(), Errno> {
        let reply: wasmd_abi::scheme::SchemeReply<'_> =
            msg::decode(bytes).map_err(|_| Errno::InvalidArgument)?;
        let scheme = self.schemes.get_mut(name).ok_or(Errno::NotFound)?;
        let Some(i) = scheme.in_flight.iter().position(|t| *t == reply.tag) else {
            return Err(Errno::NotFound);
        };
        scheme.in_flight.swap_remove(i);
        self.route(reply.tag, Reply::owned(&reply.result));
        Ok(())
    }

    fn route(&mut self, tag: u64, reply: Reply) {
        match self.origins.remove(&tag) {
            Some((_, Origin::External, _)) => self.external.push((tag, reply)),
            Some((scheme, Origin::Guest { pid, token }, open)) => {
                let opened_on = open.then_some(scheme);
                self.guest.push(GuestReply { pid, token, reply, opened_on });
            }
            None => {}
        }
    }

    /// Removes every scheme of `provider`; their requests fail with `Errno::Io`.
    pub fn provider_gone(&mut self, provider: Pid) {
        let names: Vec<String> =
            self.schemes.iter().filter(|(_, s)| s.provider == provider).map(|(n, _)| n.clone()).collect();
        for name in names {
            self.unregister(&name);
        }
    }

    /// Removes a scheme; its requests fail with `Errno::Io`.
    pub fn unregister(&mut self, name: &str) {
        let Some(scheme) = self.schemes.remove(name) else { return };
        self.parked.remove(name);
        let tags: Vec<u64> =
            scheme.queue.iter().map(|q| q.tag).chain(scheme.in_flight.iter().copied()).collect();
        for tag in tags {
            self.route(tag, Reply::Error(Errno::Io));
        }
        self.events.push(SchemeEvent::Gone(name.into()));
    }

    /// Records that the provider of `name` is parked in `scheme_next`.
    pub fn park(&mut self, name: &str, pid: Pid) {
        self.parked.insert(name.into(), pid);
    }

    /// Forgets that `pid` is parked in `scheme_next` for `name`.
    pub fn unpark(&mut self, name: &str, pid: Pid) {
        if self.parked.get(name) == Some(&pid) {
            self.parked.remove(name);
        }
    }

    /// Fails with `Errno::Io` the requests `provider` took and has not
    /// answered (its schemes stay).
    pub fn fail_in_flight(&mut self, provider: Pid) {
        let mut tags = Vec::new();
        for scheme in self.schemes.values_mut().filter(|s| s.provider == provider) {
            tags.append(&mut scheme.in_flight);
        }
        for tag in tags {
            self.route(tag, Reply::Error(Errno::Io));
        }
    }

    /// Providers parked on a scheme that now has requests, unparked.
    pub fn take_ready_providers(&mut self) -> Vec<(String, Pid)> {
        let ready: Vec<String> = self
            .parked
            .keys()
            .filter(|n| self.schemes.get(*n).is_some_and(|s| !s.queue.is_empty()))
            .cloned()
            .collect();
        ready.into_iter().filter_map(|n| self.parked.remove(&n).map(|p| (n, p))).collect()
    }

    /// Replies for the embedder.
    pub fn take_external(&mut self) -> Vec<(u64, Reply)> {
        std::mem::take(&mut self.external)
    }

    /// Replies for parked guests: pid, wait token, reply.
    pub fn take_guest_replies(&mut self) -> Vec<GuestReply> {
        std::mem::take(&mut self.guest)
    }

    /// Registrations and removals since the last call.
    pub fn take_events(&mut self) -> Vec<SchemeEvent> {
        std::mem::take(&mut self.events)
    }

    /// True when replies, registration events or requests on its own
    /// schemes wait for the embedder.
    pub fn has_news(&self) -> bool {
        !self.external.is_empty()
            || !self.events.is_empty()
            || self.embedded.iter().any(|n| self.schemes.get(n).is_some_and(|s| !s.queue.is_empty()))
    }

    /// True when something awaits the manager (replies to route or
    /// providers to wake).
    pub fn has_work(&self) -> bool {
        !self.guest.is_empty()
            || self.parked.keys().any(|n| self.schemes.get(n).is_some_and(|s| !s.queue.is_empty()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmd_abi::scheme::SchemeReply;

    fn reply_bytes(tag: u64, result: SchemeResult<'_>) -> Vec<u8> {
        msg::encode(&SchemeReply { tag, result })
    }

    #[test]
    fn the_embedder_serves_node_for_guests_and_no_guest_takes_it() {
        let mut t = SchemeTable::default();
        assert_eq!(t.register("node", 3), Err(Errno::Exists), "reserved for the embedder");
        t.serve_embedded("node").unwrap();
        assert_eq!(t.serve_embedded("node"), Err(Errno::Exists));
        assert!(t.names().is_empty(), "not listed among guest schemes");
        assert!(t.take_events().is_empty(), "not mirrored to the OS");
        assert!(!t.has_news());
        let tag = t
            .submit("node", 3, SchemeOp::Open { path: "b/ps", flags: 0 }, Origin::Guest { pid: 3, token: 9 })
            .unwrap();
        assert!(t.has_news(), "the embedder is told");
        let taken = t.take_embedded("node");
        assert_eq!(taken.len(), 1);
        let req: SchemeRequest<'_> = msg::decode(&taken[0]).unwrap();
        assert_eq!((req.tag, req.caller, req.op), (tag, 3, SchemeOp::Open { path: "b/ps", flags: 0 }));
        assert!(!t.has_news());
        t.reply("node", &reply_bytes(tag, SchemeResult::Value(1))).unwrap();
        let opened_on = Some("node".to_string());
        assert_eq!(
            t.take_guest_replies(),
            [GuestReply { pid: 3, token: 9, reply: Reply::Value(1), opened_on }]
        );
        t.register("ramfs", 7).unwrap();
        assert!(t.take_embedded("ramfs").is_empty(), "a guest's scheme is not the embedder's");
    }

    #[test]
    fn request_reply_and_provider_death() {
        let mut t = SchemeTable::default();
        assert_eq!(t.register("wasm", 1), Err(Errno::Exists));
        assert_eq!(t.register("Bad Name", 1), Err(Errno::InvalidArgument));
        for dots in [".", "..", "..."] {
            assert_eq!(t.register(dots, 1), Err(Errno::InvalidArgument), "{dots}");
        }
        assert_eq!(t.register("", 1), Err(Errno::InvalidArgument));
        t.register("ramfs", 7).unwrap();
        assert_eq!(t.register("ramfs", 8), Err(Errno::Exists));
        assert_eq!(t.submit("nope", 0, SchemeOp::Fsync { id: 1 }, Origin::External), Err(Errno::NotFound));
        let a = t.submit("ramfs", 0, SchemeOp::Open { path: "x", flags: 0 }, Origin::External).unwrap();
        let b = t
            .submit(
                "ramfs",
                3,
                SchemeOp::Read { id: 1, offset: 0, len: 9 },
                Origin::Guest { pid: 3, token: 5 },
            )
            .unwrap();
        let c = t.submit("ramfs", 0, SchemeOp::Fsync { id: 1 }, Origin::External).unwrap();
        assert_eq!(
            t.next_request("ramfs", 2).map(|(n, b)| (n > 2, b.len())),
            Some((true, 0)),
            "too small: stays queued"
        );
        let (_, first) = t.next_request("ramfs", 1024).unwrap();
        let req: SchemeRequest<'_> = msg::decode(&first).unwrap();
        assert_eq!((req.tag, req.op), (a, SchemeOp::Open { path: "x", flags: 0 }));
        let _ = t.next_request("ramfs", 1024).unwrap();
        t.reply("ramfs", &reply_bytes(a, SchemeResult::Value(42))).unwrap();
        assert_eq!(
            t.reply("ramfs", &reply_bytes(a, SchemeResult::Value(42))),
            Err(Errno::NotFound),
            "answered twice"
        );
        assert_eq!(t.reply("ramfs", b"\xff"), Err(Errno::InvalidArgument));
        assert_eq!(t.take_external(), vec![(a, Reply::Value(42))]);
        // b is in flight, c is queued: both fail when the provider dies.
        t.provider_gone(7);
        let failed = GuestReply { pid: 3, token: 5, reply: Reply::Error(Errno::Io), opened_on: None };
        assert_eq!(t.take_guest_replies(), vec![failed]);
        assert_eq!(t.take_external(), vec![(c, Reply::Error(Errno::Io))]);
        assert_eq!(t.names(), Vec::<String>::new());
        assert_eq!(
            t.take_events(),
            vec![SchemeEvent::Registered("ramfs".into()), SchemeEvent::Gone("ramfs".into())]
        );
        let _ = b;
    }
}
