//! The `wasmd` binary's options, run as a real process: capability
//! lists, impossible values refused while parsing, completions and man
//! pages, the daemon's config file and its log on start.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use wasmd::sys::linux::client::Client;
use wasmd_tests::{guest, wat};

fn wasmd(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wasmd")).args(args).output().expect("wasmd runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A usage error: clap's exit code 2, and `reason` on stderr.
fn assert_refused(o: &Output, reason: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(2), "stderr: {err}");
    assert!(err.contains(reason), "`{reason}` not in: {err}");
}

/// A fresh directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let dir = std::env::temp_dir().join(format!("wasmd-{name}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn cap_takes_comma_lists_and_stays_repeatable() {
    let probe = guest("probe").display().to_string();
    for caps in [&["--cap", "stdio,time"][..], &["--cap", "stdio", "--cap", "time"]] {
        let mut args = vec!["run"];
        args.extend_from_slice(caps);
        args.push(&probe);
        let o = wasmd(&args);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let out = stdout(&o);
        assert!(out.contains("has_stdio=true\n"), "{caps:?}: {out}");
        assert!(out.contains("has_time=true\n"), "{caps:?}: {out}");
        assert!(out.contains("random=err:1\n"), "{caps:?}: {out}");
    }
    assert_refused(&wasmd(&["run", "--cap", "stdio,root", &probe]), "unknown capability `root`");
}

