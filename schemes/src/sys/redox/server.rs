//! The Redox frontend: the `wasm` scheme and one scheme per guest
//! provider, each on its own redox-scheme socket, all served from one
//! thread together with the guests, with a `redox_event` queue for the
//! sockets, a wake-up pipe for worker threads and a timer (both in
//! `wake.rs`).
//!
//! The rules from running inside Redox (see `redox-notes.md`):
//! - `openat` is answered at once, always ([`Daemon::open`] never defers).
//! - Reads that must wait keep their `Op` (its buffer stays valid until
//!   the response) and are answered when [`Daemon::take_completions`]
//!   yields them; a `Cancellation` answers a kept read with `ECANCELED`.
//! - This thread never opens a path once serving: the pipe, the timer,
//!   the scheme-creation capability and the `wasm` socket are opened
//!   before the loop starts; module files and shared memory are opened by
//!   worker threads; guest-scheme sockets are made from the capability
//!   on this thread (a socket belongs to the thread that made it) and
//!   named by the [`Registrar`] thread in `registrar.rs`
//!   (`register_scheme_to_ns` goes through the namespace manager).
//! - The `wasm` scheme is registered through init's `INIT_NOTIFY`
//!   protocol (the `{ scheme = "wasm" }` service type) when started by
//!   init, else directly in the current namespace.
//!
//! Data flow: [`Server::drain`] reads each request; [`Server::dispatch`]
//! turns it into a [`Call`] of the OS-neutral request layer
//! ([`super::calls`], tested on Linux), runs it and writes the answer into
//! the request's buffer with [`calls::fill`]; answers that wait are kept,
//! with the socket they came from and their [`Shape`], and written by
//! [`Server::deliver`]; readiness changes are posted as `fevent`s on the
//! socket that asked for them. Guests run for at most
//! [`crate::control::STEP_TIME`] between two drains of the sockets.
//!
//! The loop ends only when its own calls keep failing (`faults.rs`); a
//! failed answer to one request is logged and costs only that request.
//!
//! A guest scheme that goes away (its provider exited) first gets every
//! request it was handed answered (the daemon fails them with `EIO`; the
//! kernel does not fail them when the socket closes), then its name is
//! removed from the namespace by the registrar (the namespace manager
//! keeps a name after its socket closes), then its socket is closed.

use std::collections::HashMap;

use event::{EventFlags, EventQueue};
use libredox::flag;
use redox_scheme::scheme::Op;
use redox_scheme::{Id, OpenResult, RequestKind, Response, SignalBehavior, Socket};
use syscall::error::{Error, EAGAIN, EOPNOTSUPP, EWOULDBLOCK};
use syscall::schemev2::NewFdFlags;
use wasmhost::guest_scheme::SchemeEvent;

use super::calls::{self, Call, Endpoint as Target, Shape, GUEST_ROOT};
use super::faults::Faults;
use super::registrar::Registrar;
use super::wake::{Timer, WakePipe};
use super::{io, lio};
use crate::control::{Caller, Daemon, Poll, Token};
use crate::sys::Config;

/// Event-queue keys: the `wasm` socket, the wake-up pipe, the timer; guest
/// scheme sockets count up from [`FIRST_GUEST`].
const WASM: usize = 0;
const WAKER: usize = 1;
const TIMER: usize = 2;
const FIRST_GUEST: usize = 16;

/// Serves the `wasm` scheme and the guest schemes until a socket fails.
/// Redox has no control socket: `_config`'s socket is not used.
/// A daemon error as the kernel's.
fn sys_error(e: wasmd_abi::Errno) -> Error {
    Error::new(e.errno())
}

