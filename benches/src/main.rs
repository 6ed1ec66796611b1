//! `wasmd-bench`: every performance figure of the design, each beside a
//! baseline measured in the same run, printed as one table.
//!
//! ```text
//! cargo run --release -p wasmd-bench -- [--quick] [--json FILE] [--only NAME,...]
//!                                       [--idle-budget-mib N] [--layouts]
//! ```
//!
//! | module | figures |
//! |---|---|
//! | [`hostcall`] | `hostcall_ns` |
//! | [`spawn`] | `spawn_us`, `spawn_rust17_us`, `guest_spawn_per_s`, `guest_spawn_vs_wasmi` |
//! | [`idle`] | `idle_rss_per_guest_kib`, `idle_guests_max`, `idle_rss_rust_guest_kib` |
//! | [`channel`] | `chan64_frames_per_s`, `chan64_mb_per_s`, `chan64_single_frames_per_s`, `chan4k_gb_per_s`, `chan4k_vs_pipe`, `chan64_windows_vs_copy`, `chan4k_windows_vs_copy` |
//! | [`scheme_rtt`] | `scheme_rtt_us` |
//! | [`compute`] | `compute_vs_wasmi`, `compute_vs_native` |
//! | [`smp`] | `smp_bare_speedup`, `smp_compute_speedup`, `smp_spawn_speedup`, `rtt64_same_worker_us`, `rtt64_cross_worker_us` |
//! | [`preempt`] | `preempt_p99_ms`, `preempt_p50_ms` |
//! | [`control`] | `ps_flood_p99_ms`, `ps_flood_p50_ms`, `ps_busy_p99_ms`, `ps_p99_under_load_ms`, `ps_busy_p50_ms` |
//! | [`churn`] | `module_churn_rss_mib` |
//! | [`wasi`] | `wasi_hello_spawn_us`, `wasi_read_vs_native` |
//! | [`actors`] | `mailbox_rtt_us`, `mailbox_rtt_same_worker_us`, `exit_notice_us` |
//! | [`reload`] | `reload_us`, `reload_1mib_state_us` |
//! | [`image`] | `image_small_vs_segments`, `image_large_vs_segments` |
//! | [`cluster`] | `remote_spawn_ms`, `node_file_read_us` |
//!
//! Baselines ([`baseline`]) are measured, never quoted: the native sides
//! of the pipe baselines are this binary started with a hidden flag.
//! `--quick` finishes in under two minutes on 2 cores; the full mode
//! measures longer and spawns the whole million idle guests.

mod actors;
mod baseline;
mod channel;
mod churn;
mod cluster;
mod compile;
mod compute;
mod control;
mod guests;
mod hostcall;
mod idle;
mod image;
mod preempt;
mod reload;
mod report;
mod scheme_rtt;
mod smp;
mod spawn;
mod wasi;

use std::time::Instant;

use anyhow::{bail, Context, Result};

