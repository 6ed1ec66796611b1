//! Builds the guest workspace (`guests/`: examples and test fixtures) for
//! `wasm32-unknown-unknown` in release mode, into `target/guests`, and the
//! WASI guest workspace (`guests/wasi/`) for `wasm32-wasip1`, into
//! `target/guests-wasi`, and its C programs (`guests/wasi/c/`) into
//! `target/guests-wasi/c` when a WASI C toolchain is at hand, and tells the
//! library where the `.wasm` files are (see `guest_build.rs`).

use std::env;
use std::path::PathBuf;

#[path = "guest_build.rs"]
mod guest_build;

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let root = manifest.parent().expect("tests/ lives in the workspace root").to_path_buf();
    let guests = root.join("guests");
    let target_dir = root.join("target").join("guests");
    let wasi_target_dir = root.join("target").join("guests-wasi");
    for watched in [
        "guests/Cargo.toml",
        "guests/Cargo.lock",
        "guests/.cargo/config.toml",
        "guests/examples",
        "guests/fixtures",
        "guests/wasi/Cargo.toml",
        "guests/wasi/Cargo.lock",
        "guests/wasi/.cargo/config.toml",
        "guests/wasi/src",
        "guests/wasi/c",
        "tests/guest_build.rs",
        "guestlib/Cargo.toml",
        "guestlib/src",
        "guestlib/abi/Cargo.toml",
        "guestlib/abi/src",
        "guestlib/channel/Cargo.toml",
        "guestlib/channel/src",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    let out = guest_build::build_guests(&guests, &target_dir).unwrap_or_else(|e| panic!("{e}"));
    println!("cargo:rustc-env=WASMD_GUESTS_DIR={}", out.display());
    let wasi_out = guest_build::build_wasi_guests(&guests.join("wasi"), &wasi_target_dir)
        .unwrap_or_else(|e| panic!("{e}"));
    println!("cargo:rustc-env=WASMD_WASI_GUESTS_DIR={}", wasi_out.display());
    // The C programs need a C toolchain for WASI, which not every machine
    // has: without one their tests say so and skip (CI installs it).
    println!("cargo:rerun-if-env-changed=WASI_CC");
    println!("cargo:rerun-if-env-changed=WASI_SYSROOT");
    let c_out = guest_build::build_wasi_c_guests(&guests.join("wasi").join("c"), &wasi_target_dir.join("c"))
        .unwrap_or_else(|reason| {
            println!("cargo:warning=the WASI C guests were not built: {reason}");
            PathBuf::new()
        });
    println!("cargo:rustc-env=WASMD_WASI_C_GUESTS_DIR={}", c_out.display());
    println!("cargo:rustc-env=WASMD_WAT_DIR={}", manifest.join("wat").display());
}
