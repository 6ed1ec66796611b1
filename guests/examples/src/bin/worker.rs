//! A child process for the demo and the tests; its arguments choose what
//! it does:
//!
//! | args | behaviour |
//! |---|---|
//! | `count N` | sums 0..N, prints the sum, exits 0 |
//! | `exit N` | exits with code N |
//! | `trap` | executes `unreachable` |
//! | `trap-after MS` | sleeps MS milliseconds, then executes `unreachable` |
//! | `spin` | loops forever (preempted every slice) |
//! | `nap-spin MS` | sleeps MS milliseconds, then loops forever |
//! | `grow` | allocates 1 MiB blocks until memory runs out |
//! | `sleep MS` | sleeps MS milliseconds, prints, exits 0 |
//! | `panic MSG` | panics with MSG (exit 101) |
//! | `recurse` | recurses without end (stack overflow) |
//! | `parent ARGS...` | spawns a worker of its own with ARGS (`stdio,time`), waits for it, prints its status; exits 0 if it exited 0, else 1 |
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;
use core::time::Duration;
use wasmd_guest::{env, println, process, time};

wasmd_guest::main!(main);

fn arg_num(args: &[alloc::string::String], i: usize) -> u64 {
    args.get(i).and_then(|a| a.parse().ok()).unwrap_or(0)
}

#[inline(never)]
#[allow(unconditional_recursion)]
fn recurse(depth: u64) -> u64 {
    let local = [depth; 16];
    core::hint::black_box(&local);
    recurse(depth + 1) + local[3]
}

fn spin() -> ! {
    let mut x = 0u64;
    loop {
        x = core::hint::black_box(x.wrapping_add(1));
    }
}

fn main() -> i32 {
    let args = env::args();
    let mode = args.get(1).map(|s| s.as_str()).unwrap_or("");
    match mode {
        "count" => {
            let n = arg_num(&args, 2);
            let sum: u64 = (0..core::hint::black_box(n)).fold(0u64, |a, b| a.wrapping_add(b));
            println!("worker {}: sum(0..{n}) = {sum}", process::id());
            0
        }
        "exit" => arg_num(&args, 2) as i32,
        "trap" => core::arch::wasm32::unreachable(),
        "trap-after" => {
            let _ = time::sleep(Duration::from_millis(arg_num(&args, 2)));
            core::arch::wasm32::unreachable()
        }
        "spin" => spin(),
        "nap-spin" => {
            let _ = time::sleep(Duration::from_millis(arg_num(&args, 2)));
            spin()
        }
        "grow" => {
            let mut blocks: Vec<Vec<u8>> = Vec::new();
            loop {
                let mut b = Vec::with_capacity(1 << 20);
                b.resize(1 << 20, 1u8);
                blocks.push(b);
            }
        }
        "sleep" => {
            let ms = arg_num(&args, 2);
            let _ = time::sleep(Duration::from_millis(ms));
            println!("worker {}: slept {ms} ms", process::id());
            0
        }
        "panic" => panic!("{}", args.get(2).map(|s| s.as_str()).unwrap_or("panic requested")),
        "recurse" => recurse(0) as i32,
        "parent" => {
            let me = process::id();
            let child_args: Vec<&str> = args.iter().skip(2).map(|s| s.as_str()).collect();
            let spawned = process::Command::path("worker.wasm")
                .args(child_args.iter().copied())
                .caps(process::Caps::STDIO.union(process::Caps::TIME))
                .spawn();
            let status = match spawned.and_then(|child| process::wait(child).map(|status| (child, status))) {
                Ok((child, status)) => {
                    println!("worker {me}: my child pid {child} ({}) -> {status}", child_args.join(" "));
                    status
                }
                Err(e) => {
                    wasmd_guest::eprintln!("worker {me}: cannot spawn or wait for a child: {e}");
                    return 1;
                }
            };
            i32::from(status != process::ExitStatus::Exited(0))
        }
        other => {
            wasmd_guest::eprintln!("worker: unknown mode `{other}` (args {args:?})");
            2
        }
    }
}
