//! `wasmd-bench`: measures wasmd's performance figures beside baselines
//! measured in the same run, and prints one table.
//!
//! `cargo run --release -p wasmd-bench -- [--quick]`

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmd::loader::FsModuleLoader;
use wasmd::sys::OsPlatform;
use wasmd_abi::Caps;
use wasmhost::{ManagerConfig, NoOutput, ProcessManager, SpawnOptions};

fn manager() -> ProcessManager {
    ProcessManager::new(
        ManagerConfig::default(),
        Arc::new(OsPlatform::new().expect("platform")),
        Arc::new(FsModuleLoader::new([])),
        Arc::new(NoOutput),
    )
}

/// A guest that calls `import` `n` times in a loop.
fn call_loop(module: &str, name: &str, n: u64) -> String {
    format!(
        r#"(module
          (import "{module}" "{name}" (func $f (param i64) (result i64)))
          (memory (export "memory") 1)
          (func (export "_start") (local $i i64)
            (loop $l
              (drop (call $f (i64.const 0)))
              (local.set $i (i64.add (local.get $i) (i64.const 1)))
              (br_if $l (i64.lt_u (local.get $i) (i64.const {n}))))))"#
    )
}

/// ns per iteration of the `cap_check` loop run as a wasmd process.
fn hostcall_wasmd(n: u64) -> f64 {
    let mut pm = manager();
    let module = pm.modules().compile(call_loop("wasmd", "cap_check", n).as_bytes()).expect("compiles");
    let t = Instant::now();
    pm.spawn(module, SpawnOptions::new("hostcall")).expect("spawns");
    pm.run_to_completion().expect("runs");
    t.elapsed().as_nanos() as f64 / n as f64
}

/// ns per iteration of the same loop calling a bare wasmi host function.
fn hostcall_bare(n: u64) -> f64 {
    let engine = wasmi::Engine::default();
    let module = wasmi::Module::new(&engine, call_loop("env", "f", n).as_bytes()).expect("compiles");
    let mut store = wasmi::Store::new(&engine, ());
    let mut linker = wasmi::Linker::new(&engine);
    linker.func_wrap("env", "f", |_: wasmi::Caller<'_, ()>, x: i64| -> i64 { x }).expect("defines");
    let instance = linker.instantiate_and_start(&mut store, &module).expect("instantiates");
    let start = instance.get_typed_func::<(), ()>(&store, "_start").expect("entry");
    let t = Instant::now();
    start.call(&mut store, ()).expect("runs");
    t.elapsed().as_nanos() as f64 / n as f64
}

/// µs per spawn + run to exit of a compiled 1-page guest.
fn spawn_us(guest: &[u8], count: u32) -> f64 {
    let mut pm = manager();
    let module = pm.modules().compile(guest).expect("compiles");
    let opts = SpawnOptions { caps: Caps::DEFAULT, ..SpawnOptions::new("tiny") };
    let t = Instant::now();
    for _ in 0..count {
        pm.spawn(module.clone(), opts.clone()).expect("spawns");
        pm.run(1);
    }
    assert_eq!(pm.live(), 0);
    t.elapsed().as_nanos() as f64 / count as f64 / 1000.0
}

fn best_of<F: FnMut() -> f64>(runs: u32, mut f: F) -> f64 {
    (0..runs).map(|_| f()).fold(f64::INFINITY, f64::min)
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let n = if quick { 2_000_000 } else { 20_000_000 };
    let runs = if quick { 3 } else { 5 };
    let ours = best_of(runs, || hostcall_wasmd(n));
    let bare = best_of(runs, || hostcall_bare(n));
    println!("{:<44} {:>12} {:>12} {:>8}", "figure", "value", "baseline", "ratio");
    println!(
        "{:<44} {:>12.2} {:>12.2} {:>8.2}",
        "null capability-checked hostcall (ns)",
        ours,
        bare,
        ours / bare
    );
    let tiny = std::fs::read(wasmd_tests::wat("tiny")).expect("tiny.wat");
    let count = if quick { 20_000 } else { 200_000 };
    let tiny_us = best_of(runs, || spawn_us(&tiny, count));
    println!("{:<44} {:>12.2} {:>12} {:>8}", "spawn + run to exit, 1-page guest (us)", tiny_us, "-", "-");
    let hello = std::fs::read(wasmd_tests::guest("hello")).expect("hello.wasm");
    let rust_us = best_of(runs, || spawn_us(&hello, count / 10));
    println!("{:<44} {:>12.2} {:>12} {:>8}", "spawn + run to exit, Rust hello (us)", rust_us, "-", "-");
    let _ = Duration::ZERO;
}
