//! Path resolution: which [`ControlFile`] a path of the tree opens.
//!
//! Paths are relative to `/scheme/wasm`, without leading or trailing
//! `/`. The first component picks the kind (`ps`, `spawn`, `run`, `shm`,
//! `chan`, `scheme`, `name`, `node` or a pid), the rest names the file within it. Files of
//! guest schemes (`scheme/NAME/...`) are opened by their provider, which
//! alone decides about `O_DIRECTORY` and the access mode; for the tree's
//! own files, only directories may be opened with `O_DIRECTORY` and none
//! of them for writing.

use wasmd_abi::Errno;

use wasmd_abi::scheme::flags;
use wasmhost::Pid;

use super::file::{Context, ControlFile};
use super::guest_files::GuestFile;
use super::nodes::bridge::BridgeFile;
use super::nodes::remote::{NodeDir, RemoteFile};
use super::nodes::{dirs, CtlFile, OutputStream, RunFile, Snapshot, SpawnFile, StdinFile, WaitFile, Which};
use super::shared_memory::{ChanFile, ShmFile};

/// The files of a process's directory.
pub(crate) const PID_FILES: [&str; 10] =
    ["status", "status.json", "log", "stdout", "stderr", "stdin", "wait", "ctl", "links", "monitors"];

/// Opens the file `path` names, for the file id and caller of `cx`.
pub(crate) fn resolve(
    cx: &mut Context<'_>,
    path: &str,
    open_flags: u32,
) -> Result<Box<dyn ControlFile>, Errno> {
    let (first, rest) = path.split_once('/').unwrap_or((path, ""));
    if first == "node" && !rest.is_empty() {
        // (`node/SELF/…` was made this node's own path by `Daemon::open`.)
        let (node, sub) = rest.split_once('/').unwrap_or((rest, ""));
        // Its root is a directory whatever the flags say.
        let open_flags = if sub.is_empty() { open_flags | flags::O_DIRECTORY } else { open_flags };
        return Ok(Box::new(RemoteFile::open(cx, node, sub, open_flags)?));
    }
    if first == "scheme" && !rest.is_empty() {
        let (name, sub) = rest.split_once('/').unwrap_or((rest, ""));
        let prefix = format!("/scheme/wasm/scheme/{name}");
        return Ok(Box::new(GuestFile::open(cx, name, sub, open_flags, prefix)?));
    }
    let wants_dir = open_flags & flags::O_DIRECTORY != 0;
    let access = open_flags & flags::O_ACCMODE;
    let writing = access != flags::O_RDONLY && access != 0;
    if first == "run" && !rest.is_empty() && wants_dir {
        // Refused before the module starts loading.
        return Err(Errno::NotADirectory);
    }
    let file = tree_file(cx, first, rest, open_flags)?;
    if wants_dir && !file.is_dir() {
        return Err(Errno::NotADirectory);
    }
    if writing && file.is_dir() {
        return Err(Errno::IsADirectory);
    }
    Ok(file)
}

/// The tree's own file `first/rest`.
fn tree_file(
    cx: &mut Context<'_>,
    first: &str,
    rest: &str,
    open_flags: u32,
) -> Result<Box<dyn ControlFile>, Errno> {
    Ok(match (first, rest) {
        ("", "") => Box::new(dirs::Root),
        ("ps", "") => Box::new(Snapshot::ps(cx)),
        ("ps.json", "") => Box::new(Snapshot::ps_json(cx)),
        ("spawn", "") => Box::new(SpawnFile::new()),
        ("bridge", "") if cx.cluster.is_some() => Box::new(BridgeFile::default()),
        ("run", "") => Box::new(dirs::RunDir),
        ("shm", "") => Box::new(dirs::ShmDir),
        ("chan", "") => Box::new(dirs::ChanDir),
        ("scheme", "") => Box::new(dirs::SchemeDir),
        ("name", "") => Box::new(dirs::NameDir),
        ("node", "") if cx.cluster.is_some() => Box::new(NodeDir),
        ("name", name) => Box::new(Snapshot::name(cx, name)?),
        ("shm", "index") => Box::new(Snapshot::shm_index(cx)),
        ("shm", id) => Box::new(ShmFile::open(cx, id)?),
        ("chan", id) => Box::new(ChanFile::open_region(cx, id, open_flags)?),
        ("run", module) => Box::new(RunFile::open(cx, module)),
        (pid, file) => {
            let pid: Pid = pid.parse().map_err(|_| Errno::NotFound)?;
            let owner = cx.lock().process(pid).ok_or(Errno::NotFound)?.owner;
            if !file.is_empty() {
                cx.may_control(owner)?;
            }
            match file {
                "" => Box::new(dirs::PidDir),
                "status" => Box::new(Snapshot::status(cx, pid)?),
                "status.json" => Box::new(Snapshot::status_json(cx, pid)?),
                "log" => Box::new(Snapshot::log(cx, pid)?),
                "stdout" => Box::new(OutputStream::new(pid, Which::Stdout)),
                "stderr" => Box::new(OutputStream::new(pid, Which::Stderr)),
                "stdin" => Box::new(StdinFile::open(cx, pid)),
                "wait" => Box::new(WaitFile::new(pid)),
                "ctl" => Box::new(CtlFile::new(pid)),
                "links" => Box::new(Snapshot::links(cx, pid)?),
                "monitors" => Box::new(Snapshot::monitors(cx, pid)?),
                _ => return Err(Errno::NotFound),
            }
        }
    })
}

/// True when `path` names a node of the tree (without opening it);
/// `node/…` exists only `in_cluster`.
pub(crate) fn exists(kernel: &wasmhost::Kernel, in_cluster: bool, path: &str) -> bool {
    let (first, rest) = path.split_once('/').unwrap_or((path, ""));
    match (first, rest) {
        ("ps" | "ps.json" | "stats" | "spawn" | "run" | "shm" | "chan" | "scheme", _) => true,
        ("name", "") => true,
        ("node", _) | ("bridge", "") => in_cluster,
        ("name", name) => {
            let pm = kernel.lock();
            pm.whereis(name).is_some() || pm.whereis_in_cluster(name).is_some()
        }
        (pid, file) => pid.parse::<Pid>().ok().is_some_and(|pid| {
            kernel.lock().process(pid).is_some() && (file.is_empty() || PID_FILES.contains(&file))
        }),
    }
}
