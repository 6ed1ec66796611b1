//! What the client commands (`wasmd ps`, `status`, `kill`, `spawn`,
//! `cat`, `ls`, `write`) report when they fail, and `cat` itself. The
//! connection is OS-specific: [`crate::sys::Client`] (Linux: the control
//! socket; Redox: the files under `/scheme/wasm`), seen here through the
//! [`Files`] trait.
//!
//! `cat` of a `run/` file is how a person runs a guest through the daemon,
//! so it behaves as `wasmd run` does: stdout streamed to stdout, the
//! guest's stderr streamed to stderr (from `PID/stderr`, on a second
//! connection), the guest's exit status as the exit code, and when the
//! output's reader goes away (`| head -1`) the file is closed, which
//! kills the guest, and the exit code is 141 (as for `SIGPIPE`). Its own
//! stdin becomes the guest's (written to `PID/stdin` on a third
//! connection; closed at its end, which ends the guest's input).

use std::io::Write;

use wasmd_abi::{errno, ExitStatus};

/// A process as the client commands name it: `PID` on the daemon they
/// talk to, or `NODE/PID` on another node of its cluster (what a spawn
/// with `node=NODE` answers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessRef {
    /// The node, when another.
    pub node: Option<String>,
    /// The pid (on that node).
    pub pid: u32,
}

impl ProcessRef {
    /// The process's directory of the tree: `/scheme/wasm/PID`, or
    /// `/scheme/wasm/node/NODE/PID`.
    pub fn dir(&self) -> String {
        match &self.node {
            Some(node) => format!("/scheme/wasm/node/{node}/{}", self.pid),
            None => format!("/scheme/wasm/{}", self.pid),
        }
    }
}

impl std::str::FromStr for ProcessRef {
    type Err = String;

    fn from_str(text: &str) -> Result<ProcessRef, String> {
        let bad = || format!("`{text}` is not a process: PID or NODE/PID");
        let (node, pid) = match text.split_once('/') {
            Some((node, pid)) => {
                crate::cluster::wire::check_node_name(node)?;
                (Some(node.to_string()), pid)
            }
            None => (None, text),
        };
        Ok(ProcessRef { node, pid: pid.parse().map_err(|_| bad())? })
    }
}

impl std::fmt::Display for ProcessRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.node {
            Some(node) => write!(f, "{node}/{}", self.pid),
            None => write!(f, "{}", self.pid),
        }
    }
}

/// A client error: the daemon refused (errno), or the connection failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The daemon answered with an errno.
    #[error("{}", errno::describe(*.0))]
    Errno(i32),
    /// The daemon answered with an errno and said why (its `error/ID`
    /// file for the open file the request was on).
    #[error("{reason}")]
    Refused {
        /// The errno.
        errno: i32,
        /// Why, in the daemon's words.
        reason: String,
    },
    /// The connection failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The daemon answered something unexpected.
    #[error("unexpected answer from the daemon")]
    Protocol,
    /// The connection closed before the answer came.
    #[error("the daemon went away before it answered")]
    DaemonGone,
}

impl ClientError {
    /// The daemon's errno, when it answered with one.
    pub fn errno(&self) -> Option<i32> {
        match self {
            ClientError::Errno(errno) | ClientError::Refused { errno, .. } => Some(*errno),
            _ => None,
        }
    }

    /// The error with the daemon's reason for it, when it is an errno
    /// and `reason` (what the file's `error/ID` said) is not empty.
    pub fn with_reason(self, reason: Option<String>) -> ClientError {
        match (self, reason.as_deref().map(str::trim)) {
            (ClientError::Errno(errno), Some(r)) if !r.is_empty() => {
                ClientError::Refused { errno, reason: r.to_string() }
            }
            (e, _) => e,
        }
    }
}