pub fn serve(mut daemon: Daemon, _config: &Config) -> std::io::Result<()> {
    let creation_cap =
        libredox::Fd::open("/scheme/namespace/scheme-creation-cap", flag::O_CLOEXEC, 0).map_err(lio)?;
    let socket = Socket::create_inner(creation_cap.raw(), true).map_err(io)?;
    let root = daemon.open("", crate::control::ROOT_FLAGS, Caller::ROOT).map_err(|e| io(sys_error(e)))?;
    register_wasm(&socket, root as usize)?;
    log::info!("{}", crate::sys::listening("/scheme/wasm", daemon.workers()));
    let (mut wake_pipe, waker) = WakePipe::new()?;
    daemon.set_waker(waker);
    let mut timer = Timer::open()?;
    let queue = EventQueue::<usize>::new().map_err(lio)?;
    queue.subscribe(socket.inner().raw(), WASM, EventFlags::READ).map_err(lio)?;
    queue.subscribe(wake_pipe.raw(), WAKER, EventFlags::READ).map_err(lio)?;
    queue.subscribe(timer.raw(), TIMER, EventFlags::READ).map_err(lio)?;
    let mut server = Server {
        sockets: HashMap::from([(WASM, Endpoint { socket, guest: None })]),
        names: HashMap::new(),
        next_key: FIRST_GUEST,
        creation_cap,
        registrar: Registrar::start(),
        kept: HashMap::new(),
        tokens: HashMap::new(),
        watchers: HashMap::new(),
        next_token: 1,
        answered: false,
    };
    let mut faults = Faults::default();
    loop {
        // Requests queued before subscribing are not reported: drain the
        // sockets on every turn, not only after an event.
        if let Err(e) = server.drain_all(&mut daemon) {
            faults.failed("reading requests", e)?;
        }
        server.let_callers_run();
        daemon.step_until(std::time::Instant::now() + crate::control::STEP_TIME);
        server.deliver(&mut daemon);
        server.schemes_changed(&mut daemon, &queue);
        server.let_callers_run();
        let timeout = daemon.idle_timeout();
        if timeout == Some(std::time::Duration::ZERO) {
            continue;
        }
        if let Some(timeout) = timeout {
            if let Err(e) = timer.arm(timeout) {
                // No timer: look again soon instead of sleeping past it.
                faults.failed("arming the timer", e)?;
                continue;
            }
        }
        // A wait interrupted by the kernel (a timed futex wait of this
        // thread, e.g. an open waiting for a guest scheme's reply, can leave
        // one behind) is not an error: look again.
        let event = match queue.next_event() {
            Ok(event) => event,
            Err(e) if e.errno() == syscall::error::EINTR => continue,
            Err(e) => {
                faults.failed("waiting for events", lio(e))?;
                continue;
            }
        };
        faults.ok();
        if event.user_data == WAKER {
            wake_pipe.drain();
        }
    }
}

