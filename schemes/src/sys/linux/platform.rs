//! [`wasmhost::Platform`] on Linux: random bytes from `getrandom`,
//! regions as memfds mapped `MAP_SHARED`, `file:` confined to the file
//! root ([`super::hostio`]), guest sockets through [`crate::sockets`].

use wasmd_abi::Errno;

use std::os::fd::{AsRawFd, OwnedFd};
use std::ptr::NonNull;

use rustix::fs::MemfdFlags;
use rustix::mm::{MapFlags, ProtFlags};
use std::sync::Arc;

use wasmhost::namespace::GrantedPath;
use wasmhost::region::SharedMemory;
use wasmhost::{FileStatus, HostFile, HostSocket, NewTime};

use crate::poller::Poller;

/// [`wasmhost::Platform`] on Linux.
#[derive(Debug, Default)]
pub struct OsPlatform {
    file_root: Option<super::hostio::FileRoot>,
    poller: Poller<super::hostio::Epoll>,
}

impl OsPlatform {
    /// The Linux platform, without a file root (`file:` is refused).
    pub fn new() -> std::io::Result<Self> {
        Ok(Self::default())
    }

    /// The Linux platform with `file:` paths confined to `root`.
    pub fn with_file_root(root: Option<&std::path::Path>) -> std::io::Result<Self> {
        Ok(Self {
            file_root: root.map(super::hostio::FileRoot::open).transpose()?,
            poller: Poller::default(),
        })
    }

    fn root(&self, path: &GrantedPath) -> Result<&super::hostio::FileRoot, Errno> {
        if path.scheme() != "file" {
            return Err(Errno::NotFound);
        }
        self.file_root.as_ref().ok_or(Errno::AccessDenied)
    }
}

impl wasmhost::Platform for OsPlatform {
    fn random(&self, mut buf: &mut [u8]) -> Result<(), Errno> {
        while !buf.is_empty() {
            let n = rustix::rand::getrandom(&mut *buf, rustix::rand::GetRandomFlags::empty())
                .map_err(|_| Errno::Io)?;
            buf = &mut buf[n..];
        }
        Ok(())
    }

    fn create_shared_memory(&self, size: usize) -> Result<Box<dyn SharedMemory>, Errno> {
        Ok(Box::new(Memfd::create(size)?))
    }

    fn fs_open(&self, path: &GrantedPath, flags: u32) -> Result<Arc<dyn HostFile>, Errno> {
        self.root(path)?.open_file(path, flags)
    }

    fn fs_unlink(&self, path: &GrantedPath, dir: bool) -> Result<(), Errno> {
        self.root(path)?.unlink(path, dir)
    }

    fn fs_mkdir(&self, path: &GrantedPath) -> Result<(), Errno> {
        self.root(path)?.mkdir(path)
    }

    fn fs_status(&self, path: &GrantedPath, follow: bool) -> Result<FileStatus, Errno> {
        self.root(path)?.status(path, follow)
    }

    fn fs_rename(&self, from: &GrantedPath, to: &GrantedPath) -> Result<(), Errno> {
        self.root(to)?;
        self.root(from)?.rename(from, to)
    }

    fn fs_link(&self, from: &GrantedPath, to: &GrantedPath) -> Result<(), Errno> {
        self.root(to)?;
        self.root(from)?.link(from, to)
    }

    fn fs_symlink(&self, target: &str, at: &GrantedPath) -> Result<(), Errno> {
        self.root(at)?.symlink(target, at)
    }

    fn fs_readlink(&self, path: &GrantedPath) -> Result<String, Errno> {
        self.root(path)?.readlink(path)
    }

    fn fs_set_times(
        &self,
        path: &GrantedPath,
        follow: bool,
        atime: Option<NewTime>,
        mtime: Option<NewTime>,
    ) -> Result<(), Errno> {
        self.root(path)?.set_times(path, follow, atime, mtime)
    }

    fn serves_files(&self) -> bool {
        self.file_root.is_some()
    }

    fn user_may_use_dir(&self, dir: &str, user: wasmhost::Owner, write: bool) -> bool {
        let Some(root) = self.file_root.as_ref() else { return false };
        root.dir_owner_and_mode(dir).is_ok_and(|(uid, gid, mode)| {
            crate::control::policy::may_access(user, uid, gid, mode, write, true)
        })
    }

    fn net_connect(&self, proto: &str, addr: &str) -> Result<Arc<dyn HostSocket>, Errno> {
        crate::sockets::connect(proto, addr, super::hostio::start_tcp)
    }

    fn net_listen(&self, proto: &str, addr: &str) -> Result<Arc<dyn HostSocket>, Errno> {
        crate::sockets::listen(proto, addr)
    }

    fn net_wait(&self, socket: &Arc<dyn HostSocket>, writable: bool, ready: Box<dyn FnOnce() + Send>) {
        self.poller.wait(socket, writable, ready);
    }

    fn scheduler_thread_started(&self) {
        // Linux nice values are per thread: guests' threads at +5 yield
        // the CPU to the daemon's serving thread when both want it.
        if let Err(e) = rustix::process::setpriority_process(Some(rustix::thread::gettid()), 5) {
            log::debug!("cannot lower a scheduler thread's priority: {e}");
        }
    }

    fn virtual_memory(&self) -> Option<Arc<dyn wasmhost::VirtualMemory>> {
        Some(Arc::new(super::virtual_memory::OsVirtualMemory))
    }
}

/// A memfd mapped read-write and shared.
#[derive(Debug)]
pub struct Memfd {
    fd: OwnedFd,
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is plain shared memory owned by this value; it may be
// used and unmapped from any thread.
unsafe impl Send for Memfd {}
// SAFETY: as above; concurrent access is synchronised by its users.
unsafe impl Sync for Memfd {}

impl Memfd {
    /// Creates, sizes and maps a memfd of `len` bytes.
    pub fn create(len: usize) -> Result<Self, Errno> {
        let errno = |e: rustix::io::Errno| Errno::from_errno(e.raw_os_error());
        let fd = rustix::fs::memfd_create("wasmd-region", MemfdFlags::CLOEXEC).map_err(errno)?;
        rustix::fs::ftruncate(&fd, len as u64).map_err(errno)?;
        // SAFETY: a fresh shared mapping of the whole file; nothing else
        // refers to that address range.
        let ptr = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                len,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::SHARED,
                &fd,
                0,
            )
        }
        .map_err(errno)?;
        let ptr = NonNull::new(ptr.cast::<u8>()).ok_or(Errno::OutOfMemory)?;
        Ok(Self { fd, ptr, len })
    }
}

impl Drop for Memfd {
    fn drop(&mut self) {
        // SAFETY: the range was mapped in `create` and nothing uses it once
        // the last region holder is gone.
        let _ = unsafe { rustix::mm::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

impl SharedMemory for Memfd {
    fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    fn len(&self) -> usize {
        self.len
    }

    fn os_name(&self) -> String {
        format!("/proc/{}/fd/{}", std::process::id(), self.fd.as_raw_fd())
    }

    unsafe fn map_at(&self, at: NonNull<u8>, offset: usize, len: usize) -> Result<(), Errno> {
        // SAFETY: the caller's range is whole pages of a reservation that
        // nothing uses during the call; `MAP_FIXED` replaces exactly them
        // with a shared mapping of this memfd (a region window).
        unsafe {
            rustix::mm::mmap(
                at.as_ptr().cast(),
                len,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::SHARED | MapFlags::FIXED,
                &self.fd,
                offset as u64,
            )
        }
        .map(drop)
        .map_err(|e| Errno::from_errno(e.raw_os_error()))
    }
}
