//! Hot reload of a running process (`ProcessManager::reload`):
//! `reload_us`, a 1-page guest parked in `receive` replaced by another
//! 1-page module until the new instance is parked in `receive` again
//! (no state), beside instantiating the same module in a bare wasmi store
//! in the same run; `reload_1mib_state_us`, the same with 1 MiB of state
//! saved by `wasmd_state_save` and copied into place by the new
//! instance's `wasmd_state_load`.

use std::time::Instant;

use wasmd_abi::Caps;
use wasmhost::SpawnOptions;

use crate::guests::{best_interleaved, manager};
use crate::report::{Figure, Target};

/// A 1-page module parked in `receive` for ever; `mark` tells versions
/// apart. With `state`, it has 17 pages and hands 1 MiB (pages 1..17) to
/// the next instance, which copies it back there.
fn module(mark: u32, state: bool) -> String {
    let (pages, exports) = if state {
        (
            17,
            r#"(func (export "wasmd_state_save") (result i32 i32) (i32.const 65536) (i32.const 1048576))
               (func (export "wasmd_state_load") (param i32 i32)
                 (memory.copy (i32.const 65536) (local.get 0) (local.get 1)))"#,
        )
    } else {
        (1, "")
    };
    format!(
        r#"(module
             (import "wasmd" "receive" (func $receive (param i32 i32 i32 i32 i64) (result i64)))
             (memory (export "memory") {pages})
             (global $mark i32 (i32.const {mark}))
             {exports}
             (func (export "_start")
               (loop (drop (call $receive (i32.const 0) (i32.const 0) (i32.const 1024) (i32.const 1024)
                                          (i64.const -1)))
                     (br 0))))"#
    )
}

/// µs per reload of a parked process, `count` of them, alternating
/// between two versions.
fn reload_us(state: bool, count: u32) -> f64 {
    let mut pm = manager();
    let a = pm.modules().compile(module(1, state).as_bytes()).expect("compiles");
    let b = pm.modules().compile(module(2, state).as_bytes()).expect("compiles");
    let pid =
        pm.spawn(a.clone(), SpawnOptions { caps: Caps::DEFAULT, ..SpawnOptions::new("reloaded") }).unwrap();
    pm.run(1);
    let t = Instant::now();
    for i in 0..count {
        let next = if i % 2 == 0 { &b } else { &a };
        let ticket = pm.reload(pid, next.clone(), None, false).expect("asked");
        assert_eq!(pm.reload_outcome(ticket), Some(Ok(())), "a parked process reloads at once");
        pm.run(1);
    }
    let us = t.elapsed().as_nanos() as f64 / f64::from(count) / 1000.0;
    assert_eq!(pm.process(pid).map(|p| p.reloads), Some(count));
    us
}

/// `reload_us`, `reload_1mib_state_us`.
pub fn figures(quick: bool) -> Vec<Figure> {
    let runs = if quick { 3 } else { 5 };
    let count = if quick { 20_000 } else { 100_000 };
    let [plain, bare] = best_interleaved(
        runs,
        [&mut || reload_us(false, count), &mut || {
            crate::baseline::wasmi_instantiate_us(&module(1, false), count, false)
        }],
    );
    let [state] = best_interleaved(runs, [&mut || reload_us(true, count / 20)]);
    vec![
        Figure::info("reload_us", "hot reload of a parked 1-page process, no state", plain, "µs")
            .against(bare, "bare wasmi instantiate")
            .target(Target::AtMost(50.0)),
        Figure::info(
            "reload_1mib_state_us",
            "hot reload of a parked process carrying 1 MiB of state",
            state,
            "µs",
        ),
    ]
}
