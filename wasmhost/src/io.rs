//! Guest fs and socket operations: routing and completion.
//!
//! A hostcall checks the path against the guest's namespace grants
//! ([`crate::namespace`]) and hands an [`IoRequest`] to the manager, which
//! routes it:
//!
//! - to a **guest scheme**: a request to its provider, in-process, with
//!   the caller's wait as origin (no kernel round trip);
//! - to an **OS file**: a job on a worker thread (opening a path must not
//!   happen on the serving thread on Redox; reads and writes go there too,
//!   so a slow disk never stalls the scheduler);
//! - to an **OS socket**: a non-blocking attempt right away; when it
//!   would block, the platform's poller reports readiness and the attempt
//!   is made again.
//!
//! The caller parks with an [`IoThen`] saying how to finish: create a
//! handle, copy data into guest memory and advance the file position,
//! encode a status or directory entries. Whatever answers — provider,
//! worker or poller — the result becomes an [`IoValue`] applied by
//! [`ProcessManager::finish_io`], which then wakes the caller.

use std::sync::Arc;

use wasmd_abi::errno::{EAGAIN, EBADF, EINVAL, EIO, ERANGE};
use wasmd_abi::msg;
use wasmd_abi::scheme::{flags, DirEntry, SchemeOp, Stat};
use wasmd_abi::Rights;

use crate::guest_scheme::{Origin, Reply};
use crate::manager::{ProcessManager, SyscallOutcome};
use crate::namespace::NsPath;
use crate::platform::{HostFile, HostSocket};
use crate::process::{BlockOn, HandleObject, Process};
use crate::syscalls::write_guest;
use crate::worker::JobResult;
use crate::Pid;

/// Most bytes one read or receive returns.
pub const MAX_IO: usize = 1 << 20;

/// Where an open file lives.
#[derive(Debug, Clone)]
pub enum FileTarget {
    /// A file of a guest scheme: the provider's id.
    Guest {
        /// Scheme name.
        scheme: String,
        /// Provider's file id.
        id: u64,
    },
    /// An OS file.
    Host(Arc<dyn HostFile>),
}

/// An open file in a handle table.
#[derive(Debug, Clone)]
pub struct FileHandle {
    /// Where it lives.
    pub target: FileTarget,
    /// Read/write position.
    pub pos: u64,
    /// Directory position (entries returned so far).
    pub dir_pos: u64,
}

/// What an fs or socket hostcall asks for.
#[derive(Debug, Clone)]
pub enum IoRequest {
    /// Open a path (grants already checked).
    Open {
        /// The path.
        path: NsPath,
        /// Redox flags.
        flags: u32,
    },
    /// Read at the handle's position into guest memory.
    Read {
        /// Handle.
        handle: u32,
        /// Guest buffer.
        buf: u32,
        /// Its length.
        len: u32,
    },
    /// Write at the handle's position.
    Write {
        /// Handle.
        handle: u32,
        /// Bytes.
        data: Vec<u8>,
    },
    /// Seek relative to the end.
    SeekEnd {
        /// Handle.
        handle: u32,
        /// Offset from the end.
        offset: i64,
    },
    /// Status into a guest buffer.
    Fstat {
        /// Handle.
        handle: u32,
        /// Guest buffer.
        buf: u32,
        /// Its capacity.
        cap: u32,
    },
    /// Next directory entries into a guest buffer.
    Getdents {
        /// Handle.
        handle: u32,
        /// Guest buffer.
        buf: u32,
        /// Its capacity.
        cap: u32,
    },
    /// Remove a path.
    Unlink {
        /// The path.
        path: NsPath,
    },
    /// Create a directory.
    Mkdir {
        /// The path.
        path: NsPath,
    },
    /// Connect a socket.
    Connect {
        /// `tcp` or `udp`, and `HOST:PORT`.
        path: NsPath,
    },
    /// Listen (TCP) or bind (UDP).
    Listen {
        /// `tcp` or `udp`, and `HOST:PORT`.
        path: NsPath,
    },
    /// Accept a connection.
    Accept {
        /// Listening socket handle.
        handle: u32,
    },
    /// Send bytes.
    Send {
        /// Socket handle.
        handle: u32,
        /// Bytes.
        data: Vec<u8>,
    },
    /// Receive into guest memory.
    Recv {
        /// Socket handle.
        handle: u32,
        /// Guest buffer.
        buf: u32,
        /// Its length.
        len: u32,
    },
}

