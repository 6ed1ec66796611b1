//! The file API the frontends call: open, read, write, `fstat`, `fpath`,
//! `getdents`, `ftruncate`, `fsync`, `unlink`, close and `mmap`. Opens
//! resolve a path to a file (`resolve.rs`); every other call goes to the
//! open file's [`ControlFile`](super::file::ControlFile) methods through
//! [`Daemon::request`], which keeps what must wait (`pending.rs`).

use wasmd_abi::Errno;

use wasmd_abi::scheme::{SchemeOp, Stat};

use super::guest_files::GuestFile;
use super::nodes::Snapshot;
use super::pending::{Pending, PendingOp, NO_FILE};
use super::{resolve, Caller, Daemon, Entry, OpenFile, Output, Poll, Token, MAX_READ};

impl Daemon {
    /// Opens `path` (relative to `/scheme/wasm`, without a leading `/`)
    /// for `caller` (see [`super::policy`]).
    pub fn open(&mut self, path: &str, open_flags: u32, caller: Caller) -> Result<u64, Errno> {
        let path = self.own_path(path);
        let id = self.next_id;
        let file = match (path, path.strip_prefix("error/")) {
            (_, Some(of)) => Box::new(self.reason_file(of, caller)?),
            ("stats", None) => Box::new(self.stats_file()),
            (_, None) => resolve::resolve(&mut self.context(id, caller), path, open_flags)?,
        };
        self.next_id += 1;
        self.files.insert(id, OpenFile { file, path: path.to_string(), caller, failed: None });
        Ok(id)
    }

    /// `stats`: the daemon's counters.
    fn stats_file(&self) -> Snapshot {
        let kernel = self.kernel.stats();
        let daemon = super::report::DaemonStats {
            open_files: self.files.len(),
            pending_requests: self.pending.len(),
            turns: kernel.turns,
            steals: kernel.steals,
        };
        Snapshot::of(super::report::stats(&self.kernel.lock(), &daemon))
    }

    /// `error/ID`: why the last request on the open file `ID` failed, one
    /// line (empty when it did not say), for the caller who opened that
    /// file (or a privileged one) — how a client explains an errno.
    fn reason_file(&self, of: &str, caller: Caller) -> Result<Snapshot, Errno> {
        let open = of.parse().ok().and_then(|id: u64| self.files.get(&id)).ok_or(Errno::NotFound)?;
        if open.caller != caller && !self.policy.is_privileged(caller) {
            return Err(Errno::NotFound);
        }
        let reason = open.file.reason().or(open.failed.as_deref());
        let line = reason.map_or_else(String::new, |r| format!("{r}\n"));
        Ok(Snapshot::of(line.into_bytes()))
    }

    /// Opens `path` in the guest scheme `name` directly (what
    /// `/scheme/NAME/PATH` is on Redox and the Linux socket).
    pub fn open_scheme(&mut self, name: &str, path: &str, open_flags: u32) -> Result<u64, Errno> {
        let id = self.next_id;
        // Guest schemes are like any scheme: their providers decide.
        let caller = Caller::ROOT;
        let prefix = format!("/scheme/{name}");
        let file =
            GuestFile::open(&mut self.context(id, caller), name, path.trim_matches('/'), open_flags, prefix)?;
        self.next_id += 1;
        let path = format!("scheme/{name}/{path}");
        self.files.insert(id, OpenFile { file: Box::new(file), path, caller, failed: None });
        Ok(id)
    }

    /// The tree path of `path` opened relative to the open directory
    /// `dirfd` (an unknown `dirfd` counts as the root).
    pub fn path_at(&self, dirfd: u64, path: &str) -> String {
        match self.files.get(&dirfd) {
            Some(dir) if !dir.path.is_empty() && !path.starts_with('/') => format!("{}/{path}", dir.path),
            _ => path.to_string(),
        }
    }

    /// Reads up to `len` bytes (at most [`MAX_READ`]) at `offset`.
    pub fn read(&mut self, id: u64, offset: u64, len: usize, nonblock: bool, token: Token) -> Poll<Vec<u8>> {
        let op = PendingOp::Read { offset, len: len.min(MAX_READ) };
        self.request(id, token, op, nonblock).map(|o| match o {
            Output::Data(d) => Ok(d),
            _ => Err(Errno::Io),
        })
    }

    /// Writes `data` at `offset`; a write that would wait (a full `Park`
    /// channel) is `Errno::WouldBlock` when `nonblock`.
    pub fn write(&mut self, id: u64, offset: u64, data: &[u8], nonblock: bool, token: Token) -> Poll<usize> {
        let op = PendingOp::Write { offset, data: data.to_vec() };
        self.request(id, token, op, nonblock).map(|o| match o {
            Output::Count(n) => Ok(n),
            _ => Err(Errno::Io),
        })
    }

    /// File status.
    pub fn fstat(&mut self, id: u64, token: Token) -> Poll<Stat> {
        self.request(id, token, PendingOp::Fstat, false).map(|o| match o {
            Output::Stat(s) => Ok(s),
            _ => Err(Errno::Io),
        })
    }

    /// The path the file was opened as, in `/scheme/...` form.
    pub fn fpath(&mut self, id: u64, token: Token) -> Poll<String> {
        self.request(id, token, PendingOp::Fpath, false).map(|o| match o {
            Output::Path(p) => Ok(p),
            _ => Err(Errno::Io),
        })
    }

