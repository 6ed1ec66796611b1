//! WASI preview 1 numbers and layouts (`wasi_snapshot_preview1`, the
//! witx of WebAssembly/WASI `legacy/preview1`): errno values, file types,
//! rights, flags, clock ids, event kinds, and the byte layouts of the
//! structures the layer writes (`fdstat`, `filestat`, `prestat`,
//! `dirent`, `event`). All integers are little-endian.

use wasmd_abi::{errno, Errno};

/// A WASI errno (`u16`), what every preview 1 function returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WasiErrno(pub u16);

impl WasiErrno {
    pub const SUCCESS: WasiErrno = WasiErrno(0);
    pub const TOOBIG: WasiErrno = WasiErrno(1);
    pub const ACCES: WasiErrno = WasiErrno(2);
    pub const AGAIN: WasiErrno = WasiErrno(6);
    pub const BADF: WasiErrno = WasiErrno(8);
    pub const BUSY: WasiErrno = WasiErrno(10);
    pub const CANCELED: WasiErrno = WasiErrno(11);
    pub const CHILD: WasiErrno = WasiErrno(12);
    pub const EXIST: WasiErrno = WasiErrno(20);
    pub const FAULT: WasiErrno = WasiErrno(21);
    pub const INVAL: WasiErrno = WasiErrno(28);
    pub const IO: WasiErrno = WasiErrno(29);
    pub const ISDIR: WasiErrno = WasiErrno(31);
    pub const LOOP: WasiErrno = WasiErrno(32);
    pub const MFILE: WasiErrno = WasiErrno(33);
    pub const MSGSIZE: WasiErrno = WasiErrno(35);
    pub const NAMETOOLONG: WasiErrno = WasiErrno(37);
    pub const NODEV: WasiErrno = WasiErrno(43);
    pub const NOENT: WasiErrno = WasiErrno(44);
    pub const NOEXEC: WasiErrno = WasiErrno(45);
    pub const NOMEM: WasiErrno = WasiErrno(48);
    pub const NOSPC: WasiErrno = WasiErrno(51);
    pub const NOSYS: WasiErrno = WasiErrno(52);
    pub const NOTDIR: WasiErrno = WasiErrno(54);
    pub const NOTEMPTY: WasiErrno = WasiErrno(55);
    pub const NOTSOCK: WasiErrno = WasiErrno(57);
    pub const NOTSUP: WasiErrno = WasiErrno(58);
    pub const NOTTY: WasiErrno = WasiErrno(59);
    pub const OVERFLOW: WasiErrno = WasiErrno(61);
    pub const PERM: WasiErrno = WasiErrno(63);
    pub const PIPE: WasiErrno = WasiErrno(64);
    pub const RANGE: WasiErrno = WasiErrno(68);
    pub const ROFS: WasiErrno = WasiErrno(69);
    pub const SPIPE: WasiErrno = WasiErrno(70);
    pub const SRCH: WasiErrno = WasiErrno(71);
    pub const TIMEDOUT: WasiErrno = WasiErrno(73);
    pub const XDEV: WasiErrno = WasiErrno(75);
    pub const NOTCAPABLE: WasiErrno = WasiErrno(76);

    /// The WASI errno of a positive Redox (Linux-numbered) errno value.
    pub fn of_errno_value(value: i32) -> WasiErrno {
        match value {
            errno::EPERM => WasiErrno::PERM,
            errno::ENOENT => WasiErrno::NOENT,
            errno::ESRCH => WasiErrno::SRCH,
            errno::EINTR => WasiErrno(27),
            errno::EIO => WasiErrno::IO,
            errno::E2BIG => WasiErrno::TOOBIG,
            errno::ENOEXEC => WasiErrno::NOEXEC,
            errno::EBADF => WasiErrno::BADF,
            errno::ECHILD => WasiErrno::CHILD,
            errno::EAGAIN => WasiErrno::AGAIN,
            errno::ENOMEM => WasiErrno::NOMEM,
            errno::EACCES => WasiErrno::ACCES,
            errno::EFAULT => WasiErrno::FAULT,
            errno::EBUSY => WasiErrno::BUSY,
            errno::EEXIST => WasiErrno::EXIST,
            18 => WasiErrno::XDEV,
            errno::ENODEV => WasiErrno::NODEV,
            errno::ENOTDIR => WasiErrno::NOTDIR,
            errno::EISDIR => WasiErrno::ISDIR,
            errno::EINVAL => WasiErrno::INVAL,
            errno::EMFILE => WasiErrno::MFILE,
            25 => WasiErrno::NOTTY,
            27 => WasiErrno(22),
            errno::ENOSPC => WasiErrno::NOSPC,
            errno::ESPIPE => WasiErrno::SPIPE,
            30 => WasiErrno::ROFS,
            31 => WasiErrno(34),
            errno::EPIPE => WasiErrno::PIPE,
            errno::ERANGE => WasiErrno::RANGE,
            errno::ENAMETOOLONG => WasiErrno::NAMETOOLONG,
            errno::ENOSYS => WasiErrno::NOSYS,
            39 => WasiErrno::NOTEMPTY,
            40 => WasiErrno::LOOP,
            75 => WasiErrno::OVERFLOW,
            88 => WasiErrno::NOTSOCK,
            90 => WasiErrno::MSGSIZE,
            95 => WasiErrno::NOTSUP,
            errno::ETIMEDOUT => WasiErrno::TIMEDOUT,
            125 => WasiErrno::CANCELED,
            _ => WasiErrno::IO,
        }
    }
}

