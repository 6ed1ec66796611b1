//! `wasmd daemon`: its flags ([`DaemonArgs`]), the settings they and the
//! config file give together ([`DaemonSettings`]: a flag wins over the
//! file, the file over the defaults) and [`daemon_command`], which builds
//! the process manager and serves the control tree.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use wasmd_abi::Caps;

use super::args::parse_existing_dir;
use super::config::ConfigFile;
use crate::sys::Config;

/// What `wasmd daemon --help` says after the flags.
pub const CONFIG_HELP: &str = "\
Config file:
  TOML, read from --config FILE, else from
  $XDG_CONFIG_HOME/wasmd/daemon.toml (else ~/.config/wasmd/daemon.toml;
  on Redox /etc/wasmd/daemon.toml) when it exists. Every key is
  optional. Flags given on the command line win over the file (a
  --module-dir replaces its module_dirs), and $WASMD_SOCKET over its
  socket. An unknown key or a bad value stops the daemon (exit 2)
  with the file, the key and the reason.

    socket = \"/run/user/1000/wasmd.sock\"  # --socket (Linux)
    module_dirs = [\"/usr/share/wasmd\"]     # --module-dir
    fs_root = \"/srv/wasmd\"                 # --fs-root (must exist)
    memory_budget_mib = 4096               # --memory-budget
    workers = 2                            # --workers, 1 to 1024
    # what guests of other users may hold:
    user_caps = \"stdio,time,random,spawn,shm,scheme\"

    [limits]
    slice_fuel = 100000         # fuel per time slice, at least 1
    max_processes = 1000000     # live processes in all
    max_tree = 16384            # live processes in one tree
    max_children = 4096         # children per process
    retained_exited = 1024      # exited processes kept
    log_kib = 64                # KiB kept per log stream
    max_regions = 65536         # shared-memory regions in all
    max_region_mib = 4096       # MiB of regions in all
    max_tree_region_mib = 1024  # MiB of regions per tree

    [cluster]                   # join other nodes through NATS
    nats = \"nats://10.0.0.1:4222\"  # --nats
    node = \"alpha\"              # --node (default: the host name)
    user = \"wasmd\"              # --nats-user
    password = \"...\"            # or $WASMD_NATS_PASSWORD
    token = \"...\"               # or $WASMD_NATS_TOKEN
    nkey = \"/etc/wasmd/nkey.seed\" # --nats-nkey: the seed of an nkey user
    creds = \"/etc/wasmd/node.creds\" # --nats-creds: a user JWT and its seed
    ca = \"/etc/wasmd/nats-ca.pem\" # --nats-ca: TLS (also for tls:// URLs)
    cert = \"/etc/wasmd/node.pem\"  # --nats-cert, with key = --nats-key
    heartbeat_ms = 1000         # --heartbeat-ms
    node_timeout_ms = 3000      # --node-timeout-ms
    remote_user = \"65534:65534\" # --remote-user";

/// The flags of `wasmd daemon`.
#[derive(Args, Debug, Clone, Default)]
pub struct DaemonArgs {
    /// The config file (TOML; default: $XDG_CONFIG_HOME/wasmd/daemon.toml
    /// if it exists, on Redox /etc/wasmd/daemon.toml). Flags win over it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Control socket path (default: $WASMD_SOCKET, else the config file's
    /// `socket`, else $XDG_RUNTIME_DIR/wasmd.sock, else
    /// /tmp/wasmd-UID/wasmd.sock).
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// Let guests spawn modules from DIR (repeatable); directories of
    /// modules spawned through the tree are added automatically.
    #[arg(long = "module-dir", value_name = "DIR", value_parser = parse_existing_dir)]
    pub module_dirs: Vec<PathBuf>,
    /// Directory that guests' `file:` paths live in (Linux; it must exist).
    #[arg(long, value_name = "DIR", value_parser = parse_existing_dir)]
    pub fs_root: Option<PathBuf>,
    /// Most MiB all guests together may use (linear memory, tables,
    /// regions, logs); spawns and growth past it are refused. Default:
    /// three quarters of physical memory.
    #[arg(long, value_name = "MIB", value_parser = clap::value_parser!(u64).range(1..))]
    pub memory_budget: Option<u64>,
    /// Scheduler threads running guests in parallel, 1 to 1024 (default:
    /// one per core).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub workers: Option<u16>,
    /// Join the cluster of the NATS server at URL (e.g.
    /// nats://10.0.0.1:4222): other nodes' trees appear under `node/`,
    /// spawn specs may say `node=NAME`. Without it no network is
    /// touched. Password and token come from $WASMD_NATS_PASSWORD and
    /// $WASMD_NATS_TOKEN (or the config file).
    #[arg(long, value_name = "URL")]
    pub nats: Option<String>,
    /// This node's name in the cluster (default: the host name).
    #[arg(long, value_name = "NAME")]
    pub node: Option<String>,
    /// NATS user name.
    #[arg(long, value_name = "USER")]
    pub nats_user: Option<String>,
    /// Authenticate to the NATS server with the nkey whose seed (`SU…`)
    /// FILE holds.
    #[arg(long, value_name = "FILE")]
    pub nats_nkey: Option<PathBuf>,
    /// Authenticate to the NATS server with the NATS credentials FILE
    /// (`.creds`: a user JWT and its nkey seed, as `nsc` writes them, for
    /// a server in operator mode).
    #[arg(long, value_name = "FILE")]
    pub nats_creds: Option<PathBuf>,
    /// TLS to the NATS server, its certificate signed by an authority
    /// of this PEM file (or of the system's roots; a tls:// URL asks for
    /// TLS too).
    #[arg(long, value_name = "FILE")]
    pub nats_ca: Option<PathBuf>,
    /// This node's TLS certificate (PEM), for a server that asks for one
    /// (with --nats-key).
    #[arg(long, value_name = "FILE", requires = "nats_key")]
    pub nats_cert: Option<PathBuf>,
    /// The key of --nats-cert (PEM).
    #[arg(long, value_name = "FILE", requires = "nats_cert")]
    pub nats_key: Option<PathBuf>,
    /// Milliseconds between two heartbeats of this node (default 1000).
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(10..))]
    pub heartbeat_ms: Option<u64>,
    /// Milliseconds without a heartbeat after which a node counts as gone
    /// (default: three heartbeats).
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(10..))]
    pub node_timeout_ms: Option<u64>,
    /// The user (UID or UID:GID) other nodes' requests act for here: a
    /// remote caller gets what this local user would (default
    /// 65534:65534, nobody).
    #[arg(long, value_name = "UID[:GID]")]
    pub remote_user: Option<String>,
}

