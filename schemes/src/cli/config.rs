//! The daemon's config file: TOML, read by `wasmd daemon` (and, for its
//! `socket`, by the client commands).
//!
//! [`ConfigFile::load`] finds and parses it: the file `--config` names, or
//! else the default ([`default_path`]: `$XDG_CONFIG_HOME/wasmd/daemon.toml`,
//! else `~/.config/wasmd/daemon.toml`; on Redox `/etc/wasmd/daemon.toml`)
//! when it exists. [`DaemonConfig`] is its contents; every key is
//! optional, an unknown key or a bad value is a [`ConfigError`] naming the
//! file, the key and the reason. Flags given on the command line win over
//! the file (`super::daemon`).
//!
//! ```toml
//! socket = "/run/user/1000/wasmd.sock"
//! module_dirs = ["/usr/share/wasmd"]
//! fs_root = "/srv/wasmd"
//! memory_budget_mib = 4096
//! workers = 2
//! user_caps = "stdio,time,random,spawn,shm,scheme"
//!
//! [limits]
//! slice_fuel = 100000
//! max_processes = 1000000
//! max_tree = 16384
//! max_children = 4096
//! retained_exited = 1024
//! log_kib = 64
//! max_regions = 65536
//! max_region_mib = 4096
//! max_tree_region_mib = 1024
//!
//! [cluster]
//! nats = "nats://10.0.0.1:4222"
//! node = "alpha"
//! user = "wasmd"
//! password = "…"          # or $WASMD_NATS_PASSWORD
//! token = "…"             # or $WASMD_NATS_TOKEN
//! nkey = "/etc/wasmd/nkey.seed"
//! creds = "/etc/wasmd/node.creds"
//! ca = "/etc/wasmd/nats-ca.pem"
//! cert = "/etc/wasmd/node.pem"
//! key = "/etc/wasmd/node.key"
//! heartbeat_ms = 1000
//! node_timeout_ms = 3000
//! remote_user = "65534:65534"
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;
use wasmd_abi::Caps;

use super::args::{check_existing_dir, parse_caps};

/// The contents of the config file; a key left out keeps the default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DaemonConfig {
    /// The Linux control socket (`--socket`).
    pub socket: Option<PathBuf>,
    /// Directories guests may spawn modules from (`--module-dir`).
    #[serde(default)]
    pub module_dirs: Vec<PathBuf>,
    /// The directory guests' `file:` paths live in on Linux (`--fs-root`);
    /// it must exist.
    pub fs_root: Option<PathBuf>,
    /// The memory budget of all guests together, MiB (`--memory-budget`).
    pub memory_budget_mib: Option<u64>,
    /// Scheduler threads, 1 to 1024 (`--workers`).
    pub workers: Option<u16>,
    /// Capabilities the guests of users other than root and the daemon's
    /// own may hold, comma-separated as in spawn specs.
    pub user_caps: Option<String>,
    /// The process manager's limits.
    #[serde(default)]
    pub limits: LimitsConfig,
    /// The cluster to join (`--nats`).
    #[serde(default)]
    pub cluster: ClusterFileConfig,
}

/// The `[cluster]` table: how to join a cluster of nodes through NATS
/// (see `crate::cluster`); without `nats` the daemon joins none.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterFileConfig {
    /// The NATS server's URL (`--nats`).
    pub nats: Option<String>,
    /// This node's name (`--node`; default: the host name).
    pub node: Option<String>,
    /// NATS user (`--nats-user`).
    pub user: Option<String>,
    /// NATS password (`$WASMD_NATS_PASSWORD`).
    pub password: Option<String>,
    /// NATS token (`$WASMD_NATS_TOKEN`).
    pub token: Option<String>,
    /// The file holding the seed of this node's nkey (`--nats-nkey`).
    pub nkey: Option<PathBuf>,
    /// The NATS credentials file, a user JWT and its seed (`--nats-creds`).
    pub creds: Option<PathBuf>,
    /// TLS: the PEM file of the server's authorities (`--nats-ca`).
    pub ca: Option<PathBuf>,
    /// TLS: this node's certificate, PEM (`--nats-cert`).
    pub cert: Option<PathBuf>,
    /// TLS: the key of `cert`, PEM (`--nats-key`).
    pub key: Option<PathBuf>,
    /// Milliseconds between two heartbeats (`--heartbeat-ms`).
    pub heartbeat_ms: Option<u64>,
    /// Milliseconds without a heartbeat after which a node is gone
    /// (`--node-timeout-ms`).
    pub node_timeout_ms: Option<u64>,
    /// The user other nodes' requests act for here (`--remote-user`).
    pub remote_user: Option<String>,
}

