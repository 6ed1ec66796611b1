//! `wasi_time`: the clocks. The wall clock (`CLOCK_REALTIME`) must say a
//! date after 2020-01-01, and the monotonic clock must see at least 20 ms
//! pass across a 20 ms sleep (`poll_oneoff` with a clock subscription).
//! Prints `ok time` and exits 0, or says what was wrong and exits 1.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// 2020-01-01T00:00:00Z in seconds since the epoch.
const YEAR_2020: u64 = 1_577_836_800;

fn main() {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("the wall clock is after 1970");
    if now.as_secs() <= YEAR_2020 {
        println!("FAIL wall clock says {}s since the epoch, before 2020", now.as_secs());
        std::process::exit(1);
    }
    let nap = Duration::from_millis(20);
    let before = Instant::now();
    std::thread::sleep(nap);
    let slept = before.elapsed();
    if slept < nap {
        println!("FAIL slept {slept:?}, less than {nap:?}");
        std::process::exit(1);
    }
    println!("ok time");
}