/// Registers `wasm`: through init when it started us, else directly.
fn register_wasm(socket: &Socket, root: usize) -> std::io::Result<()> {
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

/// One scheme socket: `wasm` (no guest) or a guest provider's scheme.
struct Endpoint {
    socket: Socket,
    guest: Option<String>,
}

/// A request waiting for its answer: the socket it came from, the
/// kernel's request id, the request (its buffers stay valid until the
/// answer is written) and how to write the answer.
struct Kept {
    key: usize,
    id: Id,
    op: Op,
    shape: Shape,
}

struct Server {
    /// Sockets by event-queue key.
    sockets: HashMap<usize, Endpoint>,
    /// Guest scheme name → socket key.
    names: HashMap<String, usize>,
    next_key: usize,
    creation_cap: libredox::Fd,
    registrar: Registrar,
    /// Requests waiting for an answer, by token.
    kept: HashMap<Token, Kept>,
    /// Kernel request ids of kept requests (for cancellation).
    tokens: HashMap<(usize, Id), Token>,
    /// Files with `fevent` interest → the socket to post readiness on.
    watchers: HashMap<u64, usize>,
    next_token: Token,
    /// An answer was written since the last [`Server::let_callers_run`].
    answered: bool,
}

impl Server {
    fn drain_all(&mut self, daemon: &mut Daemon) -> std::io::Result<()> {
        let keys: Vec<usize> = self.sockets.keys().copied().collect();
        for key in keys {
            if let Err(e) = self.drain(key, daemon) {
                if key == WASM {
                    return Err(e);
                }
                log::warn!("guest scheme socket failed: {e}");
                self.sockets.remove(&key);
            }
        }
        Ok(())
    }

    /// Serves every request queued on one socket.
    fn drain(&mut self, key: usize, daemon: &mut Daemon) -> std::io::Result<()> {
        loop {
            let Some(endpoint) = self.sockets.get(&key) else { return Ok(()) };
            let request = match endpoint.socket.next_request(SignalBehavior::Restart) {
                Ok(Some(request)) => request,
                Ok(None) => return Ok(()),
                // A non-blocking socket with nothing queued.
                Err(e) if e.errno == EAGAIN || e.errno == EWOULDBLOCK => return Ok(()),
                Err(e) => return Err(io(e)),
            };
            let response = match request.kind() {
                RequestKind::Call(call) => {
                    let id = call.request_id();
                    let ctx = call.caller();
                    let caller = Caller { uid: ctx.uid, gid: ctx.gid };
                    match call.op() {
                        Ok(op) => self.dispatch(key, id, op, caller, daemon),
                        Err(call) => Some(Response::new(Err(Error::new(EOPNOTSUPP)), call)),
                    }
                }
                RequestKind::Cancellation(cancel) => {
                    if let Some(token) = self.tokens.remove(&(key, cancel.id)) {
                        daemon.cancel(token);
                    }
                    None
                }
                RequestKind::OnClose { id } => {
                    if id != GUEST_ROOT {
                        daemon.close(id as u64);
                        self.watchers.remove(&(id as u64));
                    }
                    None
                }
                _ => None,
            };
            if let Some(response) = response {
                self.write(key, response);
            }
        }
    }

    /// Writes an answer. A failure is that request's loss (its caller
    /// gone, say): logged, and the loop goes on.
    fn write(&mut self, key: usize, response: Response) {
        if let Some(endpoint) = self.sockets.get(&key) {
            self.answered = true;
            if let Err(e) = endpoint.socket.write_response(response, SignalBehavior::Restart) {
                log::warn!("an answer could not be written: {e}");
            }
        }
    }

    /// After answering: lets the callers run now. The daemon is busy
    /// whenever guests are; on one CPU a caller woken by an answer would
    /// otherwise wait for the kernel to preempt the daemon before it can
    /// send its next request.
    fn let_callers_run(&mut self) {
        if std::mem::take(&mut self.answered) {
            std::thread::yield_now();
        }
    }

    /// Handles one operation; `None` when its answer comes later.
    fn dispatch(
        &mut self,
        key: usize,
        id: Id,
        op: Op,
        caller: Caller,
        daemon: &mut Daemon,
    ) -> Option<Response> {
        let target = match self.sockets.get(&key).and_then(|e| e.guest.as_deref()) {
            Some(name) => Target::Guest(name),
            None => Target::Wasm,
        };
        let mut op = op;
        let call = match &mut op {
            Op::OpenAt(req) => {
                let opened = calls::open(daemon, target, req.fd, req.path(), *req.flags() as u32, caller);
                let result = opened
                    .map(|fd| OpenResult::ThisScheme { number: fd as usize, flags: NewFdFlags::POSITIONED })
                    .map_err(sys_error);
                return Some(Response::open_dup_like(result, op));
            }
            Op::Fcntl { .. } => return Some(Response::new(Ok(0), op)),
            Op::Fevent { fd, .. } => {
                let fd = *fd;
                let result = daemon.fevent(fd as u64).map(|flags| flags as usize).map_err(sys_error);
                if result.is_ok() {
                    self.watchers.insert(fd as u64, key);
                }
                return Some(Response::new(result, op));
            }
            Op::MmapPrep { fd, offset, len, .. } => {
                let result = daemon.mmap_address(*fd as u64, *offset, *len).map_err(sys_error);
                return Some(Response::new(result, op));
            }
            Op::ParseError { errno, .. } => {
                let errno = *errno;
                return Some(Response::new(Err(Error::new(errno)), op));
            }
            Op::UnlinkAt(req) => Call::Unlink { dirfd: req.fd, path: req.path(), flags: *req.flags() as u32 },
            Op::Read(req) => Call::Read {
                fd: req.fd,
                offset: req.offset,
                len: req.buf().len(),
                nonblock: req.flags as usize & syscall::O_NONBLOCK != 0,
            },
            Op::Write(req) => Call::Write {
                fd: req.fd,
                offset: req.offset,
                data: req.buf(),
                nonblock: req.flags as usize & syscall::O_NONBLOCK != 0,
            },
            Op::Fstat(req) => Call::Fstat { fd: req.fd },
            Op::Fsize { fd, .. } => Call::Fsize { fd: *fd },
            Op::Fpath(req) => Call::Fpath { fd: req.fd },
            Op::Getdents(req) => {
                Call::Getdents { fd: req.fd, offset: req.opaque_offset, header_size: req.header_size }
            }
            Op::Fsync { fd, .. } => Call::Fsync { fd: *fd },
            Op::Ftruncate { fd, new_sz, .. } => Call::Ftruncate { fd: *fd, len: *new_sz },
            Op::StdFsCall(req) => {
                let len = req.payload().len();
                Call::std_fs(req.fd(), req.metadata(), len)
            }
            _ => Call::Refused(wasmd_abi::Errno::NotSupported),
        };
        let token = self.next_token;
        self.next_token += 1;
        let shape = call.shape();
        match calls::run(daemon, target, &call, token) {
            Poll::Ready(result) => Some(answer(op, shape, result)),
            Poll::Pending => {
                self.tokens.insert((key, id), token);
                self.kept.insert(token, Kept { key, id, op, shape });
                None
            }
        }
    }

    /// Answers kept operations that completed and posts readiness changes.
    fn deliver(&mut self, daemon: &mut Daemon) {
        for done in daemon.take_completions() {
            let Some(kept) = self.kept.remove(&done.token) else { continue };
            self.tokens.remove(&(kept.key, kept.id));
            self.write(kept.key, answer(kept.op, kept.shape, done.result));
        }
        for (id, flags) in daemon.take_events() {
            if let Some(&key) = self.watchers.get(&id) {
                self.write(key, Response::post_fevent(id as usize, flags as usize));
            }
        }
    }

    /// Makes a socket for each newly registered guest scheme; retires the
    /// socket of each scheme that went away (see the module docs).
    fn schemes_changed(&mut self, daemon: &mut Daemon, queue: &EventQueue<usize>) {
        let events = daemon.manager().take_scheme_events();
        for event in events {
            match event {
                SchemeEvent::Registered(name) => self.add_guest_scheme(name, queue),
                SchemeEvent::Gone(name) => {
                    let Some(key) = self.names.remove(&name) else { continue };
                    // Requests still queued on the socket get their answer
                    // (the scheme is gone: opens fail), then everything
                    // the daemon answered is written.
                    if let Err(e) = self.drain(key, daemon) {
                        log::warn!("guest scheme {name}: last drain failed: {e}");
                    }
                    daemon.step(0);
                    self.deliver(daemon);
                    let left: Vec<Token> =
                        self.kept.iter().filter(|(_, k)| k.key == key).map(|(t, _)| *t).collect();
                    for token in left {
                        if let Some(kept) = self.kept.remove(&token) {
                            daemon.cancel(token);
                            self.tokens.remove(&(kept.key, kept.id));
                            self.write(key, answer(kept.op, kept.shape, Err(wasmd_abi::Errno::Io)));
                        }
                    }
                    self.watchers.retain(|_, k| *k != key);
                    self.registrar.remove(name);
                    self.sockets.remove(&key);
                }
            }
        }
    }

    fn add_guest_scheme(&mut self, name: String, queue: &EventQueue<usize>) {
        let socket = match Socket::create_inner(self.creation_cap.raw(), true) {
            Ok(socket) => socket,
            Err(e) => {
                log::warn!("no socket for guest scheme {name}: {e}");
                return;
            }
        };
        let key = self.next_key;
        self.next_key += 1;
        if let Err(e) = queue.subscribe(socket.inner().raw(), key, EventFlags::READ) {
            log::warn!("guest scheme {name}: cannot watch its socket: {e}");
            return;
        }
        match socket.create_this_scheme_fd(0, GUEST_ROOT, 0, 0) {
            Ok(cap_fd) => self.registrar.register(name.clone(), cap_fd),
            Err(e) => {
                log::warn!("guest scheme {name}: no capability: {e}");
                return;
            }
        }
        self.names.insert(name.clone(), key);
        self.sockets.insert(key, Endpoint { socket, guest: Some(name) });
    }
}

/// The kernel response for an operation and its outcome.
fn answer(mut op: Op, shape: Shape, result: Result<crate::control::Output, wasmd_abi::Errno>) -> Response {
    let filled = calls::fill(shape, result, buffer(&mut op)).map_err(sys_error);
    Response::new(filled, op)
}

/// The buffer an operation's answer is written into (empty for those
/// that answer with a number only).
fn buffer(op: &mut Op) -> &mut [u8] {
    match op {
        Op::Read(req) => req.buf(),
        Op::Fstat(req) => req.buf(),
        Op::Fpath(req) => req.buf(),
        Op::Getdents(req) => req.raw_buf(),
        Op::StdFsCall(req) => req.payload(),
        _ => &mut [],
    }
}
