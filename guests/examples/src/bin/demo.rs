//! The demo: a parent that spawns a small tree of worker processes, each
//! ending a different way, while it and they run preemptively side by
//! side, then waits for each and prints how it ended. Then a pipeline:
//! a producer and a squarer, each its own process, connected by channels
//! in shared memory, with the demo consuming the end.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;
use core::time::Duration;
use wasmd_guest::channel::{Channel, ChannelError, ChannelOptions, ReaderKind, Start};
use wasmd_guest::process::{self, Caps, Command, Rights};
use wasmd_guest::{println, time};

wasmd_guest::main!(main);

fn main() -> Result<(), wasmd_guest::Error> {
    println!("demo: I am pid {}; spawning workers", process::id());
    let jobs: [(&str, Command<'_>); 7] = [
        ("sums numbers", Command::path("worker.wasm").args(["count", "2000000"])),
        ("exits with 7", Command::path("worker.wasm").args(["exit", "7"])),
        ("hits `unreachable`", Command::path("worker.wasm").arg("trap")),
        ("spins on a fuel budget", Command::path("worker.wasm").arg("spin").fuel(3_000_000)),
        ("allocates past 32 pages", Command::path("worker.wasm").arg("grow").max_pages(32)),
        ("panics", Command::path("worker.wasm").args(["panic", "boom"])),
        ("sleeps 30 ms", Command::path("worker.wasm").args(["sleep", "30"])),
    ];
    let mut children = Vec::new();
    for (what, cmd) in jobs.iter() {
        let pid = cmd.clone().caps(Caps::STDIO.union(Caps::TIME)).spawn()?;
        println!("demo: pid {pid} {what}");
        children.push((pid, *what));
    }
    let spinner = Command::path("worker.wasm").arg("spin").spawn()?;
    println!("demo: pid {spinner} spins forever until killed");
    time::sleep(Duration::from_millis(20))?;
    process::kill(spinner)?;
    children.push((spinner, "was killed"));
    let start = time::monotonic()?;
    for (pid, what) in children {
        let status = process::wait(pid)?;
        let ms = (time::monotonic()? - start).as_millis();
        println!("demo: pid {pid} ({what}) -> {status}   [reaped at +{ms} ms]");
    }
    println!("demo: all children reaped");
    pipeline().map_err(|e| match e {
        ChannelError::Sys(e) => e,
        _ => wasmd_guest::Error::Io,
    })?;
    println!("demo: bye");
    Ok(())
}

/// produce (1..=N) -> square -> this process, over two channels.
fn pipeline() -> Result<(), ChannelError> {
    const N: u64 = 1000;
    let numbers = Channel::create(ChannelOptions::default())?;
    let squares = Channel::create(ChannelOptions::default())?;
    let mut input = squares.reader(ReaderKind::Strong, Start::Oldest)?;
    let rw = Rights::READ.union(Rights::WRITE);
    let (a, b) = (alloc::format!("{}", numbers.id()?), alloc::format!("{}", squares.id()?));
    let n = alloc::format!("{N}");
    let square = Command::path("pipeline.wasm")
        .args(["square", &a, &b])
        .grant(numbers.region(), rw)
        .grant(squares.region(), rw)
        .spawn()?;
    let produce =
        Command::path("pipeline.wasm").args(["produce", &a, &n]).grant(numbers.region(), rw).spawn()?;
    println!("demo: pipeline: pid {produce} produces 1..={N} -> pid {square} squares -> demo sums");
    let (mut frames, mut sum, mut writer) = (0u64, 0u64, 0);
    loop {
        match input.read() {
            Ok(frame) => {
                sum += u64::from_le_bytes(frame.payload.try_into().unwrap_or_default());
                frames += 1;
                writer = frame.writer;
            }
            Err(ChannelError::Closed) => break,
            Err(e) => return Err(e),
        }
    }
    println!("demo: pipeline: {frames} frames from writer {writer}, sum of squares = {sum}");
    println!("demo: pipeline: produce -> {}, square -> {}", process::wait(produce)?, process::wait(square)?);
    Ok(())
}
