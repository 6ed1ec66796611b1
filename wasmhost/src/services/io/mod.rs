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
//! kind the request expects (another kind is `Errno::Io`); the poller's
//! continuation makes a socket attempt again.

use std::sync::Arc;
use wasmd_abi::Errno;

use wasmd_abi::scheme::{flags, SchemeOp};
use wasmd_abi::Rights;

mod finish;
mod metadata;
mod ready;

use finish::{
    finish_append, finish_fstat, finish_getdents, finish_listing, finish_read, finish_seek_end,
    finish_wasi_dirents, finish_write, new_file, new_handle, page, reply_data, reply_entries, reply_stat,
    reply_value, then, with_file,
};

use crate::caller::Caller;
use crate::context::{in_context, Context, Continuation, SyscallOutcome};
use crate::continuation::returning;
use crate::file::{FileHandle, FileTarget, Format, IoRequest, Removes};
use crate::guest_scheme::{Origin, Reply};
use crate::platform::HostSocket;
use crate::process::{BlockOn, HandleObject};
use crate::wasi::encode::WasiListing;
use crate::Pid;

/// Most entries handed to the encoder for one `getdents` page (it keeps
/// what fits the guest's buffer).
const PAGE_ENTRIES: usize = 1024;

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

/// A handle's file, cloned, if the handle holds `needed` (`READ` to read,
/// `WRITE` to write): `Errno::BadHandle` otherwise, as for a file not open for that.
pub(super) fn file(caller: &Caller<'_>, handle: u32, needed: Rights) -> Result<FileHandle, Errno> {
    let state = caller.state();
    match &state.handles.get(handle, needed).map_err(|_| Errno::BadHandle)?.object {
        HandleObject::File(f) => Ok(f.clone()),
        _ => Err(Errno::BadHandle),
    }
}

/// A handle's socket.
fn socket(caller: &Caller<'_>, handle: u32) -> Result<Arc<dyn HostSocket>, Errno> {
    let state = caller.state();
    match &state.handles.get(handle, Rights(0))?.object {
        HandleObject::Socket(s) => Ok(s.clone()),
        _ => Err(Errno::BadHandle),
    }
}