impl From<Errno> for WasiErrno {
    fn from(e: Errno) -> WasiErrno {
        match e {
            // A namespace grant that does not reach, or the platform
            // refusing a path a symbolic link would lead out of it:
            // WASI's "not capable". Capability checks of this layer give
            // `ENOTCAPABLE` directly; `EPERM` is the OS's (a hard link to
            // a directory).
            Errno::AccessDenied => WasiErrno::NOTCAPABLE,
            Errno::NotImplemented => WasiErrno::NOSYS,
            Errno::NotSupported => WasiErrno::NOTSUP,
            e => WasiErrno::of_errno_value(e.errno()),
        }
    }
}

/// A WASI call's result: nothing, or an errno.
pub type WasiResult<T = ()> = Result<T, WasiErrno>;

/// `filetype`.
pub mod filetype {
    pub const UNKNOWN: u8 = 0;
    pub const BLOCK_DEVICE: u8 = 1;
    pub const CHARACTER_DEVICE: u8 = 2;
    pub const DIRECTORY: u8 = 3;
    pub const REGULAR_FILE: u8 = 4;
    pub const SOCKET_STREAM: u8 = 6;
    pub const SYMBOLIC_LINK: u8 = 7;
}

/// `rights` bits.
pub mod rights {
    pub const FD_DATASYNC: u64 = 1 << 0;
    pub const FD_READ: u64 = 1 << 1;
    pub const FD_SEEK: u64 = 1 << 2;
    pub const FD_FDSTAT_SET_FLAGS: u64 = 1 << 3;
    pub const FD_SYNC: u64 = 1 << 4;
    pub const FD_TELL: u64 = 1 << 5;
    pub const FD_WRITE: u64 = 1 << 6;
    pub const FD_ADVISE: u64 = 1 << 7;
    pub const FD_ALLOCATE: u64 = 1 << 8;
    pub const PATH_CREATE_DIRECTORY: u64 = 1 << 9;
    pub const PATH_CREATE_FILE: u64 = 1 << 10;
    pub const PATH_LINK_SOURCE: u64 = 1 << 11;
    pub const PATH_LINK_TARGET: u64 = 1 << 12;
    pub const PATH_OPEN: u64 = 1 << 13;
    pub const FD_READDIR: u64 = 1 << 14;
    pub const PATH_READLINK: u64 = 1 << 15;
    pub const PATH_RENAME_SOURCE: u64 = 1 << 16;
    pub const PATH_RENAME_TARGET: u64 = 1 << 17;
    pub const PATH_FILESTAT_GET: u64 = 1 << 18;
    pub const PATH_FILESTAT_SET_SIZE: u64 = 1 << 19;
    pub const PATH_FILESTAT_SET_TIMES: u64 = 1 << 20;
    pub const FD_FILESTAT_GET: u64 = 1 << 21;
    pub const FD_FILESTAT_SET_SIZE: u64 = 1 << 22;
    pub const FD_FILESTAT_SET_TIMES: u64 = 1 << 23;
    pub const PATH_SYMLINK: u64 = 1 << 24;
    pub const PATH_REMOVE_DIRECTORY: u64 = 1 << 25;
    pub const PATH_UNLINK_FILE: u64 = 1 << 26;
    pub const POLL_FD_READWRITE: u64 = 1 << 27;
    pub const SOCK_SHUTDOWN: u64 = 1 << 28;
    pub const SOCK_ACCEPT: u64 = 1 << 29;

