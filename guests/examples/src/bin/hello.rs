//! The smallest useful guest: greets, names its pid and arguments.
#![no_std]
#![no_main]

use wasmd_guest::{env, println, process};

wasmd_guest::main!(main);

fn main() {
    let args = env::args();
    println!("Hello from wasmd! I am pid {} and my args are {:?}", process::id(), &args[1.min(args.len())..]);
}
