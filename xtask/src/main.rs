//! Project tasks, run with `cargo xtask TASK`.
//!
//! - `demo`: builds the guests (the shared guest build,
//!   `tests/guest_build.rs`) and `wasmd`, runs the demo guest tree with `wasmd run`, then starts
//!   `wasmd daemon` on a private socket and drives the control tree and a
//!   guest-implemented scheme with the client commands, as a shell on
//!   Redox would with `ls`, `cat` and `echo >`.
//! - `guests DIR`: builds the guests and copies the examples (`.wasm`)
//!   into DIR (what the Redox recipe installs under `/usr/share/wasmd`).
//! - `gen-docs DIR`: writes the man pages and the bash, zsh and fish
//!   completions, generated from `wasmd`'s command-line definition, below
//!   DIR as a package installs them (`usr/share/man/man1/wasmd.1`,
//!   `usr/share/bash-completion/completions/wasmd`, ...). The cookbook
//!   recipe runs it on the build host with DIR its staging directory:
//!   the Redox binary cannot run there to print them itself.
//! - `redox-stage OUT [--wasmd PATH --smoke PATH]`: writes the Redox
//!   staging tree (`wasmd-qemu stage`).
//! - `redox-qemu`: injects the staging tree into a copy of `REDOX_IMAGE`,
//!   boots it under QEMU and waits for the smoke test (`wasmd-qemu boot`).
//! - `wasi-testsuite --suite DIR [--wasmd PATH]`: runs the WASI preview 1
//!   suites of a WebAssembly/wasi-testsuite checkout (its
//!   `prod/testsuite-base` branch) against `wasmd` (built in release mode
//!   unless `--wasmd` names one) through the adapter
//!   `tests/wasi-testsuite/wasmd.py`, and prints each suite's counts; see
//!   `tests/wasi-testsuite/README.md`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

#[path = "../../tests/guest_build.rs"]
mod guest_build;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("demo") => demo(&args[1..]),
        Some("guests") => {
            let Some(dir) = args.get(1) else { bail!("usage: cargo xtask guests DIR") };
            for file in guest_build::copy_examples(&built_guests()?, Path::new(dir))? {
                println!("{}", file.display());
            }
            Ok(())
        }
        Some("gen-docs") => {
            let Some(dir) = args.get(1) else { bail!("usage: cargo xtask gen-docs DIR") };
            let written = wasmd::cli::docs::install_docs(Path::new(dir))
                .with_context(|| format!("writing the man pages and completions below {dir}"))?;
            for file in written {
                println!("{}", file.display());
            }
            Ok(())
        }
        Some("redox-stage") => qemu_tool("stage", &args[1..]),
        Some("redox-qemu") => qemu_tool("boot", &args[1..]),
        Some("wasi-testsuite") => wasi_testsuite(&args[1..]),
        _ => {
            eprintln!(
                "usage: cargo xtask demo | guests DIR | gen-docs DIR | redox-stage OUT [--wasmd P --smoke P] | redox-qemu \
                 | wasi-testsuite --suite DIR [--wasmd P]"
            );
            std::process::exit(2);
        }
    }
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

fn demo(extra: &[String]) -> Result<()> {
    let status = cargo().args(["build", "--quiet", "-p", "wasmd"]).status().context("running cargo")?;
    if !status.success() {
        bail!("building wasmd failed");
    }
    let wasmd = wasmd_binary();
    let guests = built_guests()?;
    let demo = guests.join("demo.wasm");
    println!("$ wasmd run --cap all --grant ramfs: --grant counter: {}", demo.display());
    let status = Command::new(&wasmd)
        .args(["run", "--cap", "all", "--grant", "ramfs:", "--grant", "counter:"])
        .arg(&demo)
        .args(extra)
        .status()
        .context("running wasmd")?;
    if !status.success() {
        std::process::exit(status.code().unwrap_or(1));
    }
    println!();
    daemon_session(&wasmd, &guests)
}

/// The `wasmd` binary `cargo build` just made.
fn wasmd_binary() -> PathBuf {
    target_dir().join("debug").join(format!("wasmd{}", std::env::consts::EXE_SUFFIX))
}

/// Cargo's target directory.
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root().join("target"))
}

/// A daemon on a private socket, stopped on drop.
struct DaemonProcess {
    child: std::process::Child,
    dir: PathBuf,
}

