//! [`wasmhost::Platform`] on Redox.
//!
//! Random bytes come from `/scheme/rand` (crates using `getrandom` 0.3
//! read `/dev/urandom`, which does not exist early in boot). The file is
//! opened once at start-up, on the main thread: the serving thread never
//! opens paths. Regions are `/scheme/shm/` objects, created by worker
//! threads, so native programs can map the same pages.

use wasmd_abi::Errno;

use std::fs::File;
use std::io::Read;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};

use libredox::call::{self, MmapArgs};
use libredox::flag;
use std::sync::Arc;

use wasmhost::namespace::GrantedPath;
use wasmhost::region::SharedMemory;
use wasmhost::{FileStatus, HostFile, HostSocket, NewTime};

use crate::host_files::errno;
use crate::poller::Poller;

/// [`wasmhost::Platform`] on Redox.
#[derive(Debug)]
pub struct OsPlatform {
    rand: File,
    poller: Poller<super::poller::EventQueue>,
}

impl OsPlatform {
    /// Opens the OS resources the platform uses.
    pub fn new() -> std::io::Result<Self> {
        Ok(Self { rand: File::open("/scheme/rand")?, poller: Poller::default() })
    }

    /// As [`OsPlatform::new`]: on Redox `file:` is the real root
    /// filesystem, confined by namespace grants, so the root is ignored.
    pub fn with_file_root(_root: Option<&std::path::Path>) -> std::io::Result<Self> {
        Self::new()
    }
}

/// The Redox path of a guest path: `file:` paths as they are, other
/// schemes under `/scheme/`.
fn os_path(scheme: &str, path: &str) -> String {
    if scheme == "file" {
        path.to_string()
    } else {
        format!("/scheme/{scheme}{path}")
    }
}

/// The Redox path of a granted path, once no component below the granted
/// directory is a symbolic link (`Errno::AccessDenied` otherwise): Redox has no
/// `openat2(RESOLVE_BENEATH)`, so links are refused rather than followed
/// (the path is already free of `..`). The check and the operation are two
/// steps: a link swapped in between them by another program is not
/// caught; guests themselves cannot make links.
fn beneath_grant(path: &GrantedPath) -> Result<String, Errno> {
    let mut at = std::path::PathBuf::from(os_path(path.scheme(), path.beneath()));
    for part in path.below().split('/').filter(|p| !p.is_empty()) {
        at.push(part);
        if std::fs::symlink_metadata(&at).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(Errno::AccessDenied);
        }
    }
    let os = os_path(path.scheme(), path.rest());
    if !path.dir_only() {
        return Ok(os);
    }
    // A trailing `/` names a directory: Redox would take it off.
    if std::fs::symlink_metadata(&os).is_ok_and(|m| !m.is_dir()) {
        return Err(Errno::NotADirectory);
    }
    Ok(format!("{os}/"))
}

impl wasmhost::Platform for OsPlatform {
    fn random(&self, buf: &mut [u8]) -> Result<(), Errno> {
        (&self.rand).read_exact(buf).map_err(|_| Errno::Io)
    }

    fn create_shared_memory(&self, size: usize) -> Result<Box<dyn SharedMemory>, Errno> {
        Ok(Box::new(ShmObject::create(size)?))
    }

    fn virtual_memory(&self) -> Option<Arc<dyn wasmhost::VirtualMemory>> {
        Some(Arc::new(super::virtual_memory::OsVirtualMemory))
    }

    fn fs_open(&self, path: &GrantedPath, flags: u32) -> Result<Arc<dyn HostFile>, Errno> {
        super::files::open(&beneath_grant(path)?, flags)
    }

    fn fs_unlink(&self, path: &GrantedPath, dir: bool) -> Result<(), Errno> {
        if path.below().is_empty() {
            return Err(Errno::PermissionDenied);
        }
        let path = beneath_grant(path)?;
        let result = if dir { std::fs::remove_dir(&path) } else { std::fs::remove_file(&path) };
        result.map_err(errno)
    }

    fn fs_mkdir(&self, path: &GrantedPath) -> Result<(), Errno> {
        std::fs::create_dir(beneath_grant(path)?).map_err(errno)
    }

    // Symbolic links below a grant are refused on Redox (see
    // `beneath_grant`), so `follow` changes nothing here and guests make
    // no links (`fs_symlink`, `fs_readlink`: not supported).

    fn fs_status(&self, path: &GrantedPath, _follow: bool) -> Result<FileStatus, Errno> {
        let m = std::fs::symlink_metadata(beneath_grant(path)?).map_err(errno)?;
        Ok(crate::host_files::status_of(&m))
    }

    fn fs_rename(&self, from: &GrantedPath, to: &GrantedPath) -> Result<(), Errno> {
        if from.below().is_empty() || to.below().is_empty() {
            return Err(Errno::PermissionDenied);
        }
        let (from, to) = (beneath_grant(from)?, beneath_grant(to)?);
        // POSIX's answers where Redox says EACCES: a file does not replace
        // a directory, nor a directory a file.
        let is_dir = |p: &str| std::fs::symlink_metadata(p).map(|m| m.is_dir());
        match (is_dir(&from), is_dir(&to)) {
            (Ok(false), Ok(true)) => return Err(Errno::IsADirectory),
            (Ok(true), Ok(false)) => return Err(Errno::NotADirectory),
            _ => {}
        }
        std::fs::rename(from, to).map_err(errno)
    }

