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
//! The caller parks on a continuation (see the `continuation` module) that
//! holds the typed result of its own operation and says how to finish:
//! create a handle, copy data into guest memory and advance the file
//! position, encode a status or directory entries. An I/O job builds it
//! from what the OS returned; a provider's reply is checked to be of the
//! kind the request expects (another kind is `EIO`); the poller's
//! continuation makes a socket attempt again.

use std::sync::Arc;

use wasmd_abi::errno::{EAGAIN, EBADF, EINVAL, EIO, ERANGE};
use wasmd_abi::msg;
use wasmd_abi::scheme::{flags, DirEntry, SchemeOp, Stat};
use wasmd_abi::Rights;

use crate::continuation::{returning, Continuation, Done};
use crate::guest_buf::GuestBuf;
use crate::guest_scheme::{Origin, Reply};
use crate::manager::{ProcessManager, SyscallOutcome};
use crate::namespace::GrantedPath;
use crate::platform::{HostFile, HostSocket};
use crate::process::{BlockOn, HandleObject, Process};
use crate::syscalls::write_guest;
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

/// The value a provider's reply carries for a request answered by a
/// number; any other kind of reply is a lie (`EIO`).
fn reply_value(reply: Reply) -> Result<u64, i32> {
    match reply {
        Reply::Value(v) => Ok(v),
        Reply::Error(e) => Err(e),
        _ => Err(EIO),
    }
}

/// The bytes of a provider's reply to a read.
fn reply_data(reply: Reply) -> Result<Vec<u8>, i32> {
    match reply {
        Reply::Data(d) => Ok(d),
        Reply::Error(e) => Err(e),
        _ => Err(EIO),
    }
}

/// The status in a provider's reply to an fstat.
fn reply_stat(reply: Reply) -> Result<Stat, i32> {
    match reply {
        Reply::Stat(s) => Ok(s),
        Reply::Error(e) => Err(e),
        _ => Err(EIO),
    }
}

/// The entries in a provider's reply to a getdents.
fn reply_entries(reply: Reply) -> Result<Vec<(String, u8)>, i32> {
    match reply {
        Reply::Dirents(v) => Ok(v.into_iter().map(|e| (e.name, e.kind)).collect()),
        Reply::Error(e) => Err(e),
        _ => Err(EIO),
    }
}

/// A continuation computing the hostcall's value from `proc`.
fn then(
    f: impl FnOnce(&mut ProcessManager, &mut Process) -> Result<i64, i32> + Send + 'static,
) -> Continuation {
    Box::new(move |pm, proc| returning(f(pm, proc)))
}

/// A new handle for an opened object, with the open's rights.
fn new_handle(proc: &mut Process, object: HandleObject, rights: Rights) -> Result<i64, i32> {
    let store = proc.store.as_mut().ok_or(EBADF)?;
    let handle = store.data_mut().handles.insert(object, rights)?;
    Ok(i64::from(handle))
}

fn new_file(target: FileTarget) -> HandleObject {
    HandleObject::File(FileHandle { target, pos: 0, dir_pos: 0, listing: None })
}

// Answers come from other guests (providers) and the OS: longer data
// than asked for, or a count above what was written, is a lie and `EIO`;
// nothing is written then.

fn finish_read(proc: &mut Process, handle: u32, buf: GuestBuf, data: Vec<u8>) -> Result<i64, i32> {
    let n = write_guest(proc, buf, &data).map_err(|_| EIO)?;
    let mut moved = Ok(());
    with_file(proc, handle, |f| moved = advance(&mut f.pos, n as u64));
    moved.map(|()| n as i64)
}

fn finish_write(proc: &mut Process, handle: u32, asked: usize, n: u64) -> Result<i64, i32> {
    if n > asked as u64 {
        return Err(EIO);
    }
    let mut moved = Ok(());
    with_file(proc, handle, |f| moved = advance(&mut f.pos, n));
    moved.map(|()| n as i64)
}

