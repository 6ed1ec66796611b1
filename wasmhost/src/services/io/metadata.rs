//! Operations on paths and on files' metadata (what WASI needs beyond
//! wasmd's own fs hostcalls): a path's status, a directory listed by its
//! path, rename, hard and symbolic links, times, length, allocation,
//! flushing, a socket's shutdown. OS files go to an I/O thread through
//! the platform; a guest scheme's file to its provider where the scheme
//! protocol has the request (status, truncate, sync), else
//! `Errno::NotSupported`.

use wasmd_abi::scheme::{flags, SchemeOp};
use wasmd_abi::{Errno, Rights};

use super::finish::{finish_fstat, finish_wasi_dirents, reply_stat, reply_value, then};
use super::{file, socket};
use crate::caller::Caller;
use crate::context::{in_context, Context, SyscallOutcome};
use crate::continuation::returning;
use crate::file::{FileTarget, Format, IoRequest, TimesOf};
use crate::guest_scheme::Origin;
use crate::wasi::encode::WasiListing;
use crate::Pid;

impl Context<'_> {
    /// Starts a path or metadata operation.
    pub(super) fn start_metadata(
        &mut self,
        caller: &mut Caller<'_>,
        req: IoRequest,
    ) -> Result<SyscallOutcome, Errno> {
        let pid = caller.pid();
        match req {
            IoRequest::Status { path, buf, follow } => {
                if self.schemes().provider(path.scheme()).is_some() {
                    return self.scheme_path_status(pid, &path, buf);
                }
                let platform = self.env().platform.clone();
                self.io_job(pid, move || {
                    let status = platform.fs_status(&path, follow);
                    then(move |_, caller| finish_fstat(caller, buf, Format::Wasi { cookie: 0 }, status?))
                })
            }
            IoRequest::ListPath { path, buf, cookie } => {
                self.host_only(&[&path])?;
                let platform = self.env().platform.clone();
                self.io_job(pid, move || {
                    let listed =
                        platform.fs_open(&path, flags::O_RDONLY | flags::O_DIRECTORY).and_then(|dir| {
                            let dot = dir.stat().map_or(0, |s| s.ino);
                            Ok((dot, dir.entries()?))
                        });
                    then(move |_, caller| {
                        let (dot, all) = listed?;
                        finish_wasi_dirents(caller, buf, cookie, 0, &WasiListing { dot, entries: &all })
                    })
                })
            }
            IoRequest::Rename { from, to } => {
                self.host_only(&[&from, &to])?;
                let platform = self.env().platform.clone();
                self.io_job(pid, move || {
                    let done = platform.fs_rename(&from, &to);
                    then(move |_, _| done.map(|()| 0))
                })
            }
            IoRequest::Link { from, to } => {
                self.host_only(&[&from, &to])?;
                let platform = self.env().platform.clone();
                self.io_job(pid, move || {
                    let done = platform.fs_link(&from, &to);
                    then(move |_, _| done.map(|()| 0))
                })
            }
            IoRequest::Symlink { target, at } => {
                self.host_only(&[&at])?;
                let platform = self.env().platform.clone();
                self.io_job(pid, move || {
                    let done = platform.fs_symlink(&target, &at);
                    then(move |_, _| done.map(|()| 0))
                })
            }
            IoRequest::Readlink { path, buf } => {
                self.host_only(&[&path])?;
                let platform = self.env().platform.clone();
                self.io_job(pid, move || {
                    let text = platform.fs_readlink(&path);
                    then(move |_, caller| {
                        let text = text?;
                        let cut = &text.as_bytes()[..text.len().min(buf.len())];
                        caller.write(buf, cut).map(|n| n as i64).map_err(|_| Errno::Io)
                    })
                })
            }
            IoRequest::SetTimes { of: TimesOf::Path(path, follow), atime, mtime } => {
                self.host_only(&[&path])?;
                let platform = self.env().platform.clone();
                self.io_job(pid, move || {
                    let done = platform.fs_set_times(&path, follow, atime, mtime);
                    then(move |_, _| done.map(|()| 0))
                })
            }
            IoRequest::SetTimes { of: TimesOf::Handle(handle), atime, mtime } => {
                match file(caller, handle, Rights(0))?.target {
                    FileTarget::Guest { .. } => Err(Errno::NotSupported),
                    FileTarget::Host(host) => self.io_job(pid, move || {
                        let done = host.set_times(atime, mtime);
                        then(move |_, _| done.map(|()| 0))
                    }),
                }
            }
            IoRequest::SetLen { handle, len } => match file(caller, handle, Rights::WRITE)?.target {
                FileTarget::Guest { scheme, id } => {
                    self.ask(pid, &scheme, SchemeOp::Ftruncate { id, len }, |reply| {
                        let done = reply_value(reply);
                        then(move |_, _| done.map(|_| 0))
                    })
                }
                FileTarget::Host(host) => self.io_job(pid, move || {
                    let done = host.set_len(len);
                    then(move |_, _| done.map(|()| 0))
                }),
            },
            IoRequest::Allocate { handle, offset, len } => {
                match file(caller, handle, Rights::WRITE)?.target {
                    FileTarget::Guest { .. } => Err(Errno::NotSupported),
                    FileTarget::Host(host) => self.io_job(pid, move || {
                        let done = host.allocate(offset, len);
                        then(move |_, _| done.map(|()| 0))
                    }),
                }
            }
            IoRequest::Shutdown { handle, read, write } => {
                Ok(returning(socket(caller, handle)?.shutdown(read, write).map(|()| 0)))
            }
            IoRequest::Sync { handle, data_only } => match file(caller, handle, Rights(0))?.target {
                FileTarget::Guest { scheme, id } => self.ask(pid, &scheme, SchemeOp::Fsync { id }, |reply| {
                    let done = reply_value(reply);
                    then(move |_, _| done.map(|_| 0))
                }),
                FileTarget::Host(host) => self.io_job(pid, move || {
                    let done = host.sync(data_only);
                    then(move |_, _| done.map(|()| 0))
                }),
            },
            _ => Err(Errno::InvalidArgument),
        }
    }

    /// `Errno::NotSupported` when a path is a guest scheme's: the scheme
    /// protocol has no rename, link or symbolic link.
    fn host_only(&mut self, paths: &[&crate::namespace::GrantedPath]) -> Result<(), Errno> {
        if paths.iter().any(|p| self.schemes().provider(p.scheme()).is_some()) {
            return Err(Errno::NotSupported);
        }
        Ok(())
    }

    /// The status of a guest scheme's path: opened for `fstat` only,
    /// asked for its status, closed.
    fn scheme_path_status(
        &mut self,
        pid: Pid,
        path: &crate::namespace::GrantedPath,
        buf: crate::guest_buf::GuestBuf,
    ) -> Result<SyscallOutcome, Errno> {
        let scheme = path.scheme().to_string();
        let op = SchemeOp::Open {
            path: path.rest().trim_start_matches('/'),
            flags: flags::O_STAT | flags::O_RDONLY,
        };
        self.ask(pid, path.scheme(), op, move |reply| {
            let id = reply_value(reply);
            in_context(move |cx, caller| {
                let id = match id {
                    Ok(id) => id,
                    Err(e) => return returning(Err(e)),
                };
                let asked = cx.ask(caller.pid(), &scheme.clone(), SchemeOp::Fstat { id }, move |reply| {
                    let stat = reply_stat(reply);
                    then(move |cx, caller| {
                        let _ = cx.schemes().submit(
                            &scheme,
                            caller.pid(),
                            SchemeOp::Close { id },
                            Origin::External,
                        );
                        finish_fstat(caller, buf, Format::Wasi { cookie: 0 }, stat?.into())
                    })
                });
                asked.unwrap_or_else(|e| returning(Err(e)))
            })
        })
    }
}
