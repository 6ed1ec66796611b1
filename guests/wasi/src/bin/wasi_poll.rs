//! `wasi_poll MS`: one `poll_oneoff` on stdin (readable) and a clock of
//! MS milliseconds; prints `woke: stdin`, `woke: clock` (or both) and
//! `after_ms=N`, then, if stdin woke it, the first bytes read.

use std::time::Instant;

use wasmd_wasi_guests::raw;
use wasmd_wasi_guests::{addr, addr_mut, clock_subscription, EVENT_SIZE, SUBSCRIPTION_SIZE};

/// `fd_read` readiness of fd 0.
fn stdin_subscription(userdata: u64) -> [u8; SUBSCRIPTION_SIZE] {
    let mut sub = [0u8; SUBSCRIPTION_SIZE];
    sub[0..8].copy_from_slice(&userdata.to_le_bytes());
    sub[8] = 1; // EVENTTYPE_FD_READ
    sub
}

fn main() {
    let ms: u64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(200);
    let mut subs = [0u8; 2 * SUBSCRIPTION_SIZE];
    subs[..SUBSCRIPTION_SIZE].copy_from_slice(&stdin_subscription(1));
    subs[SUBSCRIPTION_SIZE..].copy_from_slice(&clock_subscription(2, ms * 1_000_000));
    // Events are 8-byte aligned.
    let mut events = [0u64; 2 * EVENT_SIZE / 8];
    let mut n = 0u32;
    let start = Instant::now();
    let errno = raw::poll_oneoff(addr(&subs), addr_mut(&mut events), 2, addr_mut(&mut n));
    let after = start.elapsed().as_millis();
    assert_eq!(errno, 0, "poll_oneoff");
    let bytes: Vec<u8> = events.iter().flat_map(|w| w.to_le_bytes()).collect();
    let mut stdin_woke = false;
    for e in bytes.chunks(EVENT_SIZE).take(n as usize) {
        match e[0] {
            1 => {
                stdin_woke = true;
                println!("woke: stdin");
            }
            2 => println!("woke: clock"),
            other => println!("woke: {other}?"),
        }
    }
    println!("after_ms={after}");
    if stdin_woke {
        let mut buf = [0u8; 64];
        let got = std::io::Read::read(&mut std::io::stdin(), &mut buf).unwrap_or(0);
        println!("read={}", String::from_utf8_lossy(&buf[..got]).trim());
    }
}
