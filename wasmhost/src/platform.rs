//! What the process manager needs from the operating system.
//!
//! `wasmhost` makes no OS calls of its own: the embedder (the `wasmd`
//! crate, with `sys/linux/` or `sys/redox/`) hands it a [`Platform`]
//! for the few things that differ between systems (random bytes, shared
//! memory for regions), a [`ModuleLoader`]
//! that reads module files (always called on a worker thread, never on the
//! scheduler thread, as Redox requires), and an [`OutputSink`] that sees
//! guest output as it is written.

use std::path::{Path, PathBuf};

use wasmd_abi::{Errno, ExitStatus};

use std::sync::Arc;

use wasmd_abi::scheme::Stat;

use crate::namespace::GrantedPath;
use crate::region::SharedMemory;
use crate::Pid;

/// OS services the process manager uses.
pub trait Platform: Send + Sync + 'static {
    /// Fills `buf` with OS random bytes; on failure returns an errno.
    fn random(&self, buf: &mut [u8]) -> Result<(), Errno>;

    /// Creates `size` bytes (a whole number of pages) of OS shared memory,
    /// mapped read-write and shared, zero-filled. Called on a worker
    /// thread (on Redox this opens a path).
    fn create_shared_memory(&self, size: usize) -> Result<Box<dyn SharedMemory>, Errno>;

    /// Opens `path` in the OS scheme of its grant with Redox `O_*` flags,
    /// resolving it beneath the granted directory (no symbolic link or
    /// `..` may leave it): on Linux only `file`, mapped into the daemon's
    /// file root; on Redox the real `/scheme/SCHEME/PATH`. Worker thread.
    fn fs_open(&self, path: &GrantedPath, flags: u32) -> Result<Arc<dyn HostFile>, Errno> {
        let _ = (path, flags);
        Err(Errno::NotFound)
    }

    /// Removes a file (or, with `dir`, an empty directory), beneath the
    /// granted directory. Worker thread.
    fn fs_unlink(&self, path: &GrantedPath, dir: bool) -> Result<(), Errno> {
        let _ = (path, dir);
        Err(Errno::NotFound)
    }

    /// Creates a directory, beneath the granted directory. Worker thread.
    fn fs_mkdir(&self, path: &GrantedPath) -> Result<(), Errno> {
        let _ = path;
        Err(Errno::NotFound)
    }

    /// The status of `path` (with `follow`, of what a symbolic link there
    /// leads to), beneath the granted directory. Worker thread.
    fn fs_status(&self, path: &GrantedPath, follow: bool) -> Result<FileStatus, Errno> {
        let _ = (path, follow);
        Err(Errno::NotSupported)
    }

    /// Renames `from` to `to` (both granted, same scheme). Worker thread.
    fn fs_rename(&self, from: &GrantedPath, to: &GrantedPath) -> Result<(), Errno> {
        let _ = (from, to);
        Err(Errno::NotSupported)
    }

    /// Makes `to` a hard link to `from`. Worker thread.
    fn fs_link(&self, from: &GrantedPath, to: &GrantedPath) -> Result<(), Errno> {
        let _ = (from, to);
        Err(Errno::NotSupported)
    }

    /// Makes `at` a symbolic link whose text is `target` (stored as it
    /// is; following it later stays beneath the grant). Worker thread.
    fn fs_symlink(&self, target: &str, at: &GrantedPath) -> Result<(), Errno> {
        let _ = (target, at);
        Err(Errno::NotSupported)
    }

    /// The text of the symbolic link `path`. Worker thread.
    fn fs_readlink(&self, path: &GrantedPath) -> Result<String, Errno> {
        let _ = path;
        Err(Errno::NotSupported)
    }

    /// Sets the access and modification times of `path` (`None` leaves
    /// one as it is; with `follow`, of what a link there leads to).
    /// Worker thread.
    fn fs_set_times(
        &self,
        path: &GrantedPath,
        follow: bool,
        atime: Option<NewTime>,
        mtime: Option<NewTime>,
    ) -> Result<(), Errno> {
        let _ = (path, follow, atime, mtime);
        Err(Errno::NotSupported)
    }

    /// True when guests' `file:` paths lead somewhere (on Linux only with
    /// a file root); a `file:` grant is pointless otherwise.
    fn serves_files(&self) -> bool {
        true
    }

    /// True when `user` may use the directory `dir` of the `file:`
    /// namespace (read and search it; also write to it with `write`), as
    /// guests will reach it. Decides whether an unprivileged user may give
    /// a guest a `file:` grant. Worker thread. By default nobody may.
    fn user_may_use_dir(&self, dir: &str, user: crate::owner::Owner, write: bool) -> bool {
        let _ = (dir, user, write);
        false
    }

    /// Connects a socket (`tcp` or `udp`) to `addr` (`HOST:PORT`); the
    /// socket is non-blocking afterwards. Worker thread.
    fn net_connect(&self, proto: &str, addr: &str) -> Result<Arc<dyn HostSocket>, Errno> {
        let _ = (proto, addr);
        Err(Errno::NotSupported)
    }

    /// Binds a listening TCP socket or a bound UDP socket at `addr`;
    /// non-blocking. Worker thread.
    fn net_listen(&self, proto: &str, addr: &str) -> Result<Arc<dyn HostSocket>, Errno> {
        let _ = (proto, addr);
        Err(Errno::NotSupported)
    }

    /// Calls `ready` (from any thread) once `socket` is readable (or,
    /// with `writable`, writable), or has failed. One-shot.
    fn net_wait(&self, socket: &Arc<dyn HostSocket>, writable: bool, ready: Box<dyn FnOnce() + Send>) {
        let _ = (socket, writable);
        ready();
    }

    /// Called on each scheduler thread as it starts (see
    /// [`crate::Kernel`]): where the OS allows, it lowers the thread's
    /// priority below the control plane's, so requests to the daemon are
    /// answered at once while guests keep every core busy.
    fn scheduler_thread_started(&self) {}

    /// The OS's virtual memory, where guests' linear memories live (see
    /// [`crate::arena`]); `None` where the platform cannot reserve
    /// address space, and guests' memories are then ordinary heap
    /// allocations (without region windows).
    fn virtual_memory(&self) -> Option<Arc<dyn VirtualMemory>> {
        None
    }
}

