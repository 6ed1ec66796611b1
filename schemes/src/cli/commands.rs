//! The client commands: each is a few file operations on the daemon's
//! control tree (`/scheme/wasm`), through [`crate::sys::Client`] (Linux:
//! the control socket; Redox: the files themselves). [`ClientOpts`] are
//! the options they share; [`with_client`] connects and turns the result
//! into an exit code: 1 with one line on stderr when the daemon cannot be
//! reached or refuses.
//!
//! `wait` and `log` read the files that exist for them, `PID/wait` (a
//! read blocks until the process has exited) and `PID/log`.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use wasmd_abi::ExitStatus;

use super::config;
use super::run::status_exit_code;
use crate::client::{ClientError, ProcessRef};
use crate::control::render::LOG_STDERR_SEPARATOR;
use crate::sys::{Client, Config};

/// The options every client command takes.
#[derive(Args, Debug, Clone, Default)]
pub struct ClientOpts {
    /// Control socket path (Linux; default: $WASMD_SOCKET, else `socket`
    /// in the daemon's config file, else $XDG_RUNTIME_DIR/wasmd.sock, else
    /// /tmp/wasmd-UID/wasmd.sock).
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
}

impl ClientOpts {
    /// Where the daemon is: `--socket`, else `$WASMD_SOCKET` (looked up
    /// by the OS backend), else the `socket` of the default config file,
    /// else the backend's default.
    fn config(&self) -> Result<Config, config::ConfigError> {
        if self.socket.is_some() || cfg!(target_os = "redox") || std::env::var_os("WASMD_SOCKET").is_some() {
            return Ok(Config { socket: self.socket.clone() });
        }
        let file = config::ConfigFile::load(None)?;
        Ok(Config { socket: file.and_then(|f| f.config.socket) })
    }
}

/// Connects to the daemon and runs `command`; its `Ok` is the exit code.
/// Cannot connect, or the command fails: 1 with the reason on stderr. A
/// bad config file: 2.
pub fn with_client(
    opts: &ClientOpts,
    command: impl FnOnce(&mut Client) -> Result<ExitCode, ClientError>,
) -> ExitCode {
    with_client_and_config(opts, |client, _| command(client))
}

/// [`with_client`], the command also given the connection's settings
/// (to open a second connection).
fn with_client_and_config(
    opts: &ClientOpts,
    command: impl FnOnce(&mut Client, &Config) -> Result<ExitCode, ClientError>,
) -> ExitCode {
    let config = match opts.config() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("wasmd: {e}");
            return ExitCode::from(2);
        }
    };
    let mut client = match Client::connect_to(&config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!(
                "wasmd: cannot reach the daemon at {}: {e} (is `wasmd daemon` running?)",
                config.endpoint()
            );
            return ExitCode::from(1);
        }
    };
    match command(&mut client, &config) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("wasmd: {e}");
            ExitCode::from(1)
        }
    }
}

/// Writes `bytes` to stdout.
fn print_bytes(bytes: &[u8]) -> Result<ExitCode, ClientError> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// `wasmd ps`.
pub fn ps(opts: &ClientOpts, filter: &PsFilter, json: bool) -> ExitCode {
    with_client(opts, |c| {
        if filter.all {
            return ps_all(c, filter, json);
        }
        if !json && filter.is_empty() {
            return print_bytes(&c.read_all("/scheme/wasm/ps")?);
        }
        let all: Vec<serde_json::Value> = serde_json::from_slice(&c.read_all("/scheme/wasm/ps.json")?)
            .map_err(|_| ClientError::Protocol)?;
        let kept: Vec<serde_json::Value> = all.into_iter().filter(|p| filter.keeps(p)).collect();
        if json {
            let mut text = serde_json::to_vec(&kept).map_err(|_| ClientError::Protocol)?;
            text.push(b'\n');
            return print_bytes(&text);
        }
        let table = String::from_utf8_lossy(&c.read_all("/scheme/wasm/ps")?).into_owned();
        let (header, rows) = rows_of(&table, &kept);
        let out: String = header.into_iter().chain(rows).map(|l| format!("{l}\n")).collect();
        print_bytes(out.as_bytes())
    })
}

/// The header of the `ps` table `table` and its rows of the processes
/// `kept` (`ps.json` objects).
fn rows_of<'a>(table: &'a str, kept: &[serde_json::Value]) -> (Option<&'a str>, Vec<&'a str>) {
    let pids: Vec<String> = kept.iter().filter_map(|p| p["pid"].as_u64()).map(|p| p.to_string()).collect();
    let mut lines = table.lines();
    let header = lines.next();
    let rows = lines.filter(|l| pids.iter().any(|p| l.split_whitespace().next() == Some(p))).collect();
    (header, rows)
}