impl ClientError {
    /// The error of an open of `path`: a process's file that is not
    /// there is "no such process PID", not "no such file".
    pub fn on_open(self, path: &str) -> ClientError {
        let pid = path.strip_prefix("/scheme/wasm/").and_then(|rest| rest.split('/').next());
        match (self, pid) {
            (ClientError::Errno(errno), Some(pid))
                if errno == wasmd_abi::Errno::NotFound.errno() && pid.parse::<u32>().is_ok() =>
            {
                ClientError::Refused { errno, reason: format!("no such process {pid}") }
            }
            (e, _) => e,
        }
    }
}

impl ClientError {
    /// The error of a read or listing of `path`, naming it when the
    /// daemon gave no reason of its own.
    pub fn at(self, path: &str) -> ClientError {
        match self {
            ClientError::Errno(errno) => {
                let what = match errno {
                    errno::EBADF => "cannot be read (it is write-only)",
                    e => errno::describe(e),
                };
                ClientError::Refused { errno, reason: format!("{path}: {what}") }
            }
            e => e,
        }
    }

    /// The error of a write to `path`, naming it when the daemon gave no
    /// reason of its own.
    pub fn writing(self, path: &str) -> ClientError {
        match self {
            ClientError::Errno(errno) => {
                let what = match errno {
                    errno::EBADF => "cannot be written (it is read-only)",
                    errno::EPIPE => {
                        "nobody reads it (a process's stdin needs stdin=pipe at spawn, and ends once closed)"
                    }
                    e => errno::describe(e),
                };
                ClientError::Refused { errno, reason: format!("{path}: {what}") }
            }
            e => e,
        }
    }
}

/// How `cat` failed.
#[derive(Debug, thiserror::Error)]
pub enum CatError {
    /// The module of a `run/` file cannot run (see [`load_failure_code`]).
    #[error(transparent)]
    Load(ClientError),
    /// Anything else.
    #[error(transparent)]
    Other(#[from] ClientError),
}

/// The exit code of a `run/` file whose module cannot run, as `wasmd run`
/// gives: 127 when the file cannot be read, else 126 (not a module that
/// can run: invalid, a directory, an unknown import, refused).
pub fn load_failure_code(e: &ClientError) -> u8 {
    match e.errno() {
        Some(errno::ENOENT) => 127,
        _ => 126,
    }
}

/// `path` with repeated slashes and `.` components gone (what the daemon
/// resolves it to), so `/scheme/wasm//run/x` is a run file too.
pub fn tidy(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for part in path.split('/').filter(|p| !p.is_empty() && *p != ".") {
        out.push('/');
        out.push_str(part);
    }
    if out.is_empty() || (path.ends_with('/') && path.len() > 1) {
        out.push('/');
    }
    out
}

/// The path of the file that says why a request on the open file `id`
/// (its inode number) failed.
pub fn reason_path(id: u64) -> String {
    format!("/scheme/wasm/error/{id}")
}

/// Reading files of the daemon's tree, by handle.
pub trait Files {
    /// An open file.
    type Handle;
    /// Opens `path` for reading.
    fn open_read(&mut self, path: &str) -> Result<Self::Handle, ClientError>;
    /// Reads the next bytes (empty at the end).
    fn read_next(&mut self, file: &mut Self::Handle) -> Result<Vec<u8>, ClientError>;
    /// Opens `path` for writing.
    fn open_write(&mut self, path: &str) -> Result<Self::Handle, ClientError>;
    /// Writes some of `data`; returns how much was taken.
    fn write_next(&mut self, file: &mut Self::Handle, data: &[u8]) -> Result<usize, ClientError>;
    /// The path the daemon gives the open file.
    fn path_of(&mut self, file: &Self::Handle) -> Result<String, ClientError>;
    /// Closes it.
    fn close(&mut self, file: Self::Handle);
    /// Why the last request on the open `file` failed, if the daemon said.
    fn reason(&mut self, file: &Self::Handle) -> Option<String>;
}

/// The exit code when the output's reader went away.
pub const OUTPUT_CLOSED: u8 = 141;

/// `wasmd cat PATH`: streams the file to stdout; for a `run/` file also
/// the guest's stderr and its exit status (see the module docs).
/// `second` makes another connection (for the stderr stream). Returns
/// the exit code.
pub fn cat<C: Files + Send + 'static>(
    client: &mut C,
    path: &str,
    second: impl Fn() -> Result<C, ClientError>,
) -> Result<u8, CatError> {
    let path = &tidy(path);
    let is_run = path.strip_prefix("/scheme/wasm/run/").is_some_and(|m| !m.is_empty());
    let mut file = match client.open_read(path) {
        Ok(file) => file,
        Err(e) if is_run && e.errno().is_some() => return Err(CatError::Load(e)),
        Err(e) => return Err(e.into()),
    };
    let process = if is_run {
        match client.path_of(&file) {
            Ok(stdout) => stdout.strip_suffix("/stdout").map(str::to_string),
            Err(e) => {
                let reason = client.reason(&file);
                client.close(file);
                let e = e.with_reason(reason);
                return Err(if e.errno().is_some() { CatError::Load(e) } else { e.into() });
            }
        }
    } else {
        None
    };
    let stderr = process.clone().and_then(|dir| {
        let mut other = second().ok()?;
        Some(std::thread::spawn(move || {
            let _ = copy(&mut other, &format!("{dir}/stderr"), &mut std::io::stderr());
        }))
    });
    if let Some(dir) = process.clone() {
        if let Ok(mut other) = second() {
            // Detached: a read of a terminal may never end; the process
            // ends it.
            std::thread::spawn(move || feed_stdin(&mut other, &format!("{dir}/stdin")));
        }
    }
    let copied = loop {
        match client.read_next(&mut file) {
            Ok(data) if data.is_empty() => break Ok(true),
            Ok(data) => {
                let mut out = std::io::stdout().lock();
                if out.write_all(&data).and_then(|()| out.flush()).is_err() {
                    break Ok(false);
                }
            }
            Err(e) => {
                let reason = client.reason(&file);
                break Err(e.with_reason(reason));
            }
        }
    };
    // Closing a `run/` file before its guest ended kills the guest.
    client.close(file);
    if !copied? {
        return Ok(OUTPUT_CLOSED);
    }
    if let Some(thread) = stderr {
        let _ = thread.join();
    }
    let Some(dir) = process else { return Ok(0) };
    let mut wait = client.open_read(&format!("{dir}/wait"))?;
    let text = client.read_next(&mut wait);
    client.close(wait);
    let status: ExitStatus =
        String::from_utf8_lossy(&text?).parse().map_err(|()| CatError::Other(ClientError::Protocol))?;
    if !matches!(status, ExitStatus::Exited(_)) {
        eprintln!("{status}");
    }
    Ok(status.shell_code())
}