    fn fs_link(&self, from: &GrantedPath, to: &GrantedPath) -> Result<(), Errno> {
        let new_is_dir = to.dir_only();
        let (from, to) = (beneath_grant(from)?, beneath_grant(to)?);
        // POSIX: a link never replaces what is there (Redox says EACCES),
        // and a directory has no hard links (Redox would make one).
        if std::fs::symlink_metadata(&to).is_ok() {
            return Err(Errno::Exists);
        }
        if std::fs::symlink_metadata(&from).is_ok_and(|m| m.is_dir()) {
            return Err(Errno::PermissionDenied);
        }
        // A new name given with a trailing `/` would have to be a
        // directory, which a link never is (Linux: ENOENT).
        if new_is_dir {
            return Err(Errno::NotFound);
        }
        std::fs::hard_link(from, to).map_err(errno)
    }

    fn fs_set_times(
        &self,
        path: &GrantedPath,
        _follow: bool,
        atime: Option<NewTime>,
        mtime: Option<NewTime>,
    ) -> Result<(), Errno> {
        let file = std::fs::File::open(beneath_grant(path)?).map_err(errno)?;
        super::files::set_times(&file, atime, mtime)
    }

    fn user_may_use_dir(&self, dir: &str, user: wasmhost::Owner, write: bool) -> bool {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(dir).is_ok_and(|m| {
            m.is_dir() && crate::control::policy::may_access(user, m.uid(), m.gid(), m.mode(), write, true)
        })
    }

    fn net_connect(&self, proto: &str, addr: &str) -> Result<Arc<dyn HostSocket>, Errno> {
        // relibc connects by `dup`ing the socket to `ADDR:PORT`, and the
        // netstack answers as soon as the SYN is queued: this does not
        // wait for the handshake (smoke check `tcp-hang`).
        crate::sockets::connect(proto, addr, std::net::TcpStream::connect::<std::net::SocketAddr>)
    }

    fn net_listen(&self, proto: &str, addr: &str) -> Result<Arc<dyn HostSocket>, Errno> {
        crate::sockets::listen(proto, addr)
    }

    fn net_wait(&self, socket: &Arc<dyn HostSocket>, writable: bool, ready: Box<dyn FnOnce() + Send>) {
        self.poller.wait(socket, writable, ready);
    }
}

/// A `/scheme/shm` object mapped read-write and shared.
#[derive(Debug)]
pub struct ShmObject {
    fd: usize,
    ptr: NonNull<u8>,
    len: usize,
    path: String,
}

// SAFETY: the mapping is plain shared memory owned by this value.
unsafe impl Send for ShmObject {}
// SAFETY: as above; concurrent access is synchronised by its users.
unsafe impl Sync for ShmObject {}

impl ShmObject {
    /// Creates (`O_CREAT`), sizes (`ftruncate`) and maps (`MAP_SHARED`)
    /// a uniquely named shm object. Opens a path: worker threads only.
    pub fn create(len: usize) -> Result<Self, Errno> {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let path =
            format!("/scheme/shm/wasmd-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let errno = |e: libredox::error::Error| Errno::from_errno(e.errno());
        let fd = call::open(&path, flag::O_CREAT | flag::O_RDWR | flag::O_CLOEXEC, 0o600).map_err(errno)?;
        if let Err(e) = call::ftruncate(fd, len) {
            let _ = call::close(fd);
            return Err(errno(e));
        }
        let args = MmapArgs {
            addr: std::ptr::null_mut(),
            length: len,
            prot: flag::PROT_READ | flag::PROT_WRITE,
            flags: flag::MAP_SHARED,
            fd,
            offset: 0,
        };
        // SAFETY: a fresh shared mapping of the whole object.
        let ptr = match unsafe { call::mmap(args) } {
            Ok(p) => p,
            Err(e) => {
                let _ = call::close(fd);
                return Err(errno(e));
            }
        };
        let ptr = NonNull::new(ptr.cast::<u8>()).ok_or(Errno::OutOfMemory)?;
        Ok(Self { fd, ptr, len, path })
    }
}

impl Drop for ShmObject {
    fn drop(&mut self) {
        // SAFETY: mapped in `create`; unused once the last holder is gone.
        let _ = unsafe { call::munmap(self.ptr.as_ptr().cast(), self.len) };
        let _ = call::close(self.fd);
    }
}

impl SharedMemory for ShmObject {
    fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    fn len(&self) -> usize {
        self.len
    }

    fn os_name(&self) -> String {
        self.path.clone()
    }

    unsafe fn map_at(&self, at: NonNull<u8>, offset: usize, len: usize) -> Result<(), Errno> {
        let args = MmapArgs {
            addr: at.as_ptr().cast(),
            length: len,
            prot: flag::PROT_READ | flag::PROT_WRITE,
            flags: flag::MAP_SHARED | super::virtual_memory::MAP_FIXED,
            fd: self.fd,
            offset: offset as u64,
        };
        // SAFETY: the caller's range is whole pages of a reservation that
        // nothing uses during the call; `MAP_FIXED` replaces exactly them
        // with a shared mapping of this object (a region window).
        unsafe { call::mmap(args) }.map(drop).map_err(|e| Errno::from_errno(e.errno()))
    }
}