/// The `[limits]` table: the process manager's bounds
/// ([`wasmhost::ManagerConfig`]); each left out keeps its default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Fuel per time slice (at least 1).
    pub slice_fuel: Option<u64>,
    /// Most live processes in all.
    pub max_processes: Option<usize>,
    /// Most live processes in one tree.
    pub max_tree: Option<usize>,
    /// Most children (live or unreaped) per process.
    pub max_children: Option<usize>,
    /// Exited processes kept for inspection once nobody can wait for them.
    pub retained_exited: Option<usize>,
    /// KiB kept per log stream per process.
    pub log_kib: Option<usize>,
    /// Most shared-memory regions alive at once.
    pub max_regions: Option<u64>,
    /// Most MiB of regions alive at once.
    pub max_region_mib: Option<u64>,
    /// Most MiB of regions one tree may hold.
    pub max_tree_region_mib: Option<u64>,
}

/// Why the config file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// It cannot be read.
    #[error("config file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// It is not TOML, has an unknown key or a value of the wrong type.
    #[error("config file {}{}: {reason}", path.display(), at.as_ref().map(|(line, key)| format!(", line {line}, key `{key}`")).unwrap_or_default())]
    Parse {
        /// The file.
        path: PathBuf,
        /// The line (from 1) and the key where it went wrong, when known.
        at: Option<(usize, String)>,
        /// The parser's reason.
        reason: String,
    },
    /// A value of the right type that cannot be used.
    #[error("config file {}: key `{key}`: {reason}", path.display())]
    Value {
        /// The file.
        path: PathBuf,
        /// The key (`limits.slice_fuel` for a key of a table).
        key: &'static str,
        /// Why.
        reason: String,
    },
}

/// The config file read: where it was and what it says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigFile {
    /// Its path.
    pub path: PathBuf,
    /// Its contents, checked.
    pub config: DaemonConfig,
}

/// Where the daemon looks for its config file when `--config` is not
/// given: `/etc/wasmd/daemon.toml` on Redox; elsewhere
/// `$XDG_CONFIG_HOME/wasmd/daemon.toml`, else
/// `$HOME/.config/wasmd/daemon.toml` (none without either variable).
pub fn default_path() -> Option<PathBuf> {
    if cfg!(target_os = "redox") {
        return Some(PathBuf::from("/etc/wasmd/daemon.toml"));
    }
    let absolute = |var: &str| std::env::var_os(var).map(PathBuf::from).filter(|p| p.is_absolute());
    let base = absolute("XDG_CONFIG_HOME").or_else(|| absolute("HOME").map(|home| home.join(".config")))?;
    Some(base.join("wasmd").join("daemon.toml"))
}

impl ConfigFile {
    /// Reads `explicit` (an error if it cannot be read), or else the
    /// [`default_path`] if there is a file there (`None` if not).
    pub fn load(explicit: Option<&Path>) -> Result<Option<ConfigFile>, ConfigError> {
        let path = match explicit {
            Some(path) => path.to_path_buf(),
            None => match default_path() {
                Some(path) if path.exists() => path,
                _ => return Ok(None),
            },
        };
        let text = std::fs::read_to_string(&path)
            .map_err(|source| ConfigError::Read { path: path.clone(), source })?;
        Self::parse(path, &text).map(Some)
    }

