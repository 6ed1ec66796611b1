//! Processes end-to-end in one process manager: spawning, every kind of
//! exit status, the module cache, logs, limits and control operations.

mod common;

use std::sync::Arc;

use common::Harness;
use wasmd_abi::{Caps, ExitStatus, RunState};
use wasmhost::{Limits, ManagerConfig, SpawnError, SpawnOptions};

#[test]
fn wat_guest_writes_and_exits_zero() {
    let mut h = Harness::new();
    let pid = h.wat("hello");
    h.run_all();
    assert_eq!(h.status(pid), Some(ExitStatus::Exited(0)));
    assert_eq!(h.stdout(pid), "hello from wat\n");
    assert_eq!(h.pm.process(pid).unwrap().log().stdout.contents(), b"hello from wat\n");
    assert_eq!(h.out.exits(), vec![(pid, ExitStatus::Exited(0))]);
}

#[test]
fn rust_guest_gets_its_arguments() {
    let mut h = Harness::new();
    let pid = h.guest("hello", &["a", "b c"]);
    h.run_all();
    assert_eq!(h.stdout(pid), format!("Hello from wasmd! I am pid {pid} and my args are [\"a\", \"b c\"]\n"));
}

#[test]
fn every_kind_of_exit_status() {
    let mut h = Harness::new();
    let exit7 = h.guest("worker", &["exit", "7"]);
    let trap = h.guest("worker", &["trap"]);
    let limits = Limits { fuel: Some(2_000_000), ..Limits::default() };
    let fuel = h.spawn_file(&wasmd_tests::guest("worker"), &["spin"], Caps::DEFAULT, limits);
    let limits = Limits { max_pages: 32, ..Limits::default() };
    let grow = h.spawn_file(&wasmd_tests::guest("worker"), &["grow"], Caps::DEFAULT, limits);
    let panic = h.guest("worker", &["panic", "boom"]);
    let killed = h.guest("worker", &["spin"]);
    h.pm.run(20);
    h.pm.kill(killed).unwrap();
    h.run_all();
    assert_eq!(h.status(exit7), Some(ExitStatus::Exited(7)));
    match h.status(trap) {
        Some(ExitStatus::Trapped(msg)) => assert!(msg.contains("unreachable"), "{msg}"),
        other => panic!("expected a trap, got {other:?}"),
    }
    assert_eq!(h.status(fuel), Some(ExitStatus::OutOfFuel));
    let fuel_used = h.pm.process(fuel).unwrap().fuel_used;
    assert!(fuel_used <= 2_000_000 && fuel_used > 1_900_000, "used {fuel_used}");
    assert_eq!(h.status(grow), Some(ExitStatus::MemoryLimit));
    assert!(h.pm.info(grow).unwrap().memory_pages <= 32);
    assert_eq!(h.status(panic), Some(ExitStatus::Exited(101)));
    assert!(h.stderr(panic).starts_with("panicked at "), "{}", h.stderr(panic));
    assert!(h.stderr(panic).trim_end().ends_with(": boom"), "{}", h.stderr(panic));
    assert_eq!(h.status(killed), Some(ExitStatus::Killed));
    assert_eq!(h.pm.live(), 0);
}

#[test]
fn compiled_modules_are_cached_by_content() {
    let h = Harness::new();
    let bytes = std::fs::read(wasmd_tests::guest("hello")).unwrap();
    let a = h.pm.modules().compile(&bytes).unwrap();
    let b = h.pm.modules().compile(&bytes).unwrap();
    assert!(Arc::ptr_eq(&a, &b));
    assert_eq!(h.pm.modules().len(), 1);
    let other =
        h.pm.modules()
            .compile(b"(module (memory (export \"memory\") 1) (func (export \"_start\")))")
            .unwrap();
    assert!(!Arc::ptr_eq(&a, &other));
    assert_eq!(h.pm.modules().len(), 2);
    assert_ne!(a.hash, other.hash);
}

#[test]
fn spawns_of_one_module_share_the_compiled_module() {
    let mut h = Harness::new();
    let p1 = h.wat("tiny");
    let p2 = h.wat("tiny");
    let m1 = h.pm.process(p1).unwrap().module.clone().unwrap();
    let m2 = h.pm.process(p2).unwrap().module.clone().unwrap();
    assert!(Arc::ptr_eq(&m1, &m2));
    h.run_all();
}

