//! The `wasmd` command line: one clap definition ([`Cli`], its
//! subcommands in [`Command`]) from which the help, the shell completions
//! and the man pages are all generated, and [`dispatch`], which runs a
//! parsed command and gives the process's exit code. `main.rs` only
//! parses and dispatches.
//!
//! | module | what lives there |
//! |---|---|
//! | [`args`] | value parsers that refuse impossible values while parsing (`--slice-fuel 0`, `--mem-pages 70000`, a missing `--fs-root`, capability lists) |
//! | [`run`] | `wasmd run`: [`RunArgs`], [`run_command`], the exit code of a guest's status |
//! | [`top`] | `wasmd top`: the live processes by CPU share, refreshed |
//! | [`daemon`] | `wasmd daemon`: [`DaemonArgs`], the settings the config file and flags give |
//! | [`config`] | the daemon's TOML config file ([`DaemonConfig`]) |
//! | [`commands`] | the client commands on the control tree (`ps`, `cat`, `write`, `wait`, …) |
//! | [`docs`] | shell completions and man pages from the clap definition |
//!
//! Exit codes: 0 success; 1 a client that cannot reach the daemon or
//! whose request the daemon refused, or a daemon that cannot serve; 2 a
//! usage error (clap's) or a bad config file; 127 a module `wasmd run` (or
//! `cat run/…`) cannot read, 126 one it cannot run; 141 the output's reader went away
//! (`run`, `cat`); `wasmd run`, `wasmd wait` and `wasmd cat run/…`
//! otherwise exit with the guest's status ([`run::status_exit_code`]).
//!
//! [`RunArgs`]: run::RunArgs
//! [`run_command`]: run::run_command
//! [`DaemonArgs`]: daemon::DaemonArgs
//! [`DaemonConfig`]: config::DaemonConfig

pub mod args;
pub mod commands;
pub mod config;
pub mod daemon;
pub mod docs;
pub mod run;
pub mod top;
pub mod tree;

use crate::client::ProcessRef;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

use commands::{ClientOpts, LogPart};
use daemon::DaemonArgs;
use run::RunArgs;

/// What `wasmd --help` says after the commands: the environment, the
/// config file and the exit codes.
const AFTER_HELP: &str = "\
Environment:
  WASMD_LOG     The log on stderr: error, warn, info, debug, trace
                or off (default: info for `wasmd daemon`, warn for
                the other commands), e.g. WASMD_LOG=debug
  WASMD_SOCKET  The control socket (Linux) when --socket is not
                given.

Files:
  $XDG_CONFIG_HOME/wasmd/daemon.toml, else ~/.config/wasmd/daemon.toml
  (on Redox /etc/wasmd/daemon.toml): the daemon's config file, read
  when it exists; `wasmd daemon --config FILE` names another (see
  `wasmd daemon --help`). The client commands take `socket` from it.

Exit status:
  0 success; 1 the daemon cannot be reached or refused the request;
  2 a usage error or a bad config file. `run`, `wait` and `cat run/...`:
  the guest's exit code (any non-zero code is a non-zero status: its low
  8 bits, or 1 when those are 0); 134 for a trap; 137 when killed, out of
  fuel or over its memory limit. `run` and `cat run/...`: 127 for a
  module file that cannot be read, 126 for one that cannot run. `run`,
  `cat`: 141 when the output's reader went away (the guest is killed).
  A guest may itself exit with one of these codes: `wasmd` then says
  nothing on stderr, while its own failures are always explained there.";