/// `wasmd ps --all`: every node's processes (`node/NAME/ps` and
/// `ps.json` of each node `node/` lists), with a first column (or a
/// `node` field) naming the node. A node that cannot be asked is said on
/// stderr (exit 1); the others are shown.
fn ps_all(c: &mut Client, filter: &PsFilter, json: bool) -> Result<ExitCode, ClientError> {
    let listed = c.list("/scheme/wasm/node").map_err(|e| match e.errno() {
        Some(2) => ClientError::Refused {
            errno: 2,
            reason: "--all: the daemon is in no cluster (start it with --nats URL)".into(),
        },
        _ => e,
    })?;
    let nodes: Vec<String> = listed.into_iter().map(|(name, _)| name).collect();
    let width = nodes.iter().map(String::len).max().unwrap_or(0).max(4);
    let (mut objects, mut table, mut code) = (Vec::new(), String::new(), ExitCode::SUCCESS);
    for node in &nodes {
        let dir = format!("/scheme/wasm/node/{node}");
        let asked = c.read_all(&format!("{dir}/ps.json")).and_then(|bytes| {
            let all: Vec<serde_json::Value> =
                serde_json::from_slice(&bytes).map_err(|_| ClientError::Protocol)?;
            let text = if json {
                String::new()
            } else {
                String::from_utf8_lossy(&c.read_all(&format!("{dir}/ps"))?).into_owned()
            };
            Ok((all, text))
        });
        let (all, text) = match asked {
            Ok(answer) => answer,
            Err(e) => {
                eprintln!("wasmd: node {node}: {e}");
                code = ExitCode::FAILURE;
                continue;
            }
        };
        let kept: Vec<serde_json::Value> = all.into_iter().filter(|p| filter.keeps(p)).collect();
        let (header, rows) = rows_of(&text, &kept);
        if let Some(header) = header.filter(|_| table.is_empty()) {
            table.push_str(&format!("{:<width$} {header}\n", "NODE"));
        }
        for row in rows {
            table.push_str(&format!("{node:<width$} {row}\n"));
        }
        objects.extend(kept.into_iter().map(|mut p| {
            p["node"] = serde_json::Value::from(node.as_str());
            p
        }));
    }
    if json {
        let mut text = serde_json::to_vec(&objects).map_err(|_| ClientError::Protocol)?;
        text.push(b'\n');
        print_bytes(&text)?;
    } else {
        print_bytes(table.as_bytes())?;
    }
    Ok(code)
}

/// Which processes `wasmd ps` shows.
#[derive(Args, Debug, Default)]
pub struct PsFilter {
    /// The processes of every node of the daemon's cluster (its first
    /// column, or the `node` field with --json, names the node).
    #[arg(long)]
    all: bool,
    /// Only processes that have not exited.
    #[arg(long, conflicts_with = "exited")]
    live: bool,
    /// Only processes that have exited (kept for inspection).
    #[arg(long)]
    exited: bool,
    /// Only processes with this name.
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
}

impl PsFilter {
    fn is_empty(&self) -> bool {
        !self.live && !self.exited && self.name.is_none()
    }

    /// True when the process (a `ps.json` object) passes.
    fn keeps(&self, process: &serde_json::Value) -> bool {
        let exited = process["state"] == "exited";
        (!self.live || !exited)
            && (!self.exited || exited)
            && self.name.as_deref().is_none_or(|n| process["name"] == n)
    }
}

/// `wasmd status PID [--json]`.
pub fn status(opts: &ClientOpts, pid: &ProcessRef, json: bool) -> ExitCode {
    let file = if json { "status.json" } else { "status" };
    with_client(opts, |c| print_bytes(&c.read_all(&format!("{}/{file}", pid.dir()))?))
}

/// `wasmd stats`.
pub fn stats(opts: &ClientOpts) -> ExitCode {
    with_client(opts, |c| print_bytes(&c.read_all("/scheme/wasm/stats")?))
}

/// `wasmd kill|suspend|resume|refuel`: writes `command` to `PID/ctl`.
pub fn control(opts: &ClientOpts, pid: &ProcessRef, command: &str) -> ExitCode {
    with_client(opts, |c| {
        c.write_file(&format!("{}/ctl", pid.dir()), command.as_bytes())?;
        Ok(ExitCode::SUCCESS)
    })
}

