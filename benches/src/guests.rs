//! Process managers and guests for the benchmarks: the compiled guests
//! from the test crate's build, WAT fixtures, and a runner that spawns a
//! guest and collects its output.

use std::path::PathBuf;
use std::sync::Arc;

use wasmd::loader::FsModuleLoader;
use wasmd::sys::OsPlatform;
use wasmd_abi::Caps;
use wasmd_tests::CapturedOutput;
use wasmhost::{ManagerConfig, NoOutput, OutputSink, Pid, ProcessManager, SpawnOptions};

/// A process manager like the daemon's, with `output` as the guests'
/// stdout/stderr and the compiled guests' directory as module root.
pub fn manager_with(config: ManagerConfig, output: Arc<dyn OutputSink>) -> ProcessManager {
    ProcessManager::new(
        config,
        Arc::new(OsPlatform::new().expect("platform")),
        Arc::new(FsModuleLoader::new([guests_dir()])),
        output,
    )
}

/// A default manager whose guests' output is dropped.
pub fn manager() -> ProcessManager {
    manager_with(ManagerConfig::default(), Arc::new(NoOutput))
}

/// Where the compiled Rust guests are.
pub fn guests_dir() -> PathBuf {
    PathBuf::from(wasmd_tests::GUESTS_DIR)
}

/// The bytes of the compiled Rust guest `name`.
pub fn guest(name: &str) -> Vec<u8> {
    std::fs::read(wasmd_tests::guest(name)).expect("guest is built")
}

/// The bytes of the WAT fixture `name` (wasmi compiles text too).
pub fn wat(name: &str) -> Vec<u8> {
    std::fs::read(wasmd_tests::wat(name)).expect("WAT fixture")
}

/// Spawn options for `program` with `args` (the program name first).
pub fn options(program: &str, args: &[&str], caps: Caps) -> SpawnOptions {
    let mut opts = SpawnOptions::new(program);
    opts.args = std::iter::once(program).chain(args.iter().copied()).map(String::from).collect();
    opts.caps = caps;
    opts.module_path = Some(guests_dir().join(format!("{program}.wasm")));
    opts
}

/// Runs the Rust guest `program` with `args` alone to completion; returns
/// its stdout.
pub fn run_for_output(program: &str, args: &[&str]) -> String {
    let out = Arc::new(CapturedOutput::default());
    let mut pm = manager_with(ManagerConfig::default(), out.clone());
    let module = pm.modules().compile(&guest(program)).expect("compiles");
    let pid = pm.spawn(module, options(program, args, Caps::DEFAULT)).expect("spawns");
    pm.run_to_completion().expect("runs");
    stdout(&out, pid)
}

/// A process's standard output so far.
pub fn stdout(out: &CapturedOutput, pid: Pid) -> String {
    out.text(pid, 1)
}

/// The value of `key=` in a guest's `key=value` output.
pub fn field(output: &str, key: &str) -> f64 {
    output
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {key}= in guest output {output:?}"))
}

/// The best (lowest) of `runs` measurements.
pub fn best_of(runs: u32, mut f: impl FnMut() -> f64) -> f64 {
    (0..runs).map(|_| f()).fold(f64::INFINITY, f64::min)
}

/// The best of `runs` measurements of each of `fs` (by `better`), taken
/// in turns (one of each per round) so a slow spell of the machine hits
/// them alike.
fn interleaved<const N: usize>(
    runs: u32,
    mut fs: [&mut dyn FnMut() -> f64; N],
    worst: f64,
    better: fn(f64, f64) -> f64,
) -> [f64; N] {
    let mut best = [worst; N];
    for _ in 0..runs {
        for (b, f) in best.iter_mut().zip(fs.iter_mut()) {
            *b = better(*b, f());
        }
    }
    best
}

/// The lowest of `runs` times of each of `fs`, measured in turns.
pub fn best_interleaved<const N: usize>(runs: u32, fs: [&mut dyn FnMut() -> f64; N]) -> [f64; N] {
    interleaved(runs, fs, f64::INFINITY, f64::min)
}

/// The highest of `runs` rates of each of `fs`, measured in turns.
pub fn best_rates_interleaved<const N: usize>(runs: u32, fs: [&mut dyn FnMut() -> f64; N]) -> [f64; N] {
    interleaved(runs, fs, 0.0, f64::max)
}