#[test]
fn log_is_readable_while_running_and_after_exit() {
    let mut h = Harness::new();
    let pid = h.guest("chatty", &["400"]);
    let mut seen_partial = false;
    while h.pm.live() > 0 {
        h.pm.run(1);
        let info = h.pm.info(pid).unwrap();
        let lines = String::from_utf8(h.pm.process(pid).unwrap().log().stdout.contents()).unwrap();
        if info.state != RunState::Exited && lines.lines().count() > 10 {
            seen_partial = true;
        }
    }
    assert!(seen_partial, "the log was never read mid-run");
    let all = String::from_utf8(h.pm.process(pid).unwrap().log().stdout.contents()).unwrap();
    assert_eq!(all.lines().count(), 400);
    assert_eq!(all.lines().last(), Some("chatty 399"));
}

#[test]
fn log_ring_is_bounded() {
    let mut h = Harness::with_config(ManagerConfig { log_capacity: 100, ..ManagerConfig::default() });
    let pid = h.guest("chatty", &["100"]);
    h.run_all();
    let proc = h.pm.process(pid).unwrap();
    let guard = proc.log();
    let log = &guard.stdout;
    assert_eq!(log.contents().len(), 100);
    assert!(log.total() > 900);
    assert!(String::from_utf8(log.contents()).unwrap().ends_with("chatty 99\n"));
}

#[test]
fn capabilities_gate_hostcalls_at_call_time() {
    let mut h = Harness::new();
    let all = h.spawn_file(&wasmd_tests::guest("probe"), &["x"], Caps::ALL, Limits::default());
    let bare = h.spawn_file(&wasmd_tests::guest("probe"), &["y"], Caps::STDIO, Limits::default());
    h.run_all();
    let all_kv = h.kv(all);
    assert_eq!(all_kv["args"], "[\"probe\", \"x\"]");
    assert_eq!(all_kv["pid"], all.to_string());
    for (name, _) in Caps::NAMED {
        assert_eq!(all_kv[&format!("has_{name}")], "true", "{name}");
    }
    for key in ["monotonic", "sleep", "random"] {
        assert_eq!(all_kv[key], "ok:()", "{key}");
    }
    assert_eq!(all_kv["realtime"], "ok:true");
    assert_eq!(all_kv["slept_at_least_20ms"], "true");
    assert_eq!(all_kv["random_differs"], "true");
    assert_eq!(all_kv["spawn"], "ok:()");
    assert_eq!(all_kv["wait"], "ok:Exited(0)");
    assert!(all_kv["info_self"].starts_with("ok:(true, "), "{}", all_kv["info_self"]);
    assert_eq!(all_kv["fuel_grows_within_slice"], "true");

    // Same module, only `stdio`: it instantiates and runs, and every gated
    // call is refused with EPERM (1) when it is made.
    assert_eq!(h.status(bare), Some(ExitStatus::Exited(0)));
    let bare_kv = h.kv(bare);
    assert_eq!(bare_kv["has_stdio"], "true");
    assert_eq!(bare_kv["has_time"], "false");
    for key in ["monotonic", "realtime", "sleep", "random", "spawn"] {
        assert_eq!(bare_kv[key], "err:1", "{key}");
    }
    assert_eq!(bare_kv["info_self"], "ok:(true, stdio)");
}

#[test]
fn a_guest_without_stdio_cannot_write() {
    let mut h = Harness::new();
    let pid = h.spawn_file(&wasmd_tests::guest("hello"), &[], Caps::NONE, Limits::default());
    h.run_all();
    assert_eq!(h.status(pid), Some(ExitStatus::Exited(0)));
    assert_eq!(h.stdout(pid), "");
}