/// Copies this process's stdin to the file `path` (a guest's
/// `PID/stdin`), closing it at the end of the input. Input is read only
/// when the guest asks for it (a write of nothing waits for that), so a
/// guest that never reads leaves it unread.
fn feed_stdin<C: Files>(client: &mut C, path: &str) {
    let Ok(mut file) = client.open_write(path) else { return };
    let mut stdin = std::io::stdin().lock();
    let mut chunk = vec![0u8; 64 * 1024];
    'input: loop {
        if client.write_next(&mut file, &[]).is_err() {
            break;
        }
        let n = match std::io::Read::read(&mut stdin, &mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let mut rest = &chunk[..n];
        while !rest.is_empty() {
            match client.write_next(&mut file, rest) {
                Ok(taken) if taken > 0 => rest = &rest[taken..],
                _ => break 'input,
            }
        }
    }
    client.close(file);
}

/// Copies a whole file of the tree to `out`.
fn copy<C: Files>(client: &mut C, path: &str, out: &mut impl Write) -> Result<(), ClientError> {
    let mut file = client.open_read(path)?;
    let result = loop {
        match client.read_next(&mut file) {
            Ok(data) if data.is_empty() => break Ok(()),
            Ok(data) => {
                if let Err(e) = out.write_all(&data).and_then(|()| out.flush()) {
                    break Err(e.into());
                }
            }
            Err(e) => break Err(e),
        }
    };
    client.close(file);
    result
}
