//! The Linux control socket: `wasmd daemon` serves the control tree on a
//! Unix socket, with an epoll loop.
//!
//! One thread runs everything: guests ([`Daemon::step`]), the socket and
//! its clients. Worker threads (module loading, shared memory) wake the
//! loop through an eventfd. Each connection sends framed requests
//! ([`super::protocol`]), handled by its [`session::Session`]; an answer
//! that cannot be given at once (a read of a `run/` or `wait` file) is
//! kept under a token and sent when [`Daemon::take_completions`] yields
//! it. A client that disconnects has its files closed and its pending
//! requests cancelled. Each client is bounded (`connection.rs`,
//! [`super::session`]); when the daemon runs out of file descriptors it
//! stops accepting for a moment instead of spinning.

use std::collections::HashMap;
use std::io::ErrorKind;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::connection::Conn;
use super::protocol::{ClientMsg, Reply, ServerMsg};
use super::session;
use crate::control::{Daemon, Poll, Token};
use crate::sys::Config;
use rustix::event::epoll::{self, EventData, EventFlags};
use rustix::event::{eventfd, EventfdFlags};

const LISTENER: u64 = 0;
const WAKER: u64 = 1;
/// How long accepting pauses when the daemon is out of descriptors.
const PAUSE: Duration = Duration::from_millis(100);

/// The socket path the stop handler removes (set once, never freed).
static SOCKET_PATH: std::sync::atomic::AtomicPtr<libc::c_char> =
    std::sync::atomic::AtomicPtr::new(std::ptr::null_mut());

/// `SIGTERM` or `SIGINT`: removes the socket, says so, and ends the daemon
/// (its guests with it). Only async-signal-safe calls.
extern "C" fn stop(_signal: libc::c_int) {
    const SAID: &[u8] = b"wasmd[info]: stopped by a signal; the socket is removed\n";
    let path = SOCKET_PATH.load(std::sync::atomic::Ordering::SeqCst);
    // SAFETY: `path` is null or the leaked NUL-terminated string stored by
    // `remove_on_stop_signal`; unlink, write and _exit are async-signal-safe.
    unsafe {
        if !path.is_null() {
            libc::unlink(path);
        }
        libc::write(2, SAID.as_ptr().cast(), SAID.len());
        libc::_exit(0);
    }
}

/// Lets `SIGTERM` and `SIGINT` end the daemon cleanly (see [`stop`]).
fn remove_on_stop_signal(path: &std::path::Path) {
    let Ok(c) = std::ffi::CString::new(std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str())) else {
        return;
    };
    SOCKET_PATH.store(c.into_raw(), std::sync::atomic::Ordering::SeqCst);
    // SAFETY: installs a handler that only makes async-signal-safe calls;
    // `action` is fully initialised (zeroed, then the handler set).
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = stop as extern "C" fn(libc::c_int) as libc::sighandler_t;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(libc::SIGTERM, &action, std::ptr::null_mut());
        libc::sigaction(libc::SIGINT, &action, std::ptr::null_mut());
    }
}