/// The groups of figures, by the `--only` names.
const GROUPS: &[&str] = &[
    "hostcall", "spawn", "idle", "channel", "scheme", "compute", "smp", "preempt", "control", "churn",
    "cluster", "compile", "wasi", "actors", "reload", "image",
];

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize| args.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    match args.first().map(String::as_str) {
        Some("--pipe-reader") => {
            baseline::pipe_reader(num(1), num(2) as usize);
            return Ok(());
        }
        Some("--profile-flood") => {
            println!("{:?} µs", control::flood_slice_us(num(1).max(1) as usize));
            return Ok(());
        }
        // The daemon of the control-plane figures.
        Some("--daemon") => {
            let cluster = args.get(2).zip(args.get(3)).map(|(url, node)| (url.as_str(), node.as_str()));
            control::daemon(std::path::Path::new(args.get(1).map_or("", String::as_str)), cluster);
            return Ok(());
        }
        // One fill of idle guests, in a process of its own.
        Some("--idle-fill") => {
            idle::fill_here(num(1) == 1, num(2) as usize, num(3));
            return Ok(());
        }
        Some("--pipe-echo") => {
            baseline::pipe_echo(num(1));
            return Ok(());
        }
        // For a profiler: only spawns, N of the 1-page guest.
        Some("--profile-spawn") => {
            println!("{:.2} µs", spawn::spawn_us(&guests::wat("tiny"), num(1).max(1) as u32));
            return Ok(());
        }
        // For a profiler: only guest-driven spawns, N children.
        Some("--profile-guest-spawn") => {
            println!("{:.0} spawns/s", spawn::guest_spawn_per_s(num(1).max(1) as u32));
            return Ok(());
        }
        // For a profiler: only the channel, N frames of SIZE bytes on W
        // workers (then the guest's flags: `copy`, `batch`).
        Some("--profile-channel") => {
            let flags: Vec<&str> = args.iter().skip(4).map(String::as_str).collect();
            let (n, size, workers) = (num(1).max(1), num(2).max(1) as usize, num(3).max(1) as usize);
            println!("{:.0} frames/s", channel::frames_per_s(n, size, &flags, workers));
            return Ok(());
        }
        _ => {}
    }
    let quick = args.iter().any(|a| a == "--quick");
    let value = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).cloned();
    let json = value("--json");
    let budget_mib: u64 = match value("--idle-budget-mib") {
        Some(v) => v.parse().context("--idle-budget-mib takes a number")?,
        None => 16384,
    };
    let only: Vec<String> =
        value("--only").map(|v| v.split(',').map(String::from).collect()).unwrap_or_default();
    if let Some(unknown) = only.iter().find(|g| !GROUPS.contains(&g.as_str())) {
        bail!("unknown group {unknown}; groups: {}", GROUPS.join(", "));
    }
    let wanted = |g: &str| only.is_empty() || only.iter().any(|o| o == g);
    println!("wasmd-bench ({} mode) on {}", if quick { "quick" } else { "full" }, machine());
    let started = Instant::now();
    let mut figures = Vec::new();
    let mut group = |name: &str, run: &mut dyn FnMut() -> Vec<report::Figure>| {
        if wanted(name) {
            let t = Instant::now();
            let got = run();
            eprintln!("  {name}: {:.1} s", t.elapsed().as_secs_f64());
            figures.extend(got);
        }
    };
    group("hostcall", &mut || hostcall::figures(quick));
    group("spawn", &mut || spawn::figures(quick));
    group("idle", &mut || idle::figures(quick, budget_mib));
    group("channel", &mut || channel::figures(quick));
    group("scheme", &mut || scheme_rtt::figures(quick));
    group("compute", &mut || compute::figures(quick));
    group("smp", &mut || smp::figures(quick));
    group("preempt", &mut || preempt::figures(quick));
    group("control", &mut || control::figures(quick));
    group("churn", &mut churn::figures);
    group("compile", &mut || compile::figures(quick));
    group("wasi", &mut || wasi::figures(quick));
    group("actors", &mut || actors::figures(quick));
    group("reload", &mut || reload::figures(quick));
    group("image", &mut || image::figures(quick));
    group("cluster", &mut || cluster::figures(quick));
    println!("\n{}", report::table(&figures));
    println!("total time {:.0} s", started.elapsed().as_secs_f64());
    if args.iter().any(|a| a == "--layouts") {
        for size in [64usize, 4096] {
            let out = channel::layouts(size, if quick { 100_000 } else { 500_000 });
            println!("channel layout experiment, {size} B (ns/frame): {out}");
        }
    }
    if let Some(path) = json {
        std::fs::write(&path, report::json(&figures)).with_context(|| format!("writing {path}"))?;
        println!("wrote {path}");
    }
    Ok(())
}

/// CPU model, cores and memory of this machine.
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name")?.split_once(':').map(|(_, m)| m.trim().to_string()))
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_gib = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:")?.trim().strip_suffix("kB")?.trim().parse::<u64>().ok())
        .map(|kib| kib as f64 / (1 << 20) as f64)
        .unwrap_or(0.0);
    format!("{model}, {cores} cores, {mem_gib:.0} GiB")
}
