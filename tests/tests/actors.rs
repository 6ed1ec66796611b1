//! Mailboxes, links and monitors (the `actors` fixture): selective receive
//! with timeouts, full mailboxes under both policies, handle transfer and
//! refused sends, link chains, exit notices, monitors — on the embedder's
//! thread and on two scheduler threads.

mod common;

use std::time::{Duration, Instant};

use common::Harness;
use wasmd_abi::{Caps, ExitStatus};
use wasmhost::{Limits, Pid};

const CAPS: Caps = Caps(Caps::STDIO.0 | Caps::TIME.0 | Caps::SPAWN.0);

/// Runs `actors MODE ARGS` to its end on the embedder's thread; its
/// stdout.
fn run(mode: &[&str]) -> (Harness, Pid) {
    let mut h = Harness::new();
    let pid = h.spawn_file(&wasmd_tests::guest("actors"), mode, CAPS, Limits::default());
    h.run_until_exit(pid, 60);
    (h, pid)
}

fn expect_ok(mode: &[&str], lines: &[&str]) {
    let (h, pid) = run(mode);
    assert_eq!(h.status(pid), Some(ExitStatus::Exited(0)), "{mode:?}: {}{}", h.stdout(pid), h.stderr(pid));
    let out = h.stdout(pid);
    for line in lines {
        assert!(out.lines().any(|l| l.starts_with(line)), "{mode:?}: no `{line}` in {out}");
    }
}

#[test]
fn selective_receive_is_fifo_among_matches_with_timeouts() {
    expect_ok(&["selective"], &["ok selective-order", "ok timeouts", "ok parked-selective"]);
}

#[test]
fn a_full_mailbox_refuses_or_parks_the_sender_and_loses_nothing() {
    expect_ok(&["full"], &["ok nowait-refused", "ok blocking-sender 1124"]);
}

#[test]
fn handles_travel_in_messages_and_sends_without_one_are_refused() {
    let (h, pid) = run(&["transfer"]);
    assert_eq!(h.status(pid), Some(ExitStatus::Exited(0)), "{}", h.stderr(pid));
    assert!(h.stdout(pid).contains("ok transfer"));
    // The children were reaped; their output stays captured.
    let all: String = [pid + 1, pid + 2].iter().map(|p| h.stdout(*p)).collect();
    assert!(all.contains("ok relay-refused Some(PermissionDenied)"), "{all}");
    assert!(all.contains("collected hi via a passed handle from "), "{all}");
}

#[test]
fn one_death_in_a_link_chain_ends_the_chain() {
    let (h, head) = run(&["chain", "6"]);
    assert_eq!(h.status(head), Some(ExitStatus::Killed), "{}", h.stdout(head));
    let chain: Vec<Pid> = h.pm.pids();
    assert_eq!(chain.len(), 7, "the head and six links: {chain:?}");
    let statuses: Vec<ExitStatus> = chain.iter().map(|p| h.status(*p).expect("ended")).collect();
    let trapped = statuses.iter().filter(|s| matches!(s, ExitStatus::Trapped(_))).count();
    let killed = statuses.iter().filter(|s| **s == ExitStatus::Killed).count();
    assert_eq!((trapped, killed), (1, 6), "{statuses:?}");
    assert!(!h.stdout(head).contains("outlived"));
}

#[test]
fn trapping_exits_turns_ends_into_notices() {
    expect_ok(&["trap"], &["ok exit-notices", "ok normal-exit-spares"]);
}

#[test]
fn monitors_give_down_notices_also_for_the_dead() {
    expect_ok(&["monitor"], &["ok monitor-dead", "ok monitor"]);
}

#[test]
fn a_kill_from_outside_unwinds_the_links_both_ways() {
    let mut h = Harness::new();
    h.spawn_file(&wasmd_tests::guest("actors"), &["chain", "5", "hold"], CAPS, Limits::default());
    // Let the chain form (each member says so), then kill its middle.
    let deadline = Instant::now() + Duration::from_secs(20);
    while h.pm.pids().iter().filter(|p| h.stdout(**p).contains("linked")).count() < 5 {
        assert!(Instant::now() < deadline, "the chain did not form");
        h.pm.run(16);
        h.pm.wait_for_events(Some(Duration::from_millis(1)));
    }
    assert_eq!(h.pm.live(), 6);
    let middle = h.pm.pids()[2];
    h.pm.kill(middle).unwrap();
    assert_eq!(h.pm.live(), 0, "both sides of the middle unwound");
    for pid in h.pm.pids() {
        assert_eq!(h.status(pid), Some(ExitStatus::Killed), "pid {pid}");
    }
}

#[test]
fn every_mode_works_on_two_scheduler_threads() {
    let modes: [&[&str]; 6] =
        [&["selective"], &["full"], &["transfer"], &["trap"], &["monitor"], &["rtt", "2000", "64"]];
    let (pids, out) = common::all_exit_zero_on_kernel("actors", &modes, CAPS, 2);
    assert!(out.text(pids[5], 1).contains("rtt_ns="));
}
