//! Files of guest-implemented schemes, as the control tree and the OS
//! frontends serve them.
//!
//! Every operation is a request to the provider guest
//! ([`wasmhost::guest_scheme`]); its reply completes the frontend's
//! pending request. Opens are different: on Redox an open must be
//! answered at once, so [`Daemon::open_guest`] sends the open and runs the
//! guests for a short budget; if the provider answered, the open succeeds
//! or fails with its answer; if not, the open succeeds with a file whose
//! later operations wait for the provider's answer to the open (and fail
//! with its error, if it refused).

use wasmd_abi::errno::{EBADF, EIO, ENOENT};
use wasmd_abi::scheme::SchemeOp;
use wasmhost::guest_scheme::Reply;

use super::{Completion, Daemon, Entry, Output, PendingOp};

/// Time slices the guests get to answer an open before it is answered
/// optimistically, and the time they may take at most (a provider woken
/// by the request runs first, see `wasmhost`'s scheduler).
const OPEN_BUDGET_TURNS: usize = 64;
const OPEN_BUDGET_TIME: std::time::Duration = std::time::Duration::from_millis(2);

/// A guest-scheme file.
#[derive(Debug)]
pub struct GuestFile {
    scheme: String,
    /// `/scheme/...` prefix for `fpath`.
    prefix: String,
    state: GuestState,
    /// Opened for reading / for writing (checked on every operation, not
    /// only by the provider at open).
    readable: bool,
    writable: bool,
}

#[derive(Debug)]
enum GuestState {
    /// The open was sent; its reply has this tag.
    Opening(u64),
    /// Open with the provider's id.
    Open(u64),
    /// The provider refused the open.
    Failed(i32),
}

/// What sending an operation gave.
#[derive(Debug)]
pub(crate) enum Sent {
    /// An answer now.
    Done(Result<Output, i32>),
    /// Sent; the reply has this tag.
    Tag(u64),
    /// The file's open has not been answered yet.
    NotYet,
}

impl Daemon {
    /// Opens `path` in guest scheme `name` (see the module docs).
    pub(crate) fn open_guest(
        &mut self,
        name: &str,
        path: &str,
        flags: u32,
        prefix: String,
    ) -> Result<GuestFile, i32> {
        let op = SchemeOp::Open { path, flags };
        let tag = self.kernel.lock().scheme_request(name, op)?;
        let acc = flags & wasmd_abi::scheme::flags::O_ACCMODE;
        let mut file = GuestFile {
            scheme: name.to_string(),
            prefix,
            state: GuestState::Opening(tag),
            readable: acc != wasmd_abi::scheme::flags::O_WRONLY,
            writable: acc == wasmd_abi::scheme::flags::O_WRONLY || acc == wasmd_abi::scheme::flags::O_RDWR,
        };
        let deadline = std::time::Instant::now() + OPEN_BUDGET_TIME;
        for _ in 0..OPEN_BUDGET_TURNS {
            if self.kernel.workers() == 0 {
                self.kernel.lock().run(1);
            } else {
                // The provider runs on a scheduler thread.
                std::thread::sleep(std::time::Duration::from_micros(20));
            }
            self.stash_scheme_replies();
            if self.settle_open(&mut file) || std::time::Instant::now() >= deadline {
                break;
            }
        }
        match file.state {
            GuestState::Failed(e) => Err(e),
            _ => Ok(file),
        }
    }

    /// Moves the manager's scheme replies into the daemon's stash.
    fn stash_scheme_replies(&mut self) {
        let replies = self.kernel.lock().take_scheme_replies();
        for (tag, reply) in replies {
            if !self.abandoned.remove(&tag) {
                self.scheme_replies.insert(tag, reply);
            }
        }
    }

    /// Applies the open's reply if it came; true once the open is settled.
    fn settle_open(&mut self, file: &mut GuestFile) -> bool {
        let GuestState::Opening(tag) = file.state else { return true };
        let Some(reply) = self.scheme_replies.remove(&tag) else { return false };
        file.state = match reply {
            Reply::Value(id) => GuestState::Open(id),
            Reply::Error(e) => GuestState::Failed(e),
            _ => GuestState::Failed(EIO),
        };
        true
    }

