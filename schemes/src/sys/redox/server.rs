//! The Redox frontend: the `wasm` scheme on a redox-scheme socket, served
//! from one thread together with the guests, with a `redox_event` queue
//! for the socket, a wake-up pipe for worker threads and a timer.
//!
//! The rules from running inside Redox (see `redox-notes.md`):
//! - `openat` is answered at once, always ([`Daemon::open`] never defers).
//! - Reads that must wait keep their `Op` (its buffer stays valid until
//!   the response) and are answered when [`Daemon::take_completions`]
//!   yields them; a `Cancellation` answers a kept read with `ECANCELED`.
//! - This thread never opens a path once serving: the pipe, the timer and
//!   the scheme socket are opened before the loop starts; module files and
//!   shared memory are opened by worker threads.
//! - The scheme is registered through init's `INIT_NOTIFY` protocol (the
//!   `{ scheme = "wasm" }` service type) when started by init, else
//!   directly in the current namespace.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;

use event::{EventFlags, EventQueue};
use libredox::flag;
use redox_scheme::scheme::Op;
use redox_scheme::{Id, OpenResult, RequestKind, Response, SignalBehavior, Socket};
use syscall::dirent::{DirEntry, DirentKind};
use syscall::error::{Error, EOPNOTSUPP};
use syscall::schemev2::NewFdFlags;

use crate::control::{Daemon, Output, Poll, Token};

const SOCKET: usize = 0;
const WAKER: usize = 1;
const TIMER: usize = 2;
const TURNS_PER_STEP: usize = 256;

/// Serves the `wasm` scheme until the socket fails.
pub fn serve(mut daemon: Daemon) -> std::io::Result<()> {
    let socket = Socket::nonblock().map_err(io)?;
    let root = daemon.open("", crate::control::ROOT_FLAGS).map_err(|e| io(Error::new(e)))?;
    register(&socket, root as usize)?;
    let (mut wake_rx, wake_tx) = std::io::pipe()?;
    set_nonblock(&wake_rx)?;
    let wake_tx = std::sync::Mutex::new(wake_tx);
    daemon.manager().set_waker(std::sync::Arc::new(move || {
        if let Ok(mut tx) = wake_tx.lock() {
            let _ = tx.write(&[1]);
        }
    }));
    let mut timer =
        File::options().read(true).write(true).custom_flags(flag::O_NONBLOCK).open("/scheme/time/4")?;
    let queue = EventQueue::<usize>::new().map_err(lio)?;
    queue.subscribe(socket.inner().raw(), SOCKET, EventFlags::READ).map_err(lio)?;
    queue.subscribe(raw_fd(&wake_rx), WAKER, EventFlags::READ).map_err(lio)?;
    queue.subscribe(raw_fd(&timer), TIMER, EventFlags::READ).map_err(lio)?;
    let mut server = Server { kept: HashMap::new(), tokens: HashMap::new(), next_token: 1 };
    loop {
        // Requests queued before subscribing are not reported: drain the
        // socket on every turn, not only after an event.
        server.drain(&socket, &mut daemon)?;
        daemon.step(TURNS_PER_STEP);
        server.deliver(&socket, &mut daemon)?;
        let timeout = daemon.idle_timeout();
        if timeout == Some(std::time::Duration::ZERO) {
            continue;
        }
        if let Some(timeout) = timeout {
            arm(&mut timer, timeout)?;
        }
        let event = queue.next_event().map_err(lio)?;
        if event.user_data == WAKER {
            let mut buf = [0u8; 64];
            while matches!(wake_rx.read(&mut buf), Ok(n) if n > 0) {}
        }
    }
}

fn io(e: Error) -> std::io::Error {
    std::io::Error::from_raw_os_error(e.errno)
}

fn lio(e: libredox::error::Error) -> std::io::Error {
    std::io::Error::from_raw_os_error(e.errno())
}

fn raw_fd(f: &impl std::os::fd::AsRawFd) -> usize {
    f.as_raw_fd() as usize
}

fn set_nonblock(f: &impl std::os::fd::AsRawFd) -> std::io::Result<()> {
    let fd = raw_fd(f);
    let flags = libredox::call::fcntl(fd, syscall::F_GETFL, 0).map_err(lio)?;
    libredox::call::fcntl(fd, syscall::F_SETFL, flags | syscall::O_NONBLOCK).map_err(lio)?;
    Ok(())
}

