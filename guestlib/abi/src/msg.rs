//! Structured hostcall payloads (postcard).
//!
//! Postcard encoding in brief, enough to write these by hand from any
//! language: unsigned integers (`u16`, `u32`, `u64`) are LEB128 varints;
//! signed integers are zigzag-encoded and then varints; `bool` is one byte;
//! `Option<T>` is a byte `0` (None) or `1` followed by `T`; strings and
//! byte slices are a varint length followed by the bytes; sequences are a
//! varint count followed by the elements; structs are their fields in
//! order, with no tags; enums are the variant index as a varint followed by
//! the variant's fields; `[u8; N]` is N bytes with no length.
//!
//! Each type documents its bytes; `tests/golden.rs` pins them.

use alloc::string::String;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

use crate::caps::Caps;

/// Payload of the `spawn` hostcall.
///
/// Bytes: `module` ([`ModuleSource`]), `args` (varint count, then each
/// string as varint length + UTF-8), `caps` (`0` = inherit the caller's
/// set, or `1` + varint bits), `limits` ([`SpawnLimits`]), `grants`
/// (varint count, then each [`Grant`]), `namespace` (`0`, or `1` + varint
/// count + strings).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpawnRequest<'a> {
    /// Where the module comes from.
    #[serde(borrow)]
    pub module: ModuleSource<'a>,
    /// The child's arguments (`args` hostcall). By convention the first
    /// is the program name.
    #[serde(borrow)]
    pub args: Vec<&'a str>,
    /// The child's capabilities; `None` inherits the caller's. Must be a
    /// subset of the caller's set, else `-EPERM`.
    pub caps: Option<Caps>,
    /// The child's limits; each unset limit inherits the caller's.
    pub limits: SpawnLimits,
    /// Handles passed to the child: each arrives as a pending share the
    /// child attaches by id (`region_attach`).
    pub grants: Vec<Grant>,
    /// The child's namespace grants (`SCHEME:PREFIX[=ro|rw]`, see the
    /// hostcall docs); `None` inherits the caller's. Each must be covered
    /// by one of the caller's (else `-EPERM`).
    #[serde(borrow)]
    pub namespace: Option<Vec<&'a str>>,
}

/// A handle passed to a child at spawn. The handle needs the `GRANT`
/// right; `rights` must be a subset of its rights (else `-EPERM`).
///
/// Bytes: `handle` varint, `rights` varint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// The caller's handle.
    pub handle: u32,
    /// Rights the child gets.
    pub rights: crate::Rights,
}

/// Where a spawned module comes from.
///
/// Bytes: variant `0` = `Path` + string; variant `1` = `Bytes` + varint
/// length + the module bytes (binary wasm or WAT text); variant `2` =
/// `Handle` + varint module handle (from `module_open` or `module_load`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ModuleSource<'a> {
    /// A module file, resolved by the daemon's module loader (relative
    /// paths against the directory of the caller's own module file).
    Path(&'a str),
    /// The module's bytes.
    Bytes(&'a [u8]),
    /// A module handle of the caller (`module_open`, `module_load`): the
    /// module is spawned as compiled, nothing is read or hashed.
    Handle(u32),
}

/// Limits requested for a child. A child's limit can never exceed its
/// parent's (`-EPERM`).
///
/// Bytes: four options in order: `max_pages` (varint u32), `fuel`
/// (varint u64), `max_handles` (varint u32), `max_region_bytes` (varint
/// u64).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpawnLimits {
    /// Most 64 KiB pages of linear memory.
    pub max_pages: Option<u32>,
    /// Total fuel the child may burn before it ends with `OutOfFuel`.
    pub fuel: Option<u64>,
    /// Most live handles.
    pub max_handles: Option<u32>,
    /// Most bytes of shared-memory regions held at once.
    pub max_region_bytes: Option<u64>,
}

/// How a process ended.
///
/// Bytes: variant index, then: `0` `Exited` + zigzag varint code;
/// `1` `Trapped` + string message; `2` `Killed`; `3` `OutOfFuel`;
/// `4` `MemoryLimit`; `5` `NoConnection`; `6` `NoProcess`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExitStatus {
    /// The process called `exit(code)` or returned from `_start` (code 0).
    Exited(i32),
    /// The process trapped; the message names the trap and, where the
    /// interpreter provides one, the wasm backtrace. At most
    /// [`TRAP_MESSAGE_MAX_LEN`] bytes.
    Trapped(String),
    /// Killed by `kill` (or by the control tree).
    Killed,
    /// Its total fuel budget ran out.
    OutOfFuel,
    /// It tried to grow its memory past its limit.
    MemoryLimit,
    /// A process of another node (see *Processes of other nodes* in
    /// [`crate::hostcall`]) that this node lost: its node left the
    /// cluster (no heartbeat within the node timeout). How it really
    /// ended, if it did, is not known here.
    NoConnection,
    /// A process of another node that was not there (not live, or not
    /// one this node may watch) when a link to it reached its node.
    NoProcess,
}

/// Longest trap message carried in an [`ExitStatus`].
pub const TRAP_MESSAGE_MAX_LEN: usize = 512;
/// Largest encoded [`ExitStatus`]: a `wait` buffer of this size always fits.
pub const EXIT_STATUS_MAX_LEN: usize = TRAP_MESSAGE_MAX_LEN + 4;

