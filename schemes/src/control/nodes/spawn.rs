//! `spawn`: a spawn spec ([`crate::control::spec`]) is written, then the
//! new pid read back. The write only checks the spec and starts loading
//! the module (on a worker thread: the serving thread never opens a
//! path); reads wait until the process exists or the spawn failed.
//!
//! The answer is a stream with its own cursor, whatever offset the reads
//! come at (on Redox the kernel keeps the file's offset and the write of
//! the spec has moved it).

use wasmd_abi::Errno;

use wasmd_abi::scheme::{mode, Stat};
use wasmhost::Pid;

use crate::cluster::wire::{Reply, Request};
use crate::cluster::Waiter;
use crate::control::file::{Answer, Context, ControlFile, Failure};
use crate::control::{spec, EVENT_WRITE};

/// Where a `spawn` file is.
#[derive(Debug)]
enum SpawnState {
    /// No spec written yet.
    Empty,
    /// The module is loading (here, or on another node).
    Loading,
    /// Spawned (or not): the answer (`PID`, or `NODE/PID` for a process
    /// of another node), and how much of it was read.
    Done { result: Result<String, Errno>, sent: usize },
}

/// An open `spawn` file.
#[derive(Debug)]
pub(crate) struct SpawnFile {
    state: SpawnState,
    /// The node the spawn was sent to, if another.
    node: Option<String>,
    /// Why the spec or the spawn failed.
    reason: Option<String>,
}

impl SpawnFile {
    /// A fresh `spawn` file, waiting for its spec.
    pub(crate) fn new() -> SpawnFile {
        SpawnFile { state: SpawnState::Empty, node: None, reason: None }
    }

    /// Starts a spawn from the spec `data`, for the caller.
    fn start(&mut self, cx: &mut Context<'_>, data: &[u8]) -> Result<(), Failure> {
        let spec = spec::parse(data).map_err(|e| Failure::new(Errno::InvalidArgument, e))?;
        if let Some(node) = spec.node.as_deref() {
            if let Some(cluster) = cx.cluster.as_mut().filter(|c| c.node() != node) {
                // The node that runs it checks it, against its own policy.
                let text = String::from_utf8_lossy(data).into_owned();
                let id = cx.id;
                cluster
                    .ask(
                        node,
                        Request::Spawn { spec: text, by: None, link: false, monitor: None },
                        Waiter::File(id),
                    )
                    .map_err(|e| {
                        Failure::new(e, format!("cannot spawn on node {node}: {}", node_error(e)))
                    })?;
                self.node = Some(node.to_string());
                self.state = SpawnState::Loading;
                return Ok(());
            }
            if cx.cluster.is_none() {
                let why = format!("`node={node}`: this daemon is in no cluster (start it with --nats URL)");
                return Err(Failure::new(Errno::NotFound, why));
            }
        }
        cx.policy
            .check_caps(cx.caller, spec.caps)
            .map_err(|why| Failure::new(Errno::PermissionDenied, why))?;
        let grants: Vec<_> =
            spec.grants.iter().filter_map(|g| wasmhost::namespace::parse_grant(g).ok()).collect();
        if let Some(g) = grants.iter().find(|g| g.scheme == "file") {
            if !cx.lock().platform().serves_files() {
                let why = format!(
                    "grant `file:{}` cannot work: this daemon has no file root (start it with --fs-root DIR)",
                    g.prefix
                );
                return Err(Failure::new(Errno::InvalidArgument, why));
            }
        }
        let module = spec.module.to_string_lossy().into_owned();
        cx.start_load(grants, module, Some(spec));
        self.state = SpawnState::Loading;
        Ok(())
    }
}

impl ControlFile for SpawnFile {
    fn stat(&mut self, cx: &mut Context<'_>) -> Answer<Stat> {
        cx.stat(mode::MODE_FILE | 0o644, 0)
    }

    fn read(&mut self, _cx: &mut Context<'_>, _offset: u64, len: usize) -> Answer<Vec<u8>> {
        match &mut self.state {
            SpawnState::Empty => {
                self.reason = Some(
                    "nothing to read yet: write a spawn spec to this file first, then read the pid (e.g. `wasmd spawn /path/m.wasm`)"
                        .into(),
                );
                Answer::Ready(Err(Errno::InvalidArgument))
            }
            SpawnState::Loading => Answer::NotReady,
            SpawnState::Done { result, sent } => Answer::Ready(result.clone().map(|answer| {
                let part = &answer.as_bytes()[(*sent).min(answer.len())..];
                let part = part[..part.len().min(len)].to_vec();
                *sent += part.len();
                part
            })),
        }
    }

    fn write(&mut self, cx: &mut Context<'_>, _offset: u64, data: &[u8]) -> Answer<usize> {
        match self.state {
            SpawnState::Empty => Answer::Ready(match self.start(cx, data) {
                Ok(()) => Ok(data.len()),
                Err(f) => {
                    log::info!("spawn refused: {}", f.reason);
                    self.reason = Some(f.reason);
                    Err(f.errno)
                }
            }),
            _ => {
                self.reason = Some("one spawn per open file: open `spawn` again for another".into());
                Answer::Ready(Err(Errno::Busy))
            }
        }
    }

    /// Any length, as a no-op: a shell's `>` truncates.
    fn truncate(&mut self, _cx: &mut Context<'_>, _len: u64) -> Answer<()> {
        Answer::Ready(Ok(()))
    }

    fn readiness(&mut self, _cx: &mut Context<'_>) -> u32 {
        match self.state {
            SpawnState::Loading => EVENT_WRITE,
            _ => crate::control::EVENT_READ | EVENT_WRITE,
        }
    }

    fn loaded(&mut self, spawned: Result<Pid, Failure>) {
        let result = spawned.map(|pid| format!("{pid}\n")).map_err(|f| {
            self.reason = Some(f.reason);
            f.errno
        });
        self.state = SpawnState::Done { result, sent: 0 };
    }

    fn remote_reply(&mut self, _cx: &mut Context<'_>, reply: Result<Reply, Failure>) {
        let node = self.node.take().unwrap_or_default();
        let result = match reply {
            Ok(Reply::Spawned { pid }) => Ok(format!("{node}/{pid}\n")),
            Ok(Reply::Failed { errno, reason }) => {
                Err(Failure::new(Errno::from_errno(errno), format!("node {node}: {reason}")))
            }
            Ok(other) => Err(Failure::new(Errno::Io, format!("node {node} answered {other:?} to a spawn"))),
            Err(f) => Err(f),
        };
        let result = result.map_err(|f| {
            self.reason = Some(f.reason);
            f.errno
        });
        self.state = SpawnState::Done { result, sent: 0 };
    }

    fn reason(&self) -> Option<&str> {
        self.reason.as_deref()
    }
}

/// What an errno of [`crate::cluster::Cluster::ask`] means.
fn node_error(e: Errno) -> &'static str {
    match e {
        Errno::NotFound => "no such node alive",
        Errno::WouldBlock => "too many requests to other nodes in flight",
        _ => "the cluster link is down",
    }
}