/// What the daemon runs with, from its flags and its config file.
#[derive(Debug, Clone)]
pub struct DaemonSettings {
    /// Where it serves (Linux).
    pub endpoint: Config,
    /// Directories guests may spawn modules from.
    pub module_dirs: Vec<PathBuf>,
    /// Where guests' `file:` paths live (Linux).
    pub fs_root: Option<PathBuf>,
    /// The process manager's configuration (memory budget, scheduler
    /// threads, limits).
    pub manager: wasmhost::ManagerConfig,
    /// What other users' guests may hold (`None`: the policy's default).
    pub user_caps: Option<Caps>,
    /// The cluster to join, if any (or why its settings are bad).
    pub cluster: Option<Result<crate::cluster::ClusterConfig, String>>,
}

impl DaemonSettings {
    /// The flags `args` over the config `file` over the defaults. The
    /// socket: `--socket`, else `$WASMD_SOCKET` (when `socket_from_env`),
    /// else the file's.
    pub fn new(args: DaemonArgs, file: Option<&ConfigFile>, socket_from_env: bool) -> DaemonSettings {
        let from_file = file.map(|f| f.config.clone()).unwrap_or_default();
        let cluster = cluster_settings(&args, &from_file.cluster);
        let socket = match args.socket {
            Some(socket) => Some(socket),
            None if socket_from_env => None,
            None => from_file.socket.clone(),
        };
        let module_dirs =
            if args.module_dirs.is_empty() { from_file.module_dirs.clone() } else { args.module_dirs };
        let memory_budget_mib = args.memory_budget.or(from_file.memory_budget_mib);
        let workers = args.workers.or(from_file.workers);
        let manager = from_file.apply_limits(wasmhost::ManagerConfig {
            memory_budget: memory_budget_mib.map_or_else(crate::sys::default_memory_budget, |mib| mib << 20),
            sched_workers: workers.map_or_else(crate::control::default_workers, usize::from),
            ..Default::default()
        });
        DaemonSettings {
            endpoint: Config { socket },
            module_dirs,
            fs_root: args.fs_root.or(from_file.fs_root.clone()),
            manager,
            user_caps: from_file.user_caps(),
            cluster,
        }
    }
}

