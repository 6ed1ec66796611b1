//! The requests of one control-socket client, apart from its socket:
//! which daemon call each [`Request`] is, the client's open files and the
//! bounds that keep one client from exhausting the daemon.
//!
//! [`super::server`] reads frames from the socket and hands each request
//! to the client's [`Session`]; the fuzz target `socket_protocol` drives
//! the same [`Session`] with decoded bytes and no socket.
//!
//! - A request on a file the client did not open is `Errno::BadHandle`.
//! - At most [`MAX_FILES`] open files (then `Errno::TooManyHandles`) and
//!   [`MAX_IN_FLIGHT`] answers pending at once (then `Errno::WouldBlock`).
//! - A client that goes away has its files closed ([`Session::end`]).

use wasmd_abi::Errno;

use std::collections::HashSet;

use super::protocol::{Reply, Request};
use crate::control::{Caller, Daemon, Output, Poll, Token};

/// Most files one client may hold open.
pub const MAX_FILES: usize = 1024;
/// Most answers one client may wait for at once.
pub const MAX_IN_FLIGHT: usize = 1024;

/// What a `/scheme/...` path names: a file of the `wasm` tree (the path
/// below `/scheme/wasm`) or of a guest scheme (its name and the path
/// below it).
enum Target<'a> {
    Tree(&'a str),
    Scheme(&'a str, &'a str),
}

fn target(path: &str) -> Option<Target<'_>> {
    match path.strip_prefix("/scheme/wasm") {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => Some(Target::Tree(rest)),
        _ => match path.strip_prefix("/scheme/").map(|p| p.split_once('/').unwrap_or((p, ""))) {
            Some((name, rest)) if !name.is_empty() => Some(Target::Scheme(name, rest)),
            _ => None,
        },
    }
}

/// One client's requests.
#[derive(Debug)]
pub struct Session {
    /// Whom its requests act for (its peer credentials).
    caller: Caller,
    /// Its open files.
    fds: HashSet<u64>,
    /// Answers it waits for.
    in_flight: usize,
}

impl Session {
    /// A client acting for `caller`, with nothing open.
    pub fn new(caller: Caller) -> Session {
        Session { caller, fds: HashSet::new(), in_flight: 0 }
    }

    /// Its open files.
    pub fn fds(&self) -> &HashSet<u64> {
        &self.fds
    }

    /// Runs one request. [`Poll::Pending`]: the answer comes as a
    /// completion with `token` (turn it into a [`Reply`] with [`reply`]
    /// and tell the session with [`Session::completed`]).
    pub fn handle(&mut self, daemon: &mut Daemon, request: Request, token: Token) -> Poll<Reply> {
        let fd = match &request {
            Request::Open { .. } | Request::Unlink { .. } => None,
            Request::Read { fd, .. }
            | Request::Write { fd, .. }
            | Request::Fstat { fd }
            | Request::Fpath { fd }
            | Request::Getdents { fd, .. }
            | Request::Close { fd }
            | Request::Ftruncate { fd, .. }
            | Request::Fsync { fd } => Some(*fd),
        };
        if fd.is_some_and(|fd| !self.fds.contains(&fd)) {
            return Poll::Ready(Err(Errno::BadHandle));
        }
        if matches!(request, Request::Open { .. }) && self.fds.len() >= MAX_FILES {
            return Poll::Ready(Err(Errno::TooManyHandles));
        }
        if self.in_flight >= MAX_IN_FLIGHT {
            return Poll::Ready(Err(Errno::WouldBlock));
        }
        let polled = match request {
            Request::Open { path, flags } => {
                let opened = match target(&path) {
                    Some(Target::Tree(rest)) => daemon.open(rest, flags, self.caller),
                    Some(Target::Scheme(name, rest)) => daemon.open_scheme(name, rest, flags),
                    None => Err(Errno::NotFound),
                };
                if let Ok(fd) = opened {
                    self.fds.insert(fd);
                }
                Poll::Ready(opened.map(Reply::Fd))
            }
            Request::Unlink { path, flags } => match target(&path) {
                Some(Target::Tree(rest)) => daemon.unlink(rest, flags, token),
                Some(Target::Scheme(name, rest)) => daemon.unlink_scheme(name, rest, flags, token),
                None => Poll::Ready(Err(Errno::NotFound)),
            }
            .map_ok(|()| Reply::Done),
            Request::Ftruncate { fd, len } => daemon.ftruncate(fd, len, token).map_ok(|()| Reply::Done),
            Request::Fsync { fd } => daemon.fsync(fd, token).map_ok(|()| Reply::Done),
            Request::Read { fd, offset, len, nonblock } => {
                daemon.read(fd, offset, len as usize, nonblock, token).map_ok(Reply::Data)
            }
            Request::Write { fd, offset, data, nonblock } => {
                daemon.write(fd, offset, &data, nonblock, token).map_ok(|n| Reply::Count(n as u64))
            }
            Request::Fstat { fd } => daemon.fstat(fd, token).map_ok(Reply::Stat),
            Request::Fpath { fd } => daemon.fpath(fd, token).map_ok(Reply::Path),
            Request::Getdents { fd, offset } => daemon
                .getdents(fd, offset, token)
                .map_ok(|v| Reply::Entries(v.into_iter().map(|e| (e.name, e.kind, e.next)).collect())),
            Request::Close { fd } => {
                self.fds.remove(&fd);
                daemon.close(fd);
                Poll::Ready(Ok(Reply::Done))
            }
        };
        if matches!(polled, Poll::Pending) {
            self.in_flight += 1;
        }
        polled
    }

