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

use crate::guest_buf::GuestBuf;
use crate::guest_scheme::{Origin, Reply};
use crate::manager::{ProcessManager, SyscallOutcome};
use crate::namespace::GrantedPath;
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
    /// An OS directory's entries, read once when listing starts and paged
    /// from here (reading the whole directory for every page made a big
    /// listing quadratic).
    pub listing: Option<Arc<Vec<(String, u8)>>>,
}

/// Most entries handed to the encoder for one `getdents` page (it keeps
/// what fits the guest's buffer).
const PAGE_ENTRIES: usize = 1024;

/// What an fs or socket hostcall asks for.
#[derive(Debug, Clone)]
pub enum IoRequest {
    /// Open a path (grants already checked).
    Open {
        /// The path.
        path: GrantedPath,
        /// Redox flags.
        flags: u32,
    },
    /// Read at the handle's position into guest memory.
    Read {
        /// Handle.
        handle: u32,
        /// Guest buffer (at most [`MAX_IO`] bytes).
        buf: GuestBuf,
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
        buf: GuestBuf,
    },
    /// Next directory entries into a guest buffer.
    Getdents {
        /// Handle.
        handle: u32,
        /// Guest buffer.
        buf: GuestBuf,
    },
    /// Remove a path.
    Unlink {
        /// The path.
        path: GrantedPath,
    },
    /// Create a directory.
    Mkdir {
        /// The path.
        path: GrantedPath,
    },
    /// Connect a socket.
    Connect {
        /// `tcp` or `udp`, and `HOST:PORT`.
        path: GrantedPath,
    },
    /// Listen (TCP) or bind (UDP).
    Listen {
        /// `tcp` or `udp`, and `HOST:PORT`.
        path: GrantedPath,
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
        /// Guest buffer (at most [`MAX_IO`] bytes).
        buf: GuestBuf,
    },
}