/// Serves `daemon` on the Unix socket `config` names
/// ([`super::control_socket::path`]) until an I/O error on the listener.
/// A stale socket file is replaced; a live one is an error, and so is
/// anything at the path that is not a socket (it is never removed).
/// `SIGTERM` and `SIGINT` remove the socket and end the daemon.
pub fn serve(mut daemon: Daemon, config: &Config) -> std::io::Result<()> {
    let path = &super::control_socket::path(config);
    super::control_socket::prepare_dir(path)?;
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !std::os::unix::fs::FileTypeExt::is_socket(&meta.file_type()) {
            return Err(std::io::Error::new(
                ErrorKind::AlreadyExists,
                "something that is not a socket is there (not removed; choose another --socket)",
            ));
        }
        if UnixStream::connect(path).is_ok() {
            return Err(std::io::Error::new(ErrorKind::AddrInUse, "a daemon is already serving this socket"));
        }
        std::fs::remove_file(path)?;
    }
    let listener = UnixListener::bind(path)?;
    remove_on_stop_signal(path);
    super::latency::ask_for_short_slices();
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    listener.set_nonblocking(true)?;
    let epoll = epoll::create(epoll::CreateFlags::CLOEXEC)?;
    let waker: Arc<OwnedFd> = Arc::new(eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?);
    let wake = waker.clone();
    daemon.set_waker(Arc::new(move || {
        let _ = rustix::io::write(wake.as_fd(), &1u64.to_ne_bytes());
    }));
    epoll::add(&epoll, &listener, EventData::new_u64(LISTENER), EventFlags::IN)?;
    epoll::add(&epoll, waker.as_fd(), EventData::new_u64(WAKER), EventFlags::IN)?;
    log::info!("{}", crate::sys::listening(&path.display().to_string(), daemon.workers()));
    let mut server = Server {
        conns: HashMap::new(),
        tokens: HashMap::new(),
        next_key: 2,
        next_token: 1,
        accepting_again: None,
    };
    let mut events = Vec::with_capacity(64);
    loop {
        // Guests run until the step's time is up or a request waits.
        let deadline = Instant::now() + crate::control::STEP_TIME;
        daemon.step_while(|| Instant::now() < deadline && !ready(&epoll));
        server.deliver(&mut daemon);
        server.flush_and_reap(&mut daemon, &epoll);
        server.resume_accepting(&listener, &epoll);
        let timeout = daemon.idle_timeout().map(|d| d.min(Duration::from_secs(3600)));
        let timeout = match server.accepting_again {
            Some(at) => Some(timeout.unwrap_or(PAUSE).min(at.saturating_duration_since(Instant::now()))),
            None => timeout,
        };
        let timespec = timeout.map(|d| rustix::event::Timespec {
            tv_sec: d.as_secs() as i64,
            tv_nsec: i64::from(d.subsec_nanos()),
        });
        events.clear();
        match epoll::wait(&epoll, rustix::buffer::spare_capacity(&mut events), timespec.as_ref()) {
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
        for event in events.iter().copied() {
            match event.data.u64() {
                LISTENER => server.accept(&listener, &epoll)?,
                WAKER => {
                    let mut buf = [0u8; 8];
                    let _ = rustix::io::read(waker.as_fd(), &mut buf);
                }
                key => server.readable(key, &mut daemon),
            }
        }
        // Answers given at once leave now, not after the next step.
        server.flush_and_reap(&mut daemon, &epoll);
    }
}

/// True when the epoll set has an event waiting (a request, a new
/// client, a worker's wake-up); consumes nothing.
fn ready(epoll: &OwnedFd) -> bool {
    let mut fds = [rustix::event::PollFd::new(epoll, rustix::event::PollFlags::IN)];
    matches!(rustix::event::poll(&mut fds, Some(&rustix::event::Timespec::default())), Ok(n) if n > 0)
}

struct Server {
    conns: HashMap<u64, Conn>,
    tokens: HashMap<Token, (u64, u32)>,
    next_key: u64,
    next_token: Token,
    /// Accepting paused (out of descriptors) until then.
    accepting_again: Option<Instant>,
}

impl Server {
    fn accept(&mut self, listener: &UnixListener, epoll: &OwnedFd) -> std::io::Result<()> {
        loop {
            match listener.accept() {
                Ok((stream, _)) => {
                    let caller = match super::control_socket::peer(&stream) {
                        Ok(caller) => caller,
                        Err(e) => {
                            log::warn!("a client without credentials: {e}");
                            continue;
                        }
                    };
                    stream.set_nonblocking(true)?;
                    let key = self.next_key;
                    self.next_key += 1;
                    let conn = Conn::new(stream, caller);
                    epoll::add(epoll, conn.stream(), EventData::new_u64(key), conn.registered)?;
                    self.conns.insert(key, conn);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    // Out of descriptors (Errno::TooManyHandles/ENFILE): the listener
                    // stays readable; stop watching it for a moment rather
                    // than spin and flood the log.
                    log::warn!("accept failed: {e}; not accepting for {} ms", PAUSE.as_millis());
                    epoll::modify(epoll, listener, EventData::new_u64(LISTENER), EventFlags::empty())?;
                    self.accepting_again = Some(Instant::now() + PAUSE);
                    return Ok(());
                }
            }
        }
    }