    /// What a regular file opened for reading allows.
    pub const FILE_READ: u64 = FD_READ | FD_SEEK | FD_TELL | FD_FILESTAT_GET | FD_ADVISE | POLL_FD_READWRITE;
    /// What writing adds to a regular file.
    pub const FILE_WRITE: u64 = FD_WRITE
        | FD_DATASYNC
        | FD_SYNC
        | FD_FDSTAT_SET_FLAGS
        | FD_ALLOCATE
        | FD_FILESTAT_SET_SIZE
        | FD_FILESTAT_SET_TIMES;
    /// What a directory allows for reading.
    pub const DIR_READ: u64 = PATH_OPEN | FD_READDIR | PATH_READLINK | PATH_FILESTAT_GET | FD_FILESTAT_GET;
    /// What a writable directory adds.
    pub const DIR_WRITE: u64 = PATH_CREATE_DIRECTORY
        | PATH_CREATE_FILE
        | PATH_LINK_SOURCE
        | PATH_LINK_TARGET
        | PATH_RENAME_SOURCE
        | PATH_RENAME_TARGET
        | PATH_FILESTAT_SET_SIZE
        | PATH_FILESTAT_SET_TIMES
        | PATH_SYMLINK
        | PATH_REMOVE_DIRECTORY
        | PATH_UNLINK_FILE
        | FD_FILESTAT_SET_TIMES;
}

/// `oflags` of `path_open`.
pub mod oflags {
    pub const CREAT: u16 = 1 << 0;
    pub const DIRECTORY: u16 = 1 << 1;
    pub const EXCL: u16 = 1 << 2;
    pub const TRUNC: u16 = 1 << 3;
}

/// `fdflags`.
pub mod fdflags {
    pub const APPEND: u16 = 1 << 0;
}

/// `whence`.
pub mod whence {
    pub const SET: u8 = 0;
    pub const CUR: u8 = 1;
    pub const END: u8 = 2;
}

/// `clockid`.
pub mod clock {
    pub const REALTIME: u32 = 0;
    pub const MONOTONIC: u32 = 1;
    pub const PROCESS_CPUTIME: u32 = 2;
    pub const THREAD_CPUTIME: u32 = 3;
}

/// `eventtype`.
pub mod eventtype {
    pub const CLOCK: u8 = 0;
    pub const FD_READ: u8 = 1;
    pub const FD_WRITE: u8 = 2;
}

/// `subclockflags`: the timeout is an absolute time.
pub const SUBSCRIPTION_CLOCK_ABSTIME: u16 = 1;

/// `preopentype`: a directory.
pub const PREOPENTYPE_DIR: u8 = 0;

/// Bytes of a `filestat`.
pub const FILESTAT_SIZE: usize = 64;
/// Bytes of an `fdstat`.
pub const FDSTAT_SIZE: usize = 24;
/// Bytes of a `prestat`.
pub const PRESTAT_SIZE: usize = 8;
/// Bytes of a `dirent` header (the name follows).
pub const DIRENT_SIZE: usize = 24;
/// Bytes of a `subscription`.
pub const SUBSCRIPTION_SIZE: usize = 48;
/// Bytes of an `event`.
pub const EVENT_SIZE: usize = 32;
/// Bytes of an `iovec`/`ciovec`.
pub const IOVEC_SIZE: usize = 8;

/// `filestat`: dev, ino, filetype, nlink, size, atim, mtim, ctim.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Filestat {
    pub dev: u64,
    pub ino: u64,
    pub filetype: u8,
    pub nlink: u64,
    pub size: u64,
    pub atim: u64,
    pub mtim: u64,
    pub ctim: u64,
}

impl Filestat {
    /// The WASI bytes.
    pub fn encode(&self) -> [u8; FILESTAT_SIZE] {
        let mut out = [0u8; FILESTAT_SIZE];
        out[0..8].copy_from_slice(&self.dev.to_le_bytes());
        out[8..16].copy_from_slice(&self.ino.to_le_bytes());
        out[16] = self.filetype;
        out[24..32].copy_from_slice(&self.nlink.to_le_bytes());
        out[32..40].copy_from_slice(&self.size.to_le_bytes());
        out[40..48].copy_from_slice(&self.atim.to_le_bytes());
        out[48..56].copy_from_slice(&self.mtim.to_le_bytes());
        out[56..64].copy_from_slice(&self.ctim.to_le_bytes());
        out
    }
}

/// `fdstat`: filetype, flags, base rights, inheriting rights.
pub fn fdstat(filetype: u8, flags: u16, base: u64, inheriting: u64) -> [u8; FDSTAT_SIZE] {
    let mut out = [0u8; FDSTAT_SIZE];
    out[0] = filetype;
    out[2..4].copy_from_slice(&flags.to_le_bytes());
    out[8..16].copy_from_slice(&base.to_le_bytes());
    out[16..24].copy_from_slice(&inheriting.to_le_bytes());
    out
}

