//! WASI preview 1 programs (`guests/wasi`: stock `wasm32-wasip1` Rust std
//! builds) as wasmd processes, each beside a baseline run in the same
//! process:
//!
//! - `wasi_hello_spawn_us`: spawn + run to exit of `wasi_hello_line` (one
//!   `println!`, then exit 0), measured as `spawn_us` is: the module
//!   compiled once, then spawned and run to its exit again and again on
//!   one [`ProcessManager`]; µs per process. The baseline is the same
//!   module instantiated and run to exit in bare wasmi, with wasmd's engine
//!   settings (fuel metering, eager compilation) and a hand-written WASI
//!   shim of only what the program imports (`fd_write` counting into a
//!   sink, an empty environment, `proc_exit`): a fresh store
//!   and instance a run, no process manager. The ratio is what being a
//!   wasmd process costs on top of wasmi (process record, descriptor
//!   table, scheduler, log). The outside reference: wasmtime with its
//!   pooling allocator is said to take about 27 µs for such a program; it
//!   cannot run here, so it is not measured, and the 30 µs target is set
//!   from it.
//! - `wasi_read_vs_native`: a 1 MiB file (made by the benchmark in a temp
//!   directory that is the platform's file root, granted as `file:/=ro`)
//!   read many times over in 4 KiB reads: by `wasi_read_bench` through
//!   std's `File` (`fd_read`, `fd_seek` to 0 between passes, the file in
//!   the `/` preopen), and by the native fixture `file_read_bench` through
//!   `fs_read`/`fs_seek`; reads per second, spawn to exit (the spawn is
//!   noise beside thousands of reads). Both park the process on the same
//!   I/O request (`IoRequest::Read`), so the WASI layer adds only its own
//!   decoding (an iovec, the descriptor's rights, the count written back)
//!   and wasi-libc/std's few calls around each read: the target, a ratio
//!   of at least 0.8, allows that a quarter of the native cost per read,
//!   more than it should take; below it the layer does something a
//!   native read does not.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use wasmd::loader::FsModuleLoader;
use wasmd::sys::OsPlatform;
use wasmd_abi::{Caps, ExitStatus};
use wasmd_tests::CapturedOutput;
use wasmhost::{ManagerConfig, OutputSink, ProcessManager, SpawnOptions};

use crate::guests::{best_interleaved, best_rates_interleaved, field, guest, guests_dir, manager, stdout};
use crate::report::{Figure, Target};

/// The WASI hello: one line on stdout, exit 0.
const HELLO: &str = "wasi_hello_line";
/// What it prints.
const HELLO_LINE: &str = "hello from wasi\n";
/// The size of each read, and of the blocks of the file.
const BLOCK: usize = 4096;
/// The file's size: 256 blocks.
const FILE_SIZE: usize = 1 << 20;

/// The bytes of the WASI guest `name`.
fn wasi_guest(name: &str) -> Vec<u8> {
    std::fs::read(wasmd_tests::wasi_guest(name)).expect("WASI guest is built")
}

/// µs per spawn + run to exit of the WASI hello, `count` times, as
/// `spawn::spawn_us` measures the native guests.
fn wasmd_hello_us(wasm: &[u8], count: u32) -> f64 {
    let mut pm = manager();
    let module = pm.modules().compile(wasm).expect("compiles");
    let opts = SpawnOptions { args: vec![HELLO.into()], ..SpawnOptions::new(HELLO) };
    let t = Instant::now();
    for _ in 0..count {
        pm.spawn(module.clone(), opts.clone()).expect("spawns");
        pm.run_to_completion().expect("runs to exit");
    }
    assert_eq!(pm.live(), 0, "every spawned guest ran to exit");
    t.elapsed().as_nanos() as f64 / f64::from(count) / 1000.0
}

/// Checks once that the hello, as a wasmd process, prints its line and
/// exits 0.
fn check_wasmd_hello(wasm: &[u8]) {
    let out = Arc::new(CapturedOutput::default());
    let mut pm = crate::guests::manager_with(ManagerConfig::default(), out.clone());
    let module = pm.modules().compile(wasm).expect("compiles");
    let pid = pm.spawn(module, SpawnOptions { args: vec![HELLO.into()], ..SpawnOptions::new(HELLO) });
    let pid = pid.expect("spawns");
    pm.run_to_completion().expect("runs to exit");
    assert_eq!(stdout(&out, pid), HELLO_LINE);
    assert_eq!(out.exits(), [(pid, ExitStatus::Exited(0))]);
}

/// What the bare-wasmi shim keeps: the bytes `fd_write` took for stdout.
#[derive(Default)]
struct Shim {
    stdout_bytes: usize,
}

/// The WASI errno `BADF`.
const BADF: i32 = 8;