impl ExitStatus {
    /// The exit code (0–255) a command-line runner reports for this
    /// status: 0 only for `exited(0)`; the low 8 bits of any other code,
    /// or 1 when those are 0 (so `exit(256)` or `exit(-256)` is still a
    /// failure); 134 for a trap; 137 for killed, out of fuel, memory
    /// limit, no connection or no process.
    pub fn shell_code(&self) -> u8 {
        match self {
            ExitStatus::Exited(0) => 0,
            ExitStatus::Exited(code) => match (*code & 0xff) as u8 {
                0 => 1,
                low => low,
            },
            ExitStatus::Trapped(_) => 134,
            ExitStatus::Killed
            | ExitStatus::OutOfFuel
            | ExitStatus::MemoryLimit
            | ExitStatus::NoConnection
            | ExitStatus::NoProcess => 137,
        }
    }
}

impl core::str::FromStr for ExitStatus {
    type Err = ();

    /// The status its [`Display`](core::fmt::Display) form names (as
    /// `PID/wait` and `PID/status` show it).
    fn from_str(text: &str) -> Result<Self, ()> {
        let text = text.trim_end_matches('\n');
        if let Some(code) = text.strip_prefix("exited(").and_then(|t| t.strip_suffix(')')) {
            return code.parse().map(ExitStatus::Exited).map_err(|_| ());
        }
        if let Some(message) = text.strip_prefix("trap: ") {
            return Ok(ExitStatus::Trapped(message.into()));
        }
        match text {
            "killed" => Ok(ExitStatus::Killed),
            "out of fuel" => Ok(ExitStatus::OutOfFuel),
            "memory limit" => Ok(ExitStatus::MemoryLimit),
            "noconnection" => Ok(ExitStatus::NoConnection),
            "noproc" => Ok(ExitStatus::NoProcess),
            _ => Err(()),
        }
    }
}

impl core::fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ExitStatus::Exited(code) => write!(f, "exited({code})"),
            ExitStatus::Trapped(msg) => write!(f, "trap: {msg}"),
            ExitStatus::Killed => f.write_str("killed"),
            ExitStatus::OutOfFuel => f.write_str("out of fuel"),
            ExitStatus::MemoryLimit => f.write_str("memory limit"),
            ExitStatus::NoConnection => f.write_str("noconnection"),
            ExitStatus::NoProcess => f.write_str("noproc"),
        }
    }
}

/// Scheduling state of a process.
///
/// Bytes: variant index `0` Ready, `1` Running, `2` Blocked, `3`
/// Suspended, `4` Exited.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RunState {
    /// Runnable, waiting for its turn.
    Ready,
    /// Running now (only ever seen by the process itself).
    Running,
    /// Parked in a blocking hostcall.
    Blocked,
    /// Stopped by its supervisor until resumed.
    Suspended,
    /// Ended; see the status.
    Exited,
}

/// Reply of the `process_info` hostcall.
///
/// Bytes: `pid` varint, `parent` varint (0 = none), `state` ([`RunState`]),
/// `name` string, `module_hash` 8 raw bytes (prefix of the SHA-256 of the
/// module bytes), `memory_pages` varint, `fuel_used` varint, `caps` varint,
/// `status` option of [`ExitStatus`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessInfo {
    /// Process id.
    pub pid: u32,
    /// Parent's pid, 0 for none.
    pub parent: u32,
    /// Scheduling state.
    pub state: RunState,
    /// Module name (file stem, or `"<bytes>"`).
    pub name: String,
    /// First 8 bytes of the SHA-256 of the module bytes.
    pub module_hash: [u8; 8],
    /// Current linear memory size in 64 KiB pages.
    pub memory_pages: u32,
    /// Fuel burnt so far.
    pub fuel_used: u64,
    /// Capability set.
    pub caps: Caps,
    /// Exit status once exited.
    pub status: Option<ExitStatus>,
}

/// Encodes a message into a new vector.
pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Serializing into a Vec cannot fail for these types.
    postcard::to_allocvec(value).unwrap_or_default()
}

/// Decodes a message, rejecting trailing bytes.
pub fn decode<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, postcard::Error> {
    let (value, rest) = postcard::take_from_bytes(bytes)?;
    if rest.is_empty() {
        Ok(value)
    } else {
        Err(postcard::Error::DeserializeBadEncoding)
    }
}

#[cfg(test)]
mod shell_code_tests {
    use super::ExitStatus;

    #[test]
    fn only_exited_zero_is_success() {
        let code = |c: i32| ExitStatus::Exited(c).shell_code();
        assert_eq!(code(0), 0);
        assert_eq!(code(3), 3);
        assert_eq!(code(255), 255);
        for failing in [256, 512, -256, 65536, i32::MIN] {
            assert_eq!(code(failing), 1, "exit({failing})");
        }
        assert_eq!(code(258), 2);
        assert_eq!(code(-1), 255);
        assert_eq!(ExitStatus::Trapped("x".into()).shell_code(), 134);
        for s in [
            ExitStatus::Killed,
            ExitStatus::OutOfFuel,
            ExitStatus::MemoryLimit,
            ExitStatus::NoConnection,
            ExitStatus::NoProcess,
        ] {
            assert_eq!(s.shell_code(), 137);
        }
    }

    #[test]
    fn the_shown_form_parses_back() {
        use alloc::string::ToString;
        for s in [
            ExitStatus::Exited(0),
            ExitStatus::Exited(-3),
            ExitStatus::Trapped("unreachable: it was".into()),
            ExitStatus::Killed,
            ExitStatus::OutOfFuel,
            ExitStatus::MemoryLimit,
            ExitStatus::NoConnection,
            ExitStatus::NoProcess,
        ] {
            assert_eq!(s.to_string().parse::<ExitStatus>(), Ok(s.clone()));
            assert_eq!(alloc::format!("{s}\n").parse::<ExitStatus>(), Ok(s));
        }
        assert!("exited(x)".parse::<ExitStatus>().is_err());
        assert!("running".parse::<ExitStatus>().is_err());
    }
}
