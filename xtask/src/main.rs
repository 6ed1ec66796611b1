//! Project tasks, run with `cargo xtask TASK`.
//!
//! - `demo`: builds the guests (through `wasmd-tests`' build script) and
//!   runs the demo guest tree with `wasmd run`.
//! - `guests DIR`: copies the example guests (`.wasm`) into DIR.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

/// The example guests shipped to users (under `/usr/share/wasmd` on Redox).
const EXAMPLES: &[&str] = &["hello", "demo", "worker", "pipeline"];

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("demo") => demo(&args[1..]),
        Some("guests") => {
            let Some(dir) = args.get(1) else { bail!("usage: cargo xtask guests DIR") };
            copy_examples(Path::new(dir))
        }
        _ => {
            eprintln!("usage: cargo xtask demo | guests DIR");
            std::process::exit(2);
        }
    }
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

fn demo(extra: &[String]) -> Result<()> {
    let demo = PathBuf::from(wasmd_tests::GUESTS_DIR).join("demo.wasm");
    println!("$ wasmd run {}", demo.display());
    let status = cargo()
        .args(["run", "--quiet", "-p", "wasmd", "--", "run"])
        .arg(&demo)
        .args(extra)
        .status()
        .context("running cargo")?;
    std::process::exit(status.code().unwrap_or(1));
}

fn copy_examples(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for name in EXAMPLES {
        let from = PathBuf::from(wasmd_tests::GUESTS_DIR).join(format!("{name}.wasm"));
        let to = dir.join(format!("{name}.wasm"));
        std::fs::copy(&from, &to).with_context(|| format!("copying {}", from.display()))?;
        println!("{}", to.display());
    }
    Ok(())
}
