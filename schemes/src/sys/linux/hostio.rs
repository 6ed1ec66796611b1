//! Host files and sockets for guests on Linux.
//!
//! `file:` paths live inside the daemon's file root (`--fs-root`). Every
//! operation first opens the directory of the grant that allowed the path
//! with `openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)` from the root's
//! descriptor, then the rest of the path the same way from that directory:
//! neither `..` nor a symbolic link can leave the grant (a link to a place
//! inside it works). Without a file root, `file:` is `Errno::AccessDenied`. An open
//! file is a [`crate::host_files::OsFile`], listed through its descriptor
//! ([`FdListing`]). Sockets ([`crate::sockets`]) are non-blocking; TCP
//! connects start without waiting ([`start_tcp`]); [`Epoll`] is the
//! readiness queue behind [`crate::poller`] (one-shot registrations).

use wasmd_abi::Errno;

use std::fs::File;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;

use rustix::event::epoll::{self, EventData, EventFlags};
use rustix::fs::{AtFlags, Mode, OFlags, ResolveFlags, Timespec, Timestamps};
use wasmd_abi::scheme::{flags, kind};
use wasmhost::namespace::GrantedPath;
use wasmhost::{FileStatus, HostFile, Listed, NewTime};

use crate::host_files::{self, FileOps, OsFile};
use crate::poller::ReadinessQueue;

fn errno(e: rustix::io::Errno) -> Errno {
    Errno::from_errno(e.raw_os_error())
}

/// Redox `O_*` flags to Linux ones.
fn oflags(redox: u32) -> OFlags {
    let mut o = match redox & flags::O_ACCMODE {
        flags::O_WRONLY => OFlags::WRONLY,
        flags::O_RDWR => OFlags::RDWR,
        _ => OFlags::RDONLY,
    };
    for (r, l) in [
        (flags::O_CREAT, OFlags::CREATE),
        (flags::O_TRUNC, OFlags::TRUNC),
        (flags::O_EXCL, OFlags::EXCL),
        (flags::O_DIRECTORY, OFlags::DIRECTORY),
        (flags::O_APPEND, OFlags::APPEND),
        (flags::O_NOFOLLOW, OFlags::NOFOLLOW),
    ] {
        if redox & r != 0 {
            o |= l;
        }
    }
    o | OFlags::CLOEXEC
}

/// The `file:` namespace: a directory everything is confined to.
#[derive(Debug)]
pub struct FileRoot {
    dir: OwnedFd,
}

impl FileRoot {
    /// Opens the root directory.
    pub fn open(path: &std::path::Path) -> std::io::Result<FileRoot> {
        let dir =
            rustix::fs::open(path, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())?;
        Ok(FileRoot { dir })
    }

    /// `path` relative to a directory: `.` for the directory itself.
    fn relative(path: &str) -> &str {
        let rel = path.trim_start_matches('/');
        if rel.is_empty() {
            "."
        } else {
            rel
        }
    }

    /// Opens `path` beneath `dir`: nothing resolves outside it.
    fn beneath(dir: &OwnedFd, path: &str, flags: OFlags) -> Result<OwnedFd, Errno> {
        let resolve = ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS;
        // openat2 refuses a mode unless it creates.
        let mode =
            if flags.contains(OFlags::CREATE) { Mode::from_bits_truncate(0o644) } else { Mode::empty() };
        rustix::fs::openat2(dir, Self::relative(path), flags, mode, resolve).map_err(|e| {
            if e == rustix::io::Errno::XDEV {
                Errno::AccessDenied
            } else {
                errno(e)
            }
        })
    }

    /// The directory of the grant that allowed `path`, beneath the root.
    fn grant_dir(&self, path: &GrantedPath) -> Result<OwnedFd, Errno> {
        Self::beneath(&self.dir, path.beneath(), OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC)
    }

    /// Owner, group and mode of the directory `dir` (a granted prefix),
    /// found as guests reach it: beneath the root.
    pub fn dir_owner_and_mode(&self, dir: &str) -> Result<(u32, u32, u32), Errno> {
        let fd = Self::beneath(&self.dir, dir, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC)?;
        let st = rustix::fs::fstat(&fd).map_err(errno)?;
        Ok((st.st_uid, st.st_gid, st.st_mode))
    }