    /// Directory entries, from the `offset`-th on (an opaque offset for
    /// guest schemes).
    pub fn getdents(&mut self, id: u64, offset: u64, token: Token) -> Poll<Vec<Entry>> {
        self.request(id, token, PendingOp::Getdents { offset }, false).map(|o| match o {
            Output::Entries(e) => Ok(e),
            _ => Err(Errno::Io),
        })
    }

    /// Resizes a file. Guest-scheme files ask their provider; the tree's
    /// writable control files (`spawn`, `PID/ctl`) accept any length as a
    /// no-op (a shell's `>` truncates), the rest of the tree is read-only.
    pub fn ftruncate(&mut self, id: u64, len: u64, token: Token) -> Poll<()> {
        self.request(id, token, PendingOp::Ftruncate { len }, false).map(done)
    }

    /// Flushes a file: guest-scheme files ask their provider; the tree
    /// has nothing to flush.
    pub fn fsync(&mut self, id: u64, token: Token) -> Poll<()> {
        self.request(id, token, PendingOp::Fsync, false).map(done)
    }

    /// Waits until file `id` is open: a guest-scheme file whose provider
    /// has not answered its open yet (an open is answered at once, see
    /// [`super::guest_files`]) is ready, or fails with its refusal, once
    /// it did. For who may wait (another node's open), not for an
    /// `openat` of the OS.
    pub(crate) fn opened(&mut self, id: u64, token: Token) -> Poll<()> {
        self.request(id, token, PendingOp::Opened, false).map(done)
    }

    /// `path` trimmed of its slashes, and `node/SELF/PATH` (this node's own
    /// name) made `PATH`.
    fn own_path<'p>(&self, path: &'p str) -> &'p str {
        let path = path.trim_matches('/');
        let own = self.cluster.as_ref().and_then(|c| path.strip_prefix("node/")?.strip_prefix(c.node()));
        match own {
            Some(rest) if rest.is_empty() || rest.starts_with('/') => rest.trim_start_matches('/'),
            _ => path,
        }
    }

    /// Removes `path` (relative to `/scheme/wasm`): only files of guest
    /// schemes (`scheme/NAME/PATH`, also another node's:
    /// `node/NAME/scheme/S/PATH`) can be removed; the rest of the tree
    /// is `Errno::PermissionDenied`.
    pub fn unlink(&mut self, path: &str, unlink_flags: u32, token: Token) -> Poll<()> {
        let path = self.own_path(path);
        if let (Some(rest), Some(cluster)) = (path.strip_prefix("node/"), self.cluster.as_mut()) {
            // `node/NAME/PATH` of another node: removed there.
            let (node, sub) = rest.split_once('/').unwrap_or((rest, ""));
            if sub.is_empty() {
                return Poll::Ready(Err(if cluster.knows(node) {
                    Errno::PermissionDenied
                } else {
                    Errno::NotFound
                }));
            }
            let request =
                crate::cluster::wire::Request::Remove { path: sub.to_string(), flags: unlink_flags };
            return match cluster.ask(node, request, crate::cluster::Waiter::Remove(token)) {
                Ok(()) => {
                    self.removing.insert(token);
                    Poll::Pending
                }
                Err(e) => Poll::Ready(Err(e)),
            };
        }
        match path.split_once('/') {
            Some(("scheme", inner)) => match inner.split_once('/') {
                Some((name, sub)) if !sub.is_empty() => {
                    let name = name.to_string();
                    self.unlink_scheme(&name, sub, unlink_flags, token)
                }
                _ => Poll::Ready(Err(Errno::PermissionDenied)),
            },
            _ if path.is_empty() || resolve::exists(&self.kernel, self.cluster.is_some(), path) => {
                Poll::Ready(Err(Errno::PermissionDenied))
            }
            _ => Poll::Ready(Err(Errno::NotFound)),
        }
    }

    /// Removes `path` in the guest scheme `name` (what unlinking
    /// `/scheme/NAME/PATH` is on Redox and the Linux socket).
    pub fn unlink_scheme(&mut self, name: &str, path: &str, unlink_flags: u32, token: Token) -> Poll<()> {
        let path = path.trim_matches('/');
        let op = SchemeOp::Unlink { path, flags: unlink_flags };
        let sent = self.kernel.lock().scheme_request(name, op);
        match sent {
            Ok(tag) => {
                self.pending.push(Pending { token, id: NO_FILE, op: PendingOp::Unlink, tag: Some(tag) });
                Poll::Pending
            }
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    /// Forgets an open file; its pending requests complete with `Errno::BadHandle`.
    pub fn close(&mut self, id: u64) {
        self.watched.remove(&id);
        if let Some(open) = self.files.remove(&id) {
            open.file.close(&mut self.context(id, open.caller));
        }
        self.fail_pending_on(id);
    }

    /// The address of a region's pages for `mmap` (Redox `mmap_prep`):
    /// the daemon's own shared mapping, lent to the caller.
    pub fn mmap_address(&self, id: u64, offset: u64, len: usize) -> Result<usize, Errno> {
        self.files.get(&id).ok_or(Errno::BadHandle)?.file.mmap_address(offset, len)
    }
}

/// The answer of a call that gives nothing back.
fn done(output: Output) -> Result<(), Errno> {
    match output {
        Output::Done => Ok(()),
        _ => Err(Errno::Io),
    }
}