fn finish_seek_end(proc: &mut Process, handle: u32, offset: i64, size: u64) -> Result<i64, i32> {
    let size = i64::try_from(size).map_err(|_| EIO)?;
    let pos = size.checked_add(offset).filter(|p| *p >= 0).ok_or(EINVAL)?;
    with_file(proc, handle, |f| f.pos = pos as u64);
    Ok(pos)
}

fn finish_fstat(proc: &mut Process, buf: GuestBuf, stat: Stat) -> Result<i64, i32> {
    write_guest(proc, buf, &msg::encode(&stat)).map(|n| n as i64).map_err(|_| ERANGE)
}

fn finish_getdents(
    proc: &mut Process,
    handle: u32,
    buf: GuestBuf,
    entries: &[(String, u8)],
) -> Result<i64, i32> {
    let (bytes, taken) = dirents_page(entries, buf.len())?;
    write_guest(proc, buf, &bytes).map_err(|_| ERANGE)?;
    with_file(proc, handle, |f| f.dir_pos += taken as u64);
    Ok(taken as i64)
}

/// An OS directory's whole listing came: keep it on the handle, return
/// its first page.
fn finish_listing(
    proc: &mut Process,
    handle: u32,
    buf: GuestBuf,
    all: Arc<Vec<(String, u8)>>,
) -> Result<i64, i32> {
    let entries = page(&all, file(proc, handle, Rights(0))?.dir_pos);
    with_file(proc, handle, |f| f.listing = Some(all));
    finish_getdents(proc, handle, buf, &entries)
}

impl ProcessManager {
    /// Handles an fs or socket syscall of the running `proc`.
    pub(crate) fn sys_io(&mut self, proc: &mut Process, req: IoRequest) -> SyscallOutcome {
        self.start_io(proc, req).unwrap_or_else(|e| returning(Err(e)))
    }

    /// Sends a request to a guest scheme's provider; its reply continues
    /// the caller's wait through `then`.
    fn ask(
        &mut self,
        pid: Pid,
        scheme: &str,
        op: SchemeOp<'_>,
        then: impl FnOnce(Reply) -> Continuation + Send + 'static,
    ) -> Result<SyscallOutcome, i32> {
        let token = self.sched.token();
        self.schemes().submit(scheme, pid, op, Origin::Guest { pid, token }).map_err(|_| EIO)?;
        self.pend_reply(pid, token, Box::new(then));
        Ok(SyscallOutcome::Park(BlockOn::Pending { token }))
    }

    /// Runs `job` on an I/O thread; the continuation it returns ends the
    /// caller's wait.
    fn io_job(
        &mut self,
        pid: Pid,
        job: impl FnOnce() -> Continuation + Send + 'static,
    ) -> Result<SyscallOutcome, i32> {
        let token = self.pend_host(pid);
        self.workers.submit_io(pid, token, move || Done::Wait(job()));
        Ok(SyscallOutcome::Park(BlockOn::Pending { token }))
    }