    /// Opens a file or directory. Only those: a FIFO or a device in the
    /// sandbox is refused (`Errno::AccessDenied`) — opened without blocking first, so
    /// a FIFO with no other end cannot hold an I/O thread.
    pub fn open_file(&self, path: &GrantedPath, redox_flags: u32) -> Result<Arc<dyn HostFile>, Errno> {
        let fd = Self::beneath(
            &self.grant_dir(path)?,
            &Self::as_given(path),
            oflags(redox_flags) | OFlags::NONBLOCK,
        )?;
        let file = File::from(fd);
        host_files::regular_or_dir(&file)?;
        let flags = rustix::fs::fcntl_getfl(&file).map_err(errno)?;
        rustix::fs::fcntl_setfl(&file, flags - OFlags::NONBLOCK).map_err(errno)?;
        Ok(Arc::new(OsFile::new(file, FdListing)))
    }

    /// The parent directory's descriptor (beneath the grant) and the leaf
    /// name; the granted directory itself has none (`Errno::PermissionDenied`).
    fn parent(&self, path: &GrantedPath) -> Result<(OwnedFd, String), Errno> {
        let below = path.below();
        if below.is_empty() {
            return Err(Errno::PermissionDenied);
        }
        let (dir, leaf) = below.rsplit_once('/').unwrap_or((".", below));
        let parent =
            Self::beneath(&self.grant_dir(path)?, dir, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC)?;
        let leaf = if path.dir_only() { format!("{leaf}/") } else { leaf.to_string() };
        Ok((parent, leaf))
    }

    /// The path below the grant as the OS must see it: with its trailing
    /// `/` when it must name a directory.
    fn as_given(path: &GrantedPath) -> String {
        match path.below() {
            below if path.dir_only() && !below.is_empty() => format!("{below}/"),
            below => below.to_string(),
        }
    }

    /// Removes a file or empty directory.
    pub fn unlink(&self, path: &GrantedPath, dir: bool) -> Result<(), Errno> {
        let (parent, leaf) = self.parent(path)?;
        let flags = if dir { AtFlags::REMOVEDIR } else { AtFlags::empty() };
        rustix::fs::unlinkat(&parent, leaf.as_str(), flags).map_err(errno)
    }

    /// Creates a directory.
    pub fn mkdir(&self, path: &GrantedPath) -> Result<(), Errno> {
        let (parent, leaf) = self.parent(path)?;
        rustix::fs::mkdirat(&parent, leaf.as_str(), Mode::from_bits_truncate(0o755)).map_err(errno)
    }

    /// The status of `path`; without `follow`, of a link there itself.
    pub fn status(&self, path: &GrantedPath, follow: bool) -> Result<FileStatus, Errno> {
        let mut flags = OFlags::PATH | OFlags::CLOEXEC;
        if !follow {
            flags |= OFlags::NOFOLLOW;
        }
        let fd = Self::beneath(&self.grant_dir(path)?, &Self::as_given(path), flags)?;
        let file = File::from(fd);
        file.metadata().map(|m| crate::host_files::status_of(&m)).map_err(crate::host_files::errno)
    }

    /// Renames `from` to `to`.
    pub fn rename(&self, from: &GrantedPath, to: &GrantedPath) -> Result<(), Errno> {
        let ((old_dir, old), (new_dir, new)) = (self.parent(from)?, self.parent(to)?);
        rustix::fs::renameat(&old_dir, old.as_str(), &new_dir, new.as_str()).map_err(errno)
    }

    /// Makes `to` a hard link to `from` (a link at `from` itself, not
    /// followed).
    pub fn link(&self, from: &GrantedPath, to: &GrantedPath) -> Result<(), Errno> {
        let ((old_dir, old), (new_dir, new)) = (self.parent(from)?, self.parent(to)?);
        rustix::fs::linkat(&old_dir, old.as_str(), &new_dir, new.as_str(), AtFlags::empty()).map_err(errno)
    }

    /// Makes `at` a symbolic link to `target`.
    pub fn symlink(&self, target: &str, at: &GrantedPath) -> Result<(), Errno> {
        let (dir, leaf) = self.parent(at)?;
        rustix::fs::symlinkat(target, &dir, leaf.as_str()).map_err(errno)
    }

    /// The text of the link `path`.
    pub fn readlink(&self, path: &GrantedPath) -> Result<String, Errno> {
        let (dir, leaf) = self.parent(path)?;
        let text = rustix::fs::readlinkat(&dir, leaf.as_str(), Vec::new()).map_err(errno)?;
        text.into_string().map_err(|_| Errno::InvalidArgument)
    }