/// The shim's functions: what `wasi_hello_line` imports (`environ_get`,
/// `environ_sizes_get`, `fd_write`, `proc_exit`), and no more. Any other
/// import traps when called.
fn shim_linker(engine: &wasmi::Engine, module: &wasmi::Module) -> wasmi::Linker<Shim> {
    use wasmi::{Caller, Extern};
    const WASI: &str = "wasi_snapshot_preview1";
    let mut linker = wasmi::Linker::<Shim>::new(engine);
    // No variables: a count and a size of 0, nothing to copy.
    linker
        .func_wrap(WASI, "environ_sizes_get", |mut caller: Caller<'_, Shim>, count: i32, size: i32| -> i32 {
            let memory = caller.get_export("memory").and_then(Extern::into_memory).expect("a memory");
            let mem = memory.data_mut(&mut caller);
            for ptr in [count, size] {
                mem[ptr as usize..ptr as usize + 4].copy_from_slice(&0u32.to_le_bytes());
            }
            0
        })
        .expect("defines");
    linker
        .func_wrap(WASI, "environ_get", |_: Caller<'_, Shim>, _: i32, _: i32| -> i32 { 0 })
        .expect("defines");
    linker
        .func_wrap(WASI, "proc_exit", |_: Caller<'_, Shim>, code: i32| -> Result<(), wasmi::Error> {
            Err(wasmi::Error::i32_exit(code))
        })
        .expect("defines");
    linker
        .func_wrap(
            WASI,
            "fd_write",
            |mut caller: Caller<'_, Shim>, fd: i32, iovs: i32, n: i32, written: i32| {
                if fd != 1 && fd != 2 {
                    return BADF;
                }
                let memory = caller.get_export("memory").and_then(Extern::into_memory).expect("a memory");
                let (mem, shim) = memory.data_and_store_mut(&mut caller);
                let word = |at: usize| u32::from_le_bytes(mem[at..at + 4].try_into().unwrap()) as usize;
                // The sink: the bytes are counted, not kept.
                let total: usize = (0..n as usize).map(|i| word(iovs as usize + 8 * i + 4)).sum();
                if fd == 1 {
                    shim.stdout_bytes += total;
                }
                mem[written as usize..written as usize + 4].copy_from_slice(&(total as u32).to_le_bytes());
                0
            },
        )
        .expect("defines");
    const SHIM: &[&str] = &["environ_sizes_get", "environ_get", "proc_exit", "fd_write"];
    for import in module.imports() {
        if let wasmi::ExternType::Func(ty) = import.ty() {
            if import.module() != WASI || !SHIM.contains(&import.name()) {
                let name = format!("{}::{}", import.module(), import.name());
                linker
                    .func_new(import.module(), import.name(), ty.clone(), move |_, _, _| {
                        Err(wasmi::Error::new(format!("{name} is not in the benchmark's WASI shim")))
                    })
                    .expect("defines");
            }
        }
    }
    linker
}

/// µs per instantiation + run to exit of the WASI hello in bare wasmi
/// with the minimal shim, `count` times (module compiled once).
fn bare_hello_us(wasm: &[u8], count: u32) -> f64 {
    let mut config = wasmi::Config::default();
    // As wasmd's engine (see `ProcessManager::new`).
    config.consume_fuel(true);
    config.compilation_mode(wasmi::CompilationMode::Eager);
    let engine = wasmi::Engine::new(&config);
    let module = wasmi::Module::new(&engine, wasm).expect("compiles");
    let linker = shim_linker(&engine, &module);
    let mut printed = 0;
    let t = Instant::now();
    for _ in 0..count {
        let mut store = wasmi::Store::new(&engine, Shim::default());
        store.set_fuel(u64::MAX).expect("fuel metering is on");
        let instance = linker.instantiate_and_start(&mut store, &module).expect("instantiates");
        let start = instance.get_typed_func::<(), ()>(&store, "_start").expect("a _start export");
        match start.call(&mut store, ()) {
            Ok(()) => {}
            Err(e) if e.i32_exit_status() == Some(0) => {}
            Err(e) => panic!("the WASI hello failed in bare wasmi: {e}"),
        }
        printed += store.data().stdout_bytes;
    }
    let us = t.elapsed().as_nanos() as f64 / f64::from(count) / 1000.0;
    assert_eq!(printed, count as usize * HELLO_LINE.len(), "every run printed its line");
    us
}

/// A temp directory (the file root of the read figure), removed on drop.
struct TempRoot(PathBuf);