/// Reservations of address space for guests' linear memories.
///
/// # Safety
///
/// It hands out raw memory: [`Self::reserve`] must return a mapping of
/// `len` bytes that is readable and writable, reads as zeros, is used by
/// nothing else and stays mapped until [`Self::unreserve`]; the other
/// methods must act only on the range they are given, leaving it mapped,
/// readable, writable and reading as zeros.
pub unsafe trait VirtualMemory: Send + Sync + std::fmt::Debug + 'static {
    /// The OS page size.
    fn page_size(&self) -> usize;

    /// The largest single reservation worth asking for (bytes).
    fn max_reservation(&self) -> usize;

    /// The most address space to reserve for guests in all (bytes): the
    /// rest is the heap's. Guests beyond it get heap memory.
    fn max_total(&self) -> usize;

    /// Reserves `len` bytes (a whole number of pages), committed only as
    /// pages are first touched; `None` when the OS refuses.
    fn reserve(&self, len: usize) -> Option<std::ptr::NonNull<u8>>;

    /// Gives the pages of `at..at + len` back to the OS: they stay mapped
    /// and read as zeros again. On an error they stay as they were
    /// (resident, with their bytes).
    ///
    /// # Safety
    ///
    /// The range is whole pages of one reservation, and nothing reads or
    /// writes it during the call.
    unsafe fn discard(&self, at: std::ptr::NonNull<u8>, len: usize) -> Result<(), Errno>;

    /// How many separate ranges of one guest's memory may be given back
    /// ([`Self::discard`]) while the guest lives: where giving pages back
    /// splits the OS's mapping of the reservation (on Redox it maps the
    /// range anew), each range can cost the OS a mapping until the memory
    /// is freed whole. The longest ranges go first. Unlimited by default
    /// (Linux's `madvise` splits nothing).
    fn max_discards(&self) -> usize {
        usize::MAX
    }

    /// Replaces `at..at + len` (where a region window was mapped) with
    /// fresh private zero pages.
    ///
    /// # Safety
    ///
    /// As for [`Self::discard`].
    unsafe fn restore_private(&self, at: std::ptr::NonNull<u8>, len: usize) -> Result<(), Errno>;

    /// Unmaps a whole reservation.
    ///
    /// # Safety
    ///
    /// `at` and `len` are those of one reservation, and nothing uses any
    /// of it any more.
    unsafe fn unreserve(&self, at: std::ptr::NonNull<u8>, len: usize);
}

