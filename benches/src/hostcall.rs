//! The null capability-checked hostcall (`cap_check`) against a bare
//! wasmi host function called from the same guest loop.

use std::time::Instant;

use wasmhost::SpawnOptions;

use crate::guests::{best_interleaved, manager};
use crate::report::{Figure, Target};

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
fn wasmd_ns(n: u64) -> f64 {
    let mut pm = manager();
    let module = pm.modules().compile(call_loop("wasmd", "cap_check", n).as_bytes()).expect("compiles");
    let t = Instant::now();
    pm.spawn(module, SpawnOptions::new("hostcall")).expect("spawns");
    pm.run_to_completion().expect("runs");
    t.elapsed().as_nanos() as f64 / n as f64
}

/// ns per iteration of the same loop calling a bare wasmi host function.
fn bare_ns(n: u64) -> f64 {
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

/// `hostcall_ns`.
pub fn figures(quick: bool) -> Vec<Figure> {
    let n = if quick { 2_000_000 } else { 20_000_000 };
    let runs = if quick { 3 } else { 5 };
    let [ours, bare] = best_interleaved(runs, [&mut || wasmd_ns(n), &mut || bare_ns(n)]);
    vec![Figure::info("hostcall_ns", "null capability-checked hostcall", ours, "ns")
        .against(bare, "bare wasmi host call")
        .target(Target::RatioAtMost(1.5))]
}
