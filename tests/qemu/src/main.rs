//! `wasmd-qemu`: the Redox staging tree, RedoxFS injection and the QEMU
//! harness from the command line.
//!
//! ```text
//! wasmd-qemu stage OUT [--wasmd PATH --smoke PATH] [--guests DIR] [--wasi-guests DIR] [--wasi-suite DIR]
//! wasmd-qemu inject IMAGE TREE
//! wasmd-qemu boot            # REDOX_IMAGE=path/to/harddrive.img
//! ```
//!
//! `stage` takes the Redox builds from `--wasmd`/`--smoke`, else from
//! `WASMD_REDOX_BIN`/`WASMD_SMOKE_REDOX_BIN`, else builds them with a Redox
//! cross toolchain on `PATH`; the guests from `--guests` and the WASI guests
//! from `--wasi-guests`, else it builds them; the wasi-testsuite's tests
//! from `--wasi-suite`, else `WASMD_SMOKE_WASI_SUITE`, else none. `boot` runs the whole harness (see the library docs) and exits 0
//! on PASS or when skipped (it prints `skipped: ...`), 1 on failure.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use wasmd_qemu::redox_build::{Binaries, Source};
use wasmd_qemu::{stage, HarnessConfig, Outcome};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("stage") => cmd_stage(&args[1..]),
        Some("inject") if args.len() == 3 => cmd_inject(Path::new(&args[1]), Path::new(&args[2])),
        Some("boot") => cmd_boot(),
        _ => Err("usage: wasmd-qemu stage OUT [--wasmd PATH --smoke PATH] [--guests DIR] \
                  [--wasi-guests DIR] [--wasi-suite DIR] | inject IMAGE TREE | boot"
            .into()),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("wasmd-qemu: {e}");
            ExitCode::from(2)
        }
    }
}

/// The option `--name VALUE` in `args`.
fn option(args: &[String], name: &str) -> Option<PathBuf> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).map(PathBuf::from)
}

/// The compiled example guests: `--guests DIR`, else built now.
fn guests(args: &[String]) -> Result<PathBuf, String> {
    if let Some(dir) = option(args, "--guests") {
        return Ok(dir);
    }
    let root = wasmd_qemu::redox_build::workspace_root();
    wasmd_qemu::guest_build::build_guests(&root.join("guests"), &root.join("target").join("guests"))
}

/// The compiled WASI guests: `--wasi-guests DIR`, else built now (into
/// `target/guests-wasi`, where the test crate's build puts them too).
fn wasi_guests(args: &[String]) -> Result<PathBuf, String> {
    if let Some(dir) = option(args, "--wasi-guests") {
        return Ok(dir);
    }
    let root = wasmd_qemu::redox_build::workspace_root();
    wasmd_qemu::guest_build::build_wasi_guests(
        &root.join("guests").join("wasi"),
        &root.join("target").join("guests-wasi"),
    )
}

fn cmd_stage(args: &[String]) -> Result<ExitCode, String> {
    let Some(out) = args.first().filter(|a| !a.starts_with("--")) else {
        return Err("stage: missing OUT".into());
    };
    let source = match (option(args, "--wasmd"), option(args, "--smoke")) {
        (Some(wasmd), Some(smoke)) => Source::Given(Binaries { wasmd, smoke }),
        (None, None) => Source::from_env(),
        _ => return Err("stage: give both --wasmd and --smoke, or neither".into()),
    };
    if let Some(why) = source.unavailable() {
        return Err(why);
    }
    let binaries = source.resolve().map_err(|e| e.to_string())?;
    let wasi_suite = option(args, "--wasi-suite")
        .or_else(|| std::env::var_os("WASMD_SMOKE_WASI_SUITE").filter(|v| !v.is_empty()).map(PathBuf::from));
    let inputs =
        stage::Inputs { binaries, guests: guests(args)?, wasi_guests: wasi_guests(args)?, wasi_suite };
    let files = stage::stage(Path::new(out), &inputs).map_err(|e| e.to_string())?;
    for f in files {
        println!("{:o} {} ({} bytes)", f.mode, f.path, f.data.len());
    }
    Ok(ExitCode::SUCCESS)
}

fn cmd_inject(image: &Path, tree: &Path) -> Result<ExitCode, String> {
    for path in wasmd_qemu::inject::inject(image, tree).map_err(|e| e.to_string())? {
        println!("{path}");
    }
    Ok(ExitCode::SUCCESS)
}

fn cmd_boot() -> Result<ExitCode, String> {
    let config = HarnessConfig::from_env(PathBuf::new(), PathBuf::new());
    // Only build the guests when the harness can run at all.
    let config = if config.image.is_some() {
        HarnessConfig { guests: guests(&[])?, wasi_guests: wasi_guests(&[])?, ..config }
    } else {
        config
    };
    let outcome = wasmd_qemu::harness(&config, &mut |line| eprintln!("wasmd-qemu: {line}"))
        .map_err(|e| e.to_string())?;
    Ok(report(&outcome))
}

/// Prints an outcome; the exit code for it.
fn report(outcome: &Outcome) -> ExitCode {
    match outcome {
        Outcome::Passed { accel, after, checks } => {
            for line in checks {
                println!("{line}");
            }
            println!("PASS: WASMD-SMOKE: PASS after {:.1} s ({accel})", after.as_secs_f64());
            ExitCode::SUCCESS
        }
        Outcome::Skipped(missing) => {
            println!("skipped: {}", missing.join("; "));
            ExitCode::SUCCESS
        }
        Outcome::Failed { reason, tail } => {
            println!("FAIL: {reason}\n--- serial log (tail) ---\n{tail}");
            ExitCode::FAILURE
        }
    }
}
