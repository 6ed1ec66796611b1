//! Shared-memory regions: the API in one process, every bad case with its
//! errno, sharing across processes, capabilities, limits, and lifetime
//! (the memory goes with the last holder, also when holders die).

mod common;

use common::Harness;
use wasmd_abi::{Caps, ExitStatus};
use wasmhost::{Limits, ManagerConfig};

#[test]
fn region_api_in_one_process() {
    let mut h = Harness::new();
    let pid = h.guest("regions", &["basic"]);
    h.run_all();
    assert_eq!(h.status(pid), Some(ExitStatus::Exited(0)), "{}", h.stderr(pid));
    let kv = h.kv(pid);
    let expect = [
        ("size", "65536"),
        ("roundtrip", "true"),
        ("fetch_add32", "7"),
        ("load32", "12"),
        ("cas32_ok", "Ok(12)"),
        ("cas32_fail", "Err(1)"),
        ("fetch_add64", "18446744073709551614"),
        ("load64", "18446744073709551615"),
        ("cas64_ok", "Ok(18446744073709551615)"),
        ("wait_changed", "Changed"),
        ("wait_timeout", "TimedOut"),
        ("waited_15ms", "true"),
        ("notify_none", "0"),
        ("read_past_end", "err:34"),
        ("write_past_end", "err:34"),
        ("unaligned32", "err:22"),
        ("unaligned64", "err:22"),
        ("atomic_past_end", "err:34"),
        ("share_more_rights", "err:1"),
        ("attach_unknown", "err:2"),
        ("alloc_zero", "err:22"),
        ("alloc_huge", "err:22"),
        ("same_id", "true"),
        ("ro_write", "err:1"),
        ("ro_read", "ok:1"),
        ("attach_twice", "err:2"),
        ("ro_survives", "ok:1"),
        ("stale_handle", "-9"),
    ];
    for (key, value) in expect {
        assert_eq!(kv.get(key).map(String::as_str), Some(value), "{key}");
    }
    assert_eq!(h.pm.regions_in_use(), (0, 0), "the region went with its last handle");
}

#[test]
fn every_bad_region_call_gets_its_errno() {
    let mut h = Harness::new();
    let pid = h.wat("region_faults");
    h.run_all();
    assert_eq!(h.status(pid), Some(ExitStatus::Exited(0)), "exit code = first failing check");
    assert_eq!(h.pm.regions_in_use(), (0, 0));
}

#[test]
fn regions_need_the_shm_capability() {
    let mut h = Harness::new();
    let pid = h.spawn_file(&wasmd_tests::guest("regions"), &["basic"], Caps::STDIO, Limits::default());
    h.run_all();
    assert_eq!(h.status(pid), Some(ExitStatus::Exited(1)));
    assert!(h.stderr(pid).contains("operation not permitted"), "{}", h.stderr(pid));
}

#[test]
fn sharing_with_children_and_rights() {
    let mut h = Harness::new();
    let pid = h.guest("regions", &["share"]);
    h.run_all();
    assert_eq!(h.status(pid), Some(ExitStatus::Exited(0)), "{}", h.stderr(pid));
    let kv = h.kv(pid);
    assert_eq!(kv["answer"], "from child");
    assert_eq!(kv["rw_child"], "exited(0)");
    assert_eq!(kv["ro_child"], "exited(0)");
    let children: Vec<_> = h.pm.pids().into_iter().filter(|p| *p != pid).collect();
    assert!(children.is_empty(), "children were reaped: {children:?}");
    let all = h.out.all_stdout();
    assert!(all.contains("child_rw_read=from parent"), "{all}");
    assert!(all.contains("child_ro_read=from parent"), "{all}");
    assert!(all.contains("child_rw_write=ok:()"), "{all}");
    assert!(all.contains("child_ro_write=err:1"), "{all}");
    assert_eq!(h.pm.regions_in_use(), (0, 0));
}

