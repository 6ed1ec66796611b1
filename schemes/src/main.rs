//! The `wasmd` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use std::io::Write;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use wasmd::client::ClientError;
use wasmd::run::{run, RunSpec};
use wasmd::sys::{Client, Config};
use wasmd_abi::{Caps, ExitStatus};
use wasmhost::Limits;

/// wasmd runs WebAssembly modules as capability-secured processes.
///
/// On Redox it is a scheme daemon (`/scheme/wasm`); on Linux it runs
/// guests directly with an embedded backend.
#[derive(Parser, Debug)]
#[command(name = "wasmd", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a guest module (and whatever it spawns) to completion.
    ///
    /// Streams the guests' stdout and stderr and exits with the module's
    /// exit code. A trap exits with 134 and prints `trap: MESSAGE`; running
    /// out of the fuel budget exits with 137 and `out of fuel`; exceeding
    /// the memory limit exits with 137 and `memory limit`; being killed
    /// exits with 137 and `killed`. A module file that cannot be read
    /// exits with 127; one that is not a module that can run (not wasm,
    /// truncated, unknown import) with 126; bad options with 2. Any other
    /// guest exit code is its low 8 bits, or 1 when those are 0 (so every
    /// failure is a failure). When wasmd's stdout is closed (`| head -1`)
    /// every guest is killed and wasmd exits with 141, as for SIGPIPE.
    ///
    /// Capabilities (`--cap`, repeatable; default stdio,time,random,spawn,shm):
    /// stdio (write stdout/stderr), time (clocks, sleep), random (OS random
    /// bytes), spawn (child processes), proc (inspect/kill processes outside
    /// one's own tree), shm (shared-memory regions), scheme (provide a
    /// scheme), all (everything).
    Run {
        /// Total fuel budget (about one unit per wasm instruction).
        #[arg(long, value_name = "N")]
        fuel: Option<u64>,
        /// Most 64 KiB pages of linear memory per process.
        #[arg(long, value_name = "N", default_value_t = Limits::default().max_pages)]
        mem_pages: u32,
        /// Most live handles per process.
        #[arg(long, value_name = "N", default_value_t = Limits::default().max_handles)]
        max_handles: u32,
        /// Most bytes of shared-memory regions a process may hold.
        #[arg(long, value_name = "BYTES", default_value_t = Limits::default().max_region_bytes)]
        max_region_bytes: u64,
        /// Grant a capability (repeatable). Without any, the default set.
        #[arg(long = "cap", value_name = "CAP", value_parser = parse_cap)]
        caps: Vec<Caps>,
        /// Also allow guests to spawn modules from DIR (repeatable); the
        /// module's own directory is always allowed.
        #[arg(long = "module-dir", value_name = "DIR")]
        module_dirs: Vec<PathBuf>,
        /// Fuel per time slice (preemption granularity).
        #[arg(long, value_name = "N")]
        slice_fuel: Option<u64>,
        /// Namespace grant for fs and socket hostcalls (repeatable):
        /// `SCHEME:PREFIX[=ro|rw]`, e.g. `file:/data=ro`, `tcp:127.0.0.1:*`,
        /// `ramfs:`. Without grants a guest reaches no files or sockets.
        #[arg(long = "grant", value_name = "GRANT", value_parser = parse_grant)]
        grants: Vec<wasmhost::namespace::Grant>,
        /// Directory that `file:` paths live in; guests cannot leave it
        /// (`..` and symlinks included). Without it, `file:` is refused.
        #[arg(long, value_name = "DIR")]
        fs_root: Option<PathBuf>,
        /// The module: a `.wasm` binary or `.wat` text.
        module: PathBuf,
        /// Arguments passed to the module (after `--`).
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Run the daemon: serve the control tree (on Linux, on a Unix
    /// socket) and run the guests spawned through it.
    Daemon {
        /// Control socket path (default: $WASMD_SOCKET, else
        /// $XDG_RUNTIME_DIR/wasmd.sock, else /tmp/wasmd-UID/wasmd.sock).
        #[arg(long, value_name = "PATH")]
        socket: Option<PathBuf>,
        /// Let guests spawn modules from DIR (repeatable); directories of
        /// modules spawned through the tree are added automatically.
        #[arg(long = "module-dir", value_name = "DIR")]
        module_dirs: Vec<PathBuf>,
        /// Directory that guests' `file:` paths live in (Linux).
        #[arg(long, value_name = "DIR")]
        fs_root: Option<PathBuf>,
        /// Most MiB all guests together may use (linear memory, tables,
        /// regions, logs); spawns and growth past it are refused. Default:
        /// three quarters of physical memory.
        #[arg(long, value_name = "MIB")]
        memory_budget: Option<u64>,
        /// Scheduler threads running guests in parallel (default: one per
        /// core).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
        workers: Option<u16>,
    },
    /// Print the process table (`/scheme/wasm/ps`).
    Ps {
        /// Control socket path.
        #[arg(long, value_name = "PATH")]
        socket: Option<PathBuf>,
    },
    /// Print a process's status (`/scheme/wasm/PID/status`).
    Status {
        /// Control socket path.
        #[arg(long, value_name = "PATH")]
        socket: Option<PathBuf>,
        /// Process id.
        pid: u32,
    },
    /// Kill a process (`kill` to `/scheme/wasm/PID/ctl`).
    Kill {
        /// Control socket path.
        #[arg(long, value_name = "PATH")]
        socket: Option<PathBuf>,
        /// Process id.
        pid: u32,
    },
    /// Spawn from a spec (see the `spawn` file's syntax) and print the pid.
    ///
    /// SPEC: `[cap=LIST] [fuel=N] [mem=PAGES] [handles=N] [region-bytes=N]
    /// [name=NAME] /ABS/MODULE.wasm [ARG]...`
    Spawn {
        /// Control socket path.
        #[arg(long, value_name = "PATH")]
        socket: Option<PathBuf>,
        /// The spec, as one or more words.
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        spec: Vec<String>,
    },
    /// Print a file of the tree, e.g. `/scheme/wasm/ps` or
    /// `/scheme/wasm/run/ABS/PATH.wasm` (streams until the guest exits).
    Cat {
        /// Control socket path.
        #[arg(long, value_name = "PATH")]
        socket: Option<PathBuf>,
        /// Path under /scheme.
        path: String,
    },
    /// List a directory of the tree.
    Ls {
        /// Control socket path.
        #[arg(long, value_name = "PATH")]
        socket: Option<PathBuf>,
        /// Path under /scheme.
        path: String,
    },
    /// Write DATA to a file of the tree (one write).
    Write {
        /// Control socket path.
        #[arg(long, value_name = "PATH")]
        socket: Option<PathBuf>,
        /// Path under /scheme.
        path: String,
        /// The bytes to write.
        data: String,
    },
}

fn parse_grant(text: &str) -> Result<wasmhost::namespace::Grant, String> {
    wasmhost::namespace::parse_grant(text)
        .map_err(|_| format!("bad grant `{text}` (expected SCHEME:PREFIX[=ro|rw])"))
}

fn parse_cap(name: &str) -> Result<Caps, String> {
    Caps::from_name(name).ok_or_else(|| {
        let names: Vec<&str> = Caps::NAMED.iter().map(|(n, _)| *n).collect();
        format!("unknown capability `{name}` (known: {}, all)", names.join(", "))
    })
}

fn main() -> ExitCode {
    wasmd::logger::init();
    let cli = Cli::parse();
    match cli.command {
        Command::Daemon { socket, module_dirs, fs_root, memory_budget, workers } => {
            daemon(socket, module_dirs, fs_root, memory_budget, workers)
        }
        Command::Ps { socket } => client(socket, |c| print_bytes(&c.read_all("/scheme/wasm/ps")?)),
        Command::Status { socket, pid } => {
            client(socket, |c| print_bytes(&c.read_all(&format!("/scheme/wasm/{pid}/status"))?))
        }
        Command::Kill { socket, pid } => {
            client(socket, |c| c.write_file(&format!("/scheme/wasm/{pid}/ctl"), b"kill"))
        }
        Command::Spawn { socket, spec } => client(socket, |c| {
            let cwd = std::env::current_dir()?;
            let spec = wasmd::control::spec::with_absolute_module(&spec, &cwd);
            println!("{}", c.spawn(&spec.join(" "))?);
            Ok(())
        }),
        Command::Cat { socket, path } => cat_command(socket, &path),
        Command::Ls { socket, path } => client(socket, |c| {
            for (name, kind) in c.list(&path)? {
                let slash = if kind == wasmd_abi::scheme::kind::DIRECTORY { "/" } else { "" };
                println!("{name}{slash}");
            }
            Ok(())
        }),
        Command::Write { socket, path, data } => client(socket, |c| c.write_file(&path, data.as_bytes())),
        Command::Run {
            fuel,
            mem_pages,
            max_handles,
            max_region_bytes,
            caps,
            module_dirs,
            slice_fuel,
            grants,
            fs_root,
            module,
            args,
        } => {
            let caps =
                if caps.is_empty() { Caps::DEFAULT } else { caps.into_iter().fold(Caps::NONE, Caps::union) };
            let spec = RunSpec {
                module,
                args,
                caps,
                limits: Limits { max_pages: mem_pages, fuel, max_handles, max_region_bytes },
                module_dirs,
                slice_fuel,
                namespace: grants,
                fs_root,
            };
            match run(&spec) {
                Ok(finished) => {
                    if let Some(msg) = &finished.deadlock {
                        eprintln!("wasmd: {msg}");
                    }
                    match &finished.status {
                        _ if finished.output_closed => {}
                        ExitStatus::Exited(_) => {}
                        other => eprintln!("{other}"),
                    }
                    ExitCode::from(finished.exit_code())
                }
                Err(e) => {
                    eprintln!("wasmd: {e}");
                    ExitCode::from(e.exit_code())
                }
            }
        }
    }
}

fn print_bytes(bytes: &[u8]) -> Result<(), ClientError> {
    std::io::stdout().write_all(bytes)?;
    Ok(())
}

/// Runs a client command against the daemon (Linux: its socket; Redox:
/// `/scheme/wasm`).
fn client(socket: Option<PathBuf>, f: impl FnOnce(&mut Client) -> Result<(), ClientError>) -> ExitCode {
    let config = Config { socket };
    let mut c = match Client::connect_to(&config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!(
                "wasmd: cannot reach the daemon at {}: {e} (is `wasmd daemon` running?)",
                config.endpoint()
            );
            return ExitCode::from(1);
        }
    };
    match f(&mut c) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wasmd: {e}");
            ExitCode::from(1)
        }
    }
}

