//! `wasi_caps`: the calls a capability gates, with valid arguments. Prints
//! `clock_time_get -> ERRNO` (`CLOCK_REALTIME`), `clock_time_get monotonic
//! -> ERRNO` and `random_get -> ERRNO`: 0 with the `time` and `random`
//! capabilities, `ENOTCAPABLE` (76) without them.

use wasmd_wasi_guests::raw::{clock_time_get, random_get};
use wasmd_wasi_guests::{addr_mut, CLOCK_MONOTONIC, CLOCK_REALTIME};

fn main() {
    let mut time = 0u64;
    println!("clock_time_get -> {}", clock_time_get(CLOCK_REALTIME, 1, addr_mut(&mut time)));
    println!("clock_time_get monotonic -> {}", clock_time_get(CLOCK_MONOTONIC, 1, addr_mut(&mut time)));
    let mut buf = [0u8; 16];
    println!("random_get -> {}", random_get(addr_mut(&mut buf), buf.len() as u32));
}
