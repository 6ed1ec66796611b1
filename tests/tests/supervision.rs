//! Supervisors written in guest code (`wasmd_guest::supervisor`, the
//! `supervision` fixture) on links, monitors and the name registry: each
//! strategy and restart type, escalation up a three-level tree, dynamic
//! children, a name found again after a restart.

mod common;

use common::Harness;
use wasmd_abi::{Caps, ExitStatus};
use wasmhost::{Limits, Pid};

const CAPS: Caps = Caps(Caps::STDIO.0 | Caps::TIME.0 | Caps::SPAWN.0);

fn scenario(name: &str) -> (Harness, Pid) {
    let mut h = Harness::new();
    let pid = h.spawn_file(&wasmd_tests::guest("supervision"), &[name], CAPS, Limits::default());
    h.run_until_exit(pid, 60);
    (h, pid)
}

fn expect_ok(name: &str, line: &str) {
    let (h, pid) = scenario(name);
    let out = h.stdout(pid);
    assert_eq!(h.status(pid), Some(ExitStatus::Exited(0)), "{name}: {out}{}", h.stderr(pid));
    assert!(out.lines().any(|l| l == line), "{name}: no `{line}` in {out}");
    // Whatever it supervised has ended: nothing is left running.
    assert_eq!(h.pm.live(), 0, "{name}: children left behind");
}

#[test]
fn one_for_one_restarts_the_child_alone() {
    expect_ok("one-for-one", "ok OneForOne");
}

#[test]
fn one_for_all_restarts_every_child() {
    expect_ok("one-for-all", "ok OneForAll");
}

#[test]
fn rest_for_one_restarts_the_child_and_those_after_it() {
    expect_ok("rest-for-one", "ok RestForOne");
}

#[test]
fn restart_types_decide_who_comes_back() {
    expect_ok("restart-types", "ok restart-types");
}

#[test]
fn too_many_restarts_escalate_twice_up_a_three_level_tree() {
    let (h, pid) = scenario("escalation");
    assert_eq!(h.status(pid), Some(ExitStatus::Exited(0)), "{}{}", h.stdout(pid), h.stderr(pid));
    // Each level started more than once: level2 was restarted by level1
    // before level1 gave up too.
    let all: String = (pid..pid + 64).map(|p| h.stdout(p)).collect();
    assert_eq!(all.matches("level1 started").count(), 1, "{all}");
    assert_eq!(all.matches("level2 started").count(), 2, "{all}");
    assert_eq!(h.pm.live(), 0);
}

#[test]
fn children_are_started_stopped_restarted_and_deleted_at_run_time() {
    expect_ok("dynamic", "ok dynamic");
}

#[test]
fn a_restarted_child_is_found_again_by_its_name() {
    expect_ok("names", "ok names");
}

#[test]
fn every_scenario_works_on_two_scheduler_threads() {
    let names: [&[&str]; 7] = [
        &["one-for-one"],
        &["one-for-all"],
        &["rest-for-one"],
        &["restart-types"],
        &["escalation"],
        &["dynamic"],
        &["names"],
    ];
    common::all_exit_zero_on_kernel("supervision", &names, CAPS, 2);
}

#[test]
fn a_supervised_kvstore_keeps_its_data_across_a_restart() {
    let root = common::temp_dir("kv-persist");
    // The grant covers the directory, not its parent: it exists already.
    std::fs::create_dir_all(root.join("kv")).unwrap();
    let mut h = Harness::with_fs_root(&root);
    let caps = Caps(CAPS.0 | Caps::SCHEME_PROVIDE.0);
    let pid = h.spawn_file_ns(
        &wasmd_tests::guest("supervision"),
        &["kv-persist", "file:/kv"],
        caps,
        Limits::default(),
        &["file:/kv=rw", "kvtest:"],
    );
    h.run_until_exit(pid, 60);
    assert_eq!(h.status(pid), Some(ExitStatus::Exited(0)), "{}{}", h.stdout(pid), h.stderr(pid));
    assert!(h.stdout(pid).contains("ok kv-persist"));
    assert_eq!(std::fs::read(root.join("kv/greeting")).unwrap(), b"kept across a restart");
    let _ = std::fs::remove_dir_all(root);
}
