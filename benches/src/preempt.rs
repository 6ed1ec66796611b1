//! Preemption latency: a ping guest sleeps 1 ms again and again and
//! measures how late it runs each time, while 100 guests spin without a
//! single hostcall.

use std::sync::Arc;

use wasmd_abi::Caps;
use wasmd_tests::CapturedOutput;
use wasmhost::{ManagerConfig, SpawnOptions};

use crate::guests::{field, guest, manager_with, options, stdout, wat};
use crate::report::{Figure, Target};

/// Spinning guests.
pub const SPINNERS: usize = 100;

/// (p50, p99, max) lateness in ms of `k` 1 ms sleeps among the spinners.
pub fn latency_ms(k: u32) -> (f64, f64, f64) {
    let out = Arc::new(CapturedOutput::default());
    let mut pm = manager_with(ManagerConfig::default(), out.clone());
    let spin = pm.modules().compile(&wat("loop")).expect("compiles");
    let spinners: Vec<_> =
        (0..SPINNERS).map(|_| pm.spawn(spin.clone(), SpawnOptions::new("spin")).expect("spawns")).collect();
    let ping = pm.modules().compile(&guest("ping")).expect("compiles");
    let pid = pm.spawn(ping, options("ping", &[&k.to_string(), "1000"], Caps::DEFAULT)).expect("spawns");
    while pm.process(pid).is_some_and(|p| !p.is_exited()) {
        pm.run(64);
    }
    for s in spinners {
        let _ = pm.kill(s);
    }
    let text = stdout(&out, pid);
    let ms = |key| field(&text, key) / 1000.0;
    (ms("p50_us"), ms("p99_us"), ms("max_us"))
}

/// `preempt_p99_ms`, `preempt_p50_ms`.
pub fn figures(quick: bool) -> Vec<Figure> {
    let k = if quick { 300 } else { 3000 };
    let (p50, p99, max) = latency_ms(k);
    vec![
        Figure::info(
            "preempt_p99_ms",
            format!("ping guest response p99 while {SPINNERS} guests spin (max {max:.2} ms)"),
            p99,
            "ms",
        )
        .target(Target::AtMost(2.0)),
        Figure::info(
            "preempt_p50_ms",
            format!("ping guest response p50 while {SPINNERS} guests spin"),
            p50,
            "ms",
        ),
    ]
}
