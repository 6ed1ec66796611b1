//! A WASI process's file descriptors: small numbers, as preview 1
//! programs expect (0, 1, 2 the standard streams; 3 on the preopened
//! directories, one per namespace grant, which wasi-libc finds by asking
//! for 3, 4, … until `EBADF`; then whatever the program opens, at the
//! lowest free number).
//!
//! A descriptor is a view on something the process already has: one of
//! its streams, one of its grants, or one of its native handles (a file
//! or socket in its handle table, counted against its handle limit).
//! Directories carry the namespace path they name, so `path_*` calls
//! relative to them become ordinary namespace paths, checked against the
//! grants like any other (see [`super::fs`]).

use std::sync::Arc;

use crate::namespace::Grant;

use super::types::{rights, WasiErrno, WasiResult};

/// A standard stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdin,
    Stdout,
    Stderr,
}

/// What a descriptor stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FdKind {
    /// A standard stream of the process.
    Stream(Stream),
    /// A directory: a preopened grant or one the program opened. `path`
    /// is its namespace path (`file:/srv/data`, `ramfs:/sub`); `handle`
    /// the native handle of an opened one (a preopen has none).
    Dir { path: Arc<str>, handle: Option<u32> },
    /// A file or socket: a native handle.
    File { handle: u32, socket: bool },
}

/// One descriptor: what it is, its rights (base and inheriting) and its
/// flags (`fdflags`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fd {
    pub kind: FdKind,
    pub base: u64,
    pub inheriting: u64,
    pub flags: u16,
    /// For a preopen: the name the program sees (`/srv/data`).
    pub preopen: Option<Arc<str>>,
}

/// The descriptor table.
#[derive(Debug, Clone, Default)]
pub struct FdTable {
    fds: Vec<Option<Fd>>,
}

/// A preopen named otherwise than its grant's path: `NAME=SCHEME:PREFIX`
/// (`/=file:/tmp/box` preopens the grant `file:/tmp/box` as `/`, as a
/// program that wants its files at `/` expects). The grant must be one of
/// the process's: this names a descriptor, it grants nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreopenAlias {
    /// The name the program sees.
    pub name: String,
    /// The grant's scheme.
    pub scheme: String,
    /// The grant's prefix (normalised as grants are).
    pub prefix: String,
}

impl PreopenAlias {
    /// Parses `NAME=SCHEME:PREFIX` (the grant part as a grant is written,
    /// without `=ro`/`=rw`).
    pub fn parse(text: &str) -> Result<PreopenAlias, String> {
        let bad = || format!("bad preopen `{text}` (expected NAME=SCHEME:PREFIX, e.g. /=file:/srv/data)");
        let (name, grant) = text.split_once('=').ok_or_else(bad)?;
        if name.is_empty() || name.contains('\0') || grant.contains('=') {
            return Err(bad());
        }
        let grant = crate::namespace::parse_grant(grant).map_err(|_| bad())?;
        if grant.scheme == "tcp" || grant.scheme == "udp" {
            return Err(bad());
        }
        Ok(PreopenAlias { name: name.to_string(), scheme: grant.scheme, prefix: grant.prefix })
    }

    /// True when it names `grant`.
    pub fn names(&self, grant: &Grant) -> bool {
        self.scheme == grant.scheme && self.prefix == grant.prefix
    }
}

/// The name a grant is preopened under (unless a [`PreopenAlias`] names
/// it): a `file:` grant under its own path (`file:/srv/data` → `/srv/data`, `file:/` → `/`), any other
/// file-like scheme as its Redox path (`ramfs:` → `/scheme/ramfs`,
/// `ramfs:/sub` → `/scheme/ramfs/sub`). Socket grants are not
/// directories.
pub fn preopen_name(grant: &Grant) -> Option<String> {
    match grant.scheme.as_str() {
        "tcp" | "udp" => None,
        "file" => Some(grant.prefix.clone()),
        scheme => Some(format!("/scheme/{scheme}{}", grant.prefix.trim_end_matches('/'))),
    }
}

impl FdTable {
    /// The standard streams, one preopened directory per file-like grant
    /// (in grant order; named by its alias if it has one), then the
    /// sockets the process started with.
    pub fn new(grants: &[Grant], aliases: &[PreopenAlias], sockets: &[u32]) -> FdTable {
        let stream = |s| {
            Some(Fd {
                kind: FdKind::Stream(s),
                base: rights::FD_READ
                    | rights::FD_WRITE
                    | rights::POLL_FD_READWRITE
                    | rights::FD_FILESTAT_GET,
                inheriting: 0,
                flags: 0,
                preopen: None,
            })
        };
        let mut fds = vec![stream(Stream::Stdin), stream(Stream::Stdout), stream(Stream::Stderr)];
        for grant in grants {
            let Some(name) = preopen_name(grant) else { continue };
            let name = aliases.iter().find(|a| a.names(grant)).map_or(name, |a| a.name.clone());
            let dir_rights =
                if grant.write { rights::DIR_READ | rights::DIR_WRITE } else { rights::DIR_READ };
            let file_rights =
                if grant.write { rights::FILE_READ | rights::FILE_WRITE } else { rights::FILE_READ };
            fds.push(Some(Fd {
                kind: FdKind::Dir { path: format!("{}:{}", grant.scheme, grant.prefix).into(), handle: None },
                base: dir_rights,
                inheriting: dir_rights | file_rights,
                flags: 0,
                preopen: Some(name.into()),
            }));
        }
        for handle in sockets {
            let socket_rights = rights::FD_READ
                | rights::FD_WRITE
                | rights::POLL_FD_READWRITE
                | rights::SOCK_SHUTDOWN
                | rights::SOCK_ACCEPT;
            fds.push(Some(Fd {
                kind: FdKind::File { handle: *handle, socket: true },
                base: socket_rights,
                inheriting: socket_rights,
                flags: 0,
                preopen: None,
            }));
        }
        FdTable { fds }
    }

