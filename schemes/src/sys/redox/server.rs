//! The Redox frontend: the `wasm` scheme and one scheme per guest
//! provider, each on its own redox-scheme socket, all served from one
//! thread together with the guests, with a `redox_event` queue for the
//! sockets, a wake-up pipe for worker threads and a timer.
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
//!   named by the [`Registrar`] thread (`register_scheme_to_ns` goes
//!   through the namespace manager).
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
//! A guest scheme that goes away (its provider exited) first gets every
//! request it was handed answered (the daemon fails them with `EIO`; the
//! kernel does not fail them when the socket closes), then its name is
//! removed from the namespace by the registrar (the namespace manager
//! keeps a name after its socket closes), then its socket is closed.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::sync::mpsc;

use event::{EventFlags, EventQueue};
use libredox::flag;
use redox_scheme::scheme::Op;
use redox_scheme::{Id, OpenResult, RequestKind, Response, SignalBehavior, Socket};
use syscall::error::{Error, EAGAIN, EIO, EOPNOTSUPP, EWOULDBLOCK};
use syscall::schemev2::NewFdFlags;
use wasmhost::guest_scheme::SchemeEvent;

use super::calls::{self, Call, Endpoint as Target, Shape, GUEST_ROOT};
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
pub fn serve(mut daemon: Daemon, _config: &Config) -> std::io::Result<()> {
    let creation_cap =
        libredox::Fd::open("/scheme/namespace/scheme-creation-cap", flag::O_CLOEXEC, 0).map_err(lio)?;
    let socket = Socket::create_inner(creation_cap.raw(), true).map_err(io)?;
    let root = daemon.open("", crate::control::ROOT_FLAGS, Caller::ROOT).map_err(|e| io(Error::new(e)))?;
    register_wasm(&socket, root as usize)?;
    let (mut wake_rx, wake_tx) = std::io::pipe()?;
    set_nonblock(&wake_rx)?;
    let wake_tx = std::sync::Mutex::new(wake_tx);
    daemon.set_waker(std::sync::Arc::new(move || {
        if let Ok(mut tx) = wake_tx.lock() {
            let _ = tx.write(&[1]);
        }
    }));
    let mut timer =
        File::options().read(true).write(true).custom_flags(flag::O_NONBLOCK).open("/scheme/time/4")?;
    let queue = EventQueue::<usize>::new().map_err(lio)?;
    queue.subscribe(socket.inner().raw(), WASM, EventFlags::READ).map_err(lio)?;
    queue.subscribe(raw_fd(&wake_rx), WAKER, EventFlags::READ).map_err(lio)?;
    queue.subscribe(raw_fd(&timer), TIMER, EventFlags::READ).map_err(lio)?;
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
    loop {
        // Requests queued before subscribing are not reported: drain the
        // sockets on every turn, not only after an event.
        server.drain_all(&mut daemon)?;
        server.let_callers_run();
        daemon.step_until(std::time::Instant::now() + crate::control::STEP_TIME);
        server.deliver(&mut daemon)?;
        server.schemes_changed(&mut daemon, &queue)?;
        server.let_callers_run();
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

/// What the registrar thread does to the namespace.
enum NameChange {
    /// Name a scheme by its capability fd (closed afterwards).
    Register(String, usize),
    /// Remove a name.
    Remove(String),
}

/// A thread that names guest schemes in the namespace and removes their
/// names when they go away (both go through the namespace manager, which
/// the serving thread must never wait on). Changes are applied in order,
/// so a name removed and registered again by a new provider works.
struct Registrar {
    tx: mpsc::Sender<NameChange>,
}

impl Registrar {
    fn start() -> Self {
        let (tx, rx) = mpsc::channel::<NameChange>();
        let spawned = std::thread::Builder::new().name("wasmd-registrar".into()).spawn(move || {
            for change in rx {
                match change {
                    NameChange::Register(name, cap_fd) => {
                        let result = libredox::call::getns()
                            .and_then(|ns| libredox::call::register_scheme_to_ns(ns, &name, cap_fd));
                        match result {
                            Ok(()) => log::info!("guest scheme {name} registered"),
                            Err(e) => log::warn!("registering guest scheme {name}: {e}"),
                        }
                        let _ = libredox::call::close(cap_fd);
                    }
                    NameChange::Remove(name) => {
                        // The namespace manager removes a scheme when its
                        // bare `/scheme/NAME` is unlinked on the namespace.
                        let result = libredox::call::getns()
                            .map_err(|e| Error::new(e.errno()))
                            .and_then(|ns| syscall::unlinkat(ns, format!("/scheme/{name}"), 0));
                        match result {
                            Ok(_) => log::info!("guest scheme {name} removed"),
                            Err(e) => log::warn!("removing guest scheme {name}: {e}"),
                        }
                    }
                }
            }
        });
        if let Err(e) = spawned {
            log::error!("no registrar thread, guest schemes stay under /scheme/wasm/scheme: {e}");
        }
        Self { tx }
    }

    /// Asks the thread to register `name` for the scheme capability `cap_fd`
    /// (closed by the thread afterwards).
    fn register(&self, name: String, cap_fd: usize) {
        if let Err(mpsc::SendError(NameChange::Register(_, fd))) =
            self.tx.send(NameChange::Register(name, cap_fd))
        {
            let _ = libredox::call::close(fd);
        }
    }

    /// Asks the thread to remove `name` from the namespace.
    fn remove(&self, name: String) {
        let _ = self.tx.send(NameChange::Remove(name));
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
                self.write(key, response)?;
            }
        }
    }

    fn write(&mut self, key: usize, response: Response) -> std::io::Result<()> {
        match self.sockets.get(&key) {
            Some(endpoint) => {
                self.answered = true;
                endpoint.socket.write_response(response, SignalBehavior::Restart).map_err(io).map(|_| ())
            }
            None => Ok(()),
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
                    .map_err(Error::new);
                return Some(Response::open_dup_like(result, op));
            }
            Op::Fcntl { .. } => return Some(Response::new(Ok(0), op)),
            Op::Fevent { fd, .. } => {
                let fd = *fd;
                let result = daemon.fevent(fd as u64).map(|flags| flags as usize).map_err(Error::new);
                if result.is_ok() {
                    self.watchers.insert(fd as u64, key);
                }
                return Some(Response::new(result, op));
            }
            Op::MmapPrep { fd, offset, len, .. } => {
                let result = daemon.mmap_address(*fd as u64, *offset, *len).map_err(Error::new);
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
            _ => Call::Refused(syscall::EOPNOTSUPP),
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
    fn deliver(&mut self, daemon: &mut Daemon) -> std::io::Result<()> {
        for done in daemon.take_completions() {
            let Some(kept) = self.kept.remove(&done.token) else { continue };
            self.tokens.remove(&(kept.key, kept.id));
            self.write(kept.key, answer(kept.op, kept.shape, done.result))?;
        }
        for (id, flags) in daemon.take_events() {
            if let Some(&key) = self.watchers.get(&id) {
                self.write(key, Response::post_fevent(id as usize, flags as usize))?;
            }
        }
        Ok(())
    }

    /// Makes a socket for each newly registered guest scheme; retires the
    /// socket of each scheme that went away (see the module docs).
    fn schemes_changed(&mut self, daemon: &mut Daemon, queue: &EventQueue<usize>) -> std::io::Result<()> {
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
                    self.deliver(daemon)?;
                    let left: Vec<Token> =
                        self.kept.iter().filter(|(_, k)| k.key == key).map(|(t, _)| *t).collect();
                    for token in left {
                        if let Some(kept) = self.kept.remove(&token) {
                            daemon.cancel(token);
                            self.tokens.remove(&(kept.key, kept.id));
                            self.write(key, answer(kept.op, kept.shape, Err(EIO)))?;
                        }
                    }
                    self.watchers.retain(|_, k| *k != key);
                    self.registrar.remove(name);
                    self.sockets.remove(&key);
                }
            }
        }
        Ok(())
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
fn answer(mut op: Op, shape: Shape, result: Result<crate::control::Output, i32>) -> Response {
    let filled = calls::fill(shape, result, buffer(&mut op)).map_err(Error::new);
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