    /// Parses and checks the text of the file at `path`.
    pub fn parse(path: PathBuf, text: &str) -> Result<ConfigFile, ConfigError> {
        let config: DaemonConfig = match toml::from_str(text) {
            Ok(config) => config,
            Err(e) => {
                let at = e.span().map(|span| where_in(text, span.start));
                return Err(ConfigError::Parse { path, at, reason: e.message().trim().to_string() });
            }
        };
        if let Err((key, reason)) = config.check() {
            return Err(ConfigError::Value { path, key, reason });
        }
        Ok(ConfigFile { path, config })
    }
}

/// The line (from 1) of byte `offset` of `text`, and the key written on
/// it, with the table it is in (`limits.slice_fuel`).
fn where_in(text: &str, offset: usize) -> (usize, String) {
    let before = &text[..offset.min(text.len())];
    let line_no = before.matches('\n').count() + 1;
    let line = text.lines().nth(line_no - 1).unwrap_or("").trim();
    let table = before
        .lines()
        .map(str::trim)
        .rev()
        .find(|l| l.starts_with('[') && l.ends_with(']'))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_string());
    let key = match line.split_once('=') {
        Some((key, _)) => key.trim().to_string(),
        None => line.trim_matches(|c| c == '[' || c == ']').trim().to_string(),
    };
    match table {
        Some(table) if line.contains('=') => (line_no, format!("{table}.{key}")),
        _ => (line_no, key),
    }
}

/// The largest number of MiB whose bytes fit in a `u64`.
const MAX_MIB: u64 = u64::MAX >> 20;

