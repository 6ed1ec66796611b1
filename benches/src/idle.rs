//! Idle guests: spawn sleeping 1-page guests in batches until the target
//! count or the memory budget is reached; report the resident memory each
//! costs (once parked longer than `wasmhost::TRIM_AFTER`, when their zero
//! pages went back to the OS) and how many fit. The same for a sleeping
//! guest built with the project's Rust library (the `worker` example,
//! 2 pages: `idle_rss_rust_guest_kib`). Each fill runs in a process of
//! its own, so that it starts from a clean resident set.

use wasmhost::{ManagerConfig, NoOutput, ProcessManager};

use crate::guests::{guest, manager_with, options, wat};
use crate::report::{Figure, Target};

/// The target: live idle guests on one machine (within 16 GiB).
const TARGET: usize = 1_000_000;
const BATCH: usize = 1_000;
/// Idle guests' memory limit: 16 pages (1 MiB).
const IDLE_MAX_PAGES: u32 = 16;

/// Resident bytes of this process (`/proc/self/statm`).
pub fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|v| v.parse().ok()).unwrap_or(0);
    pages * 4096
}

/// Runs every ready guest until it parks, then waits until parked guests
/// gave their zero pages back.
fn settle(pm: &mut ProcessManager) {
    while pm.run(BATCH) > 0 {}
    std::thread::sleep(wasmhost::TRIM_AFTER * 2);
    // Each pass scans a bounded amount of memory: as many as it takes.
    while pm.next_deadline().is_some_and(|d| d <= std::time::Instant::now()) {
        pm.poll_events();
    }
}

/// Spawns idle guests (`wasm` with `args`) until `cap` or `budget` bytes
/// of growth; returns (guests alive, resident bytes they added).
fn fill(wasm: &[u8], args: &[&str], cap: usize, budget: u64) -> (usize, u64) {
    // The daemon's memory budget counts each guest's declared pages, not
    // what is resident: raised here, as `--memory-budget` would be for a
    // million guests.
    let config = ManagerConfig {
        max_processes: cap + 16,
        memory_budget: (cap as u64 + 16) << 20,
        ..ManagerConfig::default()
    };
    let mut pm = manager_with(config, std::sync::Arc::new(NoOutput));
    let module = pm.modules().compile(wasm).expect("compiles");
    let mut opts = options("idle", args, wasmd_abi::Caps::DEFAULT);
    // As a user packing a million small actors would: a 1 MiB memory
    // limit, so each guest's arena slot reserves 1 MiB of address space
    // (the default 256 MiB would take 256 TiB for a million).
    opts.limits.max_pages = IDLE_MAX_PAGES;
    // Warm up: one guest, so one-time costs (the module, the first store)
    // are not charged to the guests.
    pm.spawn(module.clone(), opts.clone()).expect("spawns");
    settle(&mut pm);
    let before = rss_bytes();
    let mut alive = 0;
    while alive < cap {
        for _ in 0..BATCH.min(cap - alive) {
            pm.spawn(module.clone(), opts.clone()).expect("spawns");
            alive += 1;
        }
        // Every new guest runs until it parks in `sleep`.
        while pm.run(BATCH) > 0 {}
        if rss_bytes().saturating_sub(before) > budget {
            break;
        }
    }
    settle(&mut pm);
    assert_eq!(pm.live(), alive + 1, "every idle guest is alive");
    (alive, rss_bytes().saturating_sub(before))
}

/// For [`fill_in_child`]: one fill in this (fresh) process, of the Rust
/// guest or the 1-page WAT one, printed as `ALIVE GROWN`.
pub fn fill_here(rust: bool, cap: usize, budget: u64) {
    let (alive, grown) = if rust {
        fill(&guest("worker"), &["sleep", "1000000000"], cap, budget)
    } else {
        fill(&wat("idle"), &[], cap, budget)
    };
    println!("{alive} {grown}");
}

/// One fill in a process of its own (this program with `--idle-fill`):
/// memory a fill before it freed, still held by the allocator for
/// reuse, would otherwise hide what this one's guests take (after the
/// million 1-page guests, 10,000 Rust guests seemed to take 0 KiB).
fn fill_in_child(rust: bool, cap: usize, budget: u64) -> (usize, u64) {
    let out = std::process::Command::new(std::env::current_exe().expect("own path"))
        .args(["--idle-fill", if rust { "1" } else { "0" }, &cap.to_string(), &budget.to_string()])
        .stderr(std::process::Stdio::inherit())
        .output()
        .expect("runs itself");
    assert!(out.status.success(), "the idle fill failed: {}", out.status);
    let text = String::from_utf8_lossy(&out.stdout);
    let mut numbers = text.split_whitespace().map(|n| n.parse::<u64>().expect("a number"));
    let (alive, grown) = (numbers.next().expect("alive"), numbers.next().expect("grown"));
    (alive as usize, grown)
}

/// `idle_rss_per_guest_kib`, `idle_guests_max`, `idle_rss_rust_guest_kib`.
pub fn figures(quick: bool, budget_mib: u64) -> Vec<Figure> {
    let cap = if quick { 10_000 } else { TARGET };
    let (alive, grown) = fill_in_child(false, cap, budget_mib << 20);
    let rust_cap = if quick { 2_000 } else { 10_000 };
    let (rust_alive, rust_grown) = fill_in_child(true, rust_cap, budget_mib << 20);
    let rust_per_guest = rust_grown as f64 / rust_alive as f64 / 1024.0;
    let per_guest = grown as f64 / alive as f64 / 1024.0;
    let fit = ((budget_mib * 1024) as f64 / per_guest) as usize;
    let (max, how) = if alive < cap {
        (alive, format!("spawned until the {budget_mib} MiB budget ran out"))
    } else if quick {
        (fit, format!("projected from {alive} spawned"))
    } else {
        (alive, "spawned, all alive".to_string())
    };
    let per_guest_budget = (budget_mib * 1024) as f64 / TARGET as f64;
    vec![
        Figure::info("idle_rss_per_guest_kib", "resident memory per idle 1-page guest", per_guest, "KiB")
            .target_described(
                Target::AtMost(per_guest_budget),
                format!("{TARGET} guests in {budget_mib} MiB: <= {per_guest_budget:.1} KiB"),
            ),
        Figure::info(
            "idle_guests_max",
            format!("idle 1-page guests within {budget_mib} MiB ({how})"),
            max as f64,
            "guests",
        )
        .target_described(Target::AtLeast(TARGET as f64), format!(">= {TARGET}")),
        Figure::info(
            "idle_rss_rust_guest_kib",
            format!("resident memory per idle Rust-library guest (worker, {rust_alive} asleep)"),
            rust_per_guest,
            "KiB",
        )
        .target(Target::AtMost(24.0)),
    ]
}
