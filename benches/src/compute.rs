//! A fixed compute kernel (CoreMark-like: matrix multiply, CRC-32, sort,
//! a state machine; `guests/fixtures/src/compute_kernel.rs`) run as a
//! wasmd process, as the same module in bare wasmi, and natively.

use std::time::Instant;

use wasmd_abi::Caps;

use crate::guests::{best_interleaved, guest, manager, options};
use crate::report::{Figure, Target};

#[path = "../../guests/fixtures/src/compute_kernel.rs"]
mod compute_kernel;

/// Seconds for `iterations` rounds as a wasmd process (spawn to exit).
fn wasmd_s(wasm: &[u8], iterations: u32) -> f64 {
    let mut pm = manager();
    let module = pm.modules().compile(wasm).expect("compiles");
    let t = Instant::now();
    pm.spawn(module, options("compute", &[&iterations.to_string()], Caps::DEFAULT)).expect("spawns");
    pm.run_to_completion().expect("runs");
    t.elapsed().as_secs_f64()
}

/// Seconds for `iterations` rounds of the module's `bench` export in bare
/// wasmi (default engine; with `fuel`, fuel metering on as wasmd has it,
/// with fuel that never runs out); checks the checksum.
fn bare_s(wasm: &[u8], iterations: u32, expected: u32, fuel: bool) -> f64 {
    let (s, checksum) = bare_run(wasm, iterations, fuel);
    assert_eq!(checksum, expected, "same result in bare wasmi");
    s
}

/// Seconds and checksum of `iterations` rounds of the module's `bench`
/// export in bare wasmi (the clock runs from the call to its return).
pub fn bare_run(wasm: &[u8], iterations: u32, fuel: bool) -> (f64, u32) {
    let mut config = wasmi::Config::default();
    config.consume_fuel(fuel);
    let engine = wasmi::Engine::new(&config);
    let module = wasmi::Module::new(&engine, wasm).expect("compiles");
    let mut store = wasmi::Store::new(&engine, ());
    if fuel {
        store.set_fuel(u64::MAX).expect("fuel metering is on");
    }
    let mut linker = wasmi::Linker::<()>::new(&engine);
    // The wasmd imports exist but are never called by `bench`.
    for import in module.imports() {
        if let wasmi::ExternType::Func(ty) = import.ty() {
            linker
                .func_new(import.module(), import.name(), ty.clone(), |_, _, _| {
                    Err(wasmi::Error::new("a wasmd hostcall in bare wasmi"))
                })
                .expect("defines");
        }
    }
    let instance = linker.instantiate_and_start(&mut store, &module).expect("instantiates");
    let bench = instance.get_typed_func::<u32, u32>(&store, "bench").expect("bench export");
    let t = Instant::now();
    let checksum = bench.call(&mut store, iterations).expect("runs");
    (t.elapsed().as_secs_f64(), checksum)
}

/// Seconds natively (the same source compiled for this machine).
fn native_s(iterations: u32) -> (f64, u32) {
    let t = Instant::now();
    let checksum = compute_kernel::run(std::hint::black_box(iterations));
    (t.elapsed().as_secs_f64(), checksum)
}

/// `compute_vs_wasmi`, `compute_vs_native`.
pub fn figures(quick: bool) -> Vec<Figure> {
    let runs = if quick { 3 } else { 5 };
    let iterations = if quick { 1000 } else { 3000 };
    let wasm = guest("compute");
    let (_, checksum) = native_s(1);
    assert_eq!(
        crate::guests::field(&crate::guests::run_for_output("compute", &["1"]), "checksum"),
        checksum as f64
    );
    let expected = native_s(iterations).1;
    let [ours, bare, bare_fuel, native] = best_interleaved(
        runs,
        [
            &mut || wasmd_s(&wasm, iterations),
            &mut || bare_s(&wasm, iterations, expected, false),
            &mut || bare_s(&wasm, iterations, expected, true),
            &mut || native_s(iterations).0,
        ],
    );
    let rate = |s: f64| iterations as f64 / s;
    vec![
        Figure::info("compute_vs_wasmi", "compute kernel as a wasmd process", rate(ours), "rounds/s")
            .against(rate(bare), "same module, bare wasmi")
            .target(Target::RatioAtLeast(0.9)),
        Figure::info(
            "compute_fuel_metering",
            "compute kernel, bare wasmi with fuel metering (what preemption costs)",
            rate(bare_fuel),
            "rounds/s",
        )
        .against(rate(bare), "same module, bare wasmi"),
        Figure::info(
            "compute_vs_native",
            "compute kernel as a wasmd process vs native",
            rate(ours),
            "rounds/s",
        )
        .against(rate(native), "same source, native Rust"),
    ]
}
