//! Mailboxes between guests (the `actors` fixture): `mailbox_rtt_us`, a
//! 64-byte message to an echoing process and back, on as many scheduler
//! threads as cores (the guests on different ones, the daemon's default),
//! beside a native pipe ping-pong between two OS processes in the same run;
//! and `mailbox_rtt_same_worker_us`, both guests on one scheduler thread;
//! `exit_notice_us`, from a child's trap to its restart by a supervisor
//! written in guest code (`wasmd_guest::supervisor`; the time includes
//! spawning the new child).

use crate::baseline;
use crate::guests::{best_interleaved, guest};
use crate::report::{Figure, Target};
use crate::smp::{cores, guest_ns_figure};

fn guest_rtt_us(wasm: &[u8], program: &str, args: &[&str], workers: usize) -> f64 {
    guest_ns_figure(wasm, program, args, workers, "rtt_ns") / 1000.0
}

/// `mailbox_rtt_us`, `mailbox_rtt_same_worker_us`, `exit_notice_us`.
pub fn figures(quick: bool) -> Vec<Figure> {
    let wasm = guest("actors");
    let count = if quick { 20_000u64 } else { 200_000 };
    let runs = if quick { 2 } else { 3 };
    let n = count.to_string();
    let workers = cores().max(2);
    let [cross, pipe] = best_interleaved(
        runs,
        [&mut || guest_rtt_us(&wasm, "actors", &["rtt", &n, "64"], workers), &mut || {
            baseline::pipe_ping_pong_us(count / 10)
        }],
    );
    let [same] = best_interleaved(runs, [&mut || guest_rtt_us(&wasm, "actors", &["rtt", &n, "64"], 1)]);
    vec![
        Figure::info(
            "mailbox_rtt_us",
            format!("64 B mailbox round trip between two guests, {workers} workers"),
            cross,
            "µs",
        )
        .against(pipe, "native pipe ping-pong")
        .target(Target::AtMost(1.0)),
        Figure::info(
            "mailbox_rtt_same_worker_us",
            "64 B mailbox round trip, both guests on 1 worker",
            same,
            "µs",
        ),
        exit_notice(quick),
    ]
}

fn exit_notice(quick: bool) -> Figure {
    let wasm = guest("supervision");
    let n = if quick { 2_000 } else { 20_000 }.to_string();
    let runs = if quick { 2 } else { 3 };
    let workers = cores().max(2);
    let [us] = best_interleaved(
        runs,
        [&mut || {
            guest_ns_figure(&wasm, "supervision", &["notice-latency", &n], workers, "notice_ns") / 1000.0
        }],
    );
    Figure::info(
        "exit_notice_us",
        format!("a child's trap to its restart by a guest supervisor, {workers} workers"),
        us,
        "µs",
    )
    .target(Target::AtMost(20.0))
}
