//! Module churn: 1,200 distinct modules (the Rust hello guest, each with
//! its own custom section, so each compiles anew) spawned, run to exit and
//! reaped, one after another; the resident memory the process gained
//! (`module_churn_rss_mib`). Baseline, same run: one module spawned 1,200
//! times. wasmi keeps compiled code for its engine's life; the module
//! cache recycles engines by generation, so this stays bounded.

use std::sync::Arc;

use wasmhost::{ManagerConfig, NoOutput, SpawnOptions};

use crate::guests::{guest, manager_with};
use crate::idle::rss_bytes;
use crate::report::Figure;

/// Distinct modules spawned.
const MODULES: usize = 1200;

/// `bytes` with a custom section holding `n`: the same code, another hash.
pub fn variant(bytes: &[u8], n: usize) -> Vec<u8> {
    let payload = format!("churn{n}");
    let name = b"wasmd-churn";
    let body_len = 1 + name.len() + payload.len();
    let mut out = bytes.to_vec();
    out.push(0);
    out.push(body_len as u8);
    out.push(name.len() as u8);
    out.extend_from_slice(name);
    out.extend_from_slice(payload.as_bytes());
    out
}

/// MiB of resident memory gained by spawning `MODULES` modules, distinct
/// or all the same.
fn grown_mib(distinct: bool) -> f64 {
    let mut pm = manager_with(ManagerConfig::default(), Arc::new(NoOutput));
    let hello = guest("hello");
    let warm = pm.modules().compile(&hello).expect("compiles");
    let pid = pm.spawn(warm, SpawnOptions::new("hello")).expect("spawns");
    pm.run_to_completion().expect("runs");
    let _ = pid;
    let before = rss_bytes();
    for n in 0..MODULES {
        let bytes = if distinct { variant(&hello, n) } else { hello.clone() };
        let module = pm.modules().compile(&bytes).expect("compiles");
        pm.spawn(module, SpawnOptions::new("hello")).expect("spawns");
        pm.run_to_completion().expect("runs");
    }
    rss_bytes().saturating_sub(before) as f64 / f64::from(1 << 20)
}

/// `module_churn_rss_mib`.
pub fn figures() -> Vec<Figure> {
    let same = grown_mib(false);
    let distinct = grown_mib(true);
    vec![Figure::info(
        "module_churn_rss_mib",
        format!("resident memory gained by {MODULES} distinct modules spawned and reaped"),
        distinct,
        "MiB",
    )
    .against(same.max(0.01), "one module spawned as often")]
}
