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
    max_tree_region_mib = 1024  # MiB of regions per tree";

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
}

impl DaemonSettings {
    /// The flags `args` over the config `file` over the defaults. The
    /// socket: `--socket`, else `$WASMD_SOCKET` (when `socket_from_env`),
    /// else the file's.
    pub fn new(args: DaemonArgs, file: Option<&ConfigFile>, socket_from_env: bool) -> DaemonSettings {
        let from_file = file.map(|f| f.config.clone()).unwrap_or_default();
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
        }
    }
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
    let daemon = crate::control::Daemon::new(pm, policy);
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