impl DaemonConfig {
    /// Checks the values the types let through; the key and the reason
    /// of the first bad one.
    fn check(&self) -> Result<(), (&'static str, String)> {
        if self.socket.as_ref().is_some_and(|s| s.as_os_str().is_empty()) {
            return Err(("socket", "an empty path".into()));
        }
        if let Some(root) = &self.fs_root {
            check_existing_dir(root).map_err(|reason| ("fs_root", reason))?;
        }
        if let Some(mib) = self.memory_budget_mib {
            in_range(mib, 1, MAX_MIB).map_err(|reason| ("memory_budget_mib", reason))?;
        }
        if let Some(workers) = self.workers {
            in_range(u64::from(workers), 1, 1024).map_err(|reason| ("workers", reason))?;
        }
        if let Some(caps) = &self.user_caps {
            parse_caps(caps).map_err(|reason| ("user_caps", reason))?;
        }
        let limits = &self.limits;
        let checks: [(&'static str, Option<u64>, u64, u64); 9] = [
            ("limits.slice_fuel", limits.slice_fuel, 1, u64::MAX),
            ("limits.max_processes", limits.max_processes.map(|n| n as u64), 1, u64::MAX),
            ("limits.max_tree", limits.max_tree.map(|n| n as u64), 1, u64::MAX),
            ("limits.max_children", limits.max_children.map(|n| n as u64), 0, u64::MAX),
            ("limits.retained_exited", limits.retained_exited.map(|n| n as u64), 0, u64::MAX),
            ("limits.log_kib", limits.log_kib.map(|n| n as u64), 0, (usize::MAX >> 10) as u64),
            ("limits.max_regions", limits.max_regions, 0, u64::MAX),
            ("limits.max_region_mib", limits.max_region_mib, 0, MAX_MIB),
            ("limits.max_tree_region_mib", limits.max_tree_region_mib, 0, MAX_MIB),
        ];
        for (key, value, min, max) in checks {
            if let Some(value) = value {
                in_range(value, min, max).map_err(|reason| (key, reason))?;
            }
        }
        Ok(())
    }

    /// The capabilities `user_caps` names (checked when the file was read).
    pub fn user_caps(&self) -> Option<Caps> {
        self.user_caps.as_deref().and_then(|list| parse_caps(list).ok())
    }

    /// `config` with the file's `[limits]` applied.
    pub fn apply_limits(&self, mut config: wasmhost::ManagerConfig) -> wasmhost::ManagerConfig {
        let l = &self.limits;
        let set = |field: &mut u64, value: Option<u64>| {
            if let Some(v) = value {
                *field = v;
            }
        };
        set(&mut config.slice_fuel, l.slice_fuel);
        set(&mut config.max_regions, l.max_regions);
        set(&mut config.max_region_bytes, l.max_region_mib.map(|m| m << 20));
        set(&mut config.max_tree_region_bytes, l.max_tree_region_mib.map(|m| m << 20));
        let set = |field: &mut usize, value: Option<usize>| {
            if let Some(v) = value {
                *field = v;
            }
        };
        set(&mut config.max_processes, l.max_processes);
        set(&mut config.max_tree, l.max_tree);
        set(&mut config.max_children, l.max_children);
        set(&mut config.retained_exited, l.retained_exited);
        set(&mut config.log_capacity, l.log_kib.map(|k| k << 10));
        config
    }
}

/// `Ok` if `min <= value <= max`, else the reason.
fn in_range(value: u64, min: u64, max: u64) -> Result<(), String> {
    if (min..=max).contains(&value) {
        Ok(())
    } else if max == u64::MAX {
        Err(format!("{value} is less than {min}"))
    } else {
        Err(format!("{value} is not between {min} and {max}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ConfigFile, ConfigError> {
        ConfigFile::parse(PathBuf::from("/etc/wasmd/daemon.toml"), text)
    }

    #[test]
    fn every_key_is_read() {
        let file = parse(
            "socket = \"/run/w.sock\"\nmodule_dirs = [\"/a\", \"/b\"]\nfs_root = \"/\"\nmemory_budget_mib = 512\n\
             workers = 3\nuser_caps = \"stdio,time\"\n[limits]\nslice_fuel = 5000\nmax_processes = 10\n\
             max_tree = 9\nmax_children = 8\nretained_exited = 7\nlog_kib = 4\nmax_regions = 6\n\
             max_region_mib = 5\nmax_tree_region_mib = 2\n",
        )
        .unwrap();
        let c = &file.config;
        assert_eq!(c.socket, Some(PathBuf::from("/run/w.sock")));
        assert_eq!(c.module_dirs, [PathBuf::from("/a"), PathBuf::from("/b")]);
        assert_eq!((c.memory_budget_mib, c.workers), (Some(512), Some(3)));
        assert_eq!(c.user_caps(), Some(Caps::STDIO.union(Caps::TIME)));
        let m = c.apply_limits(wasmhost::ManagerConfig::default());
        assert_eq!((m.slice_fuel, m.max_processes, m.max_tree, m.max_children), (5000, 10, 9, 8));
        assert_eq!((m.retained_exited, m.log_capacity, m.max_regions), (7, 4096, 6));
        assert_eq!((m.max_region_bytes, m.max_tree_region_bytes), (5 << 20, 2 << 20));
        assert_eq!(parse("").unwrap().config, DaemonConfig::default());
    }

    #[test]
    fn errors_name_the_file_the_key_and_the_reason() {
        let err = parse("workers = 2\ncolour = \"blue\"\n").unwrap_err().to_string();
        assert!(err.starts_with("config file /etc/wasmd/daemon.toml, line 2, key `colour`: "), "{err}");
        assert!(err.contains("unknown field `colour`"), "{err}");
        let err = parse("[limits]\nslice_fuel = 0\n").unwrap_err().to_string();
        assert_eq!(err, "config file /etc/wasmd/daemon.toml: key `limits.slice_fuel`: 0 is less than 1");
        let err = parse("[limits]\nslice_fuel = \"lots\"\n").unwrap_err().to_string();
        assert!(err.contains("line 2, key `limits.slice_fuel`"), "{err}");
        let err = parse("workers = 0\n").unwrap_err().to_string();
        assert!(err.ends_with("key `workers`: 0 is not between 1 and 1024"), "{err}");
        let err = parse("user_caps = \"stdio,root\"\n").unwrap_err().to_string();
        assert!(err.contains("key `user_caps`: unknown capability `root`"), "{err}");
        let err = parse("fs_root = \"/nonexistent/wasmd\"\n").unwrap_err().to_string();
        assert!(err.contains("key `fs_root`: directory `/nonexistent/wasmd` does not exist"), "{err}");
        let err = parse("workers = [\n").unwrap_err().to_string();
        assert!(err.starts_with("config file /etc/wasmd/daemon.toml"), "{err}");
    }
}