/// `wasmd cat`: see [`wasmd::client::cat`].
fn cat_command(socket: Option<PathBuf>, path: &str) -> ExitCode {
    let config = Config { socket };
    let mut c = match Client::connect_to(&config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!(
                "wasmd: cannot reach the daemon at {}: {e} (is `wasmd daemon` running?)",
                config.endpoint()
            );
            return ExitCode::from(1);
        }
    };
    let second = || Client::connect_to(&config).map_err(ClientError::from);
    match wasmd::client::cat(&mut c, path, second) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("wasmd: {e}");
            ExitCode::from(1)
        }
    }
}

/// `wasmd daemon`.
fn daemon(
    socket: Option<PathBuf>,
    module_dirs: Vec<PathBuf>,
    fs_root: Option<PathBuf>,
    memory_budget: Option<u64>,
    workers: Option<u16>,
) -> ExitCode {
    let platform = match wasmd::sys::OsPlatform::with_file_root(fs_root.as_deref()) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("wasmd: cannot initialise the platform: {e}");
            return ExitCode::from(1);
        }
    };
    let loader = Arc::new(wasmd::loader::FsModuleLoader::new(module_dirs));
    let config = wasmhost::ManagerConfig {
        memory_budget: memory_budget.map_or_else(wasmd::sys::default_memory_budget, |mib| mib << 20),
        sched_workers: workers.map_or_else(wasmd::control::default_workers, usize::from),
        ..Default::default()
    };
    let pm = wasmhost::ProcessManager::new(config, Arc::new(platform), loader, Arc::new(wasmhost::NoOutput));
    let policy = wasmd::control::Policy::new(wasmd::sys::current_owner().uid);
    let daemon = wasmd::control::Daemon::new(pm, policy);
    let config = Config { socket };
    match wasmd::sys::serve(daemon, &config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wasmd: daemon on {}: {e}", config.endpoint());
            ExitCode::from(1)
        }
    }
}