    /// Sets the times of `path` (of a link there itself without `follow`).
    pub fn set_times(
        &self,
        path: &GrantedPath,
        follow: bool,
        atime: Option<NewTime>,
        mtime: Option<NewTime>,
    ) -> Result<(), Errno> {
        let spec = |t: Option<NewTime>| match t {
            None => Timespec { tv_sec: 0, tv_nsec: rustix::fs::UTIME_OMIT },
            Some(NewTime::Now) => Timespec { tv_sec: 0, tv_nsec: rustix::fs::UTIME_NOW },
            Some(NewTime::At(ns)) => {
                Timespec { tv_sec: (ns / 1_000_000_000) as i64, tv_nsec: (ns % 1_000_000_000) as i64 }
            }
        };
        let times = Timestamps { last_access: spec(atime), last_modification: spec(mtime) };
        let flags = if follow { AtFlags::empty() } else { AtFlags::SYMLINK_NOFOLLOW };
        if path.below().is_empty() {
            let dir = self.grant_dir(path)?;
            return rustix::fs::utimensat(&dir, ".", &times, flags).map_err(errno);
        }
        let (dir, leaf) = self.parent(path)?;
        rustix::fs::utimensat(&dir, leaf.as_str(), &times, flags).map_err(errno)
    }
}

/// Starts a TCP connection without waiting for the handshake.
pub fn start_tcp(to: std::net::SocketAddr) -> std::io::Result<std::net::TcpStream> {
    use rustix::net::{AddressFamily, SocketFlags, SocketType};
    let family = if to.is_ipv4() { AddressFamily::INET } else { AddressFamily::INET6 };
    let fd = rustix::net::socket_with(
        family,
        SocketType::STREAM,
        SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
        None,
    )?;
    match rustix::net::connect(&fd, &to) {
        Ok(()) | Err(rustix::io::Errno::INPROGRESS) => Ok(std::net::TcpStream::from(fd)),
        Err(e) => Err(e.into()),
    }
}

/// Lists a directory through its descriptor (files opened beneath the
/// file root have no path to list them by).
#[derive(Debug)]
pub struct FdListing;

impl FileOps for FdListing {
    fn entries(&self, dir: &File) -> Result<Vec<Listed>, Errno> {
        let mut listing = rustix::fs::Dir::read_from(dir).map_err(errno)?;
        let mut out = Vec::new();
        while let Some(entry) = listing.read() {
            let entry = entry.map_err(errno)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name == "." || name == ".." {
                continue;
            }
            let k = match entry.file_type() {
                rustix::fs::FileType::Directory => kind::DIRECTORY,
                rustix::fs::FileType::RegularFile => kind::REGULAR,
                rustix::fs::FileType::Symlink => kind::SYMLINK,
                _ => kind::UNSPECIFIED,
            };
            out.push(Listed { name, kind: k, ino: entry.ino() });
        }
        Ok(out)
    }
}

/// The readiness queue on Linux: epoll, one-shot registrations keyed by
/// descriptor.
#[derive(Debug)]
pub struct Epoll {
    epoll: OwnedFd,
}

impl ReadinessQueue for Epoll {
    fn create() -> std::io::Result<Self> {
        Ok(Epoll { epoll: epoll::create(epoll::CreateFlags::CLOEXEC)? })
    }

    fn arm(&self, fd: usize, writable: bool) -> std::io::Result<()> {
        // SAFETY: `fd` is the descriptor of a guest socket that the caller
        // holds for the length of this call; epoll keeps no reference to
        // the borrowed descriptor beyond it.
        let borrowed = unsafe { BorrowedFd::borrow_raw(fd as i32) };
        let interest = if writable { EventFlags::OUT } else { EventFlags::IN } | EventFlags::ONESHOT;
        let data = EventData::new_u64(fd as u64);
        epoll::modify(self.epoll.as_fd(), borrowed, data, interest)
            .or_else(|_| epoll::add(self.epoll.as_fd(), borrowed, data, interest))?;
        Ok(())
    }

    fn wait(&self, ready: &mut Vec<usize>) -> std::io::Result<()> {
        let mut events = [const { MaybeUninit::<epoll::Event>::uninit() }; 64];
        let (events, _) = epoll::wait(&self.epoll, &mut events, None)?;
        ready.extend(events.iter().map(|event| event.data.u64() as usize));
        Ok(())
    }
}
