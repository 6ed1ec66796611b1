//! `wasmd-smoke [EXAMPLES_DIR [FIXTURES_DIR]]`: runs every check against
//! the live `/scheme/wasm` (default guests: `/usr/share/wasmd` and
//! `/usr/share/wasmd/smoke`; the WASI guests in `FIXTURES_DIR/wasi`, the
//! wasi-testsuite's tests in `FIXTURES_DIR/wasi-suite` if there), printing a line per check and then
//! `WASMD-SMOKE: PASS ...` or `WASMD-SMOKE: FAIL ...`; the exit code is 0
//! on success, 1 on failure. Started by an init unit in the QEMU harness,
//! its standard output reaches the serial console through the log daemon.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use wasmd_smoke::{Setup, StdTree, Tree};

/// Where the QEMU harness names the other node of the cluster it runs
/// (`NODE EXAMPLES FIXTURES`), when it runs one.
const PEER_FILE: &str = "/etc/wasmd/smoke-peer";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1).peekable();
    if args.peek().map(String::as_str) == Some("--as-user") {
        // The `user-identity` check's other half, run as an ordinary user.
        let examples = args.nth(1).unwrap_or_default();
        let roots: u32 = args.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        println!("{}", wasmd_smoke::checks::as_user(&mut StdTree, &examples, roots));
        return ExitCode::SUCCESS;
    }
    let examples = args.next().unwrap_or_else(|| "/usr/share/wasmd".into());
    let fixtures = args.next().unwrap_or_else(|| format!("{examples}/smoke"));
    let wasi = format!("{fixtures}/wasi");
    let wasi_suite = Some(format!("{fixtures}/wasi-suite")).filter(|dir| std::path::Path::new(dir).is_dir());
    let scratch = "/tmp/wasmd-smoke".to_string();
    if let Err(e) = std::fs::create_dir_all(&scratch) {
        println!("wasmd-smoke: cannot make {scratch}: {e}");
    }
    // Staged by the QEMU harness when it runs a cluster (a NATS server
    // and a node on the host); it stops that node when the serial console
    // asks it to.
    let peer = std::fs::read_to_string(PEER_FILE).ok().and_then(|line| wasmd_smoke::Peer::parse(&line));
    let stop_peer = peer.as_ref().filter(|p| p.stoppable).map(|p| {
        let ask = format!("{}{}", wasmd_smoke::STOP_NODE, p.node);
        Arc::new(move || {
            println!("{ask}");
            let _ = std::io::stdout().flush();
        }) as Arc<dyn Fn() + Send + Sync>
    });
    let setup = Setup {
        trees: Arc::new(|| Ok(Box::new(StdTree) as Box<dyn Tree>)),
        examples,
        fixtures,
        wasi,
        wasi_suite,
        file_root: PathBuf::from("/"),
        scratch,
        peer,
        stop_peer,
    };
    let reports = wasmd_smoke::run(&setup, wasmd_smoke::CHECKS, &mut |report| {
        println!("{}", report.line());
        let _ = std::io::stdout().flush();
    });
    let verdict = wasmd_smoke::verdict(&reports);
    println!("{verdict}");
    let _ = std::io::stdout().flush();
    // The kernel's debug console too, in case standard output is not the
    // serial console in this image.
    if let Ok(mut debug) = std::fs::OpenOptions::new().write(true).open("/scheme/debug") {
        let _ = writeln!(debug, "{verdict}");
    }
    if verdict.starts_with(wasmd_smoke::PASS) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