/// Writes an absolute monotonic deadline `after` from now to the timer.
fn arm(timer: &mut File, after: std::time::Duration) -> std::io::Result<()> {
    let mut now = [0u8; 16];
    timer.read_exact(&mut now)?;
    let secs = i64::from_ne_bytes(now[..8].try_into().unwrap_or_default());
    let nanos = i32::from_ne_bytes(now[8..12].try_into().unwrap_or_default());
    let total = i128::from(secs) * 1_000_000_000 + i128::from(nanos) + after.as_nanos() as i128;
    let mut deadline = [0u8; 16];
    deadline[..8].copy_from_slice(&((total / 1_000_000_000) as i64).to_ne_bytes());
    deadline[8..12].copy_from_slice(&((total % 1_000_000_000) as i32).to_ne_bytes());
    timer.write_all(&deadline)
}

/// Registers the scheme: through init when it started us, else directly.
fn register(socket: &Socket, root: usize) -> std::io::Result<()> {
    match std::env::var("INIT_NOTIFY").ok().and_then(|v| v.parse::<usize>().ok()) {
        Some(notify) => {
            let cap = socket.create_this_scheme_fd(0, root, 0, 0).map_err(io)?;
            syscall::call_wo(notify, &cap.to_ne_bytes(), syscall::CallFlags::FD, &[]).map_err(io)?;
            let _ = libredox::call::close(notify);
            Ok(())
        }
        None => redox_scheme::scheme::register_scheme_inner(socket, "wasm", root).map_err(io),
    }
}

struct Server {
    /// Reads waiting for an answer: token → the kernel's request.
    kept: HashMap<Token, Op>,
    /// Kernel request ids of kept reads (for cancellation).
    tokens: HashMap<Id, Token>,
    next_token: Token,
}

impl Server {
    fn drain(&mut self, socket: &Socket, daemon: &mut Daemon) -> std::io::Result<()> {
        while let Some(request) = socket.next_request(SignalBehavior::Restart).map_err(io)? {
            match request.kind() {
                RequestKind::Call(call) => {
                    let id = call.request_id();
                    match call.op() {
                        Ok(op) => {
                            if let Some(response) = self.dispatch(id, op, daemon) {
                                socket.write_response(response, SignalBehavior::Restart).map_err(io)?;
                            }
                        }
                        Err(call) => {
                            let response = Response::new(Err(Error::new(EOPNOTSUPP)), call);
                            socket.write_response(response, SignalBehavior::Restart).map_err(io)?;
                        }
                    }
                }
                RequestKind::Cancellation(cancel) => {
                    if let Some(token) = self.tokens.remove(&cancel.id) {
                        daemon.cancel(token);
                    }
                }
                RequestKind::OnClose { id } => daemon.close(id as u64),
                _ => {}
            }
        }
        Ok(())
    }

    /// Handles one operation; `None` when its answer comes later.
    fn dispatch(&mut self, id: Id, op: Op, daemon: &mut Daemon) -> Option<Response> {
        let token = self.next_token;
        self.next_token += 1;
        let (op, polled) = match op {
            Op::OpenAt(req) => {
                let path = daemon.path_at(req.fd as u64, req.path());
                let result = daemon
                    .open(&path, *req.flags() as u32)
                    .map(|fd| OpenResult::ThisScheme { number: fd as usize, flags: NewFdFlags::POSITIONED })
                    .map_err(Error::new);
                return Some(Response::open_dup_like(result, req));
            }
            Op::Read(mut req) => {
                let nonblock = req.flags as usize & syscall::O_NONBLOCK != 0;
                let len = req.buf().len();
                let polled =
                    daemon.read(req.fd as u64, req.offset, len, nonblock, token).map_ok(Output::Data);
                (Op::Read(req), polled)
            }
            Op::Write(req) => {
                let polled = daemon.write(req.fd as u64, req.offset, req.buf(), token).map_ok(Output::Count);
                (Op::Write(req), polled)
            }
            Op::Fstat(req) => {
                let polled = daemon.fstat(req.fd as u64, token).map_ok(Output::Stat);
                (Op::Fstat(req), polled)
            }
            Op::Fsize { req, fd } => {
                (Op::Fsize { req, fd }, daemon.fstat(fd as u64, token).map_ok(Output::Stat))
            }
            Op::Fpath(req) => {
                let polled = daemon.fpath(req.fd as u64, token).map_ok(Output::Path);
                (Op::Fpath(req), polled)
            }
            Op::Getdents(req) => {
                let polled = daemon.getdents(req.fd as u64, req.opaque_offset, token).map_ok(Output::Entries);
                (Op::Getdents(req), polled)
            }
            Op::Fcntl { req, .. } => return Some(Response::new(Ok(0), req)),
            Op::Fevent { req, .. } => return Some(Response::new(Ok(0), req)),
            other => return Some(Response::new(Err(Error::new(EOPNOTSUPP)), other)),
        };
        match polled {
            Poll::Ready(result) => Some(respond(op, result)),
            Poll::Pending => {
                self.tokens.insert(id, token);
                self.kept.insert(token, op);
                None
            }
        }
    }

