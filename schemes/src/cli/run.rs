//! `wasmd run`: its options ([`RunArgs`]), the command itself
//! ([`run_command`]) and how a guest's exit status becomes the process's
//! exit code ([`status_exit_code`], shared with `wasmd wait`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use wasmd_abi::{Caps, ExitStatus};
use wasmhost::namespace::Grant;
use wasmhost::Limits;

use super::args::{parse_caps, parse_existing_dir, parse_grant, parse_mem_pages, parse_slice_fuel};
use crate::run::{run, RunSpec};

/// The options of `wasmd run`.
#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// Total fuel budget (about one unit per wasm instruction).
    #[arg(long, value_name = "N")]
    pub fuel: Option<u64>,
    /// Most 64 KiB pages of linear memory per process (at most 65536,
    /// the wasm32 maximum).
    #[arg(long, visible_alias = "mem", value_name = "N", default_value_t = Limits::default().max_pages, value_parser = parse_mem_pages)]
    pub mem_pages: u32,
    /// Most live handles per process (at most 65535).
    #[arg(long, visible_alias = "handles", value_name = "N", default_value_t = Limits::default().max_handles,
          value_parser = clap::value_parser!(u32).range(0..=65535))]
    pub max_handles: u32,
    /// Most bytes of shared-memory regions a process may hold (at most 4 GiB).
    #[arg(long, visible_alias = "region-bytes", value_name = "BYTES", default_value_t = Limits::default().max_region_bytes,
          value_parser = clap::value_parser!(u64).range(0..=4 << 30))]
    pub max_region_bytes: u64,
    /// Capabilities, a comma-separated list (`stdio,time`) as `cap=` takes
    /// in spawn specs; repeatable, the lists add up. Without any, the
    /// default set.
    #[arg(long = "cap", value_name = "CAPS", value_parser = parse_caps)]
    pub caps: Vec<Caps>,
    /// Also allow guests to spawn modules from DIR (repeatable); the
    /// module's own directory is always allowed.
    #[arg(long = "module-dir", value_name = "DIR")]
    pub module_dirs: Vec<PathBuf>,
    /// Fuel per time slice (preemption granularity; at least 1).
    #[arg(long, value_name = "N", value_parser = parse_slice_fuel)]
    pub slice_fuel: Option<u64>,
    /// Namespace grant for fs and socket hostcalls (repeatable):
    /// `SCHEME:PREFIX[=ro|rw]`, e.g. `file:/data=ro`, `tcp:127.0.0.1:*`,
    /// `ramfs:`. Without grants a guest reaches no files or sockets. On
    /// Linux a `file:` grant needs `--fs-root`.
    #[arg(long = "grant", value_name = "GRANT", value_parser = parse_grant)]
    pub grants: Vec<Grant>,
    /// Directory that `file:` paths live in (Linux; it must exist); guests
    /// cannot leave it (`..` and symlinks included). Without it, `file:`
    /// is refused.
    #[arg(long, value_name = "DIR", value_parser = parse_existing_dir)]
    pub fs_root: Option<PathBuf>,
    /// A TCP address to listen on for the module (repeatable), which a
    /// `tcp:` grant must cover: a WASI program finds the listening
    /// socket as a descriptor after its preopened directories
    /// (`sock_accept`).
    #[arg(long = "tcplisten", value_name = "HOST:PORT")]
    pub tcplisten: Vec<String>,
    /// A WASI preopen named otherwise than its grant's path (repeatable):
    /// `NAME=SCHEME:PREFIX`, e.g. `--preopen /=file:/srv/box` with
    /// `--grant file:/srv/box` shows that directory as `/`.
    #[arg(long = "preopen", value_name = "NAME=GRANT", value_parser = wasmhost::wasi::PreopenAlias::parse)]
    pub preopens: Vec<wasmhost::wasi::PreopenAlias>,
    /// An environment variable for the module (repeatable), `KEY=VALUE`:
    /// what a WASI program sees as its environment (nothing else is
    /// passed on).
    #[arg(long = "env", value_name = "KEY=VALUE", value_parser = crate::control::spec::env_pair)]
    pub env: Vec<String>,
    /// The module: a `.wasm` binary or `.wat` text.
    pub module: PathBuf,
    /// Arguments passed to the module (after `--`).
    #[arg(last = true)]
    pub args: Vec<String>,
}

impl RunArgs {
    /// What clap cannot check alone: on Linux, `file:` paths map beneath
    /// `--fs-root`, so a `file:` grant without it could never be used
    /// (on Redox they are the real paths).
    pub fn check(&self) -> Result<(), String> {
        if let Some(alias) = self.preopens.iter().find(|a| !self.grants.iter().any(|g| a.names(g))) {
            return Err(format!(
                "the preopen `{}` names `{}:{}`, which no --grant gives",
                alias.name, alias.scheme, alias.prefix
            ));
        }
        if cfg!(target_os = "redox") || self.fs_root.is_some() {
            return Ok(());
        }
        match self.grants.iter().find(|g| g.scheme == "file") {
            Some(grant) => Err(format!(
                "the grant `file:{}` needs `--fs-root DIR`: on Linux, `file:` paths live beneath that directory",
                grant.prefix
            )),
            None => Ok(()),
        }
    }
}

/// The exit code for a guest's exit status, as `wasmd run`, `wasmd wait`
/// and `wasmd cat run/…` report it (see [`ExitStatus::shell_code`]): 0
/// only for `exited(0)`, the low 8 bits of another code (1 when those are
/// 0), 134 for a trap, 137 for killed, out of fuel or memory limit.
pub fn status_exit_code(status: &ExitStatus) -> ExitCode {
    ExitCode::from(status.shell_code())
}

/// `wasmd run`: runs the module and its children to completion on this
/// thread; exits with the root process's status ([`status_exit_code`]),
/// 127 when the module file cannot be read, 126 when it cannot run, 141
/// when wasmd's stdout was closed (the guests are killed then).
pub fn run_command(args: RunArgs) -> ExitCode {
    let RunArgs {
        fuel,
        mem_pages,
        max_handles,
        max_region_bytes,
        caps,
        module_dirs,
        slice_fuel,
        grants,
        fs_root,
        tcplisten,
        preopens,
        env,
        module,
        args,
    } = args;
    let caps = if caps.is_empty() { Caps::DEFAULT } else { caps.into_iter().fold(Caps::NONE, Caps::union) };
    let spec = RunSpec {
        module,
        args,
        caps,
        limits: Limits { max_pages: mem_pages, fuel, max_handles, max_region_bytes },
        module_dirs,
        slice_fuel,
        namespace: grants,
        fs_root,
        tcplisten,
        preopens,
        env,
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
