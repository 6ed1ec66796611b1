//! Module compile time: a 116 KB Rust guest (`supervision`, the largest
//! of the project's guests) compiled through wasmd's module cache — the
//! memory rewrite (see `wasmhost`'s `memory_import`) and wasmi's
//! translation — against bare wasmi compiling the same bytes with
//! wasmd's engine settings (eager translation, fuel metering), same run
//! (`compile_ms`, `compile_vs_wasmi`). Each compile gets distinct bytes
//! (a custom section with a counter), so the cache never answers.

use std::time::Instant;

use crate::churn::variant;
use crate::guests::{best_interleaved, guest, manager};
use crate::report::{Figure, Target};

/// Milliseconds per compile of `count` variants of `wasm` through the
/// module cache.
fn wasmd_ms(wasm: &[u8], count: usize) -> f64 {
    let pm = manager();
    let variants: Vec<Vec<u8>> = (0..count).map(|n| variant(wasm, n)).collect();
    let t = Instant::now();
    for bytes in &variants {
        std::hint::black_box(pm.modules().compile(bytes).expect("compiles"));
    }
    t.elapsed().as_secs_f64() * 1e3 / count as f64
}

/// Milliseconds per compile of `count` variants of `wasm` in bare wasmi.
fn wasmi_ms(wasm: &[u8], count: usize) -> f64 {
    let mut config = wasmi::Config::default();
    config.consume_fuel(true);
    config.compilation_mode(wasmi::CompilationMode::Eager);
    let engine = wasmi::Engine::new(&config);
    let variants: Vec<Vec<u8>> = (0..count).map(|n| variant(wasm, n)).collect();
    let t = Instant::now();
    for bytes in &variants {
        std::hint::black_box(wasmi::Module::new(&engine, bytes).expect("compiles"));
    }
    t.elapsed().as_secs_f64() * 1e3 / count as f64
}

/// `compile_ms`, `compile_vs_wasmi`.
pub fn figures(quick: bool) -> Vec<Figure> {
    let wasm = guest("supervision");
    let (runs, count) = if quick { (3, 10) } else { (5, 40) };
    let [ours, bare] =
        best_interleaved(runs, [&mut || wasmd_ms(&wasm, count), &mut || wasmi_ms(&wasm, count)]);
    let what = format!("compile a {} KB Rust guest (supervision)", wasm.len() / 1000);
    vec![
        Figure::info("compile_ms", what.clone(), ours, "ms"),
        Figure::info("compile_vs_wasmi", format!("{what}: wasmd's module cache vs bare wasmi"), ours, "ms")
            .against(bare, "bare wasmi, eager, fuel on")
            // What wasmd adds: the SHA-256 of the bytes (the cache key)
            // and the memory rewrite (a parse, section-level validation
            // and an encode); 1.04–1.18 in full runs.
            .target(Target::RatioAtMost(1.25)),
    ]
}
