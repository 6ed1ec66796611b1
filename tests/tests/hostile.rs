//! Hostile guests: infinite loops, traps, stack overflow, memory bombs,
//! bad pointers, garbage payloads and forged pids all end with a clear
//! status or errno, never panic the manager, and never stall others.

mod common;

use common::Harness;
use wasmd_abi::{Caps, ExitStatus};
use wasmhost::Limits;

#[test]
fn hostile_guests_side_by_side_with_a_well_behaved_one() {
    let mut h = Harness::new();
    let looping = h.wat("loop");
    let recurse = h.wat("recurse");
    let limits = Limits { max_pages: 64, ..Limits::default() };
    let bomb = h.spawn_file(&wasmd_tests::wat("grow_bomb"), &[], Caps::DEFAULT, limits);
    let unreachable = h.wat("unreachable");
    let pointers = h.wat("bad_pointers");
    let garbage = h.wat("garbage");
    let no_memory = h.wat("no_memory");
    let rust_recurse = h.guest("worker", &["recurse"]);
    let rust_bomb = h.spawn_file(&wasmd_tests::guest("worker"), &["grow"], Caps::DEFAULT, limits);
    let chatty = h.guest("chatty", &["200"]);
    while h.pm.live() > 1 {
        h.pm.run(100);
        h.pm.wait_for_events(Some(std::time::Duration::from_millis(1)));
    }
    assert!(!h.pm.process(looping).unwrap().is_exited());
    assert_eq!(h.status(chatty), Some(ExitStatus::Exited(0)));
    assert_eq!(h.stdout(chatty).lines().count(), 200);
    // The interpreter's call stack runs out for the WAT guest; the Rust
    // guest's shadow stack runs below address 0 first.
    match h.status(recurse) {
        Some(ExitStatus::Trapped(msg)) => assert!(msg.contains("call stack exhausted"), "{msg}"),
        other => panic!("recursion: {other:?}"),
    }
    match h.status(rust_recurse) {
        Some(ExitStatus::Trapped(msg)) => assert!(msg.contains("out of bounds memory access"), "{msg}"),
        other => panic!("recursion: {other:?}"),
    }
    assert_eq!(h.status(bomb), Some(ExitStatus::MemoryLimit));
    assert_eq!(h.status(rust_bomb), Some(ExitStatus::MemoryLimit));
    assert!(matches!(h.status(unreachable), Some(ExitStatus::Trapped(_))));
    assert_eq!(h.status(pointers), Some(ExitStatus::Exited(0)), "first failing check");
    assert_eq!(h.status(garbage), Some(ExitStatus::Exited(0)), "first failing check");
    assert_eq!(h.status(no_memory), Some(ExitStatus::Exited(42)));
    h.pm.kill(looping).unwrap();
    assert_eq!(h.status(looping), Some(ExitStatus::Killed));
}

#[test]
fn killing_twice_or_unknown_pids_is_an_error_not_a_panic() {
    let mut h = Harness::new();
    let pid = h.wat("loop");
    h.pm.run(1);
    h.pm.kill(pid).unwrap();
    assert!(h.pm.kill(pid).is_err());
    assert!(h.pm.kill(999_999).is_err());
    assert!(h.pm.suspend(999_999).is_err());
    assert!(h.pm.resume(pid).is_err());
    assert!(h.pm.info(999_999).is_none());
}