impl TempRoot {
    /// A new directory holding `bench.dat`: [`FILE_SIZE`] bytes in
    /// [`BLOCK`]-byte blocks, each starting with its index as a
    /// little-endian `u32`.
    fn new() -> TempRoot {
        let dir = std::env::temp_dir().join(format!("wasmd-bench-wasi-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("creating the temp file root");
        let mut data = vec![0xa5u8; FILE_SIZE];
        for (i, block) in data.chunks_mut(BLOCK).enumerate() {
            block[..4].copy_from_slice(&(i as u32).to_le_bytes());
        }
        std::fs::write(dir.join("bench.dat"), &data).expect("writing the benchmark file");
        TempRoot(dir)
    }
}

impl Drop for TempRoot {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What a read guest must print for `passes` passes over the file.
fn expected_reads(passes: u32) -> (f64, f64, f64) {
    let blocks = (FILE_SIZE / BLOCK) as u32;
    let per_pass_sum: u32 = (0..blocks).sum();
    // Each pass: one read a block, and one at end of file.
    let reads = f64::from(passes) * f64::from(blocks + 1);
    let bytes = f64::from(passes) * FILE_SIZE as f64;
    (reads, bytes, f64::from(per_pass_sum.wrapping_mul(passes)))
}

/// Reads per second of `program` (`module`, at `module_path`) reading
/// `path` `passes` times in 4 KiB reads on a manager whose file root is
/// `root`, granted read-only as `file:/`; spawn to exit. Checks the
/// guest's counts.
fn reads_per_s(root: &Path, module: &[u8], module_path: PathBuf, path: &str, passes: u32) -> f64 {
    let program = module_path.file_stem().expect("a file name").to_string_lossy().into_owned();
    let platform = OsPlatform::with_file_root(Some(root)).expect("platform");
    let out = Arc::new(CapturedOutput::default());
    let mut pm = ProcessManager::new(
        ManagerConfig::default(),
        Arc::new(platform),
        Arc::new(FsModuleLoader::new([guests_dir()])),
        out.clone() as Arc<dyn OutputSink>,
    );
    let module = pm.modules().compile(module).expect("compiles");
    let mut opts = SpawnOptions::new(program.clone());
    opts.args = vec![program.clone(), path.into(), passes.to_string()];
    opts.caps = Caps::DEFAULT;
    opts.module_path = Some(module_path);
    opts.namespace = vec![wasmhost::namespace::parse_grant("file:/=ro").expect("a grant")];
    let t = Instant::now();
    let pid = pm.spawn(module, opts).expect("spawns");
    pm.run_to_completion().expect("runs to exit");
    let s = t.elapsed().as_secs_f64();
    let printed = stdout(&out, pid);
    assert_eq!(out.exits(), [(pid, ExitStatus::Exited(0))], "{program}: {printed}{}", out.text(pid, 2));
    let (reads, bytes, sum) = expected_reads(passes);
    assert_eq!(field(&printed, "reads"), reads, "{program}: {printed}");
    assert_eq!(field(&printed, "bytes"), bytes, "{program}: {printed}");
    assert_eq!(field(&printed, "sum"), sum, "{program}: {printed}");
    reads / s
}

/// `wasi_hello_spawn_us`, `wasi_read_vs_native`.
pub fn figures(quick: bool) -> Vec<Figure> {
    let runs = if quick { 3 } else { 5 };
    let hello = wasi_guest(HELLO);
    check_wasmd_hello(&hello);
    let count = if quick { 2_000 } else { 20_000 };
    let [ours, bare] =
        best_interleaved(runs, [&mut || wasmd_hello_us(&hello, count), &mut || bare_hello_us(&hello, count)]);

    let root = TempRoot::new();
    let passes = if quick { 16 } else { 64 };
    let wasi = wasi_guest("wasi_read_bench");
    let native = guest("file_read_bench");
    let [wasi_rate, native_rate] = best_rates_interleaved(
        runs,
        [
            &mut || {
                reads_per_s(&root.0, &wasi, wasmd_tests::wasi_guest("wasi_read_bench"), "/bench.dat", passes)
            },
            &mut || {
                reads_per_s(
                    &root.0,
                    &native,
                    wasmd_tests::guest("file_read_bench"),
                    "file:/bench.dat",
                    passes,
                )
            },
        ],
    );
    let kib = |bytes: usize| bytes as f64 / 1024.0;
    vec![
        Figure::info(
            "wasi_hello_spawn_us",
            format!(
                "spawn + run to exit, WASI hello (Rust std println!, {:.0} KiB module; {:.0} spawns/s)",
                kib(hello.len()),
                1e6 / ours
            ),
            ours,
            "µs",
        )
        .against(bare, "same module, bare wasmi + minimal WASI shim")
        .target(Target::AtMost(30.0)),
        Figure::info(
            "wasi_read_vs_native",
            format!("4 KiB file reads, WASI fd_read (std File, {passes} passes over 1 MiB)"),
            wasi_rate,
            "reads/s",
        )
        .against(native_rate, "same reads, native fs_read guest")
        .target(Target::RatioAtLeast(0.8)),
    ]
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_expected_counts_add_up() {
        // 256 blocks a pass, one more read at end of file; indexes 0..256.
        assert_eq!(super::expected_reads(2), (514.0, 2.0 * 1048576.0, 2.0 * 32640.0));
    }
}
