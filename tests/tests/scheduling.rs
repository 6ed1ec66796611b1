//! Preemptive scheduling: spinning guests are suspended every slice and
//! cannot starve others; blocking hostcalls park only their caller.

mod common;

use std::time::Duration;

use common::Harness;
use wasmd_abi::{ExitStatus, RunState};

#[test]
fn a_spinning_guest_and_a_chatty_guest_both_progress() {
    let mut h = Harness::new();
    let spinner = h.wat("loop");
    let chatty = h.guest("chatty", &["300"]);
    let mut turns = 0;
    while !h.pm.process(chatty).unwrap().is_exited() {
        turns += h.pm.run(1);
        assert!(turns < 100_000, "chatty never finished");
    }
    assert_eq!(h.status(chatty), Some(ExitStatus::Exited(0)));
    assert_eq!(h.stdout(chatty).lines().count(), 300);
    let spin = h.pm.info(spinner).unwrap();
    assert_eq!(spin.state, RunState::Ready);
    assert!(spin.fuel_used > 1_000_000, "the spinner barely ran: {}", spin.fuel_used);
    h.pm.kill(spinner).unwrap();
}

#[test]
fn spinning_guests_share_the_cpu_evenly() {
    let mut h = Harness::new();
    let spinners: Vec<_> = (0..4).map(|_| h.wat("loop")).collect();
    h.pm.run(400);
    let used: Vec<u64> = spinners.iter().map(|p| h.pm.info(*p).unwrap().fuel_used).collect();
    let (min, max) = (*used.iter().min().unwrap(), *used.iter().max().unwrap());
    // Each got 100 slices of 100k fuel, give or take one slice.
    assert!(min >= 99 * 100_000, "{used:?}");
    assert!(max - min <= 100_000, "uneven: {used:?}");
    for p in spinners {
        h.pm.kill(p).unwrap();
    }
}

#[test]
fn a_sleeping_guest_parks_without_holding_others() {
    let mut h = Harness::new();
    let sleeper = h.guest("worker", &["sleep", "2000"]);
    let chatty = h.guest("chatty", &["100"]);
    while !h.pm.process(chatty).unwrap().is_exited() {
        h.pm.run(10);
    }
    assert_eq!(h.pm.info(sleeper).unwrap().state, RunState::Blocked);
    h.run_all();
    assert_eq!(h.status(sleeper), Some(ExitStatus::Exited(0)));
    assert_eq!(h.stdout(sleeper), format!("worker {sleeper}: slept 2000 ms\n"));
}

#[test]
fn woken_guests_run_before_preempted_ones() {
    let mut h = Harness::new();
    let spinners: Vec<_> = (0..20).map(|_| h.wat("loop")).collect();
    let sleeper = h.guest("worker", &["sleep", "1000"]);
    // Let the sleeper run once and park (it is queued behind the spinners).
    while h.pm.info(sleeper).unwrap().state != RunState::Blocked {
        h.pm.run(1);
    }
    // Wait until its timer is due.
    let due = h.pm.next_timer().expect("the sleeper's timer");
    std::thread::sleep(due.saturating_duration_since(std::time::Instant::now()) + Duration::from_millis(1));
    // It must run within the next two turns, although twenty spinners
    // are queued ahead of it.
    h.pm.run(2);
    assert_eq!(h.status(sleeper), Some(ExitStatus::Exited(0)));
    for p in spinners {
        h.pm.kill(p).unwrap();
    }
}

#[test]
fn many_sleepers_all_wake() {
    let mut h = Harness::new();
    let pids: Vec<_> = (0..50).map(|i| h.guest("worker", &["sleep", &(i % 7).to_string()])).collect();
    h.run_all();
    for p in pids {
        assert_eq!(h.status(p), Some(ExitStatus::Exited(0)));
    }
}