    /// Starts an operation: answers it now, or sends it where it goes.
    fn start_io(&mut self, proc: &mut Process, req: IoRequest) -> Result<SyscallOutcome, i32> {
        let pid = proc.pid;
        match req {
            IoRequest::Open { path, flags } => {
                let rights = access_rights(flags);
                if self.schemes().provider(path.scheme()).is_some() {
                    let scheme = path.scheme().to_string();
                    let op = SchemeOp::Open { path: path.rest().trim_start_matches('/'), flags };
                    return self.ask(pid, path.scheme(), op, move |reply| {
                        let id = reply_value(reply);
                        then(move |_, proc| {
                            new_handle(proc, new_file(FileTarget::Guest { scheme, id: id? }), rights)
                        })
                    });
                }
                if path.scheme() == "tcp" || path.scheme() == "udp" {
                    return Err(EINVAL);
                }
                let platform = self.env.platform.clone();
                self.io_job(pid, move || {
                    let opened = platform.fs_open(&path, flags);
                    then(move |_, proc| new_handle(proc, new_file(FileTarget::Host(opened?)), rights))
                })
            }
            IoRequest::Unlink { path } => {
                if self.schemes().provider(path.scheme()).is_some() {
                    let op = SchemeOp::Unlink { path: path.rest().trim_start_matches('/'), flags: 0 };
                    return self.ask(pid, path.scheme(), op, |reply| {
                        let done = reply_value(reply);
                        then(move |_, _| done.map(|v| v as i64))
                    });
                }
                let platform = self.env.platform.clone();
                self.io_job(pid, move || {
                    let done = platform.fs_unlink(&path, false).or_else(|e| {
                        if e == wasmd_abi::errno::EISDIR {
                            platform.fs_unlink(&path, true)
                        } else {
                            Err(e)
                        }
                    });
                    then(move |_, _| done.map(|()| 0))
                })
            }
            IoRequest::Mkdir { path } => {
                if self.schemes().provider(path.scheme()).is_some() {
                    let flags = flags::O_CREAT | flags::O_EXCL | flags::O_DIRECTORY | flags::O_RDONLY;
                    let op = SchemeOp::Open { path: path.rest().trim_start_matches('/'), flags };
                    let scheme = path.scheme().to_string();
                    // The provider created the directory and returned an
                    // id for it: close that, return 0.
                    return self.ask(pid, path.scheme(), op, move |reply| {
                        let id = reply_value(reply);
                        then(move |pm, proc| {
                            let close = SchemeOp::Close { id: id? };
                            let _ = pm.schemes().submit(&scheme, proc.pid, close, Origin::External);
                            Ok(0)
                        })
                    });
                }
                let platform = self.env.platform.clone();
                self.io_job(pid, move || {
                    let done = platform.fs_mkdir(&path);
                    then(move |_, _| done.map(|()| 0))
                })
            }
            IoRequest::Read { handle, buf } => {
                let f = file(proc, handle, Rights::READ)?;
                let len = buf.len();
                match f.target {
                    FileTarget::Guest { scheme, id } => {
                        let op = SchemeOp::Read { id, offset: f.pos, len: len as u32 };
                        self.ask(pid, &scheme, op, move |reply| {
                            let data = reply_data(reply);
                            then(move |_, proc| finish_read(proc, handle, buf, data?))
                        })
                    }
                    FileTarget::Host(host) => self.io_job(pid, move || {
                        let data = host.read_at(f.pos, len);
                        then(move |_, proc| finish_read(proc, handle, buf, data?))
                    }),
                }
            }
            IoRequest::Write { handle, data } => {
                let f = file(proc, handle, Rights::WRITE)?;
                let asked = data.len();
                match f.target {
                    FileTarget::Guest { scheme, id } => {
                        let op = SchemeOp::Write { id, offset: f.pos, data: &data };
                        self.ask(pid, &scheme, op, move |reply| {
                            let n = reply_value(reply);
                            then(move |_, proc| finish_write(proc, handle, asked, n?))
                        })
                    }
                    FileTarget::Host(host) => self.io_job(pid, move || {
                        let n = host.write_at(f.pos, &data);
                        then(move |_, proc| finish_write(proc, handle, asked, n? as u64))
                    }),
                }
            }
            IoRequest::SeekEnd { handle, offset } => {
                let f = file(proc, handle, Rights(0))?;
                match f.target {
                    FileTarget::Guest { scheme, id } => {
                        self.ask(pid, &scheme, SchemeOp::Fsize { id }, move |reply| {
                            let size = reply_value(reply);
                            then(move |_, proc| finish_seek_end(proc, handle, offset, size?))
                        })
                    }
                    FileTarget::Host(host) => self.io_job(pid, move || {
                        let size = host.stat().map(|s| s.size);
                        then(move |_, proc| finish_seek_end(proc, handle, offset, size?))
                    }),
                }
            }
            IoRequest::Fstat { handle, buf } => {
                let f = file(proc, handle, Rights(0))?;
                match f.target {
                    FileTarget::Guest { scheme, id } => {
                        self.ask(pid, &scheme, SchemeOp::Fstat { id }, move |reply| {
                            let stat = reply_stat(reply);
                            then(move |_, proc| finish_fstat(proc, buf, stat?))
                        })
                    }
                    FileTarget::Host(host) => self.io_job(pid, move || {
                        let stat = host.stat();
                        then(move |_, proc| finish_fstat(proc, buf, stat?))
                    }),
                }
            }
            IoRequest::Getdents { handle, buf } => {
                let f = file(proc, handle, Rights::READ)?;
                match f.target {
                    FileTarget::Guest { scheme, id } => {
                        let op = SchemeOp::Getdents { id, offset: f.dir_pos };
                        self.ask(pid, &scheme, op, move |reply| {
                            let entries = reply_entries(reply);
                            then(move |_, proc| finish_getdents(proc, handle, buf, &entries?))
                        })
                    }
                    FileTarget::Host(_) if f.dir_pos > 0 && f.listing.is_some() => {
                        let all = f.listing.as_deref().map_or(&[][..], Vec::as_slice);
                        Ok(returning(finish_getdents(proc, handle, buf, &page(all, f.dir_pos))))
                    }
                    FileTarget::Host(host) => self.io_job(pid, move || {
                        let all = host.entries().map(Arc::new);
                        then(move |_, proc| finish_listing(proc, handle, buf, all?))
                    }),
                }
            }
            IoRequest::Connect { path } => {
                let platform = self.env.platform.clone();
                self.io_job(pid, move || {
                    let sock = platform.net_connect(path.scheme(), path.rest());
                    then(move |_, proc| new_handle(proc, HandleObject::Socket(sock?), SOCKET_RIGHTS))
                })
            }
            IoRequest::Listen { path } => {
                let platform = self.env.platform.clone();
                self.io_job(pid, move || {
                    let sock = platform.net_listen(path.scheme(), path.rest());
                    then(move |_, proc| new_handle(proc, HandleObject::Socket(sock?), SOCKET_RIGHTS))
                })
            }
            req @ (IoRequest::Accept { .. } | IoRequest::Send { .. } | IoRequest::Recv { .. }) => {
                self.try_socket(proc, req)
            }
        }
    }