/// The cluster settings of the flags over the `[cluster]` table and the
/// environment; `None` when neither names a NATS server.
fn cluster_settings(
    args: &DaemonArgs,
    file: &super::config::ClusterFileConfig,
) -> Option<Result<crate::cluster::ClusterConfig, String>> {
    let url = args.nats.clone().or_else(|| file.nats.clone())?;
    let node = args.node.clone().or_else(|| file.node.clone()).unwrap_or_else(host_name);
    let mut config = crate::cluster::ClusterConfig::new(url, node);
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    if let Some(user) = args.nats_user.clone().or_else(|| file.user.clone()) {
        let password = env("WASMD_NATS_PASSWORD").or_else(|| file.password.clone()).unwrap_or_default();
        config.user_password = Some((user, password));
    }
    config.token = env("WASMD_NATS_TOKEN").or_else(|| file.token.clone());
    if let Some(path) = args.nats_nkey.clone().or_else(|| file.nkey.clone()) {
        match std::fs::read_to_string(&path) {
            Ok(seed) => config.nkey_seed = Some(seed.trim().to_string()),
            Err(e) => return Some(Err(format!("nkey seed file {}: {e}", path.display()))),
        }
    }
    if let Some(path) = args.nats_creds.clone().or_else(|| file.creds.clone()) {
        match std::fs::read_to_string(&path) {
            Ok(creds) => config.creds = Some(creds),
            Err(e) => return Some(Err(format!("NATS credentials file {}: {e}", path.display()))),
        }
    }
    let ca = args.nats_ca.clone().or_else(|| file.ca.clone());
    let cert_key = match (args.nats_cert.clone(), args.nats_key.clone()) {
        (Some(cert), Some(key)) => Some((cert, key)),
        _ => file.cert.clone().zip(file.key.clone()),
    };
    if ca.is_some() || cert_key.is_some() {
        config.tls = Some(crate::cluster::TlsConfig { ca, cert_key });
    }
    if let Some(ms) = args.heartbeat_ms.or(file.heartbeat_ms) {
        config.heartbeat = std::time::Duration::from_millis(ms.max(10));
        config.node_timeout = config.heartbeat * 3;
    }
    if let Some(ms) = args.node_timeout_ms.or(file.node_timeout_ms) {
        config.node_timeout = std::time::Duration::from_millis(ms.max(10));
    }
    if let Some(user) = args.remote_user.as_deref().or(file.remote_user.as_deref()) {
        match parse_user(user) {
            Some(owner) => config.remote_user = owner,
            None => return Some(Err(format!("bad remote user `{user}`: UID or UID:GID"))),
        }
    }
    Some(crate::cluster::wire::check_node_name(&config.node).map(|()| config))
}

/// `UID` or `UID:GID` (the group defaults to the user's number).
fn parse_user(text: &str) -> Option<wasmhost::Owner> {
    let (uid, gid) = text.split_once(':').unwrap_or((text, text));
    Some(wasmhost::Owner { uid: uid.parse().ok()?, gid: gid.parse().ok()? })
}