#[test]
fn impossible_values_are_refused_while_parsing() {
    let hello = wat("hello").display().to_string();
    assert_refused(&wasmd(&["run", "--slice-fuel", "0", &hello]), "at least 1 unit of fuel");
    assert_refused(
        &wasmd(&["run", "--mem-pages", "99999999", &hello]),
        "more than a wasm32 memory can have (65536 pages",
    );
    assert_refused(&wasmd(&["run", "--mem-pages", "65537", &hello]), "65537 pages");
    assert_refused(&wasmd(&["run", "--grant", "file:/data=ro", &hello]), "needs `--fs-root DIR`");
    assert_refused(&wasmd(&["daemon", "--workers", "0"]), "0 is not in 1..=1024");
    assert_refused(&wasmd(&["daemon", "--memory-budget", "0"]), "0 is not in 1..");
    assert_refused(&wasmd(&["daemon", "--module-dir", "/nonexistent/modules"]), "/nonexistent/modules");
    assert_refused(&wasmd(&["top", "--rounds", "0"]), "0 is not in 1..");
    // The limits themselves are accepted.
    let o = wasmd(&["run", "--slice-fuel", "1", "--mem-pages", "65536", &hello]);
    assert_eq!((o.status.code(), stdout(&o).as_str()), (Some(0), "hello from wat\n"), "{}", stderr(&o));
    let root = TempDir::new("fs-root");
    let o = wasmd(&["run", "--grant", "file:/data=ro", "--fs-root", root.0.to_str().unwrap(), &hello]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn a_missing_fs_root_is_named() {
    let hello = wat("hello").display().to_string();
    let missing = "/nonexistent/wasmd-fs-root";
    let reason = format!("directory `{missing}` does not exist");
    assert_refused(&wasmd(&["run", "--fs-root", missing, &hello]), &reason);
    assert_refused(&wasmd(&["daemon", "--fs-root", missing]), &reason);
}

#[test]
fn help_documents_the_spec_keys_and_the_environment() {
    let help = stdout(&wasmd(&["--help"]));
    for needle in ["WASMD_LOG", "WASMD_SOCKET", "daemon.toml", "suspend", "resume", "refuel", "log", "wait"] {
        assert!(help.contains(needle), "`{needle}` missing from --help:\n{help}");
    }
    let help = stdout(&wasmd(&["spawn", "--help"]));
    for key in [
        "cap=",
        "fuel=",
        "mem=",
        "handles=",
        "region-bytes=",
        "grant=SCHEME:PREFIX[=ro|rw]",
        "name=",
        "env=",
        "stdin=",
        "preopen=",
    ] {
        assert!(help.contains(key), "`{key}` missing from spawn --help:\n{help}");
    }
    let help = stdout(&wasmd(&["daemon", "--help"]));
    for key in ["--config", "memory_budget_mib", "module_dirs", "[limits]", "slice_fuel"] {
        assert!(help.contains(key), "`{key}` missing from daemon --help:\n{help}");
    }
}

#[test]
fn completions_and_man_pages_come_from_the_definitions() {
    let o = wasmd(&["completions", "bash"]);
    assert_eq!(o.status.code(), Some(0));
    let bash = stdout(&o);
    assert!(bash.contains("_wasmd()") && bash.contains("complete -F _wasmd"), "{bash}");
    assert!(bash.contains("refuel") && bash.contains("--fs-root"), "subcommands and flags missing");
    assert!(stdout(&wasmd(&["completions", "zsh"])).starts_with("#compdef wasmd"));
    assert!(stdout(&wasmd(&["completions", "fish"])).contains("complete -c wasmd"));
    assert_refused(&wasmd(&["completions", "tcsh"]), "invalid value 'tcsh'");

    let o = wasmd(&["man"]);
    assert_eq!(o.status.code(), Some(0));
    let man = stdout(&o);
    assert!(man.starts_with('.'), "not roff: {}", &man[..man.len().min(200)]);
    assert!(man.contains("\n.TH wasmd 1"), "no .TH: {}", &man[..man.len().min(400)]);
    assert!(man.contains("wasmd\\-wait(1)") && man.contains("WASMD_LOG"), "{man}");

    let dir = TempDir::new("man");
    let out = dir.0.join("man1");
    assert_eq!(wasmd(&["man", "--out", out.to_str().unwrap()]).status.code(), Some(0));
    for page in ["wasmd.1", "wasmd-run.1", "wasmd-daemon.1", "wasmd-wait.1", "wasmd-write.1"] {
        let text = std::fs::read_to_string(out.join(page)).unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(text.contains(".TH "), "{page}");
    }
}

/// A `wasmd daemon` started with `args` and `env`, its stderr read line
/// by line; killed on drop.
struct DaemonProcess {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl DaemonProcess {
    fn start(args: &[&str], env: &[(&str, &Path)]) -> DaemonProcess {
        let mut command = Command::new(env!("CARGO_BIN_EXE_wasmd"));
        command.arg("daemon").args(args).env_remove("WASMD_SOCKET").env_remove("WASMD_LOG");
        // No config file of the user running the tests.
        command.env("XDG_CONFIG_HOME", "/nonexistent/wasmd-test-config").env_remove("XDG_RUNTIME_DIR");
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.stderr(Stdio::piped()).spawn().expect("daemon starts");
        let err = child.stderr.take().unwrap();
        let (send, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        DaemonProcess { child, lines }
    }

    /// The first line of its stderr that contains `needle` (within 10 s).
    fn line_with(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut seen = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(line) => seen.push(line),
                Err(_) => break,
            }
        }
        panic!("no `{needle}` on the daemon's stderr; it said: {seen:?}");
    }

    /// Waits for the daemon to exit; its exit code and all of its stderr.
    fn finish(mut self) -> (Option<i32>, String) {
        let code = self.child.wait().unwrap().code();
        let text: Vec<String> = self.lines.iter().collect();
        (code, text.join("\n"))
    }
}

impl Drop for DaemonProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until a daemon answers on `socket` (a read of `ps`: the daemon
/// is in its serving loop, past its start).
fn wait_for_socket(socket: &Path) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Client::connect(socket)
        .map_err(|_| ())
        .and_then(|mut c| c.read_all("/scheme/wasm/ps").map_err(|_| ()))
        .is_err()
    {
        assert!(Instant::now() < deadline, "no daemon on {}", socket.display());
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn the_daemon_logs_where_it_listens_unless_told_not_to() {
    let dir = TempDir::new("listen");
    let socket = dir.0.join("d.sock");
    let d = DaemonProcess::start(&["--socket", socket.to_str().unwrap(), "--workers", "2"], &[]);
    let line = d.line_with("listening on");
    assert_eq!(line, format!("wasmd[info]: listening on {} (2 workers)", socket.display()));
    drop(d);

    let quiet = dir.0.join("quiet.sock");
    let mut command = Command::new(env!("CARGO_BIN_EXE_wasmd"));
    command
        .args(["daemon", "--socket", quiet.to_str().unwrap()])
        .env("WASMD_LOG", "off")
        .env("XDG_CONFIG_HOME", &dir.0);
    let mut child = command.stderr(Stdio::piped()).spawn().unwrap();
    wait_for_socket(&quiet);
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(stderr(&out), "", "WASMD_LOG=off still logged");
}

#[test]
fn the_config_file_sets_values_and_flags_override_it() {
    let dir = TempDir::new("config");
    let from_file = dir.0.join("from-file.sock");
    let config = dir.0.join("daemon.toml");
    std::fs::write(&config, format!("socket = \"{}\"\nworkers = 1\n", from_file.display())).unwrap();
    let config_arg = config.to_str().unwrap();

    // Values taken from the file: the socket and the workers.
    let d = DaemonProcess::start(&["--config", config_arg], &[]);
    assert_eq!(
        d.line_with("listening on"),
        format!("wasmd[info]: listening on {} (1 worker)", from_file.display())
    );
    wait_for_socket(&from_file);
    drop(d);

    // Flags win over the file.
    let flag = dir.0.join("flag.sock");
    let d = DaemonProcess::start(
        &["--config", config_arg, "--socket", flag.to_str().unwrap(), "--workers", "2"],
        &[],
    );
    assert_eq!(
        d.line_with("listening on"),
        format!("wasmd[info]: listening on {} (2 workers)", flag.display())
    );
    drop(d);

    // Unknown keys and bad values: exit 2, naming the file, the key and why.
    std::fs::write(&config, "workers = 1\ncolour = \"blue\"\n").unwrap();
    let (code, err) = DaemonProcess::start(&["--config", config_arg], &[]).finish();
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains(&format!("config file {}", config.display())), "{err}");
    assert!(err.contains("key `colour`") && err.contains("unknown field `colour`"), "{err}");
    std::fs::write(&config, "[limits]\nslice_fuel = 0\n").unwrap();
    let (code, err) = DaemonProcess::start(&["--config", config_arg], &[]).finish();
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("key `limits.slice_fuel`: 0 is less than 1"), "{err}");
    let (code, err) = DaemonProcess::start(&["--config", "/nonexistent/daemon.toml"], &[]).finish();
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("config file /nonexistent/daemon.toml"), "{err}");
}

#[test]
fn the_default_config_file_is_found_by_the_daemon_and_the_clients() {
    let dir = TempDir::new("xdg");
    let socket = dir.0.join("xdg.sock");
    std::fs::create_dir_all(dir.0.join("wasmd")).unwrap();
    std::fs::write(dir.0.join("wasmd/daemon.toml"), format!("socket = \"{}\"\n", socket.display())).unwrap();
    let d = DaemonProcess::start(&[], &[("XDG_CONFIG_HOME", &dir.0)]);
    assert!(d.line_with("listening on").contains(&socket.display().to_string()));
    wait_for_socket(&socket);
    // A client without --socket or $WASMD_SOCKET finds the daemon the same way.
    let out = Command::new(env!("CARGO_BIN_EXE_wasmd"))
        .args(["ls", "/scheme/wasm"])
        .env_remove("WASMD_SOCKET")
        .env("XDG_CONFIG_HOME", &dir.0)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).starts_with("ps\nps.json\nstats\nspawn\n"), "{}", stdout(&out));
}