/// An OS file opened for a guest. Called on worker threads.
pub trait HostFile: Send + Sync + std::fmt::Debug {
    /// Reads up to `len` bytes at `offset`.
    fn read_at(&self, offset: u64, len: usize) -> Result<Vec<u8>, Errno>;
    /// Writes at `offset`; returns the count.
    fn write_at(&self, offset: u64, data: &[u8]) -> Result<usize, Errno>;
    /// Status.
    fn stat(&self) -> Result<Stat, Errno>;
    /// A directory's entries (without `.` and `..`).
    fn entries(&self) -> Result<Vec<Listed>, Errno>;
    /// Status with device and times to the nanosecond.
    fn status(&self) -> Result<FileStatus, Errno> {
        self.stat().map(FileStatus::from)
    }
    /// Truncates or extends the file to `len` bytes.
    fn set_len(&self, len: u64) -> Result<(), Errno> {
        let _ = len;
        Err(Errno::NotSupported)
    }
    /// Makes sure bytes `offset..offset + len` exist: extends the file
    /// with zeros when it is shorter.
    fn allocate(&self, offset: u64, len: u64) -> Result<(), Errno> {
        let end = offset.checked_add(len).ok_or(Errno::TooBig)?;
        if end > self.stat()?.size {
            self.set_len(end)?;
        }
        Ok(())
    }
    /// Flushes the file to its storage (with `data_only`, its data).
    fn sync(&self, data_only: bool) -> Result<(), Errno> {
        let _ = data_only;
        Err(Errno::NotSupported)
    }
    /// Sets its access and modification times (`None` leaves one).
    fn set_times(&self, atime: Option<NewTime>, mtime: Option<NewTime>) -> Result<(), Errno> {
        let _ = (atime, mtime);
        Err(Errno::NotSupported)
    }
}

/// One entry of a directory listing.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Listed {
    /// Its name.
    pub name: String,
    /// Its kind (`wasmd_abi::scheme::kind`).
    pub kind: u8,
    /// Its inode number (0: unknown).
    pub ino: u64,
}

/// A file's status with what WASI reports beyond [`Stat`]: the device,
/// and access, modification and change times in nanoseconds since the
/// epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStatus {
    /// Mode, size, inode, links, modification time in seconds.
    pub stat: Stat,
    /// The device it lives on.
    pub dev: u64,
    /// Last access.
    pub atime_ns: u64,
    /// Last modification.
    pub mtime_ns: u64,
    /// Last status change.
    pub ctime_ns: u64,
}

impl From<Stat> for FileStatus {
    /// A status known only to the second of its modification (a guest
    /// scheme's `Stat`): every time is that.
    fn from(stat: Stat) -> FileStatus {
        let ns = stat.mtime.saturating_mul(1_000_000_000);
        FileStatus { stat, dev: 0, atime_ns: ns, mtime_ns: ns, ctime_ns: ns }
    }
}