#[test]
fn a_region_outlives_a_trapping_holder_and_goes_with_the_last() {
    let mut h = Harness::new();
    let pid = h.guest("regions", &["holder"]);
    while !h.pm.process(pid).unwrap().is_exited() {
        h.pm.run(10);
        h.pm.wait_for_events(Some(std::time::Duration::from_millis(2)));
    }
    assert!(matches!(h.status(pid), Some(ExitStatus::Trapped(_))));
    let child: u32 = h.kv(pid)["holder_child"].parse().unwrap();
    // The child still holds the region and keeps using it.
    for _ in 0..20 {
        h.pm.run(10);
        h.pm.wait_for_events(Some(std::time::Duration::from_millis(2)));
    }
    assert_eq!(h.pm.regions_in_use(), (1, 65536));
    assert!(h.stdout(child).contains("hold_value=42"), "{}", h.stdout(child));
    assert!(!h.pm.process(child).unwrap().is_exited());
    h.pm.kill(child).unwrap();
    assert_eq!(h.pm.regions_in_use(), (0, 0), "freed when the last holder died");
}

#[test]
fn killing_a_process_parked_in_region_wait_frees_everything() {
    let mut h = Harness::new();
    let waiter =
        h.spawn_file(&wasmd_tests::wat("region_wait_forever"), &[], Caps::DEFAULT, Limits::default());
    for _ in 0..5 {
        h.pm.run(10);
        h.pm.wait_for_events(Some(std::time::Duration::from_millis(2)));
    }
    assert_eq!(h.pm.info(waiter).unwrap().state, wasmd_abi::RunState::Blocked);
    assert_eq!(h.pm.futex_waiters(), 1);
    assert_eq!(h.pm.regions_in_use().0, 1);
    h.pm.kill(waiter).unwrap();
    assert_eq!(h.pm.futex_waiters(), 0);
    assert_eq!(h.pm.regions_in_use(), (0, 0));
}

#[test]
fn per_process_and_global_region_limits() {
    // Per process: 3 pages of regions at most.
    let mut h = Harness::new();
    let limits = Limits { max_region_bytes: 3 * 65536, ..Limits::default() };
    let pid = h.spawn_file(&wasmd_tests::wat("region_alloc_loop"), &[], Caps::DEFAULT, limits);
    h.run_all();
    assert_eq!(h.status(pid), Some(ExitStatus::Exited(3)));
    assert_eq!(h.pm.regions_in_use(), (0, 0));
    // Globally: 2 regions at most, whoever asks.
    let mut h = Harness::with_config(ManagerConfig { max_regions: 2, ..ManagerConfig::default() });
    let pid = h.wat("region_alloc_loop");
    h.run_all();
    assert_eq!(h.status(pid), Some(ExitStatus::Exited(2)));
    // Handle table: 1 handle at most.
    let mut h = Harness::new();
    let limits = Limits { max_handles: 1, ..Limits::default() };
    let pid = h.spawn_file(&wasmd_tests::wat("region_alloc_loop"), &[], Caps::DEFAULT, limits);
    h.run_all();
    assert_eq!(h.status(pid), Some(ExitStatus::Exited(1)));
}

#[test]
fn regions_kept_alive_by_pending_shares_count_against_their_holder() {
    let mut h = Harness::new();
    let limits = wasmhost::Limits { max_region_bytes: 1 << 20, ..wasmhost::Limits::default() };
    let pid = h.spawn_file(&wasmd_tests::wat("share_self"), &[], Caps::DEFAULT, limits);
    h.run_until_exit(pid, 20);
    assert_eq!(h.status(pid), Some(wasmd_abi::ExitStatus::Exited(0)), "1: never refused, 2: other error");
}

#[test]
fn strangers_cannot_share_into_a_process_without_proc() {
    let mut h = Harness::new();
    let target = h.wat("idle");
    assert_eq!(target, 1);
    let path = wasmd_tests::wat("share_to_pid1");
    let stranger = h.spawn_file(&path, &[], Caps::DEFAULT, Limits::default());
    h.run_until_exit(stranger, 20);
    assert_eq!(h.status(stranger), Some(ExitStatus::Exited(wasmd_abi::errno::EPERM)));
    let with_proc = h.spawn_file(&path, &[], Caps::DEFAULT.union(Caps::PROC), Limits::default());
    h.run_until_exit(with_proc, 20);
    assert_eq!(h.status(with_proc), Some(ExitStatus::Exited(0)));
    h.pm.kill(target).unwrap();
}