#[test]
fn sigterm_removes_the_socket_and_a_mistyped_socket_path_is_refused() {
    let dir = TempDir::new("sigterm");
    let socket = dir.0.join("d.sock");
    let d = DaemonProcess::start(&["--socket", socket.to_str().unwrap()], &[]);
    wait_for_socket(&socket);
    let killed = Command::new("kill").args(["-TERM", &d.child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let (code, said) = d.finish();
    assert_eq!(code, Some(0), "{said}");
    assert!(said.contains("stopped by a signal; the socket is removed"), "{said}");
    assert!(!socket.exists(), "the socket is gone");
    let typo = dir.0.join("no/such/dir/d.sock");
    let o = wasmd(&["daemon", "--socket", typo.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("no directory"), "{}", stderr(&o));
    assert!(!dir.0.join("no").exists(), "no directories made for a typo");
}

#[test]
fn log_levels_are_named_and_an_unknown_one_is_said() {
    let unreachable = wat("unreachable").display().to_string();
    let run = |level: &str| {
        Command::new(env!("CARGO_BIN_EXE_wasmd"))
            .args(["run", &unreachable])
            .env("WASMD_LOG", level)
            .output()
            .expect("wasmd runs")
    };
    let o = run("bogus");
    assert!(
        stderr(&o).contains("WASMD_LOG=`bogus` is not a level (error, warn, info, debug, trace, off)"),
        "{}",
        stderr(&o)
    );
    let o = run("debug");
    let err = stderr(&o);
    let line = err.lines().find(|l| l.contains("ended by")).unwrap_or_else(|| panic!("no debug line: {err}"));
    assert!(
        line.starts_with("wasmd[debug]: ") && !line.contains("Error {"),
        "wasm words, not Rust structs: {line}"
    );
    let o = run("error");
    assert!(!stderr(&o).contains("wasmd[debug]"), "{}", stderr(&o));
}

#[test]
fn config_limits_and_fs_root_take_effect_and_the_fs_root_flag_wins() {
    let dir = TempDir::new("config-effects");
    let (from_file, from_flag) = (dir.0.join("root-file"), dir.0.join("root-flag"));
    for root in [&from_file, &from_flag] {
        std::fs::create_dir_all(root.join("kv")).unwrap();
    }
    let socket = dir.0.join("d.sock");
    let config = dir.0.join("daemon.toml");
    std::fs::write(
        &config,
        format!("fs_root = \"{}\"\n[limits]\nretained_exited = 2\n", from_file.display()),
    )
    .unwrap();
    let d = DaemonProcess::start(
        &[
            "--config",
            config.to_str().unwrap(),
            "--socket",
            socket.to_str().unwrap(),
            "--fs-root",
            from_flag.to_str().unwrap(),
        ],
        &[],
    );
    wait_for_socket(&socket);
    let cli = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_wasmd")).args(args).env("WASMD_SOCKET", &socket).output().unwrap()
    };
    // retained_exited = 2 from the file: of four ended orphans, two kept.
    let hello = wasmd_tests::guest("hello").display().to_string();
    for _ in 0..4 {
        assert!(cli(&["spawn", &hello]).status.success());
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let exited = stdout(&cli(&["ps", "--exited"])).lines().count().saturating_sub(1);
        let live = stdout(&cli(&["ps", "--live"])).lines().count().saturating_sub(1);
        if live == 0 {
            assert_eq!(exited, 2, "retained_exited from the config file");
            break;
        }
        assert!(Instant::now() < deadline, "the guests did not end");
        std::thread::sleep(Duration::from_millis(10));
    }
    // --fs-root wins over the file's fs_root: a guest's file: path lands there.
    let kv = wasmd_tests::guest("kvstore").display().to_string();
    assert!(cli(&["spawn", "cap=stdio,scheme", "grant=file:/kv=rw", &kv, "kvconf", "file:/kv"])
        .status
        .success());
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cli(&["write", "/scheme/kvconf/key", "value"]).status.success() {
        assert!(Instant::now() < deadline, "kvconf never served");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(std::fs::read(from_flag.join("kv/key")).unwrap(), b"value");
    assert!(!from_file.join("kv/key").exists(), "not under the file's fs_root");
    drop(d);
}