    /// Answers kept operations that completed.
    fn deliver(&mut self, socket: &Socket, daemon: &mut Daemon) -> std::io::Result<()> {
        for done in daemon.take_completions() {
            let Some(op) = self.kept.remove(&done.token) else { continue };
            self.tokens.retain(|_, t| *t != done.token);
            socket.write_response(respond(op, done.result), SignalBehavior::Restart).map_err(io)?;
        }
        Ok(())
    }
}

/// The kernel response for an operation and its outcome.
fn respond(op: Op, result: Result<Output, i32>) -> Response {
    let result = result.map_err(Error::new);
    match op {
        Op::Read(mut req) => {
            let r = result.and_then(|o| match o {
                Output::Data(data) => Ok(copy(req.buf(), &data)),
                _ => Err(Error::new(syscall::EIO)),
            });
            Response::new(r, req)
        }
        Op::Write(req) => {
            let r = result.and_then(|o| match o {
                Output::Count(n) => Ok(n),
                _ => Err(Error::new(syscall::EIO)),
            });
            Response::new(r, req)
        }
        Op::Fstat(mut req) => {
            let r = result.and_then(|o| match o {
                Output::Stat(s) => {
                    let stat = req.buf();
                    stat.st_mode = s.mode;
                    stat.st_size = s.size;
                    stat.st_ino = s.ino;
                    stat.st_nlink = s.nlink;
                    stat.st_mtime = s.mtime;
                    Ok(0)
                }
                _ => Err(Error::new(syscall::EIO)),
            });
            Response::new(r, req)
        }
        Op::Fsize { req, .. } => {
            let r = result.and_then(|o| match o {
                Output::Stat(s) => Ok(s.size as usize),
                _ => Err(Error::new(syscall::EIO)),
            });
            Response::new(r, req)
        }
        Op::Fpath(mut req) => {
            let r = result.and_then(|o| match o {
                Output::Path(p) => Ok(copy(req.buf(), p.as_bytes())),
                _ => Err(Error::new(syscall::EIO)),
            });
            Response::new(r, req)
        }
        Op::Getdents(mut req) => {
            let first = req.opaque_offset;
            let r = result.and_then(|o| match o {
                Output::Entries(entries) => {
                    let mut buf = req.buf().ok_or(Error::new(syscall::EINVAL))?;
                    for (i, e) in entries.iter().enumerate() {
                        let kind = if e.kind == wasmd_abi::scheme::kind::DIRECTORY {
                            DirentKind::Directory
                        } else {
                            DirentKind::Regular
                        };
                        let entry =
                            DirEntry { inode: 0, next_opaque_id: first + i as u64 + 1, name: &e.name, kind };
                        if buf.entry(entry).is_err() {
                            break;
                        }
                    }
                    Ok(buf.finalize())
                }
                _ => Err(Error::new(syscall::EIO)),
            });
            Response::new(r, req)
        }
        other => Response::new(Err(Error::new(EOPNOTSUPP)), other),
    }
}

/// Copies as much of `data` as fits; returns the count.
fn copy(buf: &mut [u8], data: &[u8]) -> usize {
    let n = buf.len().min(data.len());
    buf[..n].copy_from_slice(&data[..n]);
    n
}