#[test]
fn spawn_wait_kill_and_narrowing_from_a_guest() {
    let mut h = Harness::new();
    let unrelated = h.guest("worker", &["sleep", "60000"]);
    let worker = wasmd_tests::guest("worker");
    let pid = h.guest("spawner", &[worker.to_str().unwrap(), &unrelated.to_string()]);
    while h.pm.process(pid).is_some_and(|p| !p.is_exited()) {
        h.pm.run(100);
        h.pm.wait_for_events(Some(std::time::Duration::from_millis(5)));
    }
    assert_eq!(h.status(pid), Some(ExitStatus::Exited(0)), "stderr: {}", h.stderr(pid));
    let kv = h.kv(pid);
    let eperm = "1";
    assert_eq!(kv["escalate_caps"], eperm);
    assert_eq!(kv["escalate_pages"], eperm);
    assert_eq!(kv["escalate_handles"], eperm);
    assert_eq!(kv["child_caps"], "stdio");
    assert_eq!(kv["child_parent_is_me"], "true");
    assert_eq!(kv["wait_a"], "exited(5)");
    assert_eq!(kv["wait_b"], "exited(0)");
    assert_eq!(kv["wait_again"], "10"); // ECHILD: already reaped
    assert_eq!(kv["spinner_state_live"], "true");
    assert_eq!(kv["kill_spinner"], "0");
    assert_eq!(kv["kill_sleeper"], "0");
    assert_eq!(kv["wait_any_pids_ok"], "true");
    assert_eq!(kv["wait_any_killed"], "true");
    assert_eq!(kv["wait_none_left"], "10");
    assert_eq!(kv["kill_unrelated"], eperm);
    assert_eq!(kv["info_unrelated"], eperm);
    assert_eq!(kv["fuel_child"], "out of fuel");
    assert_eq!(kv["twenty_children_ok"], "20");
    // The unrelated process was not harmed.
    assert!(!h.pm.process(unrelated).unwrap().is_exited());
    h.pm.kill(unrelated).unwrap();
    // Reaped children are gone from the table; nothing leaked.
    assert_eq!(h.pm.live(), 0);
    assert!(h.pm.pids().len() <= 3, "{:?}", h.pm.pids());
}