    /// Sends `op` on the guest file `id`.
    pub(crate) fn guest_op(&mut self, id: u64, op: &PendingOp) -> Sent {
        let Some(super::OpenFile { node: super::Node::Guest(file), .. }) = self.files.get_mut(&id) else {
            return Sent::Done(Err(EBADF));
        };
        let mut file = std::mem::replace(
            file,
            GuestFile {
                scheme: String::new(),
                prefix: String::new(),
                state: GuestState::Failed(EBADF),
                readable: false,
                writable: false,
            },
        );
        self.settle_open(&mut file);
        let allowed = match op {
            PendingOp::Read { .. } | PendingOp::Getdents { .. } => file.readable,
            PendingOp::Write { .. } | PendingOp::Ftruncate { .. } => file.writable,
            PendingOp::Fstat | PendingOp::Fpath | PendingOp::Fsync | PendingOp::Unlink => true,
        };
        let sent = match file.state {
            _ if !allowed => Sent::Done(Err(EBADF)),
            GuestState::Opening(_) => Sent::NotYet,
            GuestState::Failed(e) => Sent::Done(Err(e)),
            GuestState::Open(remote) => {
                let op = match op {
                    PendingOp::Read { offset, len } => SchemeOp::Read {
                        id: remote,
                        offset: *offset,
                        len: (*len).min(u32::MAX as usize) as u32,
                    },
                    PendingOp::Write { offset, data } => {
                        SchemeOp::Write { id: remote, offset: *offset, data }
                    }
                    PendingOp::Fstat => SchemeOp::Fstat { id: remote },
                    PendingOp::Fpath => SchemeOp::Fpath { id: remote },
                    PendingOp::Getdents { offset } => SchemeOp::Getdents { id: remote, offset: *offset },
                    PendingOp::Ftruncate { len } => SchemeOp::Ftruncate { id: remote, len: *len },
                    PendingOp::Fsync => SchemeOp::Fsync { id: remote },
                    // Sent at once by `Daemon::unlink_scheme`, never on a file.
                    PendingOp::Unlink => return Sent::Done(Err(EBADF)),
                };
                let sent = self.kernel.lock().scheme_request(&file.scheme, op);
                match sent {
                    Ok(tag) => Sent::Tag(tag),
                    // The provider is gone.
                    Err(ENOENT) => Sent::Done(Err(EIO)),
                    Err(e) => Sent::Done(Err(e)),
                }
            }
        };
        if let Some(super::OpenFile { node: super::Node::Guest(slot), .. }) = self.files.get_mut(&id) {
            *slot = file;
        }
        sent
    }

    /// Tells the provider a file is closed (or will be, once its open is
    /// answered).
    pub(crate) fn guest_close(&mut self, file: GuestFile) {
        match file.state {
            GuestState::Open(remote) => {
                let _ = self.kernel.lock().scheme_request(&file.scheme, SchemeOp::Close { id: remote });
            }
            GuestState::Opening(tag) => {
                self.orphan_opens.insert(tag, file.scheme);
            }
            GuestState::Failed(_) => {}
        }
    }

    /// Completes pending requests whose replies came.
    pub(crate) fn route_scheme_replies(&mut self) {
        self.stash_scheme_replies();
        let orphans: Vec<u64> =
            self.orphan_opens.keys().copied().filter(|t| self.scheme_replies.contains_key(t)).collect();
        for tag in orphans {
            let scheme = self.orphan_opens.remove(&tag).unwrap_or_default();
            if let Some(Reply::Value(remote)) = self.scheme_replies.remove(&tag) {
                let _ = self.kernel.lock().scheme_request(&scheme, SchemeOp::Close { id: remote });
            }
        }
        let mut still = Vec::new();
        for p in std::mem::take(&mut self.pending) {
            let Some(reply) = p.tag.and_then(|t| self.scheme_replies.remove(&t)) else {
                still.push(p);
                continue;
            };
            let prefix = match self.files.get(&p.id) {
                Some(super::OpenFile { node: super::Node::Guest(f), .. }) => f.prefix.clone(),
                _ => String::new(),
            };
            let result = match (&p.op, reply) {
                (_, Reply::Error(e)) => Err(e),
                // A provider's answer never exceeds the request: more data
                // than asked for, or a count above what was written, is EIO.
                (PendingOp::Read { len, .. }, Reply::Data(d)) if d.len() <= *len => Ok(Output::Data(d)),
                (PendingOp::Write { data, .. }, Reply::Value(n)) if n <= data.len() as u64 => {
                    Ok(Output::Count(n as usize))
                }
                (PendingOp::Fstat, Reply::Stat(s)) => Ok(Output::Stat(s)),
                (PendingOp::Fpath, Reply::Data(d)) => {
                    let path = String::from_utf8_lossy(&d).trim_start_matches('/').to_string();
                    Ok(Output::Path(if path.is_empty() { prefix } else { format!("{prefix}/{path}") }))
                }
                (PendingOp::Ftruncate { .. } | PendingOp::Fsync | PendingOp::Unlink, Reply::Value(_)) => {
                    Ok(Output::Done)
                }
                (PendingOp::Getdents { .. }, Reply::Dirents(v)) => Ok(Output::Entries(
                    v.into_iter().map(|e| Entry { name: e.name, kind: e.kind, next: e.next }).collect(),
                )),
                (op, reply) => {
                    log::warn!("scheme provider answered {op:?} with {reply:?}");
                    Err(EIO)
                }
            };
            self.completions.push(Completion { token: p.token, result });
        }
        self.pending = still;
    }
}
