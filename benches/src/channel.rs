//! Channels between two guests (the `chan_bench` guest spawns a writer
//! and a reader over one channel) against a Linux pipe between two
//! processes and `memcpy`; and the layout experiment of issue 3
//! (`--layouts`).

use std::sync::Arc;
use std::time::Instant;

use wasmd_tests::CapturedOutput;
use wasmhost::{ManagerConfig, SpawnOptions};

use crate::baseline;
use crate::guests::{best_rates_interleaved, guest, guests_dir, manager, manager_with, options};
use crate::report::{Figure, Target};

/// The channel's ring (the `chan_bench` capacity argument).
pub const RING: usize = 256 * 1024;

/// Frames per second through a channel between two guests: `n` frames of
/// `size` bytes, payloads through the copying region calls (or, with
/// `window`, through region windows).
pub fn frames_per_s(n: u64, size: usize, window: bool) -> f64 {
    let mut pm = manager();
    let path = guests_dir().join("chan_bench.wasm");
    let (module, resolved) = pm.load_module(path.to_str().expect("utf-8 path")).expect("chan_bench loads");
    // Compiled before timing: the two children reuse the cached module.
    let opts = SpawnOptions {
        args: ["chan_bench", "main", &n.to_string(), &size.to_string(), &RING.to_string()]
            .map(String::from)
            .into_iter()
            .chain(window.then(|| "window".to_string()))
            .collect(),
        module_path: Some(resolved),
        ..SpawnOptions::new("chan_bench")
    };
    let t = Instant::now();
    pm.spawn(module, opts).expect("spawns");
    pm.run_to_completion().expect("runs");
    n as f64 / t.elapsed().as_secs_f64()
}

/// `chan64_frames_per_s`, `chan64_mb_per_s`, `chan4k_gb_per_s`,
/// `chan4k_vs_pipe`.
pub fn figures(quick: bool) -> Vec<Figure> {
    let runs = if quick { 3 } else { 5 };
    let frames = if quick { 200_000 } else { 2_000_000 };
    let [chan64, pipe64, chan4k, memcpy, pipe4k, window64, window4k] = best_rates_interleaved(
        runs,
        [
            &mut || frames_per_s(frames, 64, false),
            &mut || baseline::pipe_frames_per_s(frames, 64),
            &mut || frames_per_s(frames / 10, 4096, false),
            &mut || baseline::memcpy_gb_per_s(4096, RING, 4 << 30),
            &mut || baseline::pipe_frames_per_s(frames / 10, 4096),
            &mut || frames_per_s(frames, 64, true),
            &mut || frames_per_s(frames / 10, 4096, true),
        ],
    );
    let chan4k_gbs = chan4k * 4096.0 / 1e9;
    vec![
        Figure::info("chan64_frames_per_s", "channel, 64 B frames, guest → guest", chan64, "frames/s")
            .against(pipe64, "Linux pipe, 2 processes")
            .target(Target::RatioAtLeast(2.0)),
        Figure::info(
            "chan64_mb_per_s",
            "channel, 64 B frames, payload bandwidth",
            chan64 * 64.0 / 1e6,
            "MB/s",
        ),
        Figure::info(
            "chan4k_gb_per_s",
            format!("channel, 4 KiB frames, guest → guest ({chan4k:.0} frames/s)"),
            chan4k_gbs,
            "GB/s",
        )
        .against(memcpy, "memcpy, 4 KiB blocks, 256 KiB ring")
        .target(Target::RatioAtLeast(0.5)),
        Figure::info("chan4k_vs_pipe", "channel, 4 KiB frames vs a pipe", chan4k, "frames/s")
            .against(pipe4k, "Linux pipe, 2 processes"),
        Figure::info(
            "chan64_windows_vs_copy",
            "channel, 64 B frames: payloads through region windows vs the copying calls",
            window64,
            "frames/s",
        )
        .against(chan64, "copying region calls (the default)"),
        Figure::info(
            "chan4k_windows_vs_copy",
            "channel, 4 KiB frames: payloads through region windows vs the copying calls",
            window4k,
            "frames/s",
        )
        .against(chan4k, "copying region calls (the default)"),
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
