//! `wasi_panic`: panics. The message goes to stderr (`fd_write` on fd 2),
//! then the abort becomes an `unreachable` trap, so the process traps.

fn main() {
    panic!("wasi_panic: deliberate panic");
}
