//! Kernel responses for the outcomes of daemon calls: copies data,
//! stat fields and directory entries into the request's buffers.

use redox_scheme::scheme::Op;
use redox_scheme::Response;
use syscall::dirent::{DirEntry, DirentKind};
use syscall::error::{Error, EOPNOTSUPP};

use crate::control::Output;

/// The kernel response for an operation and its outcome.
pub fn respond(op: Op, result: Result<Output, i32>) -> Response {
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