/// A time to set on a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NewTime {
    /// The present time.
    Now,
    /// Nanoseconds since the epoch.
    At(u64),
}

/// An OS socket for a guest; every call is non-blocking (`EAGAIN` when it
/// would block). Called on the scheduler thread.
pub trait HostSocket: Send + Sync + std::fmt::Debug {
    /// Accepts a connection (listening TCP sockets).
    fn accept(&self) -> Result<Arc<dyn HostSocket>, Errno>;
    /// Sends bytes; returns the count.
    fn send(&self, data: &[u8]) -> Result<usize, Errno>;
    /// Receives up to `len` bytes (empty at end of stream).
    fn recv(&self, len: usize) -> Result<Vec<u8>, Errno>;
    /// The local address, `HOST:PORT`.
    fn local_addr(&self) -> String;
    /// The OS descriptor, for readiness polling.
    fn raw_fd(&self) -> i64;
    /// Shuts down reading, writing or both (a stream socket).
    fn shutdown(&self, read: bool, write: bool) -> Result<(), Errno> {
        let _ = (read, write);
        Err(Errno::NotSupported)
    }
}

/// A module file that was read.
#[derive(Debug)]
pub struct LoadedModule {
    /// The file's bytes (binary wasm or WAT text).
    pub bytes: Vec<u8>,
    /// The resolved path, recorded as the process's module path (used to
    /// resolve relative paths of the modules it spawns).
    pub path: PathBuf,
}

/// Why a module file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot load module `{path}`: {reason}")]
pub struct LoadError {
    /// The path as requested.
    pub path: String,
    /// What went wrong.
    pub reason: String,
    /// The error a guest receives.
    pub errno: Errno,
}

/// A file's identity at one moment: while it stays the same, so do the
/// file's bytes (as far as the file system tells: its device, inode,
/// length and modification and change times).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileIdentity {
    /// Device.
    pub device: u64,
    /// Inode.
    pub inode: u64,
    /// Length in bytes.
    pub len: u64,
    /// Last modification, nanoseconds since the epoch.
    pub modified_ns: i128,
    /// Last status change, nanoseconds since the epoch.
    pub changed_ns: i128,
}

/// Reads module files named by guests (`spawn` by path) and the control
/// plane. Called on a worker thread.
pub trait ModuleLoader: Send + Sync + 'static {
    /// Resolves `path` (relative paths against `base_dir`, the directory
    /// of the requesting process's own module) and reads it, or refuses.
    fn load(&self, base_dir: Option<&Path>, path: &str) -> Result<LoadedModule, LoadError>;

    /// Where `path` resolves to and its file's identity, after every
    /// check [`ModuleLoader::load`] makes, without reading it: a module
    /// loaded before from a file with the same identity is taken from the
    /// cache (see `ModuleCache::load`). `Ok(None)`: this loader cannot
    /// tell, every spawn reads the file.
    fn identify(
        &self,
        base_dir: Option<&Path>,
        path: &str,
    ) -> Result<Option<(PathBuf, FileIdentity)>, LoadError> {
        let _ = (base_dir, path);
        Ok(None)
    }
}

/// Receives guest output and exits as they happen (e.g. the CLI streams
/// them to its terminal; the daemon wakes readers of `run/` files).
pub trait OutputSink: Send + Sync + 'static {
    /// `bytes` were written by `pid` to `stream` (1 stdout, 2 stderr).
    fn output(&self, pid: Pid, stream: i32, bytes: &[u8]);
    /// `pid` ended with `status`.
    fn exited(&self, _pid: Pid, _status: &ExitStatus) {}
}

/// An output sink that discards everything (output stays in the logs).
#[derive(Debug, Default)]
pub struct NoOutput;

impl OutputSink for NoOutput {
    fn output(&self, _pid: Pid, _stream: i32, _bytes: &[u8]) {}
}
