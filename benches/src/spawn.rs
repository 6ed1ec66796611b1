//! Spawn and run to exit: a compiled 1-page guest (the target), and a
//! 17-page Rust guest (the hello example with its memory grown to the
//! 17 pages a default Rust toolchain gives: 1 MiB stack plus data); and
//! guest-driven spawns: a parent spawning 10,000 one-page children from
//! one module handle (`guest_spawn_per_s`), beside instantiating the same
//! module in a bare wasmi store in the same run (`guest_spawn_vs_wasmi`).

use std::time::Instant;

use wasmd_abi::Caps;
use wasmhost::SpawnOptions;

use crate::guests::{best_of, guest, manager, wat};
use crate::report::{Figure, Target};

/// µs per spawn + run to exit of `module_bytes`, `count` times.
pub fn spawn_us(module_bytes: &[u8], count: u32) -> f64 {
    let mut pm = manager();
    let module = pm.modules().compile(module_bytes).expect("compiles");
    let opts = SpawnOptions { caps: Caps::DEFAULT, ..SpawnOptions::new("tiny") };
    let t = Instant::now();
    for _ in 0..count {
        pm.spawn(module.clone(), opts.clone()).expect("spawns");
        pm.run(1);
    }
    assert_eq!(pm.live(), 0, "every spawned guest ran to exit");
    t.elapsed().as_nanos() as f64 / count as f64 / 1000.0
}

/// `wasm` with the minimum of its (one) memory set to `pages`.
pub fn with_memory_pages(wasm: &[u8], pages: u8) -> Vec<u8> {
    assert!(pages < 0x80, "a one-byte LEB128");
    let mut out = wasm.to_vec();
    let mut at = 8;
    while at < out.len() {
        let id = out[at];
        let (size, len) = leb(&out[at + 1..]);
        let body = at + 1 + len;
        if id == 5 {
            // count (1), then limits: flags, min [, max].
            assert_eq!(out[body], 1, "one memory");
            let min_at = body + 2;
            let (_, min_len) = leb(&out[min_at..]);
            assert_eq!(min_len, 1, "a one-byte minimum to replace");
            out[min_at] = pages;
            return out;
        }
        at = body + size;
    }
    panic!("no memory section")
}

fn leb(bytes: &[u8]) -> (usize, usize) {
    let (mut value, mut shift) = (0usize, 0);
    for (i, b) in bytes.iter().enumerate() {
        value |= usize::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return (value, i + 1);
        }
        shift += 7;
    }
    panic!("truncated LEB128")
}

/// The children of the guest-driven figure.
const TINY: &str = r#"(module (memory (export "memory") 1) (func (export "_start")))"#;

/// Spawns per second of a parent spawning `n` one-page children from a
/// module handle, as it measures them, on as many workers as cores.
pub fn guest_spawn_per_s(n: u32) -> f64 {
    let workers = crate::smp::cores().max(2);
    let wasm = guest("spawn_loop");
    crate::smp::guest_ns_figure(&wasm, "spawn_loop", &["handle", &n.to_string()], workers, "per_s")
}

/// `spawn_us` (1-page guest), `spawn_rust17_us`, `guest_spawn_per_s`,
/// `guest_spawn_vs_wasmi`.
pub fn figures(quick: bool) -> Vec<Figure> {
    let runs = if quick { 3 } else { 5 };
    let count = if quick { 20_000 } else { 200_000 };
    let tiny = best_of(runs, || spawn_us(&wat("tiny"), count));
    let rust17 = with_memory_pages(&guest("hello"), 17);
    let rust = best_of(runs, || spawn_us(&rust17, count / 10));
    let [guest_rate, wasmi_rate] = crate::guests::best_rates_interleaved(
        runs,
        [&mut || guest_spawn_per_s(10_000), &mut || {
            1e6 / crate::baseline::wasmi_instantiate_us(TINY, 100_000, true)
        }],
    );
    vec![
        Figure::info(
            "spawn_us",
            format!("spawn + run to exit, compiled 1-page guest ({:.0} spawns/s)", 1e6 / tiny),
            tiny,
            "µs",
        )
        .target(Target::AtMost(2.0)),
        Figure::info("spawn_rust17_us", "spawn + run to exit, 17-page Rust guest (hello)", rust, "µs"),
        Figure::info(
            "guest_spawn_per_s",
            "guest-driven spawn of 10,000 one-page children from a module handle",
            guest_rate,
            "spawns/s",
        )
        .target(Target::AtLeast(500_000.0)),
        Figure::info(
            "guest_spawn_vs_wasmi",
            "guest-driven spawn (each child run to exit) vs bare wasmi instantiate + run",
            guest_rate,
            "spawns/s",
        )
        .against(wasmi_rate, "bare wasmi instantiate + _start")
        .target(Target::RatioAtLeast(0.5)),
    ]
}

#[cfg(test)]
mod tests {
    #[test]
    fn memory_pages_are_rewritten_in_place() {
        let hello = crate::guests::guest("hello");
        let grown = super::with_memory_pages(&hello, 17);
        assert_eq!(grown.len(), hello.len());
        let engine = wasmi::Engine::default();
        let module = wasmi::Module::new(&engine, &grown).expect("still valid");
        let memory = module.exports().find_map(|e| e.ty().memory().cloned()).expect("an exported memory");
        assert_eq!(memory.minimum(), 17);
    }
}
