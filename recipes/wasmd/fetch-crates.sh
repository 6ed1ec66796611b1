#!/usr/bin/env bash
# Fetches every crate the wasmd recipe's build needs into cargo's cache
# ($CARGO_HOME), so that the build itself runs offline: the daemon's
# dependencies (all targets), the guest workspace's, and the standard
# library's own crates that the guests' `-Zbuild-std=core,alloc` compiles
# (the Redox toolchain ships no wasm32-unknown-unknown std; it ships
# rust-src and rust-lld, which is all -Zbuild-std needs).
#
# Run it online, with the toolchain the build will use first on PATH (in
# a Redox build tree: after `make prefix`, from the recipe's fetch step or
# by hand; see cookbook/README.md). It builds nothing.
set -euo pipefail
cd "$(dirname "$0")/../.."
# -Z flags: the cookbook's toolchain is a nightly; this also lets a stable
# one take them.
export RUSTC_BOOTSTRAP=1
cargo fetch --locked --manifest-path Cargo.toml
cargo fetch --locked --manifest-path guests/Cargo.toml
cargo fetch --locked --manifest-path guests/Cargo.toml --target wasm32-unknown-unknown \
    -Zbuild-std=core,alloc -Zbuild-std-features=compiler-builtins-mem
