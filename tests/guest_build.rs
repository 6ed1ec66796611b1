//! The project's guest build, shared by the test crate's build script, the
//! `xtask` commands and the Redox staging tool (each includes this file
//! with `#[path]`, so there is one copy of it and no extra crate).
//!
//! It builds the guest workspace (`guests/`: examples and test fixtures)
//! for `wasm32-unknown-unknown`, and the WASI guest workspace
//! (`guests/wasi/`: std programs) for `wasm32-wasip1`, in release mode,
//! and the C programs in `guests/wasi/c/` with clang and wasi-libc.
//! Each nested cargo uses its
//! own target directory (sharing the caller's would wait forever on
//! cargo's lock when called from a build script) and runs inside the
//! workspace so that its `.cargo/config.toml` applies. Variables cargo sets
//! for build scripts, and cross-compilation settings of the caller (the
//! Redox cookbook sets `TARGET`, `CC`, `RUSTFLAGS`, ...), are removed so
//! they do not leak into the guest build.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The example guests shipped to users (`/usr/share/wasmd` on Redox).
pub const EXAMPLES: &[&str] =
    &["hello", "demo", "worker", "pipeline", "ramfs", "kvstore", "counter", "counter_v2"];

/// Builds the guest workspace at `guests` into `target_dir`; returns the
/// directory holding the `.wasm` files.
pub fn build_guests(guests: &Path, target_dir: &Path) -> Result<PathBuf, String> {
    build_workspace(guests, "wasm32-unknown-unknown", target_dir)
}

/// Builds the WASI guest workspace at `wasi_guests` (`guests/wasi`) into
/// `target_dir`; returns the directory holding the `.wasm` files.
pub fn build_wasi_guests(wasi_guests: &Path, target_dir: &Path) -> Result<PathBuf, String> {
    build_workspace(wasi_guests, "wasm32-wasip1", target_dir)
}

/// Compiles each C program in `sources` (`guests/wasi/c/*.c`) with wasi-libc
/// into `out` as `NAME.wasm`; returns `out`. The compiler is `$WASI_CC`,
/// else `clang` (Debian's `clang`, `lld`, `wasi-libc` and
/// `libclang-rt-dev-wasm32` packages are enough); `$WASI_SYSROOT` is its
/// `--sysroot` (wasi-sdk) if set. An error says why they could not be built.
pub fn build_wasi_c_guests(sources: &Path, out: &Path) -> Result<PathBuf, String> {
    let cc = std::env::var("WASI_CC").unwrap_or_else(|_| "clang".into());
    std::fs::create_dir_all(out).map_err(|e| format!("creating {}: {e}", out.display()))?;
    let mut programs: Vec<PathBuf> = std::fs::read_dir(sources)
        .map_err(|e| format!("reading {}: {e}", sources.display()))?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "c"))
        .collect();
    programs.sort();
    for source in programs {
        let name = source.file_stem().unwrap_or_default().to_string_lossy().into_owned();
        let mut cmd = Command::new(&cc);
        cmd.args(["--target=wasm32-wasi", "-O2", "-s", "-Wall", "-Wextra", "-Werror", "-o"])
            .arg(out.join(format!("{name}.wasm")))
            .arg(&source);
        if let Some(sysroot) = std::env::var_os("WASI_SYSROOT") {
            cmd.arg("--sysroot").arg(sysroot);
        }
        let output = cmd.output().map_err(|e| format!("cannot run `{cc}`: {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "`{cc} --target=wasm32-wasi` failed on {} ({}): {}",
                source.display(),
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
    }
    Ok(out.to_path_buf())
}

/// `cargo build --release --locked --target TARGET` in `workspace`, into
/// `target_dir`, without the caller's build settings.
fn build_workspace(workspace: &Path, target: &str, target_dir: &Path) -> Result<PathBuf, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace)
        .args(["build", "--release", "--locked", "--target", target, "--target-dir"])
        .arg(target_dir);
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().into_owned();
        let leaks = key.starts_with("CARGO_") && key != "CARGO_HOME"
            || matches!(
                key.as_str(),
                "RUSTFLAGS"
                    | "RUSTDOCFLAGS"
                    | "OUT_DIR"
                    | "TARGET"
                    | "HOST"
                    | "PROFILE"
                    | "OPT_LEVEL"
                    | "DEBUG"
                    | "NUM_JOBS"
                    | "RUSTC_WORKSPACE_WRAPPER"
                    | "RUSTC_WRAPPER"
                    | "RUSTC_LINKER"
                    | "CC"
                    | "CXX"
                    | "AR"
                    | "LD"
                    | "CFLAGS"
                    | "CXXFLAGS"
                    | "LDFLAGS"
            );
        if leaks {
            cmd.env_remove(&key);
        }
    }
    let status = cmd
        .status()
        .map_err(|e| format!("cannot run cargo to build the guests in {}: {e}", workspace.display()))?;
    if !status.success() {
        return Err(format!(
            "building the guest workspace {} failed ({status}); is the wasm target installed? \
             run `rustup target add {target}`",
            workspace.display()
        ));
    }
    Ok(target_dir.join(target).join("release"))
}

/// Copies the example guests from `built` into `dir`; returns the files.
pub fn copy_examples(built: &Path, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut copied = Vec::new();
    for name in EXAMPLES {
        let to = dir.join(format!("{name}.wasm"));
        std::fs::copy(built.join(format!("{name}.wasm")), &to)?;
        copied.push(to);
    }
    Ok(copied)
}
