//! Channels between two guests (the `chan_bench` guest spawns a writer
//! and a reader over one channel) against a Linux pipe between two
//! processes and `memcpy`; and the layout experiment of issue 3
//! (`--layouts`).

use std::sync::Arc;

use wasmd_tests::CapturedOutput;
use wasmhost::ManagerConfig;

use crate::baseline;
use crate::guests::{best_rates_interleaved, guest, manager_with, options};
use crate::report::{Figure, Target};

/// The channel's ring (the `chan_bench` capacity argument).
pub const RING: usize = 256 * 1024;

/// Frames per second through a channel between two guests on `workers`
/// scheduler threads: `n` frames of `size` bytes, payloads through region
/// windows; `flags` go to the guest (`copy`: through the copying region
/// calls; `batch`: 64 frames per `write_batch`). Timed by the guest, from
/// before it spawns the writer and the reader to the end of both.
pub fn frames_per_s(n: u64, size: usize, flags: &[&str], workers: usize) -> f64 {
    let wasm = guest("chan_bench");
    let (n_arg, size_arg, ring_arg) = (n.to_string(), size.to_string(), RING.to_string());
    let args: Vec<&str> =
        ["main", &n_arg, &size_arg, &ring_arg].into_iter().chain(flags.iter().copied()).collect();
    let ns = crate::smp::guest_ns_figure(&wasm, "chan_bench", &args, workers, "ns");
    n as f64 / ns * 1e9
}

/// `chan64_frames_per_s`, `chan64_mb_per_s`, `chan4k_gb_per_s`,
/// `chan4k_vs_pipe`, `chan64_single_frames_per_s`, and the windows
/// against the copying calls. The guests run on the daemon's workers (one
/// per core, as `wasmd` runs them), the writer handing 64 frames at a time
/// to `write_batch` except for the single-frame figure.
pub fn figures(quick: bool) -> Vec<Figure> {
    let runs = if quick { 3 } else { 5 };
    // Runs of 2 M frames on 2 workers last about 0.2 s; their rates
    // spread by ±10 % more than those of 4 M frames.
    let frames = if quick { 200_000 } else { 4_000_000 };
    let workers = crate::smp::cores().max(2);
    let [chan64, pipe64, chan4k, memcpy, pipe4k, single64, copy64, copy4k] = best_rates_interleaved(
        runs,
        [
            &mut || frames_per_s(frames, 64, &["batch"], workers),
            &mut || baseline::pipe_frames_per_s(frames, 64),
            &mut || frames_per_s(frames / 10, 4096, &["batch"], workers),
            &mut || baseline::memcpy_gb_per_s(4096, RING, 4 << 30),
            &mut || baseline::pipe_frames_per_s(frames / 10, 4096),
            &mut || frames_per_s(frames, 64, &[], workers),
            &mut || frames_per_s(frames, 64, &["batch", "copy"], workers),
            &mut || frames_per_s(frames / 10, 4096, &["batch", "copy"], workers),
        ],
    );
    let chan4k_gbs = chan4k * 4096.0 / 1e9;
    vec![
        Figure::info(
            "chan64_frames_per_s",
            format!("channel, 64 B frames, guest → guest (64 per write_batch, {workers} workers)"),
            chan64,
            "frames/s",
        )
        .against(pipe64, "Linux pipe, 2 processes, a write per frame")
        .target(Target::AtLeast(10e6)),
        Figure::info(
            "chan64_mb_per_s",
            "channel, 64 B frames, payload bandwidth",
            chan64 * 64.0 / 1e6,
            "MB/s",
        ),
        Figure::info(
            "chan64_single_frames_per_s",
            format!("channel, 64 B frames, a write per frame ({workers} workers)"),
            single64,
            "frames/s",
        )
        .against(pipe64, "Linux pipe, 2 processes, a write per frame")
        .target(Target::RatioAtLeast(2.0)),
        Figure::info(
            "chan4k_gb_per_s",
            format!(
                "channel, 4 KiB frames, guest → guest ({chan4k:.0} frames/s, batches, {workers} workers)"
            ),
            chan4k_gbs,
            "GB/s",
        )
        .against(memcpy, "memcpy, 4 KiB blocks, 256 KiB ring")
        .target(Target::RatioAtLeast(0.5)),
        Figure::info("chan4k_vs_pipe", "channel, 4 KiB frames vs a pipe", chan4k, "frames/s")
            .against(pipe4k, "Linux pipe, 2 processes, a write per frame"),
        Figure::info(
            "chan64_windows_vs_copy",
            "channel, 64 B frames in batches: through region windows (the default) vs the copying calls",
            chan64,
            "frames/s",
        )
        .against(copy64, "copying region calls"),
        Figure::info(
            "chan4k_windows_vs_copy",
            "channel, 4 KiB frames in batches: through region windows (the default) vs the copying calls",
            chan4k,
            "frames/s",
        )
        .against(copy4k, "copying region calls"),
    ]
}

/// Runs the `chan_layouts` experiment guest; returns its summary line.
pub fn layouts(size: usize, n: u64) -> String {
    let out = Arc::new(CapturedOutput::default());
    let mut pm = manager_with(ManagerConfig::default(), out.clone());
    let module = pm.modules().compile(&guest("chan_layouts")).expect("compiles");
    let pid = pm
        .spawn(
            module,
            options("chan_layouts", &[&size.to_string(), &n.to_string()], wasmd_abi::Caps::DEFAULT),
        )
        .expect("spawns");
    pm.run_to_completion().expect("runs");
    out.text(pid, 1).lines().collect::<Vec<_>>().join(", ")
}
