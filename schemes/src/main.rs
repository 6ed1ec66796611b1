//! The `wasmd` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use wasmd::run::{run, RunSpec};
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
    /// exits with 137 and `killed`. A module that cannot be loaded (missing
    /// file, not wasm, truncated, unknown import) exits with 2.
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
        /// The module: a `.wasm` binary or `.wat` text.
        module: PathBuf,
        /// Arguments passed to the module (after `--`).
        #[arg(last = true)]
        args: Vec<String>,
    },
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
        Command::Run {
            fuel,
            mem_pages,
            max_handles,
            max_region_bytes,
            caps,
            module_dirs,
            slice_fuel,
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
            };
            match run(&spec) {
                Ok((status, deadlock)) => {
                    if let Some(msg) = deadlock {
                        eprintln!("wasmd: {msg}");
                    }
                    match &status {
                        ExitStatus::Exited(_) => {}
                        other => eprintln!("{other}"),
                    }
                    ExitCode::from(status.shell_code() as u8)
                }
                Err(e) => {
                    eprintln!("wasmd: {e}");
                    ExitCode::from(2)
                }
            }
        }
    }
}