/// How to finish a parked fs or socket operation.
#[derive(Debug, Clone)]
pub enum IoThen {
    /// A new handle for what was opened (a guest scheme's file is named
    /// by `scheme`), carrying `rights` (the open's access mode).
    Open {
        /// The guest scheme, when the open went to one.
        scheme: Option<String>,
        /// `READ` and/or `WRITE`.
        rights: Rights,
    },
    /// Copy data to `buf`, advance `handle`'s position.
    Read {
        /// Handle.
        handle: u32,
        /// Guest buffer: the answer may not be longer.
        buf: GuestBuf,
    },
    /// Copy received data to `buf`.
    Recv {
        /// Guest buffer: the answer may not be longer.
        buf: GuestBuf,
    },
    /// Advance `handle`'s position by the count.
    Write {
        /// Handle.
        handle: u32,
        /// Bytes written by the guest: a larger count is a lie.
        asked: usize,
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
        buf: GuestBuf,
    },
    /// Encode the entries from the handle's directory position.
    Getdents {
        /// Handle.
        handle: u32,
        /// Guest buffer.
        buf: GuestBuf,
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
    /// Directory entries: one page.
    Entries(Vec<(String, u8)>),
    /// An OS directory's whole listing, read once.
    Listing(Arc<Vec<(String, u8)>>),
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

/// One page of a listing, from entry `from` on.
fn page(all: &[(String, u8)], from: u64) -> Vec<(String, u8)> {
    let start = usize::try_from(from).unwrap_or(usize::MAX).min(all.len());
    all[start..(start + PAGE_ENTRIES).min(all.len())].to_vec()
}

/// Moves a file position by `n`: `EIO` rather than wrapping.
fn advance(pos: &mut u64, n: u64) -> Result<(), i32> {
    *pos = pos.checked_add(n).ok_or(EIO)?;
    Ok(())
}

/// As many of `entries` as fit in `cap` bytes, encoded (postcard
/// `Vec<DirEntry>`), and how many: `ERANGE` when entries remain but not
/// even the first fits. Linear: each entry is sized once.
fn dirents_page(entries: &[(String, u8)], cap: usize) -> Result<(Vec<u8>, usize), i32> {
    fn entry((name, kind): &(String, u8)) -> DirEntry<'_> {
        DirEntry { ino: 0, next: 0, kind: *kind, name }
    }
    // postcard writes a sequence as its length (a varint) and its items.
    let varint = |n: usize| msg::encode(&(n as u64)).len();
    let mut used = 0;
    let mut taken = 0;
    for e in entries {
        let size = msg::encode(&entry(e)).len();
        if varint(taken + 1) + used + size > cap {
            break;
        }
        used += size;
        taken += 1;
    }
    if taken == 0 && !entries.is_empty() {
        return Err(ERANGE);
    }
    let page: Vec<DirEntry<'_>> = entries[..taken].iter().map(entry).collect();
    Ok((msg::encode(&page), taken))
}

/// The rights a file handle gets from its open flags: what it was opened
/// for, checked on every read and write (not only at open).
fn access_rights(open_flags: u32) -> Rights {
    match open_flags & flags::O_ACCMODE {
        flags::O_WRONLY => Rights::WRITE,
        flags::O_RDWR => Rights::READ.union(Rights::WRITE),
        _ => Rights::READ,
    }
}

/// Rights of a socket handle.
const SOCKET_RIGHTS: Rights = Rights::READ.union(Rights::WRITE);

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

/// A handle's file, cloned, if the handle holds `needed` (`READ` to read,
/// `WRITE` to write): `EBADF` otherwise, as for a file not open for that.
fn file(proc: &Process, handle: u32, needed: Rights) -> Result<FileHandle, i32> {
    let state = proc.store.as_ref().ok_or(EBADF)?.data();
    match &state.handles.get(handle, needed).map_err(|_| EBADF)?.object {
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
                if self.schemes().provider(path.scheme()).is_some() {
                    let op = SchemeOp::Open { path: path.rest().trim_start_matches('/'), flags };
                    let then = IoThen::Open {
                        scheme: Some(path.scheme().to_string()),
                        rights: access_rights(flags),
                    };
                    return guest(self, path.scheme(), op, then);
                }
                if path.scheme() == "tcp" || path.scheme() == "udp" {
                    return Err(EINVAL);
                }
                let platform = self.env.platform.clone();
                let then = IoThen::Open { scheme: None, rights: access_rights(flags) };
                self.io_job(pid, token, then, move || platform.fs_open(&path, flags).map(IoValue::File))
            }
            IoRequest::Unlink { path } => {
                if self.schemes().provider(path.scheme()).is_some() {
                    let op = SchemeOp::Unlink { path: path.rest().trim_start_matches('/'), flags: 0 };
                    return guest(self, path.scheme(), op, IoThen::Done);
                }
                let platform = self.env.platform.clone();
                self.io_job(pid, token, IoThen::Done, move || {
                    platform
                        .fs_unlink(&path, false)
                        .or_else(|e| {
                            if e == wasmd_abi::errno::EISDIR {
                                platform.fs_unlink(&path, true)
                            } else {
                                Err(e)
                            }
                        })
                        .map(|()| IoValue::Value(0))
                })
            }
            IoRequest::Mkdir { path } => {
                if self.schemes().provider(path.scheme()).is_some() {
                    let flags = flags::O_CREAT | flags::O_EXCL | flags::O_DIRECTORY | flags::O_RDONLY;
                    let op = SchemeOp::Open { path: path.rest().trim_start_matches('/'), flags };
                    return guest(
                        self,
                        path.scheme(),
                        op,
                        IoThen::CloseCreated { scheme: path.scheme().to_string() },
                    );
                }
                let platform = self.env.platform.clone();
                self.io_job(pid, token, IoThen::Done, move || {
                    platform.fs_mkdir(&path).map(|()| IoValue::Value(0))
                })
            }
            IoRequest::Read { handle, buf } => {
                let f = file(proc, handle, Rights::READ)?;
                let len = buf.len();
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
                let f = file(proc, handle, Rights::WRITE)?;
                let then = IoThen::Write { handle, asked: data.len() };
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
                let f = file(proc, handle, Rights(0))?;
                let then = IoThen::SeekEnd { handle, offset };
                match f.target {
                    FileTarget::Guest { scheme, id } => guest(self, &scheme, SchemeOp::Fsize { id }, then),
                    FileTarget::Host(host) => {
                        self.io_job(pid, token, then, move || host.stat().map(|s| IoValue::Value(s.size)))
                    }
                }
            }
            IoRequest::Fstat { handle, buf } => {
                let f = file(proc, handle, Rights(0))?;
                let then = IoThen::Fstat { buf };
                match f.target {
                    FileTarget::Guest { scheme, id } => guest(self, &scheme, SchemeOp::Fstat { id }, then),
                    FileTarget::Host(host) => {
                        self.io_job(pid, token, then, move || host.stat().map(IoValue::Stat))
                    }
                }
            }
            IoRequest::Getdents { handle, buf } => {
                let f = file(proc, handle, Rights::READ)?;
                let then = IoThen::Getdents { handle, buf };
                match f.target {
                    FileTarget::Guest { scheme, id } => {
                        guest(self, &scheme, SchemeOp::Getdents { id, offset: f.dir_pos }, then)
                    }
                    FileTarget::Host(_) if f.dir_pos > 0 && f.listing.is_some() => {
                        let all = f.listing.as_deref().map_or(&[][..], Vec::as_slice);
                        Ok(Started::Now(IoValue::Entries(page(all, f.dir_pos)), then))
                    }
                    FileTarget::Host(host) => self.io_job(pid, token, then, move || {
                        host.entries().map(|all| IoValue::Listing(Arc::new(all)))
                    }),
                }
            }
            IoRequest::Connect { path } => {
                let platform = self.env.platform.clone();
                let then = IoThen::Open { scheme: None, rights: SOCKET_RIGHTS };
                self.io_job(pid, token, then, move || {
                    platform.net_connect(path.scheme(), path.rest()).map(IoValue::Socket)
                })
            }
            IoRequest::Listen { path } => {
                let platform = self.env.platform.clone();
                let then = IoThen::Open { scheme: None, rights: SOCKET_RIGHTS };
                self.io_job(pid, token, then, move || {
                    platform.net_listen(path.scheme(), path.rest()).map(IoValue::Socket)
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
            IoRequest::Accept { .. } => sock
                .accept()
                .map(|s| (IoValue::Socket(s), IoThen::Open { scheme: None, rights: SOCKET_RIGHTS })),
            IoRequest::Send { data, .. } => sock.send(data).map(|n| (IoValue::Value(n as u64), IoThen::Done)),
            IoRequest::Recv { buf, .. } => {
                sock.recv(buf.len()).map(|d| (IoValue::Data(d), IoThen::Recv { buf: *buf }))
            }
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
        self.workers.submit_io(pid, token, move || JobResult::Io(job()));
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
            (IoThen::Open { scheme, rights }, value) => {
                let object = match (scheme, value) {
                    (Some(scheme), IoValue::Value(id)) => HandleObject::File(FileHandle {
                        target: FileTarget::Guest { scheme, id },
                        pos: 0,
                        dir_pos: 0,
                        listing: None,
                    }),
                    (None, IoValue::File(host)) => HandleObject::File(FileHandle {
                        target: FileTarget::Host(host),
                        pos: 0,
                        dir_pos: 0,
                        listing: None,
                    }),
                    (None, IoValue::Socket(sock)) => HandleObject::Socket(sock),
                    _ => return Err(EIO),
                };
                let store = proc.store.as_mut().ok_or(EBADF)?;
                let handle = store.data_mut().handles.insert(object, rights)?;
                Ok(i64::from(handle))
            }
            // Answers come from other guests (providers) and the OS:
            // longer data than asked for, or a count above what was
            // written, is a lie and `EIO`; nothing is written then.
            (IoThen::Read { handle, buf }, IoValue::Data(data)) => {
                let n = write_guest(proc, buf, &data).map_err(|_| EIO)?;
                let mut moved = Ok(());
                with_file(proc, handle, |f| moved = advance(&mut f.pos, n as u64));
                moved.map(|()| n as i64)
            }
            (IoThen::Recv { buf }, IoValue::Data(data)) => {
                write_guest(proc, buf, &data).map(|n| n as i64).map_err(|_| EIO)
            }
            (IoThen::Write { handle, asked }, IoValue::Value(n)) => {
                if n > asked as u64 {
                    return Err(EIO);
                }
                let mut moved = Ok(());
                with_file(proc, handle, |f| moved = advance(&mut f.pos, n));
                moved.map(|()| n as i64)
            }
            (IoThen::SeekEnd { handle, offset }, IoValue::Value(size)) => {
                let size = i64::try_from(size).map_err(|_| EIO)?;
                let pos = size.checked_add(offset).filter(|p| *p >= 0).ok_or(EINVAL)?;
                with_file(proc, handle, |f| f.pos = pos as u64);
                Ok(pos)
            }
            (IoThen::Fstat { buf }, IoValue::Stat(stat)) => {
                let bytes = msg::encode(&stat);
                write_guest(proc, buf, &bytes).map(|n| n as i64).map_err(|_| ERANGE)
            }
            (IoThen::Getdents { handle, buf }, IoValue::Listing(all)) => {
                let entries = page(&all, file(proc, handle, Rights(0))?.dir_pos);
                with_file(proc, handle, |f| f.listing = Some(all));
                self.apply_io(proc, IoThen::Getdents { handle, buf }, Ok(IoValue::Entries(entries)))
            }
            (IoThen::Getdents { handle, buf }, IoValue::Entries(entries)) => {
                let (bytes, taken) = dirents_page(&entries, buf.len())?;
                write_guest(proc, buf, &bytes).map_err(|_| ERANGE)?;
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