impl Drop for DaemonProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The second half of the demo: the daemon and its control tree.
fn daemon_session(wasmd: &Path, guests: &Path) -> Result<()> {
    let dir = std::env::temp_dir().join(format!("wasmd-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let socket = dir.join("wasmd.sock");
    println!("$ wasmd daemon --socket {} &", socket.display());
    let child = Command::new(wasmd)
        .args(["daemon", "--socket"])
        .arg(&socket)
        .stderr(std::process::Stdio::null())
        .spawn()
        .context("starting wasmd daemon")?;
    let _daemon = DaemonProcess { child, dir };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::os::unix::net::UnixStream::connect(&socket).is_err() {
        if std::time::Instant::now() > deadline {
            bail!("the daemon did not come up");
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let shell = |args: &[&str]| -> Result<String> {
        let shown: Vec<String> =
            args.iter().map(|a| if a.contains(' ') { format!("\"{a}\"") } else { a.to_string() }).collect();
        println!("$ wasmd {}", shown.join(" "));
        let out = client(wasmd, &socket, args)?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        print!("{text}");
        eprint!("{}", String::from_utf8_lossy(&out.stderr));
        if !text.is_empty() && !text.ends_with('\n') {
            println!();
        }
        Ok(text)
    };
    let path = |name: &str| guests.join(format!("{name}.wasm")).display().to_string();
    shell(&["ls", "/scheme/wasm"])?;
    shell(&["cat", &format!("/scheme/wasm/run{}", path("hello"))])?;
    let ramfs = shell(&["spawn", "cap=stdio,scheme", &path("ramfs")])?.trim().to_string();
    // The provider registers on its first time slice.
    while !String::from_utf8_lossy(&client(wasmd, &socket, &["ls", "/scheme/wasm/scheme"])?.stdout)
        .contains("ramfs/")
    {
        if std::time::Instant::now() > deadline {
            bail!("ramfs never registered");
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    shell(&["ls", "/scheme/wasm/scheme"])?;
    shell(&["write", "/scheme/ramfs/motd", "written by a native client, stored by a wasm guest"])?;
    shell(&["cat", "/scheme/ramfs/motd"])?;
    let worker = shell(&["spawn", "cap=stdio,time", &path("worker"), "sleep", "100000"])?.trim().to_string();
    shell(&["ls", "/scheme/wasm"])?;
    shell(&["ps"])?;
    shell(&["tree"])?;
    shell(&["status", &worker])?;
    shell(&["kill", &worker])?;
    shell(&["cat", &format!("/scheme/wasm/{worker}/wait")])?;
    shell(&["kill", &ramfs])?;
    shell(&["ls", "/scheme/wasm/scheme"])?;
    shell(&["cat", "/scheme/ramfs/motd"])?;
    println!("(the provider is gone: its scheme went with it; nothing hangs)");
    // A hot reload of a running service: same pid, same scheme, its count
    // carried over.
    let counter = shell(&["spawn", "cap=stdio,scheme", &path("counter")])?.trim().to_string();
    while !String::from_utf8_lossy(&client(wasmd, &socket, &["ls", "/scheme/wasm/scheme"])?.stdout)
        .contains("counter/")
    {
        if std::time::Instant::now() > deadline + std::time::Duration::from_secs(10) {
            bail!("counter never registered");
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    shell(&["cat", "/scheme/counter/visits"])?;
    shell(&["cat", "/scheme/counter/visits"])?;
    shell(&["reload", &counter, &path("counter_v2")])?;
    shell(&["cat", "/scheme/counter/visits"])?;
    let status = shell(&["status", &counter])?;
    if !status.contains("reloads: 1") {
        bail!("the reload did not take");
    }
    shell(&["log", "--stdout", &counter])?;
    shell(&["kill", &counter])?;
    Ok(())
}

/// Runs a `wasmd` client command against the daemon at `socket`.
fn client(wasmd: &Path, socket: &Path, args: &[&str]) -> Result<std::process::Output> {
    Ok(Command::new(wasmd).args(args).env("WASMD_SOCKET", socket).output()?)
}

/// Runs the `wasmd-qemu` tool (its own crate, so the demo does not build
/// the RedoxFS library).
fn qemu_tool(command: &str, args: &[String]) -> Result<()> {
    let status = cargo()
        .args(["run", "--quiet", "--release", "-p", "wasmd-qemu", "--", command])
        .args(args)
        .status()
        .context("running cargo")?;
    std::process::exit(status.code().unwrap_or(1));
}

/// The wasi-testsuite's WASI preview 1 suites, by language, below a
/// checkout's `tests/`.
const WASI_SUITES: &[&str] = &["rust", "c", "assemblyscript"];

/// `wasi-testsuite --suite DIR [--wasmd PATH]`: runs the suite's runner
/// (`test-runner/wasi_test_runner.py`, with `$PYTHON`, else `python3`;
/// it needs Python 3.12) on every WASI preview 1 suite in DIR with the
/// wasmd adapter. The runner's report goes to
/// `target/wasi-testsuite/runner.log`, its results to `results.json`
/// beside it; this prints each suite's counts and fails if any test did.
fn wasi_testsuite(args: &[String]) -> Result<()> {
    const USAGE: &str = "usage: cargo xtask wasi-testsuite --suite DIR [--wasmd PATH]";
    let (mut suite, mut wasmd) = (None, None);
    let mut words = args.iter();
    while let Some(word) = words.next() {
        match word.as_str() {
            "--suite" => suite = words.next().map(PathBuf::from),
            "--wasmd" => wasmd = words.next().map(PathBuf::from),
            _ => bail!(USAGE),
        }
    }
    let Some(suite) = suite else { bail!(USAGE) };
    let wasmd = match wasmd {
        Some(wasmd) => std::path::absolute(wasmd)?,
        None => {
            let status = cargo()
                .args(["build", "--quiet", "--release", "-p", "wasmd"])
                .status()
                .context("running cargo")?;
            if !status.success() {
                bail!("building wasmd failed");
            }
            target_dir().join("release").join(format!("wasmd{}", std::env::consts::EXE_SUFFIX))
        }
    };
    let suites: Vec<PathBuf> = WASI_SUITES
        .iter()
        .map(|language| suite.join("tests").join(language).join("testsuite").join("wasm32-wasip1"))
        .filter(|dir| dir.is_dir())
        .collect();
    if suites.is_empty() {
        bail!(
            "no tests/*/testsuite/wasm32-wasip1 in {} (the prod/testsuite-base branch has them)",
            suite.display()
        );
    }
    let out = target_dir().join("wasi-testsuite");
    std::fs::create_dir_all(&out)?;
    let (log, results) = (out.join("runner.log"), out.join("results.json"));
    let _ = std::fs::remove_file(&results);
    let log_file = std::fs::File::create(&log)?;
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    // The runner exits non-zero when a test fails: its results say which.
    let status = Command::new(&python)
        .arg(suite.join("test-runner").join("wasi_test_runner.py"))
        .arg("-t")
        .args(&suites)
        .arg("-r")
        .arg(root().join("tests").join("wasi-testsuite").join("wasmd.py"))
        .args(["--disable-colors", "--json-output-location"])
        .arg(&results)
        .env("WASMD", &wasmd)
        .stdout(log_file.try_clone()?)
        .stderr(log_file)
        .status()
        .with_context(|| format!("running {python}"))?;
    let text = std::fs::read_to_string(&results)
        .with_context(|| format!("the runner ({status}) wrote no results; see {}", log.display()))?;
    let report: serde_json::Value = serde_json::from_str(&text).context("reading the runner's results")?;
    let mut failed = 0;
    for suite in report["results"].as_array().into_iter().flatten() {
        let count = |key: &str| suite[key].as_u64().unwrap_or(0);
        let total = suite["tests"].as_array().map_or(0, Vec::len);
        println!(
            "{}: {} passed, {} failed, {} skipped of {total}",
            suite["name"].as_str().unwrap_or("?"),
            count("passed"),
            count("failed"),
            count("skipped")
        );
        failed += count("failed");
    }
    println!("wasmd: {}\nreport: {}\nresults: {}", wasmd.display(), log.display(), results.display());
    if failed > 0 {
        std::process::exit(1);
    }
    Ok(())
}

/// The workspace root (xtask lives one level below it).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap_or(Path::new(".")).to_path_buf()
}

/// Builds the guests (if they changed) into `target/guests`; returns the
/// directory of the `.wasm` files.
fn built_guests() -> Result<PathBuf> {
    let root = root();
    guest_build::build_guests(&root.join("guests"), &root.join("target").join("guests"))
        .map_err(anyhow::Error::msg)
}
