//! Builds the guest workspace (`guests/`: examples and test fixtures) for
//! `wasm32-unknown-unknown` in release mode, into `target/guests`, and
//! tells the library where the `.wasm` files are.
//!
//! The nested cargo uses its own target directory (sharing the outer one
//! would wait forever on cargo's lock) and runs inside `guests/` so that
//! directory's `.cargo/config.toml` (target, linker flags) applies. The
//! variables cargo sets for build scripts are removed so they do not leak
//! into the guest build.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let root = manifest.parent().expect("tests/ lives in the workspace root").to_path_buf();
    let guests = root.join("guests");
    let target_dir = root.join("target").join("guests");
    for watched in [
        "guests/Cargo.toml",
        "guests/Cargo.lock",
        "guests/.cargo/config.toml",
        "guests/examples",
        "guests/fixtures",
        "guestlib/Cargo.toml",
        "guestlib/src",
        "guestlib/abi/Cargo.toml",
        "guestlib/abi/src",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    build_guests(&guests, &target_dir);
    let out = target_dir.join("wasm32-unknown-unknown").join("release");
    println!("cargo:rustc-env=WASMD_GUESTS_DIR={}", out.display());
    println!("cargo:rustc-env=WASMD_WAT_DIR={}", manifest.join("wat").display());
}

fn build_guests(guests: &Path, target_dir: &Path) {
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(guests)
        .args(["build", "--release", "--locked", "--target", "wasm32-unknown-unknown", "--target-dir"])
        .arg(target_dir);
    for (key, _) in env::vars_os() {
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
            );
        if leaks {
            cmd.env_remove(&key);
        }
    }
    let status = cmd.status().unwrap_or_else(|e| panic!("cannot run cargo to build the guests: {e}"));
    if !status.success() {
        panic!(
            "building the guest workspace failed ({status}); is the wasm target installed? \
             run `rustup target add wasm32-unknown-unknown`"
        );
    }
}