/// How to finish a parked fs or socket operation.
#[derive(Debug, Clone)]
pub enum IoThen {
    /// A new handle for what was opened (a guest scheme's file is named
    /// by `scheme`).
    Open {
        /// The guest scheme, when the open went to one.
        scheme: Option<String>,
    },
    /// Copy data to `buf`, advance `handle`'s position.
    Read {
        /// Handle.
        handle: u32,
        /// Guest buffer.
        buf: u32,
    },
    /// Advance `handle`'s position by the count.
    Write {
        /// Handle.
        handle: u32,
    },
    /// Set the position to size + `offset`.
    SeekEnd {
        /// Handle.
        handle: u32,
        /// Offset from the end.
        offset: i64,
    },
    /// Encode a status into `buf`.
    Fstat {
        /// Guest buffer.
        buf: u32,
        /// Capacity.
        cap: u32,
    },
    /// Encode the entries from the handle's directory position.
    Getdents {
        /// Handle.
        handle: u32,
        /// Guest buffer.
        buf: u32,
        /// Capacity.
        cap: u32,
    },
    /// A provider created a directory and returned its id: close it,
    /// return 0 (`mkdir` on a guest scheme).
    CloseCreated {
        /// The guest scheme.
        scheme: String,
    },
    /// Return 0.
    Done,
    /// A socket was not ready: try `request` again.
    Retry(Box<IoRequest>),
}

/// The outcome of a host operation or a provider's reply.
#[derive(Debug)]
pub enum IoValue {
    /// An OS file.
    File(Arc<dyn HostFile>),
    /// An OS socket.
    Socket(Arc<dyn HostSocket>),
    /// A number (a guest file id, a count, a size).
    Value(u64),
    /// Bytes.
    Data(Vec<u8>),
    /// A status.
    Stat(Stat),
    /// Directory entries (all of them for OS files; one page for guest
    /// schemes).
    Entries(Vec<(String, u8)>),
}

impl From<Reply> for Result<IoValue, i32> {
    fn from(reply: Reply) -> Self {
        match reply {
            Reply::Value(v) => Ok(IoValue::Value(v)),
            Reply::Data(d) => Ok(IoValue::Data(d)),
            Reply::Stat(s) => Ok(IoValue::Stat(s)),
            Reply::Dirents(v) => Ok(IoValue::Entries(v.into_iter().map(|e| (e.name, e.kind)).collect())),
            Reply::Error(e) => Err(e),
        }
    }
}

fn is_write(open_flags: u32) -> bool {
    let acc = open_flags & flags::O_ACCMODE;
    acc == flags::O_WRONLY || acc == flags::O_RDWR || open_flags & (flags::O_CREAT | flags::O_TRUNC) != 0
}

/// True when opening with `flags` needs a read-write grant.
pub fn open_needs_write(open_flags: u32) -> bool {
    is_write(open_flags)
}

fn errno(e: i32) -> SyscallOutcome {
    SyscallOutcome::Return(-i64::from(e))
}

/// A handle's file, cloned.
fn file(proc: &Process, handle: u32) -> Result<FileHandle, i32> {
    let state = proc.store.as_ref().ok_or(EBADF)?.data();
    match &state.handles.get(handle, Rights(0))?.object {
        HandleObject::File(f) => Ok(f.clone()),
        _ => Err(EBADF),
    }
}

/// A handle's socket.
fn socket(proc: &Process, handle: u32) -> Result<Arc<dyn HostSocket>, i32> {
    let state = proc.store.as_ref().ok_or(EBADF)?.data();
    match &state.handles.get(handle, Rights(0))?.object {
        HandleObject::Socket(s) => Ok(s.clone()),
        _ => Err(EBADF),
    }
}

/// Applies `f` to a handle's file in place.
fn with_file(proc: &mut Process, handle: u32, f: impl FnOnce(&mut FileHandle)) {
    let Some(store) = proc.store.as_mut() else { return };
    if let Ok(entry) = store.data_mut().handles.get_mut(handle) {
        if let HandleObject::File(file) = &mut entry.object {
            f(file);
        }
    }
}

impl ProcessManager {
    /// Handles an fs or socket syscall of the running `proc`.
    pub(crate) fn sys_io(&mut self, proc: &mut Process, req: IoRequest) -> SyscallOutcome {
        match self.start_io(proc.pid, proc, req) {
            Ok(Started::Now(value, then)) => match self.apply_io(proc, then, Ok(value)) {
                Ok(v) => SyscallOutcome::Return(v),
                Err(e) => errno(e),
            },
            Ok(Started::Parked(token, then, counted)) => {
                SyscallOutcome::Park(BlockOn::Io { token, then, counted })
            }
            Err(e) => errno(e),
        }
    }

