//! Native baselines, measured in the same run: a Linux pipe between two
//! processes (throughput and ping-pong), `memcpy`, and instantiating a
//! module in a bare wasmi store. The other side of
//! each pipe is this same binary started with a hidden flag
//! (`--pipe-reader`, `--pipe-echo`).

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::Instant;

/// Frames per second through a pipe from this process to a child that
/// reads them: `n` writes of `size` bytes.
pub fn pipe_frames_per_s(n: u64, size: usize) -> f64 {
    let mut child = Command::new(std::env::current_exe().expect("own path"))
        .args(["--pipe-reader", &n.to_string(), &size.to_string()])
        .stdin(Stdio::piped())
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

/// The reader's side: reads `n` frames of `size` bytes from stdin.
pub fn pipe_reader(n: u64, size: usize) {
    let mut stdin = std::io::stdin().lock();
    let mut frame = vec![0u8; size];
    for _ in 0..n {
        stdin.read_exact(&mut frame).expect("pipe read");
    }
}

/// µs per round trip of an 8-byte message to a child process over one
/// pipe and back over another: `n` round trips.
pub fn pipe_ping_pong_us(n: u64) -> f64 {
    let mut child = Command::new(std::env::current_exe().expect("own path"))
        .args(["--pipe-echo", &n.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("echo process");
    let mut to = child.stdin.take().expect("pipe");
    let mut from = child.stdout.take().expect("pipe");
    let mut buf = [0u8; 8];
    // One round first, so the child is up and everything is warm.
    to.write_all(&buf).expect("ping");
    from.read_exact(&mut buf).expect("pong");
    let t = Instant::now();
    for i in 0..n {
        to.write_all(&i.to_le_bytes()).expect("ping");
        from.read_exact(&mut buf).expect("pong");
    }
    let us = t.elapsed().as_secs_f64() * 1e6 / n as f64;
    drop(to);
    let _ = child.wait();
    us
}

/// The echo side: answers `n + 1` 8-byte messages on stdout.
pub fn pipe_echo(n: u64) {
    let mut stdin = std::io::stdin().lock();
    let mut stdout = std::io::stdout().lock();
    let mut buf = [0u8; 8];
    for _ in 0..=n {
        if stdin.read_exact(&mut buf).is_err() {
            return;
        }
        stdout.write_all(&buf).expect("echo");
        stdout.flush().expect("echo");
    }
}

/// `memcpy` bandwidth in GB/s for blocks of `size` bytes, copying through
/// a ring of `ring` bytes (as a channel does: a 256 KiB ring stays in the
/// L2 cache, a 4 KiB one in L1).
pub fn memcpy_gb_per_s(size: usize, ring: usize, total: u64) -> f64 {
    let src = vec![0x5au8; size];
    let mut dst = vec![0u8; ring.max(size)];
    let slots = dst.len() / size;
    let rounds = total / size as u64;
    let t = Instant::now();
    for i in 0..rounds {
        let at = (i as usize % slots) * size;
        dst[at..at + size].copy_from_slice(std::hint::black_box(&src));
        std::hint::black_box(&mut dst);
    }
    (rounds * size as u64) as f64 / t.elapsed().as_secs_f64() / 1e9
}

/// µs per instantiation of the module `wat` in a fresh bare wasmi store
/// with fuel metering (as wasmd runs guests), `count` times; with `run`,
/// its `_start` is called too. Its `wasmd::receive` import, if any, is a
/// stub.
pub fn wasmi_instantiate_us(wat: &str, count: u32, run: bool) -> f64 {
    let mut config = wasmi::Config::default();
    config.consume_fuel(true);
    let engine = wasmi::Engine::new(&config);
    let module = wasmi::Module::new(&engine, wat.as_bytes()).expect("compiles");
    let mut linker = wasmi::Linker::<()>::new(&engine);
    linker
        .func_wrap("wasmd", "receive", |_: i32, _: i32, _: i32, _: i32, _: i64| -> i64 { 0 })
        .expect("defined");
    let t = std::time::Instant::now();
    for _ in 0..count {
        let mut store = wasmi::Store::new(&engine, ());
        store.set_fuel(100_000).expect("fuel on");
        let instance = linker.instantiate_and_start(&mut store, &module).expect("instantiates");
        let start = instance.get_typed_func::<(), ()>(&store, "_start").expect("has _start");
        if run {
            start.call(&mut store, ()).expect("runs");
        }
        std::hint::black_box(start);
    }
    t.elapsed().as_nanos() as f64 / f64::from(count) / 1000.0
}