/// `prestat` of a directory whose name is `name_len` bytes.
pub fn prestat_dir(name_len: usize) -> [u8; PRESTAT_SIZE] {
    let mut out = [0u8; PRESTAT_SIZE];
    out[0] = PREOPENTYPE_DIR;
    out[4..8].copy_from_slice(&(name_len as u32).to_le_bytes());
    out
}

/// A `dirent` header: the cookie of the next entry, inode, name length,
/// type.
pub fn dirent(next: u64, ino: u64, name_len: usize, filetype: u8) -> [u8; DIRENT_SIZE] {
    let mut out = [0u8; DIRENT_SIZE];
    out[0..8].copy_from_slice(&next.to_le_bytes());
    out[8..16].copy_from_slice(&ino.to_le_bytes());
    out[16..20].copy_from_slice(&(name_len as u32).to_le_bytes());
    out[20] = filetype;
    out
}

/// An `event`: userdata, error, type, and for fd events the bytes
/// available and the flags (hangup).
pub fn event(userdata: u64, error: WasiErrno, kind: u8, nbytes: u64, hangup: bool) -> [u8; EVENT_SIZE] {
    let mut out = [0u8; EVENT_SIZE];
    out[0..8].copy_from_slice(&userdata.to_le_bytes());
    out[8..10].copy_from_slice(&error.0.to_le_bytes());
    out[10] = kind;
    out[16..24].copy_from_slice(&nbytes.to_le_bytes());
    out[24..26].copy_from_slice(&u16::from(hangup).to_le_bytes());
    out
}

/// The WASI file type of a Redox `kind` (directory entries) value.
pub fn filetype_of_kind(kind: u8) -> u8 {
    match kind {
        wasmd_abi::scheme::kind::DIRECTORY => filetype::DIRECTORY,
        wasmd_abi::scheme::kind::REGULAR => filetype::REGULAR_FILE,
        wasmd_abi::scheme::kind::CHAR_DEV => filetype::CHARACTER_DEVICE,
        wasmd_abi::scheme::kind::SYMLINK => filetype::SYMBOLIC_LINK,
        _ => filetype::UNKNOWN,
    }
}

/// The WASI file type of Redox mode bits.
pub fn filetype_of_mode(mode: u16) -> u8 {
    match mode & wasmd_abi::scheme::mode::MODE_TYPE {
        0x4000 => filetype::DIRECTORY,
        0x8000 => filetype::REGULAR_FILE,
        0xA000 => filetype::SYMBOLIC_LINK,
        0x2000 => filetype::CHARACTER_DEVICE,
        0x6000 => filetype::BLOCK_DEVICE,
        0xC000 => filetype::SOCKET_STREAM,
        _ => filetype::UNKNOWN,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_match_the_witx() {
        let st = Filestat { dev: 1, ino: 2, filetype: 4, nlink: 3, size: 5, atim: 6, mtim: 7, ctim: 8 };
        let b = st.encode();
        assert_eq!(&b[0..8], &1u64.to_le_bytes());
        assert_eq!(b[16], 4);
        assert_eq!(&b[17..24], &[0; 7], "padding after the file type");
        assert_eq!(&b[56..64], &8u64.to_le_bytes());
        assert_eq!(
            fdstat(3, 1, 2, 4),
            [3, 0, 1, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(prestat_dir(5), [0, 0, 0, 0, 5, 0, 0, 0]);
        let d = dirent(9, 7, 3, filetype::DIRECTORY);
        assert_eq!((&d[0..8], &d[16..20], d[20]), (&9u64.to_le_bytes()[..], &3u32.to_le_bytes()[..], 3));
        let e = event(0xAB, WasiErrno::BADF, eventtype::FD_READ, 10, true);
        assert_eq!((e[0], e[8], e[10], e[16], e[24]), (0xAB, 8, 1, 10, 1));
    }

    #[test]
    fn errnos_map_by_meaning() {
        assert_eq!(WasiErrno::from(Errno::BadAddress), WasiErrno::FAULT);
        assert_eq!(WasiErrno::from(Errno::BadHandle), WasiErrno::BADF);
        assert_eq!(WasiErrno::from(Errno::NotFound), WasiErrno::NOENT);
        assert_eq!(WasiErrno::from(Errno::AccessDenied), WasiErrno::NOTCAPABLE);
        assert_eq!(WasiErrno::from(Errno::PermissionDenied), WasiErrno::PERM);
        assert_eq!(WasiErrno::from(Errno::Exists), WasiErrno::EXIST);
        assert_eq!(WasiErrno::from(Errno::Other(39)), WasiErrno::NOTEMPTY);
        assert_eq!(WasiErrno::from(Errno::Other(40)), WasiErrno::LOOP);
        assert_eq!(WasiErrno::from(Errno::InvalidArgument), WasiErrno::INVAL);
    }
}