    /// The descriptor `fd`, or `EBADF`.
    pub fn get(&self, fd: u32) -> WasiResult<&Fd> {
        self.fds.get(fd as usize).and_then(Option::as_ref).ok_or(WasiErrno::BADF)
    }

    /// The descriptor `fd`, mutable, or `EBADF`.
    pub fn get_mut(&mut self, fd: u32) -> WasiResult<&mut Fd> {
        self.fds.get_mut(fd as usize).and_then(Option::as_mut).ok_or(WasiErrno::BADF)
    }

    /// The descriptor `fd` if it holds every right of `needed`:
    /// `ENOTCAPABLE` when it lacks one, `EBADF` when there is none.
    pub fn with_rights(&self, fd: u32, needed: u64) -> WasiResult<&Fd> {
        let entry = self.get(fd)?;
        if entry.base & needed != needed {
            return Err(WasiErrno::NOTCAPABLE);
        }
        Ok(entry)
    }

    /// Adds a descriptor at the lowest free number, at most `max` live.
    pub fn insert(&mut self, fd: Fd, max: usize) -> WasiResult<u32> {
        if let Some(free) = self.fds.iter().position(Option::is_none) {
            self.fds[free] = Some(fd);
            return Ok(free as u32);
        }
        if self.fds.len() >= max {
            return Err(WasiErrno::MFILE);
        }
        self.fds.push(Some(fd));
        Ok((self.fds.len() - 1) as u32)
    }

    /// Takes descriptor `fd` out of the table.
    pub fn remove(&mut self, fd: u32) -> WasiResult<Fd> {
        let taken = self.fds.get_mut(fd as usize).and_then(Option::take).ok_or(WasiErrno::BADF)?;
        while matches!(self.fds.last(), Some(None)) {
            self.fds.pop();
        }
        Ok(taken)
    }

    /// Moves `from` to `to`, closing what `to` held (returned).
    pub fn renumber(&mut self, from: u32, to: u32) -> WasiResult<Option<Fd>> {
        self.get(from)?;
        self.get(to)?;
        if from == to {
            return Ok(None);
        }
        let moved = self.fds[from as usize].take();
        let old = std::mem::replace(&mut self.fds[to as usize], moved);
        while matches!(self.fds.last(), Some(None)) {
            self.fds.pop();
        }
        Ok(old)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::namespace::parse_grant;

    #[test]
    fn streams_then_preopens_then_the_lowest_free_number() {
        let grants = [
            parse_grant("file:/srv/data=ro").unwrap(),
            parse_grant("tcp:127.0.0.1:*").unwrap(),
            parse_grant("ramfs:").unwrap(),
        ];
        let aliases = [PreopenAlias::parse("/data=file:/srv/data").unwrap()];
        let mut t = FdTable::new(&grants, &aliases, &[]);
        assert_eq!(t.get(0).unwrap().kind, FdKind::Stream(Stream::Stdin));
        assert_eq!(t.get(3).unwrap().preopen.as_deref(), Some("/data"), "its alias");
        assert_eq!(t.get(3).unwrap().base & rights::PATH_CREATE_FILE, 0, "a read-only grant");
        assert_eq!(t.get(4).unwrap().preopen.as_deref(), Some("/scheme/ramfs"));
        assert_eq!(t.get(5), Err(WasiErrno::BADF), "sockets are no preopen");
        let file = |h| Fd {
            kind: FdKind::File { handle: h, socket: false },
            base: 0,
            inheriting: 0,
            flags: 0,
            preopen: None,
        };
        assert_eq!(t.insert(file(7), 16), Ok(5));
        assert_eq!(t.insert(file(8), 16), Ok(6));
        t.remove(5).unwrap();
        assert_eq!(t.insert(file(9), 16), Ok(5));
        assert_eq!(t.insert(file(10), 7), Err(WasiErrno::MFILE));
        assert_eq!(t.with_rights(3, rights::PATH_CREATE_FILE).unwrap_err(), WasiErrno::NOTCAPABLE);
        assert_eq!(
            t.renumber(6, 5).unwrap().map(|f| f.kind),
            Some(FdKind::File { handle: 9, socket: false })
        );
        assert_eq!(t.get(6), Err(WasiErrno::BADF));
        assert_eq!(t.renumber(6, 5), Err(WasiErrno::BADF));
    }

    #[test]
    fn aliases_parse_and_name_only_their_grant() {
        let a = PreopenAlias::parse("/=file:/tmp/box/../box").unwrap();
        assert_eq!((a.name.as_str(), a.scheme.as_str(), a.prefix.as_str()), ("/", "file", "/tmp/box"));
        assert!(a.names(&parse_grant("file:/tmp/box=ro").unwrap()));
        assert!(!a.names(&parse_grant("file:/tmp").unwrap()));
        for bad in ["/", "=file:/x", "/x=file:/y=ro", "/x=tcp:*", "/x=nocolon"] {
            assert!(PreopenAlias::parse(bad).is_err(), "{bad}");
        }
    }
}