/// `wasmd reload PID PATH [--no-wait]`: writes `reload [nowait] PATH` to
/// `PID/ctl` (a relative PATH made absolute from here first).
pub fn reload(opts: &ClientOpts, pid: u32, path: &std::path::Path, no_wait: bool) -> ExitCode {
    with_client(opts, |c| {
        let path = std::env::current_dir()?.join(path);
        let nowait = if no_wait { "nowait " } else { "" };
        c.write_file(
            &format!("/scheme/wasm/{pid}/ctl"),
            format!("reload {nowait}{}", path.display()).as_bytes(),
        )?;
        Ok(ExitCode::SUCCESS)
    })
}

/// `wasmd spawn SPEC...`: prints the new pid.
pub fn spawn(opts: &ClientOpts, words: &[String]) -> ExitCode {
    // A spec given as one quoted word is split as the daemon would (and
    // joined back with its words quoted); words the shell split are sent
    // as they are, joined by spaces (they may hold the spec's own quotes).
    let (words, quoted) = match words {
        [one] if one.trim().contains(char::is_whitespace) => match crate::control::spec::split(one) {
            Ok(words) => (words, true),
            Err(e) => {
                eprintln!("wasmd: {e}");
                return ExitCode::from(2);
            }
        },
        words => (words.to_vec(), false),
    };
    let options = words.iter().take_while(|w| w.contains('=') && !w.starts_with('/'));
    if let Some(option) = options.chain(words.iter().find(|w| !w.contains('='))).find(|w| w.starts_with('-'))
    {
        eprintln!(
            "wasmd: spawn takes spec words, not options: `{option}` (e.g. cap=stdio,time; see wasmd spawn --help)"
        );
        return ExitCode::from(2);
    }
    with_client(opts, |c| {
        // A relative module is the client's, as a person means it.
        let words = crate::control::spec::with_absolute_module(&words, &std::env::current_dir()?);
        let spec = if quoted { crate::control::spec::join(&words) } else { words.join(" ") };
        println!("{}", c.spawn(&spec)?);
        Ok(ExitCode::SUCCESS)
    })
}

/// `wasmd cat PATH`: streams the file to stdout as it arrives; a `run/`
/// file as `wasmd run` runs (see [`crate::client::cat`]).
pub fn cat_command(opts: &ClientOpts, path: &str) -> ExitCode {
    with_client_and_config(opts, |c, config| {
        let connect = || Client::connect_to(config).map_err(ClientError::from);
        match crate::client::cat(c, path, connect) {
            Ok(code) => Ok(ExitCode::from(code)),
            // A module that cannot run: the codes `wasmd run` gives.
            Err(crate::client::CatError::Load(e)) => {
                eprintln!("wasmd: {e}");
                Ok(ExitCode::from(crate::client::load_failure_code(&e)))
            }
            Err(crate::client::CatError::Other(e)) => Err(e.at(path)),
        }
    })
}