    /// Starts an operation: answers it now, or sends it where it goes.
    fn start_io(&mut self, pid: Pid, proc: &Process, req: IoRequest) -> Result<Started, i32> {
        let token = self.sched.token();
        let guest = |pm: &mut Self, scheme: &str, op: SchemeOp<'_>, then: IoThen| -> Result<Started, i32> {
            pm.schemes().submit(scheme, pid, op, Origin::Guest { pid, token }).map_err(|_| EIO)?;
            Ok(Started::Parked(token, then, false))
        };
        match req {
            IoRequest::Open { path, flags } => {
                if self.schemes().provider(&path.scheme).is_some() {
                    let op = SchemeOp::Open { path: path.rest.trim_start_matches('/'), flags };
                    let then = IoThen::Open { scheme: Some(path.scheme.clone()) };
                    return guest(self, &path.scheme, op, then);
                }
                if path.scheme == "tcp" || path.scheme == "udp" {
                    return Err(EINVAL);
                }
                let platform = self.env.platform.clone();
                self.io_job(pid, token, IoThen::Open { scheme: None }, move || {
                    platform.fs_open(&path.scheme, &path.rest, flags).map(IoValue::File)
                })
            }
            IoRequest::Unlink { path } => {
                if self.schemes().provider(&path.scheme).is_some() {
                    let op = SchemeOp::Unlink { path: path.rest.trim_start_matches('/'), flags: 0 };
                    return guest(self, &path.scheme, op, IoThen::Done);
                }
                let platform = self.env.platform.clone();
                self.io_job(pid, token, IoThen::Done, move || {
                    platform
                        .fs_unlink(&path.scheme, &path.rest, false)
                        .or_else(|e| {
                            if e == wasmd_abi::errno::EISDIR {
                                platform.fs_unlink(&path.scheme, &path.rest, true)
                            } else {
                                Err(e)
                            }
                        })
                        .map(|()| IoValue::Value(0))
                })
            }
            IoRequest::Mkdir { path } => {
                if self.schemes().provider(&path.scheme).is_some() {
                    let flags = flags::O_CREAT | flags::O_EXCL | flags::O_DIRECTORY | flags::O_RDONLY;
                    let op = SchemeOp::Open { path: path.rest.trim_start_matches('/'), flags };
                    return guest(
                        self,
                        &path.scheme,
                        op,
                        IoThen::CloseCreated { scheme: path.scheme.clone() },
                    );
                }
                let platform = self.env.platform.clone();
                self.io_job(pid, token, IoThen::Done, move || {
                    platform.fs_mkdir(&path.scheme, &path.rest).map(|()| IoValue::Value(0))
                })
            }
            IoRequest::Read { handle, buf, len } => {
                let f = file(proc, handle)?;
                let len = (len as usize).min(MAX_IO);
                let then = IoThen::Read { handle, buf };
                match f.target {
                    FileTarget::Guest { scheme, id } => {
                        guest(self, &scheme, SchemeOp::Read { id, offset: f.pos, len: len as u32 }, then)
                    }
                    FileTarget::Host(host) => {
                        self.io_job(pid, token, then, move || host.read_at(f.pos, len).map(IoValue::Data))
                    }
                }
            }
            IoRequest::Write { handle, data } => {
                let f = file(proc, handle)?;
                let then = IoThen::Write { handle };
                match f.target {
                    FileTarget::Guest { scheme, id } => {
                        guest(self, &scheme, SchemeOp::Write { id, offset: f.pos, data: &data }, then)
                    }
                    FileTarget::Host(host) => self.io_job(pid, token, then, move || {
                        host.write_at(f.pos, &data).map(|n| IoValue::Value(n as u64))
                    }),
                }
            }
            IoRequest::SeekEnd { handle, offset } => {
                let f = file(proc, handle)?;
                let then = IoThen::SeekEnd { handle, offset };
                match f.target {
                    FileTarget::Guest { scheme, id } => guest(self, &scheme, SchemeOp::Fsize { id }, then),
                    FileTarget::Host(host) => {
                        self.io_job(pid, token, then, move || host.stat().map(|s| IoValue::Value(s.size)))
                    }
                }
            }
            IoRequest::Fstat { handle, buf, cap } => {
                let f = file(proc, handle)?;
                let then = IoThen::Fstat { buf, cap };
                match f.target {
                    FileTarget::Guest { scheme, id } => guest(self, &scheme, SchemeOp::Fstat { id }, then),
                    FileTarget::Host(host) => {
                        self.io_job(pid, token, then, move || host.stat().map(IoValue::Stat))
                    }
                }
            }
            IoRequest::Getdents { handle, buf, cap } => {
                let f = file(proc, handle)?;
                let then = IoThen::Getdents { handle, buf, cap };
                match f.target {
                    FileTarget::Guest { scheme, id } => {
                        guest(self, &scheme, SchemeOp::Getdents { id, offset: f.dir_pos }, then)
                    }
                    FileTarget::Host(host) => self.io_job(pid, token, then, move || {
                        host.entries()
                            .map(|all| IoValue::Entries(all.into_iter().skip(f.dir_pos as usize).collect()))
                    }),
                }
            }
            IoRequest::Connect { path } => {
                let platform = self.env.platform.clone();
                self.io_job(pid, token, IoThen::Open { scheme: None }, move || {
                    platform.net_connect(&path.scheme, &path.rest).map(IoValue::Socket)
                })
            }
            IoRequest::Listen { path } => {
                let platform = self.env.platform.clone();
                self.io_job(pid, token, IoThen::Open { scheme: None }, move || {
                    platform.net_listen(&path.scheme, &path.rest).map(IoValue::Socket)
                })
            }
            req @ (IoRequest::Accept { .. } | IoRequest::Send { .. } | IoRequest::Recv { .. }) => {
                self.try_socket(pid, token, proc, req)
            }
        }
    }

    /// One non-blocking socket attempt; parks for readiness on `EAGAIN`.
    fn try_socket(&mut self, pid: Pid, token: u64, proc: &Process, req: IoRequest) -> Result<Started, i32> {
        let (handle, writable) = match &req {
            IoRequest::Accept { handle } | IoRequest::Recv { handle, .. } => (*handle, false),
            IoRequest::Send { handle, .. } => (*handle, true),
            _ => return Err(EINVAL),
        };
        let sock = socket(proc, handle)?;
        let attempt = match &req {
            IoRequest::Accept { .. } => {
                sock.accept().map(|s| (IoValue::Socket(s), IoThen::Open { scheme: None }))
            }
            IoRequest::Send { data, .. } => sock.send(data).map(|n| (IoValue::Value(n as u64), IoThen::Done)),
            IoRequest::Recv { buf, len, .. } => sock
                .recv((*len as usize).min(MAX_IO))
                .map(|d| (IoValue::Data(d), IoThen::Read { handle: u32::MAX, buf: *buf })),
            _ => return Err(EINVAL),
        };
        match attempt {
            Ok((value, then)) => Ok(Started::Now(value, then)),
            Err(EAGAIN) => {
                self.env.platform.net_wait(&sock, writable, self.workers.notifier(pid, token));
                self.jobs_in_flight += 1;
                Ok(Started::Parked(token, IoThen::Retry(Box::new(req)), true))
            }
            Err(e) => Err(e),
        }
    }

    fn io_job(
        &mut self,
        pid: Pid,
        token: u64,
        then: IoThen,
        job: impl FnOnce() -> Result<IoValue, i32> + Send + 'static,
    ) -> Result<Started, i32> {
        self.workers.submit(pid, token, move || JobResult::Io(job()));
        self.jobs_in_flight += 1;
        Ok(Started::Parked(token, then, true))
    }

    /// Applies a result to `proc` as `then` says; returns the hostcall's
    /// value.
    fn apply_io(
        &mut self,
        proc: &mut Process,
        then: IoThen,
        result: Result<IoValue, i32>,
    ) -> Result<i64, i32> {
        let value = result?;
        match (then, value) {
            (IoThen::CloseCreated { scheme }, IoValue::Value(id)) => {
                let _ = self.schemes().submit(&scheme, proc.pid, SchemeOp::Close { id }, Origin::External);
                Ok(0)
            }
            (IoThen::Open { scheme }, value) => {
                let object = match (scheme, value) {
                    (Some(scheme), IoValue::Value(id)) => HandleObject::File(FileHandle {
                        target: FileTarget::Guest { scheme, id },
                        pos: 0,
                        dir_pos: 0,
                    }),
                    (None, IoValue::File(host)) => {
                        HandleObject::File(FileHandle { target: FileTarget::Host(host), pos: 0, dir_pos: 0 })
                    }
                    (None, IoValue::Socket(sock)) => HandleObject::Socket(sock),
                    _ => return Err(EIO),
                };
                let store = proc.store.as_mut().ok_or(EBADF)?;
                let handle = store.data_mut().handles.insert(object, Rights::ALL)?;
                Ok(i64::from(handle))
            }
            (IoThen::Read { handle, buf }, IoValue::Data(data)) => {
                write_guest(proc, buf, &data);
                if handle != u32::MAX {
                    with_file(proc, handle, |f| f.pos += data.len() as u64);
                }
                Ok(data.len() as i64)
            }
            (IoThen::Write { handle }, IoValue::Value(n)) => {
                with_file(proc, handle, |f| f.pos += n);
                Ok(n as i64)
            }
            (IoThen::SeekEnd { handle, offset }, IoValue::Value(size)) => {
                let pos = (size as i64).checked_add(offset).filter(|p| *p >= 0).ok_or(EINVAL)?;
                with_file(proc, handle, |f| f.pos = pos as u64);
                Ok(pos)
            }
            (IoThen::Fstat { buf, cap }, IoValue::Stat(stat)) => {
                let bytes = msg::encode(&stat);
                if bytes.len() > cap as usize {
                    return Err(ERANGE);
                }
                write_guest(proc, buf, &bytes);
                Ok(bytes.len() as i64)
            }
            (IoThen::Getdents { handle, buf, cap }, IoValue::Entries(entries)) => {
                // As many entries as fit in the buffer.
                let mut taken = 0;
                let mut bytes = msg::encode(&Vec::<DirEntry<'_>>::new());
                for n in 1..=entries.len() {
                    let page: Vec<DirEntry<'_>> = entries[..n]
                        .iter()
                        .map(|(name, k)| DirEntry { ino: 0, next: 0, kind: *k, name })
                        .collect();
                    let encoded = msg::encode(&page);
                    if encoded.len() > cap as usize {
                        break;
                    }
                    bytes = encoded;
                    taken = n;
                }
                if taken == 0 && !entries.is_empty() {
                    return Err(ERANGE);
                }
                write_guest(proc, buf, &bytes);
                with_file(proc, handle, |f| f.dir_pos += taken as u64);
                Ok(taken as i64)
            }
            (IoThen::Done, IoValue::Value(v)) => Ok(v as i64),
            (then, value) => {
                log::warn!("pid {}: unexpected I/O result {value:?} for {then:?}", proc.pid);
                Err(EIO)
            }
        }
    }

    /// Finishes a parked operation whose result came (a worker job, a
    /// provider's reply, or socket readiness).
    pub(crate) fn finish_io(&mut self, pid: Pid, token: u64, result: Option<Result<IoValue, i32>>) {
        let (then, counted) = match self.blocked_on(pid) {
            Some(BlockOn::Io { token: t, then, counted }) if *t == token => (then.clone(), *counted),
            _ => return,
        };
        if counted {
            self.jobs_in_flight -= 1;
        }
        let Some(mut proc) = self.procs.remove(&pid) else { return };
        let value = match (then, result) {
            (IoThen::Retry(req), _) => match self.start_io(pid, &proc, *req) {
                Ok(Started::Now(value, then)) => self.apply_io(&mut proc, then, Ok(value)),
                Ok(Started::Parked(new_token, then, counted)) => {
                    // Not ready after all: wait again under the new token.
                    if let crate::process::Sched::Blocked(_, on) = &mut proc.sched {
                        *on = BlockOn::Io { token: new_token, then, counted };
                    }
                    self.procs.insert(pid, proc);
                    return;
                }
                Err(e) => Err(e),
            },
            (then, Some(result)) => self.apply_io(&mut proc, then, result),
            (_, None) => Err(EIO),
        };
        self.procs.insert(pid, proc);
        self.wake(pid, value.unwrap_or_else(|e| -i64::from(e)));
    }

    /// Delivers providers' replies to guests parked in fs hostcalls.
    pub(crate) fn deliver_guest_replies(&mut self) {
        let replies = self.schemes().take_guest_replies();
        for (pid, token, reply) in replies {
            self.finish_io(pid, token, Some(reply.into()));
        }
    }

    /// Closes a process's files in guest schemes (it exited).
    pub(crate) fn close_guest_files(&mut self, proc: &Process) {
        let Some(store) = proc.store.as_ref() else { return };
        let files: Vec<(String, u64)> = store
            .data()
            .handles
            .iter()
            .filter_map(|(_, e)| match &e.object {
                HandleObject::File(FileHandle { target: FileTarget::Guest { scheme, id }, .. }) => {
                    Some((scheme.clone(), *id))
                }
                _ => None,
            })
            .collect();
        let mut table = self.schemes();
        for (scheme, id) in files {
            let _ = table.submit(&scheme, proc.pid, SchemeOp::Close { id }, Origin::External);
        }
    }
}

/// How an operation started.
enum Started {
    /// Answered at once.
    Now(IoValue, IoThen),
    /// Parked under a token; `true` when a worker job or the poller will
    /// answer (counted in `jobs_in_flight`), `false` for a provider.
    Parked(u64, IoThen, bool),
}