#[test]
fn a_start_function_that_traps_gives_an_exited_process() {
    let mut h = Harness::new();
    let pid = h.wat("start_trap");
    match h.status(pid) {
        Some(ExitStatus::Trapped(msg)) => assert!(msg.contains("unreachable"), "{msg}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(h.pm.live(), 0);
}

#[test]
fn initial_memory_above_the_limit_is_a_memory_limit_exit() {
    let mut h = Harness::new();
    let limits = Limits { max_pages: 1, ..Limits::default() };
    let pid = h.spawn_file(&wasmd_tests::guest("hello"), &[], Caps::DEFAULT, limits);
    assert_eq!(h.status(pid), Some(ExitStatus::MemoryLimit));
}

#[test]
fn bad_modules_are_refused_with_clear_errors() {
    let h = Harness::new();
    let compile = |path: std::path::PathBuf| h.pm.modules().compile(&std::fs::read(path).unwrap());
    match compile(wasmd_tests::wat("unknown_import")) {
        Err(SpawnError::UnknownImport { module, name }) => {
            assert_eq!((module.as_str(), name.as_str()), ("wasmd", "format_disk"))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(compile(wasmd_tests::wat("no_entry")).unwrap_err(), SpawnError::NoEntry);
    assert!(matches!(h.pm.modules().compile(b"\0asm\x01\0\0\0\x01"), Err(SpawnError::InvalidModule(_))));
    assert!(matches!(h.pm.modules().compile(b"definitely not wasm"), Err(SpawnError::NotWasm(_))));
    match compile(wasmd_tests::wat("invalid")) {
        Err(SpawnError::InvalidWat(why)) => assert!(why.starts_with("type mismatch"), "{why}"),
        other => panic!("{other:?}"),
    }
    let hello = std::fs::read(wasmd_tests::guest("hello")).unwrap();
    assert!(matches!(h.pm.modules().compile(&hello[..hello.len() / 2]), Err(SpawnError::InvalidModule(_))));
}

#[test]
fn a_hostcall_imported_with_the_wrong_type_fails_to_spawn() {
    let mut h = Harness::new();
    let module = h.pm.modules().compile(&std::fs::read(wasmd_tests::wat("bad_signature")).unwrap()).unwrap();
    match h.pm.spawn(module, SpawnOptions::new("bad")) {
        Err(e @ SpawnError::ImportType(_)) => assert_eq!(
            e.to_string(),
            "import `wasmd::write`: expected (param i32 i32 i32) (result i64), \
             the module declares (param i32) (result i32)"
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(h.pm.live(), 0);
}

#[test]
fn suspend_resume_and_refuel() {
    let mut h = Harness::new();
    let chatty = h.guest("chatty", &["50"]);
    h.pm.run(3);
    h.pm.suspend(chatty).unwrap();
    let before = h.stdout(chatty).len();
    assert_eq!(h.pm.info(chatty).unwrap().state, RunState::Suspended);
    assert_eq!(h.pm.run(100), 0);
    assert_eq!(h.stdout(chatty).len(), before);
    h.pm.resume(chatty).unwrap();
    h.run_all();
    assert_eq!(h.stdout(chatty).lines().count(), 50);

    let limits = Limits { fuel: Some(300_000), ..Limits::default() };
    let spin = h.spawn_file(&wasmd_tests::wat("loop"), &[], Caps::DEFAULT, limits);
    h.pm.run(1);
    h.pm.refuel(spin, 1_000_000).unwrap();
    h.run_all();
    assert_eq!(h.status(spin), Some(ExitStatus::OutOfFuel));
    let used = h.pm.process(spin).unwrap().fuel_used;
    assert!((1_250_000..=1_300_000).contains(&used), "used {used}");
    assert_eq!(h.pm.refuel(spin, 1).unwrap_err().errno(), wasmd_abi::Errno::NoSuchProcess);
}

#[test]
fn the_process_table_limit_is_enforced() {
    let mut h = Harness::with_config(ManagerConfig { max_processes: 3, ..ManagerConfig::default() });
    for _ in 0..3 {
        h.wat("loop");
    }
    let module =
        h.pm.modules()
            .compile(b"(module (memory (export \"memory\") 1) (func (export \"_start\")))")
            .unwrap();
    assert_eq!(h.pm.spawn(module, SpawnOptions::new("x")).unwrap_err(), SpawnError::TooManyProcesses);
    for pid in h.pm.pids() {
        h.pm.kill(pid).unwrap();
    }
}

#[test]
fn process_info_reports_state_memory_and_fuel() {
    let mut h = Harness::new();
    let pid = h.guest("worker", &["count", "100000"]);
    let info = h.pm.info(pid).unwrap();
    assert_eq!(info.state, RunState::Ready);
    assert_eq!(info.name, "worker");
    assert_eq!(info.parent, 0);
    assert!(info.memory_pages >= 2);
    h.run_all();
    let info = h.pm.info(pid).unwrap();
    assert_eq!(info.state, RunState::Exited);
    assert_eq!(info.status, Some(ExitStatus::Exited(0)));
    assert!(info.fuel_used > 1_000, "fuel used {}", info.fuel_used);
    let hash = wasmhost::ModuleCache::hash(&std::fs::read(wasmd_tests::guest("worker")).unwrap());
    assert_eq!(info.module_hash[..], hash[..8]);
    assert!(h.pm.process(pid).unwrap().module.is_none(), "an exited process holds no code");
}

#[test]
fn compiled_code_of_modules_no_longer_used_is_freed() {
    // wasmi keeps code for its engine's life: engines are recycled by
    // generation, so 1,200 distinct modules spawned and reaped leave at
    // most the current generation and the one before it alive.
    let mut h = Harness::new();
    for i in 0..1200 {
        let wat = format!(
            "(module (memory (export \"memory\") 1) (data (i32.const 0) \"module {i}\") (func (export \"_start\")))"
        );
        let module = h.pm.modules().compile(wat.as_bytes()).unwrap();
        let pid = h.pm.spawn(module, wasmhost::SpawnOptions::new("m")).unwrap();
        h.run_until_exit(pid, 10);
    }
    let generations = 1200 / wasmhost::MODULES_PER_GENERATION + 1;
    assert!(generations >= 5, "the test made {generations} generations");
    assert!(h.pm.modules().live_generations() <= 2, "{} engines alive", h.pm.modules().live_generations());
}

#[test]
fn a_parent_gets_exactly_max_children_and_each_counts_once() {
    let config = wasmhost::ManagerConfig { max_children: 5, ..Default::default() };
    let mut h = Harness::with_config(config);
    let pid = h.wat("spawn_many");
    h.run_until_exit(pid, 10);
    // One child counted twice would stop it at 3.
    assert_eq!(h.status(pid), Some(ExitStatus::Exited(5)), "stderr: {}", h.stderr(pid));
    assert_eq!(h.pm.pids().len(), 6);
}
