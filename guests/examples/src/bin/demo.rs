//! The demo: a parent that spawns a small tree of worker processes, each
//! ending a different way, while it and they run preemptively side by
//! side, then waits for each and prints how it ended.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;
use core::time::Duration;
use wasmd_guest::process::{self, Caps, Command};
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
    println!("demo: all children reaped; bye");
    Ok(())
}