/// The host name (`/etc/hostname`, else `$HOSTNAME`, else `wasmd`), as a
/// node name: characters a node name may not hold become `-`.
fn host_name() -> String {
    let name = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "wasmd".into());
    let name: String = name
        .chars()
        .take(crate::cluster::wire::MAX_NODE_NAME)
        .map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '-' })
        .collect();
    name
}

/// `wasmd daemon`: reads the config file, builds the process manager and
/// serves the control tree until the listener fails (exit 1). A bad
/// config file exits 2.
pub fn daemon_command(args: DaemonArgs) -> ExitCode {
    let file = match ConfigFile::load(args.config.as_deref()) {
        Ok(file) => file,
        Err(e) => {
            eprintln!("wasmd: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(file) = &file {
        log::info!("config file {}", file.path.display());
    }
    let settings = DaemonSettings::new(args, file.as_ref(), std::env::var_os("WASMD_SOCKET").is_some());
    let platform = match crate::sys::OsPlatform::with_file_root(settings.fs_root.as_deref()) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("wasmd: cannot initialise the platform: {e}");
            return ExitCode::from(1);
        }
    };
    let loader = Arc::new(crate::loader::FsModuleLoader::new(settings.module_dirs));
    let pm = wasmhost::ProcessManager::new(
        settings.manager,
        Arc::new(platform),
        loader,
        Arc::new(wasmhost::NoOutput),
    );
    let mut policy = crate::control::Policy::new(crate::sys::current_owner().uid);
    if let Some(caps) = settings.user_caps {
        policy.user_caps = caps;
    }
    let mut daemon = crate::control::Daemon::new(pm, policy);
    if let Some(cluster) = settings.cluster {
        let joined = cluster.and_then(|c| {
            let (url, node) = (c.url.clone(), c.node.clone());
            crate::cluster::Cluster::join(c)
                .inspect(|_| log::info!("joined the cluster at {url} as node {node}"))
                .map_err(|e| e.to_string())
        });
        match joined {
            Ok(c) => daemon.join_cluster(c),
            Err(e) => {
                eprintln!("wasmd: cannot join the cluster: {e}");
                return ExitCode::from(1);
            }
        }
    }
    match crate::sys::serve(daemon, &settings.endpoint) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wasmd: daemon on {}: {e}", settings.endpoint.endpoint());
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> ConfigFile {
        ConfigFile::parse(PathBuf::from("/etc/wasmd/daemon.toml"), text).unwrap()
    }

    #[test]
    fn flags_win_over_the_file_and_the_file_over_the_defaults() {
        let f = file(
            "socket = \"/f.sock\"\nmodule_dirs = [\"/f\"]\nmemory_budget_mib = 64\nworkers = 3\n\
             [limits]\nslice_fuel = 777\n",
        );
        let s = DaemonSettings::new(DaemonArgs::default(), Some(&f), false);
        assert_eq!(s.endpoint.socket, Some(PathBuf::from("/f.sock")));
        assert_eq!(s.module_dirs, [PathBuf::from("/f")]);
        assert_eq!((s.manager.memory_budget, s.manager.sched_workers), (64 << 20, 3));
        assert_eq!(s.manager.slice_fuel, 777);
        let args = DaemonArgs {
            socket: Some("/flag.sock".into()),
            module_dirs: vec!["/flag".into()],
            memory_budget: Some(32),
            workers: Some(1),
            ..Default::default()
        };
        let s = DaemonSettings::new(args, Some(&f), false);
        assert_eq!(s.endpoint.socket, Some(PathBuf::from("/flag.sock")));
        assert_eq!(s.module_dirs, [PathBuf::from("/flag")]);
        assert_eq!((s.manager.memory_budget, s.manager.sched_workers), (32 << 20, 1));
        // $WASMD_SOCKET wins over the file's socket.
        assert_eq!(DaemonSettings::new(DaemonArgs::default(), Some(&f), true).endpoint.socket, None);
        let defaults = DaemonSettings::new(DaemonArgs::default(), None, false);
        assert_eq!(defaults.manager.slice_fuel, wasmhost::ManagerConfig::default().slice_fuel);
        assert_eq!(defaults.user_caps, None);
    }
}