impl Context<'_> {
    /// Handles an fs or socket syscall of `caller`.
    pub(crate) fn sys_io(&mut self, caller: &mut Caller<'_>, req: IoRequest) -> SyscallOutcome {
        self.start_io(caller, req).unwrap_or_else(|e| returning(Err(e)))
    }

    /// Sends a request to a guest scheme's provider; its reply continues
    /// the caller's wait through `then`.
    fn ask(
        &mut self,
        pid: Pid,
        scheme: &str,
        op: SchemeOp<'_>,
        then: impl FnOnce(Reply) -> Continuation + Send + 'static,
    ) -> Result<SyscallOutcome, Errno> {
        let token = self.token();
        self.schemes().submit(scheme, pid, op, Origin::Guest { pid, token }).map_err(|_| Errno::Io)?;
        self.pend_reply(pid, token, Box::new(then));
        Ok(SyscallOutcome::Park(BlockOn::Pending { token }))
    }

    /// Runs `job` on an I/O thread; the continuation it returns ends the
    /// caller's wait.
    fn io_job(
        &mut self,
        pid: Pid,
        job: impl FnOnce() -> Continuation + Send + 'static,
    ) -> Result<SyscallOutcome, Errno> {
        let token = self.pend_host(pid);
        self.workers().submit_io(pid, token, job);
        Ok(SyscallOutcome::Park(BlockOn::Pending { token }))
    }

    /// Starts an operation: answers it now, or sends it where it goes.
    fn start_io(&mut self, caller: &mut Caller<'_>, req: IoRequest) -> Result<SyscallOutcome, Errno> {
        let pid = caller.pid();
        match req {
            IoRequest::Open { path, flags } => {
                let rights = access_rights(flags);
                if self.schemes().provider(path.scheme()).is_some() {
                    let scheme = path.scheme().to_string();
                    let op = SchemeOp::Open { path: path.rest().trim_start_matches('/'), flags };
                    return self.ask(pid, path.scheme(), op, move |reply| {
                        let id = reply_value(reply);
                        then(move |_, caller| {
                            new_handle(caller, new_file(FileTarget::Guest { scheme, id: id? }), rights)
                        })
                    });
                }
                if path.scheme() == "tcp" || path.scheme() == "udp" {
                    return Err(Errno::InvalidArgument);
                }
                let platform = self.env().platform.clone();
                self.io_job(pid, move || {
                    let opened = platform.fs_open(&path, flags);
                    then(move |_, caller| new_handle(caller, new_file(FileTarget::Host(opened?)), rights))
                })
            }
            IoRequest::Unlink { path, kind } => {
                if self.schemes().provider(path.scheme()).is_some() {
                    let op = SchemeOp::Unlink { path: path.rest().trim_start_matches('/'), flags: 0 };
                    return self.ask(pid, path.scheme(), op, |reply| {
                        let done = reply_value(reply);
                        then(move |_, _| done.map(|v| v as i64))
                    });
                }
                let platform = self.env().platform.clone();
                self.io_job(pid, move || {
                    let done = match kind {
                        Removes::Any => platform.fs_unlink(&path, false).or_else(|e| {
                            if e == Errno::IsADirectory {
                                platform.fs_unlink(&path, true)
                            } else {
                                Err(e)
                            }
                        }),
                        Removes::File => platform.fs_unlink(&path, false),
                        Removes::Dir => platform.fs_unlink(&path, true),
                    };
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
                        then(move |cx, caller| {
                            let close = SchemeOp::Close { id: id? };
                            let _ = cx.schemes().submit(&scheme, caller.pid(), close, Origin::External);
                            Ok(0)
                        })
                    });
                }
                let platform = self.env().platform.clone();
                self.io_job(pid, move || {
                    let done = platform.fs_mkdir(&path);
                    then(move |_, _| done.map(|()| 0))
                })
            }
            IoRequest::Read { handle, buf, at } => {
                let f = file(caller, handle, Rights::READ)?;
                let len = buf.len();
                let offset = at.unwrap_or(f.pos);
                match f.target {
                    FileTarget::Guest { scheme, id } => {
                        let op = SchemeOp::Read { id, offset, len: len as u32 };
                        self.ask(pid, &scheme, op, move |reply| {
                            let data = reply_data(reply);
                            then(move |_, caller| finish_read(caller, handle, buf, at, data?))
                        })
                    }
                    FileTarget::Host(host) => self.io_job(pid, move || {
                        let data = host.read_at(offset, len);
                        then(move |_, caller| finish_read(caller, handle, buf, at, data?))
                    }),
                }
            }
            IoRequest::Write { handle, data, at } => {
                let f = file(caller, handle, Rights::WRITE)?;
                let asked = data.len();
                let offset = at.unwrap_or(f.pos);
                match f.target {
                    FileTarget::Guest { scheme, id } => {
                        let op = SchemeOp::Write { id, offset, data: &data };
                        self.ask(pid, &scheme, op, move |reply| {
                            let n = reply_value(reply);
                            then(move |_, caller| finish_write(caller, handle, asked, at, n?))
                        })
                    }
                    FileTarget::Host(host) => self.io_job(pid, move || {
                        let n = host.write_at(offset, &data);
                        then(move |_, caller| finish_write(caller, handle, asked, at, n? as u64))
                    }),
                }
            }
            req @ (IoRequest::WaitReady { .. } | IoRequest::ReadStdin { .. }) => {
                self.start_input(caller, req)
            }
            IoRequest::Append { handle, data } => {
                let f = file(caller, handle, Rights::WRITE)?;
                let asked = data.len();
                match f.target {
                    FileTarget::Guest { scheme, id } => {
                        let provider = scheme.clone();
                        self.ask(pid, &provider, SchemeOp::Fsize { id }, move |reply| {
                            let size = reply_value(reply);
                            in_context(move |cx, caller| {
                                let size = match size {
                                    Ok(size) => size,
                                    Err(e) => return returning(Err(e)),
                                };
                                let op = SchemeOp::Write { id, offset: size, data: &data };
                                let asked_now = cx.ask(caller.pid(), &scheme, op, move |reply| {
                                    let n = reply_value(reply);
                                    then(move |_, caller| finish_append(caller, handle, asked, size, n?))
                                });
                                asked_now.unwrap_or_else(|e| returning(Err(e)))
                            })
                        })
                    }
                    FileTarget::Host(host) => self.io_job(pid, move || {
                        let written =
                            host.stat().and_then(|s| Ok((s.size, host.write_at(s.size, &data)? as u64)));
                        then(move |_, caller| {
                            let (size, n) = written?;
                            finish_append(caller, handle, asked, size, n)
                        })
                    }),
                }
            }
            IoRequest::SeekEnd { handle, offset } => {
                let f = file(caller, handle, Rights(0))?;
                match f.target {
                    FileTarget::Guest { scheme, id } => {
                        self.ask(pid, &scheme, SchemeOp::Fsize { id }, move |reply| {
                            let size = reply_value(reply);
                            then(move |_, caller| finish_seek_end(caller, handle, offset, size?))
                        })
                    }
                    FileTarget::Host(host) => self.io_job(pid, move || {
                        let size = host.stat().map(|s| s.size);
                        then(move |_, caller| finish_seek_end(caller, handle, offset, size?))
                    }),
                }
            }
            IoRequest::Fstat { handle, buf, format } => {
                let f = file(caller, handle, Rights(0))?;
                match f.target {
                    FileTarget::Guest { scheme, id } => {
                        self.ask(pid, &scheme, SchemeOp::Fstat { id }, move |reply| {
                            let stat = reply_stat(reply);
                            then(move |_, caller| finish_fstat(caller, buf, format, stat?.into()))
                        })
                    }
                    FileTarget::Host(host) => self.io_job(pid, move || {
                        let status = host.status();
                        then(move |_, caller| finish_fstat(caller, buf, format, status?))
                    }),
                }
            }
            IoRequest::Getdents { handle, buf, format: Format::Wasi { cookie } } => {
                let f = file(caller, handle, Rights::READ)?;
                match f.target {
                    FileTarget::Guest { scheme, id } => {
                        // The provider's offsets count its entries; `.`
                        // and `..` come first here.
                        let first = cookie.saturating_sub(2);
                        self.ask(pid, &scheme, SchemeOp::Getdents { id, offset: first }, move |reply| {
                            let entries = reply_entries(reply);
                            then(move |_, caller| {
                                let dir = WasiListing { dot: 0, entries: &entries? };
                                finish_wasi_dirents(caller, buf, cookie, first, &dir)
                            })
                        })
                    }
                    // `.` (entry 0) is listed afresh: only it needs the
                    // directory's own status.
                    FileTarget::Host(_) if cookie > 0 && f.listing.is_some() => {
                        let all = f.listing.clone().unwrap_or_default();
                        let dir = WasiListing { dot: 0, entries: &all };
                        Ok(returning(finish_wasi_dirents(caller, buf, cookie, 0, &dir)))
                    }
                    FileTarget::Host(host) => self.io_job(pid, move || {
                        let all = host.entries().map(Arc::new);
                        let dot = host.stat().map_or(0, |s| s.ino);
                        then(move |_, caller| {
                            let all = all?;
                            with_file(caller, handle, |f| f.listing = Some(all.clone()));
                            finish_wasi_dirents(caller, buf, cookie, 0, &WasiListing { dot, entries: &all })
                        })
                    }),
                }
            }
            IoRequest::Getdents { handle, buf, format: Format::Native } => {
                let f = file(caller, handle, Rights::READ)?;
                match f.target {
                    FileTarget::Guest { scheme, id } => {
                        let op = SchemeOp::Getdents { id, offset: f.dir_pos };
                        self.ask(pid, &scheme, op, move |reply| {
                            let entries = reply_entries(reply);
                            then(move |_, caller| finish_getdents(caller, handle, buf, &entries?))
                        })
                    }
                    FileTarget::Host(_) if f.dir_pos > 0 && f.listing.is_some() => {
                        let all = f.listing.as_deref().map_or(&[][..], Vec::as_slice);
                        Ok(returning(finish_getdents(caller, handle, buf, &page(all, f.dir_pos))))
                    }
                    FileTarget::Host(host) => self.io_job(pid, move || {
                        let all = host.entries().map(Arc::new);
                        then(move |_, caller| finish_listing(caller, handle, buf, all?))
                    }),
                }
            }
            req @ (IoRequest::Status { .. }
            | IoRequest::ListPath { .. }
            | IoRequest::Rename { .. }
            | IoRequest::Link { .. }
            | IoRequest::Symlink { .. }
            | IoRequest::Readlink { .. }
            | IoRequest::SetTimes { .. }
            | IoRequest::SetLen { .. }
            | IoRequest::Allocate { .. }
            | IoRequest::Shutdown { .. }
            | IoRequest::Sync { .. }) => self.start_metadata(caller, req),
            IoRequest::Connect { path } => {
                let platform = self.env().platform.clone();
                self.io_job(pid, move || {
                    let sock = platform.net_connect(path.scheme(), path.rest());
                    then(move |_, caller| new_handle(caller, HandleObject::Socket(sock?), SOCKET_RIGHTS))
                })
            }
            IoRequest::Listen { path } => {
                let platform = self.env().platform.clone();
                self.io_job(pid, move || {
                    let sock = platform.net_listen(path.scheme(), path.rest());
                    then(move |_, caller| new_handle(caller, HandleObject::Socket(sock?), SOCKET_RIGHTS))
                })
            }
            req @ (IoRequest::Accept { .. } | IoRequest::Send { .. } | IoRequest::Recv { .. }) => {
                self.try_socket(caller, req)
            }
        }
    }

    /// One non-blocking socket attempt; on `Errno::WouldBlock` the caller waits for
    /// readiness, and the poller's continuation makes the attempt again.
    fn try_socket(&mut self, caller: &mut Caller<'_>, req: IoRequest) -> Result<SyscallOutcome, Errno> {
        let (handle, writable) = match &req {
            IoRequest::Accept { handle } | IoRequest::Recv { handle, .. } => (*handle, false),
            IoRequest::Send { handle, .. } => (*handle, true),
            _ => return Err(Errno::InvalidArgument),
        };
        let sock = socket(caller, handle)?;
        let attempt = match &req {
            IoRequest::Accept { .. } => {
                sock.accept().and_then(|s| new_handle(caller, HandleObject::Socket(s), SOCKET_RIGHTS))
            }
            IoRequest::Send { data, .. } => {
                sock.send(data).inspect(|n| caller.state().counters.wrote(*n as u64)).map(|n| n as i64)
            }
            IoRequest::Recv { buf, .. } => sock.recv(buf.len()).and_then(|d| {
                let n = caller.write(*buf, &d).map_err(|_| Errno::Io)?;
                caller.state().counters.read(n as u64);
                Ok(n as i64)
            }),
            _ => return Err(Errno::InvalidArgument),
        };
        match attempt {
            Err(Errno::WouldBlock) => {
                let token = self.pend_host(caller.pid());
                let retry = in_context(move |cx, caller| cx.sys_io(caller, req));
                self.env().platform.net_wait(
                    &sock,
                    writable,
                    self.workers().notifier(caller.pid(), token, retry),
                );
                Ok(SyscallOutcome::Park(BlockOn::Pending { token }))
            }
            done => Ok(returning(done)),
        }
    }
}