/// wasmd runs WebAssembly modules as capability-secured processes.
///
/// On Redox it is a scheme daemon (`/scheme/wasm`); on Linux it runs
/// guests directly with an embedded backend.
#[derive(Parser, Debug)]
#[command(
    name = "wasmd",
    version,
    about = "A WebAssembly process manager and scheme daemon for Redox OS",
    long_about = None,
    after_help = AFTER_HELP
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
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
    /// Capabilities (`--cap LIST`, comma-separated, repeatable; default
    /// stdio,time,random,spawn,shm): stdio (write stdout/stderr), time
    /// (clocks, sleep), random (OS random bytes), spawn (child processes),
    /// proc (inspect/kill processes outside one's own tree), shm
    /// (shared-memory regions), scheme (provide a scheme), all (everything).
    Run(RunArgs),
    /// Run the daemon: serve the control tree (on Linux, on a Unix socket)
    /// and run the guests spawned through it.
    ///
    /// It logs to stderr at `info` (`WASMD_LOG` sets the level), starting
    /// with where it listens.
    #[command(after_long_help = daemon::CONFIG_HELP)]
    Daemon(DaemonArgs),
    /// Print the process table (`/scheme/wasm/ps`), or some of it.
    ///
    /// Columns: PID, PPID, UID, STATE, MODULE (its name), HASH (of the
    /// module), PAGES (of memory), FUEL (used), CPU_MS (time running),
    /// CALLS (hostcalls), HANDLES, REGION_KB (shared memory held), IN_KB
    /// and OUT_KB (bytes read and written), SUP (its supervisor: the
    /// parent, when that traps exits and is linked with it; `-` for
    /// none), STATUS (how it ended).
    ///
    /// With `--json`, an array of objects (`/scheme/wasm/ps.json`; `status
    /// --json` gives one), each with these fields in this order: pid,
    /// parent (0: none), uid, gid, state (ready, running, blocked,
    /// suspended, exited), name, module_hash (hex), caps (comma list),
    /// memory_pages, fuel_used, fuel_limit (null: none), cpu_ns,
    /// hostcalls, bytes_in, bytes_out, handles, region_bytes, mailbox
    /// (messages queued), mem_pages_limit, handles_limit,
    /// region_bytes_limit, links (pids), traps_exits, reloads (hot
    /// reloads so far), names, status (null
    /// while live), exit_code (as `wasmd run` exits; null while live).
    Ps {
        #[command(flatten)]
        client: ClientOpts,
        #[command(flatten)]
        filter: commands::PsFilter,
        /// Print JSON instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Print a process's status (`/scheme/wasm/PID/status`): ids, state,
    /// module, memory, fuel, CPU time, hostcalls, bytes in and out,
    /// handles, region bytes, capabilities, limits, how it ended.
    Status {
        #[command(flatten)]
        client: ClientOpts,
        /// Print JSON (`PID/status.json`) instead of `key: value` lines.
        #[arg(long)]
        json: bool,
        /// Process id: `PID`, or `NODE/PID` for one on another node of the cluster.
        pid: ProcessRef,
    },
    /// Print the daemon's counters (`/scheme/wasm/stats`): processes live,
    /// kept and queued, scheduler threads and their turns, regions, open
    /// files, pending requests.
    Stats {
        #[command(flatten)]
        client: ClientOpts,
    },
    /// Show the live processes by CPU share, refreshed: CPU%, fuel,
    /// hostcalls and output per second, memory pages, handles.
    Top(top::TopArgs),
    /// Show the processes as the tree they spawned: each under its
    /// parent, supervisors (processes trapping exits) marked, with their
    /// links and registered names (`--all`: ended ones too).
    Tree(tree::TreeArgs),
    /// Kill a process (`kill` to `/scheme/wasm/PID/ctl`).
    Kill {
        #[command(flatten)]
        client: ClientOpts,
        /// Process id: `PID`, or `NODE/PID` for one on another node of the cluster.
        pid: ProcessRef,
    },
    /// Suspend a process until it is resumed (`suspend` to `PID/ctl`).
    Suspend {
        #[command(flatten)]
        client: ClientOpts,
        /// Process id: `PID`, or `NODE/PID` for one on another node of the cluster.
        pid: ProcessRef,
    },
    /// Resume a suspended process (`resume` to `PID/ctl`).
    Resume {
        #[command(flatten)]
        client: ClientOpts,
        /// Process id: `PID`, or `NODE/PID` for one on another node of the cluster.
        pid: ProcessRef,
    },
    /// Add FUEL to a process's fuel budget (`refuel FUEL` to `PID/ctl`); a
    /// process without a budget gets one of FUEL from now.
    Refuel {
        #[command(flatten)]
        client: ClientOpts,
        /// Process id: `PID`, or `NODE/PID` for one on another node of the cluster.
        pid: ProcessRef,
        /// Fuel units to add (about one per wasm instruction), at least 1.
        #[arg(value_parser = clap::value_parser!(u64).range(1..))]
        fuel: u64,
    },
    /// Replace a live process's module with another, keeping its pid,
    /// handles, links, names and mailbox (`reload PATH` to `PID/ctl`).
    /// Returns once the new module has taken over: at once for a process
    /// waiting for a message or a scheme request; a process parked in
    /// another blocking call (sleep, file or socket I/O, ...) is reloaded
    /// when that call returns. On failure the process runs on as before.
    Reload {
        #[command(flatten)]
        client: ClientOpts,
        /// Refuse (EBUSY) instead of waiting while the process is parked
        /// in a blocking call.
        #[arg(long)]
        no_wait: bool,
        /// Process id.
        pid: u32,
        /// The new module (.wasm or .wat); a relative path is the
        /// caller's.
        path: std::path::PathBuf,
    },
    /// Print what a process wrote so far (`/scheme/wasm/PID/log`): its
    /// stdout, then `--- stderr ---` and its stderr.
    Log {
        #[command(flatten)]
        client: ClientOpts,
        /// Only the process's stdout.
        #[arg(long, conflicts_with = "stderr")]
        stdout: bool,
        /// Only the process's stderr.
        #[arg(long)]
        stderr: bool,
        /// Process id: `PID`, or `NODE/PID` for one on another node of the cluster.
        pid: ProcessRef,
    },
    /// Bridge a channel of this node into a channel of another node.
    ///
    /// Writes `CHAN NODE/CHAN` to `/scheme/wasm/bridge` and keeps it open
    /// while the frames of this node's channel CHAN go into channel CHAN
    /// of NODE (each with a writer of its own there, in order, at most 64
    /// in flight: a full channel there holds the writers here). Prints
    /// `bridged N frames` when the stream ended; interrupting it ends the
    /// bridge.
    Bridge {
        #[command(flatten)]
        client: ClientOpts,
        /// The channel here (its region id, as under `chan/`).
        chan: u64,
        /// The channel there: `NODE/CHAN`.
        to: String,
    },
    /// Wait until a process ends; print its status and exit with it.
    ///
    /// Reads `/scheme/wasm/PID/wait`, which blocks until the process has
    /// exited, prints the status line (`exited(0)`, `killed`, `trap: …`)
    /// and exits as `wasmd run` would: the guest's code, 134 for a trap,
    /// 137 for killed, out of fuel or memory limit. A process that is not
    /// there exits 1.
    Wait {
        #[command(flatten)]
        client: ClientOpts,
        /// Process id: `PID`, or `NODE/PID` for one on another node of the cluster.
        pid: ProcessRef,
    },
    /// Spawn a process from a spawn spec and print its pid
    ///
    /// SPEC is one line of words (a word in double quotes may hold spaces,
    /// with \" and \\ inside): `[OPTION=VALUE]... MODULE [ARG]...`
    ///
    /// MODULE is the path of a `.wasm` (or `.wat`) file (a relative one is
    /// taken from the current directory); the words after it are the
    /// guest's arguments. Options, before MODULE (`cap`, `grant`, `env`
    /// and `preopen` may repeat and add up; the others are given once;
    /// impossible values are refused with the reason):
    ///
    ///   cap=CAPS                     capabilities, comma-separated: stdio, time,
    ///                                random, spawn, proc, shm, scheme, or all
    ///                                (default stdio,time,random,spawn,shm)
    ///   fuel=N                       total fuel budget, at least 1 (default: unlimited)
    ///   mem=PAGES                    most 64 KiB pages of memory, at most 65536
    ///                                (default 4096)
    ///   handles=N                    most live handles, at most 65535 (default 1024)
    ///   region-bytes=N               most bytes of shared-memory regions held,
    ///                                at most 4 GiB (default 268435456)
    ///   grant=SCHEME:PREFIX[=ro|rw]  a namespace grant for files and sockets
    ///                                (repeatable; e.g. grant=file:/srv=ro,
    ///                                grant=tcp:127.0.0.1:*, grant=ramfs:; on
    ///                                Linux file: needs a daemon with --fs-root)
    ///   name=NAME                    the name `ps` shows (default: file stem)
    ///   env=KEY=VALUE                an environment variable (repeatable; what
    ///                                a WASI program sees)
    ///   stdin=pipe|none              pipe: its stdin is what is written to
    ///                                PID/stdin until that is closed (default none)
    ///   preopen=NAME=SCHEME:PREFIX   show the grant SCHEME:PREFIX to a WASI
    ///                                program as the directory NAME (e.g. /)
    ///
    /// The names of `wasmd run`'s flags work as keys too: mem-pages=,
    /// max-handles=, max-region-bytes=.
    ///
    /// Example: wasmd spawn cap=stdio,time fuel=5000000 /usr/share/wasmd/worker.wasm count 1000
    #[command(verbatim_doc_comment)]
    Spawn {
        #[command(flatten)]
        client: ClientOpts,
        /// The spec, as one or more words.
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        spec: Vec<String>,
    },
    /// Print a file of the tree, e.g. `/scheme/wasm/ps` or
    /// `/scheme/wasm/run/ABS/PATH.wasm` (streams until the guest exits).
    ///
    /// A `run/` file runs the guest as `wasmd run` does: its stdout to
    /// stdout, its stderr to stderr, this command's stdin as its stdin
    /// (read only once the guest asks for input), and its status as the
    /// exit code (its own code, 134 a trap, 137 killed; 127 a module that
    /// cannot be read, 126 one that cannot run). Closing the output
    /// (`| head -1`, exit 141) or Ctrl-C kills the guest.
    Cat {
        #[command(flatten)]
        client: ClientOpts,
        /// Path under /scheme, or a `scheme:` URL (`wasm:/ps`).
        #[arg(value_parser = args::parse_scheme_path)]
        path: String,
    },
    /// List a directory of the tree.
    Ls {
        #[command(flatten)]
        client: ClientOpts,
        /// Path under /scheme, or a `scheme:` URL (`wasm:/ps`).
        #[arg(value_parser = args::parse_scheme_path)]
        path: String,
    },
    /// Write data to a file of the tree, with one write.
    ///
    /// The words of DATA are joined by spaces (`wasmd write
    /// /scheme/wasm/3/ctl refuel 1000`); without DATA, or with `-`, the
    /// data is read from stdin to its end (`wasmd write PATH < FILE`).
    Write {
        #[command(flatten)]
        client: ClientOpts,
        /// Path under /scheme, or a `scheme:` URL (`wasm:/ps`).
        #[arg(value_parser = args::parse_scheme_path)]
        path: String,
        /// The data: words joined by spaces; none or `-`: stdin.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        data: Vec<String>,
    },
    /// Print a shell completion script for SHELL to stdout.
    ///
    /// E.g. `wasmd completions bash > /usr/share/bash-completion/completions/wasmd`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) to stdout.
    Man {
        /// Write `wasmd.1` and one page per subcommand into DIR instead
        /// (what the Redox package installs).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
}

impl Cli {
    /// Parses the command line, exiting with clap's usage error (code 2)
    /// for anything it refuses, including what needs several arguments at
    /// once ([`RunArgs::check`]).
    pub fn parse_checked() -> Cli {
        let cli = Cli::parse();
        if let Command::Run(args) = &cli.command {
            if let Err(reason) = args.check() {
                usage_error("run", reason).exit();
            }
        }
        cli
    }
}

/// A usage error of the subcommand `name`, as clap reports its own.
fn usage_error(name: &str, reason: String) -> clap::Error {
    let mut cli = Cli::command();
    cli.build();
    match cli.find_subcommand_mut(name) {
        Some(sub) => sub.error(clap::error::ErrorKind::ArgumentConflict, reason),
        None => cli.error(clap::error::ErrorKind::ArgumentConflict, reason),
    }
}

/// Runs a parsed command; returns the process's exit code.
pub fn dispatch(cli: Cli) -> ExitCode {
    let log_level = if matches!(cli.command, Command::Daemon(_)) {
        log::LevelFilter::Info
    } else {
        log::LevelFilter::Warn
    };
    crate::logger::init(log_level);
    if !matches!(cli.command, Command::Daemon(_) | Command::Run(_) | Command::Cat { .. }) {
        crate::sys::end_on_closed_pipe();
    }
    match cli.command {
        Command::Run(args) => run::run_command(args),
        Command::Daemon(args) => daemon::daemon_command(args),
        Command::Ps { client, filter, json } => commands::ps(&client, &filter, json),
        Command::Status { client, json, pid } => commands::status(&client, &pid, json),
        Command::Stats { client } => commands::stats(&client),
        Command::Top(args) => top::top(&args),
        Command::Tree(args) => tree::tree(&args),
        Command::Kill { client, pid } => commands::control(&client, &pid, "kill"),
        Command::Suspend { client, pid } => commands::control(&client, &pid, "suspend"),
        Command::Resume { client, pid } => commands::control(&client, &pid, "resume"),
        Command::Reload { client, no_wait, pid, path } => commands::reload(&client, pid, &path, no_wait),
        Command::Refuel { client, pid, fuel } => commands::control(&client, &pid, &format!("refuel {fuel}")),
        Command::Log { client, stdout, stderr, pid } => {
            let part = match (stdout, stderr) {
                (true, _) => LogPart::Stdout,
                (_, true) => LogPart::Stderr,
                _ => LogPart::All,
            };
            commands::log(&client, &pid, part)
        }
        Command::Wait { client, pid } => commands::wait(&client, &pid),
        Command::Bridge { client, chan, to } => commands::bridge(&client, chan, &to),
        Command::Spawn { client, spec } => commands::spawn(&client, &spec),
        Command::Cat { client, path } => commands::cat_command(&client, &path),
        Command::Ls { client, path } => commands::ls(&client, &path),
        Command::Write { client, path, data } => commands::write_command(&client, &path, &data),
        Command::Completions { shell } => docs::print_completions(shell),
        Command::Man { out: None } => docs::print_man_page(),
        Command::Man { out: Some(dir) } => docs::write_man_pages(&dir),
    }
}
