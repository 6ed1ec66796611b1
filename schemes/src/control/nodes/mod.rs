//! The tree's own kinds of files, one type each, all [`ControlFile`]s:
//!
//! | type | path | what it does |
//! |---|---|---|
//! | [`dirs::Root`], [`dirs::RunDir`], [`dirs::PidDir`], [`dirs::SchemeDir`], [`dirs::ShmDir`], [`dirs::ChanDir`] | ``, `run/`, `PID/`, `scheme/`, `shm/`, `chan/` | directories: list their entries |
//! | [`Snapshot`] | `ps`, `PID/status`, `PID/log`, `shm/index` | bytes taken at open |
//! | [`SpawnFile`] | `spawn` | a spec written, then the new pid read |
//! | [`RunFile`] | `run/ABS/PATH.wasm` | opening spawns; reads stream stdout until exit; writes feed its stdin; closing it early kills the process |
//! | [`OutputStream`] | `PID/stdout`, `PID/stderr` | reads stream the output until exit |
//! | [`WaitFile`] | `PID/wait` | a read waits for the exit, then gives the status |
//! | [`StdinFile`] | `PID/stdin` | writes feed the process's standard input; closing ends it |
//! | [`CtlFile`] | `PID/ctl` | written commands act on the process |
//! | [`remote::NodeDir`], [`remote::RemoteFile`] | `node/`, `node/NAME/PATH` | the cluster's nodes, and files of another node's tree |
//! | [`bridge::BridgeFile`] | `bridge` | `CHAN NODE/CHAN` written: this node's channel bridged into another node's |
//!
//! `shm/ID` and `chan/ID` are in [`super::shared_memory`], the files of
//! guest schemes in [`super::guest_files`].
//!
//! [`ControlFile`]: super::file::ControlFile

pub(crate) mod bridge;
pub(crate) mod ctl;
pub(crate) mod dirs;
pub(crate) mod remote;
pub(crate) mod run;
pub(crate) mod snapshot;
pub(crate) mod spawn;
pub(crate) mod stdin;
pub(crate) mod stream;
pub(crate) mod wait;

pub(crate) use ctl::CtlFile;
pub(crate) use run::RunFile;
pub(crate) use snapshot::Snapshot;
pub(crate) use spawn::SpawnFile;
pub(crate) use stdin::StdinFile;
pub(crate) use stream::{OutputStream, Which};
pub(crate) use wait::WaitFile;