    fn resume_accepting(&mut self, listener: &UnixListener, epoll: &OwnedFd) {
        if self.accepting_again.is_some_and(|at| Instant::now() >= at) {
            self.accepting_again = None;
            let _ = epoll::modify(epoll, listener, EventData::new_u64(LISTENER), EventFlags::IN);
        }
    }

    /// Reads what a client sent and handles its complete requests.
    fn readable(&mut self, key: u64, daemon: &mut Daemon) {
        if let Some(conn) = self.conns.get_mut(&key) {
            conn.fill();
        }
        self.handle_buffered(key, daemon);
    }

    /// Handles the requests a client has buffered, while its answers are
    /// not backed up.
    fn handle_buffered(&mut self, key: u64, daemon: &mut Daemon) {
        while let Some(msg) = self.conns.get_mut(&key).and_then(Conn::next_request) {
            self.handle(key, msg, daemon);
        }
        if let Some(conn) = self.conns.get_mut(&key) {
            conn.compact();
        }
    }

    fn handle(&mut self, key: u64, msg: ClientMsg, daemon: &mut Daemon) {
        let Some(conn) = self.conns.get_mut(&key) else { return };
        let token = self.next_token;
        self.next_token += 1;
        match conn.session.handle(daemon, msg.request, token) {
            Poll::Ready(result) => self.send(key, msg.id, result.unwrap_or_else(|e| Reply::Error(e.errno()))),
            Poll::Pending => {
                self.tokens.insert(token, (key, msg.id));
            }
        }
    }

    fn send(&mut self, key: u64, id: u32, reply: Reply) {
        if let Some(conn) = self.conns.get_mut(&key) {
            conn.send(&ServerMsg { id, reply });
        }
    }

    fn deliver(&mut self, daemon: &mut Daemon) {
        for done in daemon.take_completions() {
            let Some((key, id)) = self.tokens.remove(&done.token) else { continue };
            if let Some(conn) = self.conns.get_mut(&key) {
                conn.session.completed();
            }
            self.send(key, id, session::reply(done.result));
        }
    }

    /// Writes what connections have pending, resumes the ones whose
    /// answers drained, and drops dead ones. When answers went out,
    /// yields the CPU: the daemon is busy whenever guests are, and on one
    /// core a client woken by its answer would otherwise wait for the
    /// kernel to preempt the daemon.
    fn flush_and_reap(&mut self, daemon: &mut Daemon, epoll: &OwnedFd) {
        let mut answered = false;
        let keys: Vec<u64> = self.conns.keys().copied().collect();
        for key in keys {
            let Some(conn) = self.conns.get_mut(&key) else { continue };
            answered |= conn.flush();
            if conn.has_input() {
                // Requests left unparsed while its answers were backed up.
                self.handle_buffered(key, daemon);
            }
            let Some(conn) = self.conns.get_mut(&key) else { continue };
            let wanted = conn.interest();
            if wanted != conn.registered && !conn.dead {
                let _ = epoll::modify(epoll, conn.stream(), EventData::new_u64(key), wanted);
                conn.registered = wanted;
            }
        }
        let dead: Vec<u64> = self.conns.iter().filter(|(_, c)| c.dead).map(|(k, _)| *k).collect();
        for key in dead {
            if let Some(conn) = self.conns.remove(&key) {
                let _ = epoll::delete(epoll, conn.stream());
                let tokens: Vec<Token> =
                    self.tokens.iter().filter(|(_, (k, _))| *k == key).map(|(t, _)| *t).collect();
                for token in tokens {
                    self.tokens.remove(&token);
                    daemon.cancel(token);
                }
                conn.session.end(daemon);
            }
        }
        if answered {
            std::thread::yield_now();
        }
    }
}
