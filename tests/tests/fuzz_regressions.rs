//! Inputs found by fuzzing (`fuzz/`, `cargo +nightly fuzz`), replayed on
//! every test run.
//!
//! `tests/fuzz-regressions/TARGET/` holds inputs of the fuzz target
//! `TARGET`: a few small ones from its corpus (they reach deep into the
//! code: the daemon's tree with hostile guests, the ring with a hostile
//! peer, ...) and every crash the fuzzer found, minimised. Each is run
//! through the very code the target runs: `fuzz/src/harness/mod.rs`, included
//! here, so this needs neither nightly nor libFuzzer.
//!
//! A crash input is named `crash-*` and replayed by its own test, marked
//! `#[ignore]` until the bug is fixed (the fixing commit removes the
//! `ignore`); the other inputs must pass.

use std::path::{Path, PathBuf};

#[path = "../../fuzz/src/harness/mod.rs"]
mod harness;

fn inputs(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz-regressions").join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// Runs every input of `target` but the crashes through `body`.
fn replay(target: &str, body: fn(&[u8])) {
    let files: Vec<PathBuf> = inputs(target)
        .into_iter()
        .filter(|p| !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("crash-")))
        .collect();
    assert!(!files.is_empty(), "no inputs for {target}");
    for file in files {
        eprintln!("replaying {}", file.display());
        body(&std::fs::read(&file).expect("a regression input"));
    }
}

/// Runs one crash input of `target` through `body`.
fn replay_crash(target: &str, name: &str, body: fn(&[u8])) {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz-regressions").join(target).join(name);
    body(&std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display())));
}

#[test]
fn module_load() {
    replay("module_load", harness::module_load);
}

#[test]
fn hostcalls() {
    replay("hostcalls", harness::hostcalls);
}

#[test]
fn spec_and_paths() {
    replay("spec_and_paths", harness::spec_and_paths);
}

#[test]
fn socket_protocol() {
    replay("socket_protocol", harness::socket_protocol);
}

#[test]
fn scheme_replies() {
    replay("scheme_replies", harness::scheme_replies);
}

#[test]
fn channel_ring() {
    replay("channel_ring", harness::channel_ring);
}

#[test]
fn wasi_calls() {
    replay("wasi_calls", harness::wasi_calls);
}

/// Keeps `replay_crash` compiled while no crash is waiting for a fix.
#[test]
fn crash_inputs_are_named_for_their_tests() {
    for target in [
        "module_load",
        "hostcalls",
        "spec_and_paths",
        "socket_protocol",
        "scheme_replies",
        "channel_ring",
        "wasi_calls",
    ] {
        for file in inputs(target) {
            let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            if name.starts_with("crash-") {
                assert!(
                    CRASHES.iter().any(|(t, n)| *t == target && *n == name),
                    "no test replays {target}/{name}"
                );
            }
        }
    }
}

/// Every crash input, by target (each has its own test below).
const CRASHES: &[(&str, &str)] =
    &[("channel_ring", "crash-strong-reader-skips-frames-written-after-it-joined")];

/// Found by fuzzing (`channel_ring`, 4.3 million inputs): a strong
/// reader that joins a channel at `Start::Oldest` misses frames written
/// after it joined. A 256-byte ring, one 256-byte block: a writer (the
/// weak writer of a `chan/ID` file) writes while no strong reader exists
/// and caches the readers' floor (the tail, 304); a strong reader joins at
/// the oldest frame (position 256, below that floor); the writer goes on
/// up to its cached floor plus the capacity (560) without looking at the
/// reader slots again (`guestlib/channel/src/writer.rs`, `send`: the floor
/// is re-read only when the cached one says "full"), overwriting the frame
/// the reader stands on; the reader, lapped, skips to the next block start
/// after `tail - capacity` (`reader.rs`, `nothing_published`, and
/// `layout.rs`, `oldest`): position 512, past the frames 11 to 15 written
/// after it joined, which were intact. The model check reports "frames
/// 11..16 were skipped (the reader joined before 11)".
#[test]
fn channel_strong_reader_joining_late_sees_every_later_frame() {
    replay_crash(
        "channel_ring",
        "crash-strong-reader-skips-frames-written-after-it-joined",
        harness::channel_ring,
    );
}

/// Found by fuzzing: LeakSanitizer, at the exit of `spec_and_paths` and
/// `scheme_replies` (every daemon they made leaked its memory budget: 1.5
/// MB in 17,000 objects after 18,000 inputs). `MemoryBudget::account`
/// keeps each user's `Account` in the budget, and each `Account` keeps an
/// `Arc` of its budget: once a process was spawned, a manager's budget and
/// its accounts keep each other alive for ever.
#[test]
fn memory_budget_goes_with_its_accounts() {
    let budget = std::sync::Arc::new(wasmhost::limits::MemoryBudget::new(1 << 20));
    drop(budget.account(1000));
    let weak = std::sync::Arc::downgrade(&budget);
    drop(budget);
    assert!(weak.upgrade().is_none(), "the budget outlives its last holder");
}