#[test]
fn a_spawn_bomb_is_bounded_by_the_process_limit() {
    // A guest spawning children as fast as it can, each of which spawns
    // too, must hit the table limit and get errors, not crash anything.
    let bomb = b"(module
        (import \"wasmd\" \"spawn\" (func $spawn (param i32 i32) (result i64)))
        (memory (export \"memory\") 1)
        (data (i32.const 0) \"\\00\\08bomb.wat\\00\\00\\00\\00\\00\\00\\00\\00\")
        (func (export \"_start\")
          (loop $again
            (br_if $again (i64.ge_s (call $spawn (i32.const 0) (i32.const 18)) (i64.const 0))))))";
    let dir = std::env::temp_dir().join(format!("wasmd-bomb-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bomb.wat");
    std::fs::write(&path, bomb).unwrap();
    let loader = wasmd::loader::FsModuleLoader::new([dir.clone()]);
    let out = std::sync::Arc::new(wasmd_tests::CapturedOutput::default());
    let mut pm = wasmhost::ProcessManager::new(
        wasmhost::ManagerConfig { max_processes: 64, ..Default::default() },
        std::sync::Arc::new(wasmd::sys::OsPlatform::new().unwrap()),
        std::sync::Arc::new(loader),
        out,
    );
    let (module, resolved) = pm.load_module(path.to_str().unwrap()).unwrap();
    let mut opts = wasmhost::SpawnOptions::new("bomb");
    opts.module_path = Some(resolved);
    pm.spawn(module, opts).unwrap();
    pm.run_to_completion().unwrap();
    assert_eq!(pm.live(), 0);
    let infos: Vec<_> = pm.pids().iter().map(|p| pm.info(*p).unwrap()).collect();
    assert!(pm.pids().len() >= 64, "the bomb did not reach the limit: {infos:?}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn copying_hostcalls_pay_fuel_so_a_slice_stays_bounded() {
    // Without a charge for the bytes a hostcall copies, one slice of a
    // guest writing 64 KiB at a time copied gigabytes (and the daemon
    // stopped answering for seconds).
    let mut h = Harness::new();
    let flood = h.wat("flood");
    assert_eq!(h.pm.run(1), 1);
    let slice = wasmhost::ManagerConfig::default().slice_fuel;
    let written = h.stdout(flood).len() as u64;
    assert!(written >= 64 * 1024, "the guest ran: {written} bytes");
    assert!(
        written <= slice * wasmhost::BYTES_PER_FUEL + 64 * 1024,
        "one slice of {slice} fuel wrote {written} bytes"
    );
    assert!(!h.pm.process(flood).unwrap().is_exited(), "preempted, not ended");
    h.pm.kill(flood).unwrap();
}

#[test]
fn tables_count_against_the_memory_limit() {
    let mut h = Harness::new();
    let limits = Limits { max_pages: 1, ..Limits::default() };
    let bomb = h.spawn_file(&wasmd_tests::wat("table_bomb"), &[], Caps::DEFAULT, limits);
    assert_eq!(h.status(bomb), Some(ExitStatus::MemoryLimit));
    // With room for them (16 tables x 1M entries x 16 bytes = 256 MiB),
    // the same module runs.
    let limits = Limits { max_pages: 4200, ..Limits::default() };
    let fits = h.spawn_file(&wasmd_tests::wat("table_bomb"), &[], Caps::DEFAULT, limits);
    h.run_until_exit(fits, 10);
    assert_eq!(h.status(fits), Some(ExitStatus::Exited(0)));
}

#[test]
fn a_fork_bomb_stays_inside_its_tree_and_others_still_spawn() {
    let config = wasmhost::ManagerConfig { max_tree: 50, ..Default::default() };
    let mut h = Harness::with_config(config);
    let bomb = h.wat("fork_bomb");
    for _ in 0..400 {
        h.pm.run(16);
        h.pm.wait_for_events(Some(std::time::Duration::from_millis(1)));
    }
    let live = h.pm.live();
    assert_eq!(live, 50, "the tree is full and stays full");
    // Another tree is not affected.
    let other = h.wat("hello");
    h.run_until_exit(other, 10);
    assert_eq!(h.status(other), Some(ExitStatus::Exited(0)));
    for pid in h.pm.pids() {
        let _ = h.pm.kill(pid);
    }
    assert_eq!(h.pm.live(), 0);
    let _ = bomb;
}

#[test]
fn the_daemons_memory_budget_refuses_spawns_before_the_host_runs_out() {
    // Room for about ten one-page guests.
    let config = wasmhost::ManagerConfig { memory_budget: 10 * 65536 + 4096, ..Default::default() };
    let mut h = Harness::with_config(config);
    let module = h.pm.modules().compile(&std::fs::read(wasmd_tests::wat("idle")).unwrap()).unwrap();
    let mut spawned = Vec::new();
    let err = loop {
        match h.pm.spawn(module.clone(), wasmhost::SpawnOptions::new("idle")) {
            Ok(pid) => spawned.push(pid),
            Err(e) => break e,
        }
        assert!(spawned.len() < 100, "no budget");
    };
    assert_eq!(err, wasmhost::SpawnError::OutOfMemory);
    assert_eq!(err.errno(), wasmd_abi::Errno::OutOfMemory);
    assert_eq!(spawned.len(), 10);
    h.pm.kill(spawned[0]).unwrap();
    assert!(
        h.pm.spawn(module, wasmhost::SpawnOptions::new("idle")).is_ok(),
        "the killed guest's memory came back"
    );
}

#[test]
fn exited_children_waiting_to_be_reaped_keep_only_their_logs_tail() {
    let mut h = Harness::new();
    let parent = h.wat("loop");
    let module = h.pm.modules().compile(&std::fs::read(wasmd_tests::guest("chatty")).unwrap()).unwrap();
    let mut opts = wasmhost::SpawnOptions::new("chatty");
    opts.args = vec!["chatty".into(), "2000".into()];
    opts.parent = Some(parent);
    let child = h.pm.spawn(module, opts).unwrap();
    h.run_until_exit(child, 20);
    let (total, kept) = {
        let log = h.pm.process(child).unwrap().log();
        (log.stdout.total(), log.stdout.contents())
    };
    assert!(total > 20_000);
    assert!(kept.len() <= wasmhost::ManagerConfig::default().exit_log_capacity, "{} bytes kept", kept.len());
    assert!(String::from_utf8_lossy(&kept).ends_with("chatty 1999\n"));
    h.pm.kill(parent).unwrap();
}

#[test]
fn one_user_cannot_take_the_whole_memory_budget() {
    // Room for about twenty one-page guests; a user other than root gets
    // at most half of it.
    let config = wasmhost::ManagerConfig { memory_budget: 20 * 65536 + 8192, ..Default::default() };
    let mut h = Harness::with_config(config);
    let module = h.pm.modules().compile(&std::fs::read(wasmd_tests::wat("idle")).unwrap()).unwrap();
    let as_user = |uid: u32| wasmhost::SpawnOptions {
        owner: wasmhost::Owner { uid, gid: uid },
        ..wasmhost::SpawnOptions::new("idle")
    };
    let mut alice = 0;
    while h.pm.spawn(module.clone(), as_user(1000)).is_ok() {
        alice += 1;
        assert!(alice < 100);
    }
    assert_eq!(alice, 10, "half the budget");
    let mut bob = 0;
    while h.pm.spawn(module.clone(), as_user(1001)).is_ok() {
        bob += 1;
        assert!(bob < 100);
    }
    assert_eq!(bob, 10, "Bob still gets his half");
    for pid in h.pm.pids() {
        let _ = h.pm.kill(pid);
    }
    assert!(h.pm.spawn(module, as_user(0)).is_ok());
}
