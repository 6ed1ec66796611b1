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

/// Frames per second through a channel between two guests: `n` frames of
/// `size` bytes.
fn channel_frames_per_s(n: u64, size: usize) -> f64 {
    let guests = std::path::PathBuf::from(wasmd_tests::GUESTS_DIR);
    let mut pm = ProcessManager::new(
        ManagerConfig::default(),
        Arc::new(OsPlatform::new().expect("platform")),
        Arc::new(FsModuleLoader::new([guests.clone()])),
        Arc::new(NoOutput),
    );
    let path = guests.join("chan_bench.wasm");
    let (module, resolved) = pm.load_module(path.to_str().expect("utf-8 path")).expect("chan_bench loads");
    // Compile before timing: the two children reuse the cached module.
    let opts = SpawnOptions {
        args: ["chan_bench", "main", &n.to_string(), &size.to_string(), "262144"].map(String::from).to_vec(),
        module_path: Some(resolved),
        ..SpawnOptions::new("chan_bench")
    };
    let t = Instant::now();
    pm.spawn(module, opts).expect("spawns");
    pm.run_to_completion().expect("runs");
    n as f64 / t.elapsed().as_secs_f64()
}

/// Frames per second through a Linux pipe between this process and a
/// child process (this binary, `--pipe-reader`): `n` writes of `size`.
fn pipe_frames_per_s(n: u64, size: usize) -> f64 {
    use std::io::Write;
    let exe = std::env::current_exe().expect("own path");
    let mut child = std::process::Command::new(exe)
        .args(["--pipe-reader", &n.to_string(), &size.to_string()])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("reader process");
    let mut pipe = child.stdin.take().expect("pipe");
    let frame = vec![0x5au8; size];
    let t = Instant::now();
    for _ in 0..n {
        pipe.write_all(&frame).expect("pipe write");
    }
    drop(pipe);
    assert!(child.wait().expect("reader exits").success());
    n as f64 / t.elapsed().as_secs_f64()
}

/// The pipe reader's side: reads `n` frames of `size` bytes from stdin.
fn pipe_reader(n: u64, size: usize) {
    use std::io::Read;
    let mut stdin = std::io::stdin().lock();
    let mut frame = vec![0u8; size];
    for _ in 0..n {
        stdin.read_exact(&mut frame).expect("pipe read");
    }
}

/// `memcpy` bandwidth for blocks of `size` bytes, in GB/s.
fn memcpy_gb_per_s(size: usize) -> f64 {
    let src = vec![0x5au8; size];
    let mut dst = vec![0u8; size];
    let rounds = (4u64 << 30) / size as u64;
    let t = Instant::now();
    for _ in 0..rounds {
        dst.copy_from_slice(std::hint::black_box(&src));
        std::hint::black_box(&mut dst);
    }
    (rounds * size as u64) as f64 / t.elapsed().as_secs_f64() / 1e9
}

fn best_of<F: FnMut() -> f64>(runs: u32, mut f: F) -> f64 {
    (0..runs).map(|_| f()).fold(f64::INFINITY, f64::min)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--pipe-reader") {
        pipe_reader(args[2].parse().unwrap_or(0), args[3].parse().unwrap_or(0));
        return;
    }
    let quick = std::env::args().any(|a| a == "--quick");
    if let Some(i) = args.iter().position(|a| a == "--profile-channel") {
        let n: u64 = args.get(i + 1).and_then(|v| v.parse().ok()).unwrap_or(20_000);
        let size: usize = args.get(i + 2).and_then(|v| v.parse().ok()).unwrap_or(64);
        println!("{:.0} frames/s", channel_frames_per_s(n, size));
        return;
    }
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
    let frames = if quick { 200_000 } else { 2_000_000 };
    let chan64 = best_of(runs, || channel_frames_per_s(frames, 64));
    let pipe64 = best_of(runs, || pipe_frames_per_s(frames, 64));
    println!(
        "{:<44} {:>12.0} {:>12.0} {:>8.2}",
        "channel 64 B frames, guest->guest (frames/s)",
        chan64,
        pipe64,
        chan64 / pipe64
    );
    println!("{:<44} {:>12.1} {:>12} {:>8}", "channel 64 B frames (MB/s)", chan64 * 64.0 / 1e6, "-", "-");
    let chan4k = best_of(runs, || channel_frames_per_s(frames / 10, 4096));
    let memcpy4k = best_of(runs, || memcpy_gb_per_s(4096));
    let chan4k_gbs = chan4k * 4096.0 / 1e9;
    println!(
        "{:<44} {:>12.0} {:>12} {:>8}",
        "channel 4 KiB frames, guest->guest (frames/s)", chan4k, "-", "-"
    );
    println!(
        "{:<44} {:>12.3} {:>12.3} {:>8.3}",
        "channel 4 KiB frames (GB/s) vs memcpy",
        chan4k_gbs,
        memcpy4k,
        chan4k_gbs / memcpy4k
    );
    let pipe4k = best_of(runs, || pipe_frames_per_s(frames / 10, 4096));
    println!(
        "{:<44} {:>12.0} {:>12.0} {:>8.2}",
        "channel 4 KiB frames vs pipe (frames/s)",
        chan4k,
        pipe4k,
        chan4k / pipe4k
    );
    for size in [64usize, 4096] {
        let out = layouts(size, if quick { 100_000 } else { 500_000 });
        println!("{:<44} {out}", format!("channel layout experiment, {size} B (ns/frame)"));
    }
    let _ = Duration::ZERO;
}

/// Runs the `chan_layouts` experiment guest; returns its summary line.
fn layouts(size: usize, n: u64) -> String {
    let out = Arc::new(wasmd_tests::CapturedOutput::default());
    let mut pm = ProcessManager::new(
        ManagerConfig::default(),
        Arc::new(OsPlatform::new().expect("platform")),
        Arc::new(FsModuleLoader::new([])),
        out.clone(),
    );
    let bytes = std::fs::read(std::path::PathBuf::from(wasmd_tests::GUESTS_DIR).join("chan_layouts.wasm"))
        .expect("chan_layouts.wasm");
    let module = pm.modules().compile(&bytes).expect("compiles");
    let opts = SpawnOptions {
        args: ["chan_layouts", &size.to_string(), &n.to_string()].map(String::from).to_vec(),
        ..SpawnOptions::new("chan_layouts")
    };
    let pid = pm.spawn(module, opts).expect("spawns");
    pm.run_to_completion().expect("runs");
    out.text(pid, 1).lines().collect::<Vec<_>>().join(", ")
}