    /// One of its pending answers was delivered.
    pub fn completed(&mut self) {
        self.in_flight = self.in_flight.saturating_sub(1);
    }

    /// The client went away: closes its files. (Its pending requests are
    /// the caller's to cancel: it keeps their tokens.)
    pub fn end(self, daemon: &mut Daemon) {
        for fd in self.fds {
            daemon.close(fd);
        }
    }
}

/// The answer to a pending request, from its completion.
pub fn reply(result: Result<Output, Errno>) -> Reply {
    match result {
        Ok(Output::Data(data)) => Reply::Data(data),
        Ok(Output::Count(n)) => Reply::Count(n as u64),
        Ok(Output::Stat(s)) => Reply::Stat(s),
        Ok(Output::Path(p)) => Reply::Path(p),
        Ok(Output::Entries(v)) => Reply::Entries(v.into_iter().map(|e| (e.name, e.kind, e.next)).collect()),
        Ok(Output::Done) => Reply::Done,
        Err(e) => Reply::Error(e.errno()),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use wasmd_abi::scheme::flags;

    use super::*;

    fn daemon() -> Daemon {
        let platform = crate::sys::OsPlatform::with_file_root(None).unwrap();
        Daemon::with_workers(Arc::new(platform), Arc::new(crate::loader::FsModuleLoader::new(Vec::new())), 0)
    }

    fn open(session: &mut Session, d: &mut Daemon, path: &str) -> Poll<Reply> {
        session.handle(d, Request::Open { path: path.into(), flags: flags::O_RDONLY }, 1)
    }

    #[test]
    fn a_client_reaches_only_the_files_it_opened() {
        let mut d = daemon();
        let (mut alice, mut bob) = (Session::new(Caller::ROOT), Session::new(Caller::ROOT));
        let Poll::Ready(Ok(Reply::Fd(fd))) = open(&mut alice, &mut d, "/scheme/wasm/ps") else {
            panic!("ps opens")
        };
        assert!(alice.fds().contains(&fd));
        let read = |fd| Request::Read { fd, offset: 0, len: 64, nonblock: false };
        assert!(matches!(bob.handle(&mut d, read(fd), 2), Poll::Ready(Err(Errno::BadHandle))));
        assert!(matches!(alice.handle(&mut d, read(fd), 3), Poll::Ready(Ok(Reply::Data(_)))));
        assert!(matches!(alice.handle(&mut d, Request::Close { fd }, 4), Poll::Ready(Ok(Reply::Done))));
        assert!(matches!(alice.handle(&mut d, read(fd), 5), Poll::Ready(Err(Errno::BadHandle))));
        assert!(alice.fds().is_empty());
    }

    #[test]
    fn paths_outside_the_tree_and_guest_schemes_are_not_found() {
        let mut d = daemon();
        let mut s = Session::new(Caller::ROOT);
        // Not under /scheme/NAME at all.
        for path in ["/scheme/", "/tmp/x", ""] {
            let opened = open(&mut s, &mut d, path);
            assert!(matches!(opened, Poll::Ready(Err(Errno::NotFound))), "{path}: {opened:?}");
        }
        // `wasmx` is not `wasm`: a guest scheme of that name (none here).
        for path in ["/scheme/wasmx/ps", "/scheme/nosuch/x"] {
            let opened = open(&mut s, &mut d, path);
            assert!(matches!(opened, Poll::Ready(Err(_))), "{path}: {opened:?}");
        }
        assert!(s.fds().is_empty());
    }

    #[test]
    fn a_client_holds_at_most_max_files() {
        let mut d = daemon();
        let mut s = Session::new(Caller::ROOT);
        for _ in 0..MAX_FILES {
            assert!(matches!(open(&mut s, &mut d, "/scheme/wasm/ps"), Poll::Ready(Ok(Reply::Fd(_)))));
        }
        assert!(matches!(open(&mut s, &mut d, "/scheme/wasm/ps"), Poll::Ready(Err(Errno::TooManyHandles))));
        s.end(&mut d);
        let mut again = Session::new(Caller::ROOT);
        assert!(matches!(open(&mut again, &mut d, "/scheme/wasm/ps"), Poll::Ready(Ok(Reply::Fd(_)))));
    }
}
