//! `wasi_hello_line`: prints `hello from wasi` and exits 0; nothing else
//! (no arguments, no environment read). The program of the benchmark
//! suite's WASI spawn figure (`wasi_hello_spawn_us`): what a minimal std
//! program costs to start, print one line and exit.

fn main() {
    println!("hello from wasi");
}