/// `wasmd ls PATH`: one entry a line, directories with a `/`.
pub fn ls(opts: &ClientOpts, path: &str) -> ExitCode {
    with_client(opts, |c| {
        // Off Redox the daemon's socket stands for the whole of `/scheme`:
        // `wasm` and the guest schemes.
        if cfg!(not(target_os = "redox")) && crate::client::tidy(path).trim_end_matches('/') == "/scheme" {
            println!("wasm/");
            for (name, _) in c.list("/scheme/wasm/scheme").map_err(|e| e.at(path))? {
                println!("{name}/");
            }
            return Ok(ExitCode::SUCCESS);
        }
        for (name, kind) in c.list(path).map_err(|e| e.at(path))? {
            let slash = if kind == wasmd_abi::scheme::kind::DIRECTORY { "/" } else { "" };
            println!("{name}{slash}");
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// What `wasmd write` writes: the words of `data` joined by spaces, or
/// stdin to its end when there are none or only `-`.
fn write_data(data: &[String], stdin: impl Read) -> std::io::Result<Vec<u8>> {
    match data {
        [] => read_to_end(stdin),
        [dash] if dash == "-" => read_to_end(stdin),
        words => Ok(words.join(" ").into_bytes()),
    }
}

fn read_to_end(mut input: impl Read) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    input.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// `wasmd write PATH [DATA]...`: one write of all the bytes.
pub fn write_command(opts: &ClientOpts, path: &str, data: &[String]) -> ExitCode {
    let bytes = match write_data(data, std::io::stdin().lock()) {
        Ok(bytes) => bytes,
        Err(e) => {
            eprintln!("wasmd: cannot read the data from stdin: {e}");
            return ExitCode::from(1);
        }
    };
    with_client(opts, |c| {
        c.write_file(path, &bytes).map_err(|e| e.writing(path))?;
        Ok(ExitCode::SUCCESS)
    })
}

/// Which part of a process's log `wasmd log` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogPart {
    /// The whole `PID/log` file: stdout, then the separator and stderr.
    All,
    /// Only what the process wrote to stdout.
    Stdout,
    /// Only what the process wrote to stderr.
    Stderr,
}

/// Splits the bytes of a `PID/log` file into stdout and stderr, at the
/// first separator line the daemon puts before stderr
/// ([`LOG_STDERR_SEPARATOR`], only there when stderr is not empty). The
/// file has no other boundary: a guest whose stdout itself holds that
/// line is split there.
pub fn split_log(log: &[u8]) -> (&[u8], &[u8]) {
    let sep = LOG_STDERR_SEPARATOR.as_bytes();
    let at = log.windows(sep.len()).position(|w| w == sep);
    match at {
        Some(at) => (&log[..at], &log[at + sep.len()..]),
        None => (log, &[]),
    }
}

/// `wasmd log PID [--stdout|--stderr]`.
pub fn log(opts: &ClientOpts, pid: &ProcessRef, part: LogPart) -> ExitCode {
    with_client(opts, |c| {
        let log = c.read_all(&format!("{}/log", pid.dir()))?;
        let (stdout, stderr) = split_log(&log);
        print_bytes(match part {
            LogPart::All => &log,
            LogPart::Stdout => stdout,
            LogPart::Stderr => stderr,
        })
    })
}

/// `wasmd wait PID`: reads `PID/wait` (the daemon answers when the
/// process has exited), prints the status and exits with it as `wasmd
/// run` does.
pub fn wait(opts: &ClientOpts, pid: &ProcessRef) -> ExitCode {
    with_client(opts, |c| {
        let text = String::from_utf8(c.read_all(&format!("{}/wait", pid.dir()))?)
            .map_err(|_| ClientError::Protocol)?;
        let status: ExitStatus = text.parse().map_err(|()| ClientError::Protocol)?;
        print_bytes(text.as_bytes())?;
        Ok(status_exit_code(&status))
    })
}

/// `wasmd bridge CHAN NODE/CHAN`: until the stream ended.
pub fn bridge(opts: &ClientOpts, chan: u64, to: &str) -> ExitCode {
    with_client(opts, |c| {
        let said = c.write_then_read("/scheme/wasm/bridge", format!("{chan} {to}").as_bytes())?;
        print_bytes(&said)?;
        Ok(ExitCode::SUCCESS)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_joins_words_or_reads_stdin() {
        let words = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(write_data(&words(&["refuel", "1000"]), &b"unused"[..]).unwrap(), b"refuel 1000");
        assert_eq!(write_data(&words(&["-"]), &b"from stdin"[..]).unwrap(), b"from stdin");
        assert_eq!(write_data(&[], &b"piped"[..]).unwrap(), b"piped");
        assert_eq!(write_data(&words(&["a", "-"]), &b"unused"[..]).unwrap(), b"a -");
    }

    #[test]
    fn every_exit_status_reads_back_from_its_line() {
        for status in [
            ExitStatus::Exited(0),
            ExitStatus::Exited(-256),
            ExitStatus::Exited(7),
            ExitStatus::Trapped("wasm `unreachable` instruction executed".into()),
            ExitStatus::Killed,
            ExitStatus::OutOfFuel,
            ExitStatus::MemoryLimit,
            ExitStatus::NoConnection,
            ExitStatus::NoProcess,
        ] {
            assert_eq!(format!("{status}\n").parse::<ExitStatus>().ok(), Some(status));
        }
        assert_eq!("exited(x)".parse::<ExitStatus>().ok(), None);
        assert_eq!("asleep".parse::<ExitStatus>().ok(), None);
    }

    #[test]
    fn a_log_splits_at_the_first_separator() {
        let log = format!("out\nmore{LOG_STDERR_SEPARATOR}err\n{LOG_STDERR_SEPARATOR}");
        let (out, err) = split_log(log.as_bytes());
        assert_eq!(out, b"out\nmore");
        assert_eq!(err, format!("err\n{LOG_STDERR_SEPARATOR}").as_bytes());
        assert_eq!(split_log(b"only out\n"), (&b"only out\n"[..], &b""[..]));
    }
}
