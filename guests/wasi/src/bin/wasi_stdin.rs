//! `wasi_stdin`: reads stdin to its end (`fd_read` on fd 0), prints
//! `stdin bytes=N`, then the bytes with ASCII letters uppercased.

use std::io::{Read, Write};

fn main() {
    let mut input = Vec::new();
    std::io::stdin().read_to_end(&mut input).expect("stdin is readable");
    println!("stdin bytes={}", input.len());
    input.make_ascii_uppercase();
    let mut out = std::io::stdout().lock();
    out.write_all(&input).expect("stdout is writable");
    out.flush().expect("stdout is writable");
}