    /// One non-blocking socket attempt; on `EAGAIN` the caller waits for
    /// readiness, and the poller's continuation makes the attempt again.
    fn try_socket(&mut self, proc: &mut Process, req: IoRequest) -> Result<SyscallOutcome, i32> {
        let (handle, writable) = match &req {
            IoRequest::Accept { handle } | IoRequest::Recv { handle, .. } => (*handle, false),
            IoRequest::Send { handle, .. } => (*handle, true),
            _ => return Err(EINVAL),
        };
        let sock = socket(proc, handle)?;
        let attempt = match &req {
            IoRequest::Accept { .. } => {
                sock.accept().and_then(|s| new_handle(proc, HandleObject::Socket(s), SOCKET_RIGHTS))
            }
            IoRequest::Send { data, .. } => sock.send(data).map(|n| n as i64),
            IoRequest::Recv { buf, .. } => sock
                .recv(buf.len())
                .and_then(|d| write_guest(proc, *buf, &d).map(|n| n as i64).map_err(|_| EIO)),
            _ => return Err(EINVAL),
        };
        match attempt {
            Err(EAGAIN) => {
                let token = self.pend_host(proc.pid);
                let retry: Continuation = Box::new(move |pm, proc| pm.sys_io(proc, req));
                self.env.platform.net_wait(
                    &sock,
                    writable,
                    self.workers.notifier(proc.pid, token, Done::Wait(retry)),
                );
                Ok(SyscallOutcome::Park(BlockOn::Pending { token }))
            }
            done => Ok(returning(done)),
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
