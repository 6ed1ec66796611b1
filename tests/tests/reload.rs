//! Hot code reload (`wasmhost::ProcessManager::reload`, the `reload`
//! hostcall): the pid and everything the process holds survive — with and
//! without state carried over —, failures leave the old instance running,
//! and a reload asked for while the process is parked in a blocking call
//! waits for that call to return (or is refused when asked not to wait).

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::Harness;
use wasmd_abi::scheme::SchemeOp;
use wasmd_abi::{Caps, ExitStatus, RunState};
use wasmhost::guest_scheme::Reply;
use wasmhost::{CompiledModule, Limits, Pid, ProcessManager, ReloadError, ReloadTicket};

const SERVICE_CAPS: Caps =
    Caps(Caps::STDIO.0 | Caps::TIME.0 | Caps::SCHEME_PROVIDE.0 | Caps::SHARED_MEMORY.0);

/// Runs `pm` until `done` says so (panics after 20 s).
fn run_until(pm: &mut ProcessManager, what: &str, mut done: impl FnMut(&mut ProcessManager) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done(pm) {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        pm.run(16);
        pm.wait_for_events(Some(Duration::from_millis(1)));
    }
}

/// Sends `op` to the guest scheme `name` and runs until its reply.
fn request(pm: &mut ProcessManager, name: &str, op: SchemeOp<'_>) -> Reply {
    let tag = pm.scheme_request(name, op).expect("the scheme is there");
    let mut reply = None;
    run_until(pm, "a scheme reply", |pm| {
        reply = reply.take().or_else(|| pm.take_scheme_replies().into_iter().find(|(t, _)| *t == tag));
        reply.is_some()
    });
    reply.unwrap().1
}

/// Opens and reads the service's scheme once: its status line.
fn query(pm: &mut ProcessManager, name: &str) -> String {
    let id = match request(pm, name, SchemeOp::Open { path: "", flags: 0 }) {
        Reply::Value(id) => id,
        other => panic!("open of {name}: {other:?}"),
    };
    let line = match request(pm, name, SchemeOp::Read { id, offset: 0, len: 256 }) {
        Reply::Data(bytes) => String::from_utf8(bytes).unwrap().trim().to_string(),
        other => panic!("read of {name}: {other:?}"),
    };
    let _ = pm.scheme_request(name, SchemeOp::Close { id });
    line
}

fn module(pm: &ProcessManager, guest: &str) -> (Arc<CompiledModule>, std::path::PathBuf) {
    pm.load_module(wasmd_tests::guest(guest).to_str().unwrap()).expect("module loads")
}

fn wat(pm: &ProcessManager, text: &str) -> Arc<CompiledModule> {
    pm.modules().compile(text.as_bytes()).expect("WAT compiles")
}

/// Runs until the reload under `ticket` has an outcome.
fn outcome(pm: &mut ProcessManager, ticket: ReloadTicket) -> Result<(), ReloadError> {
    let mut got = None;
    run_until(pm, "the reload's outcome", |pm| {
        got = pm.reload_outcome(ticket);
        got.is_some()
    });
    got.unwrap()
}

/// Reloads `pid` with the fixture `guest`, waiting; the outcome.
fn reload(h: &mut Harness, pid: Pid, guest: &str) -> Result<(), ReloadError> {
    let (m, path) = module(&h.pm, guest);
    let ticket = h.pm.reload(pid, m, Some(path), true)?;
    outcome(&mut h.pm, ticket)
}

/// Spawns `reload_v1 serve NAME` and runs until its scheme answers.
fn service(h: &mut Harness, guest: &str, name: &str) -> Pid {
    let pid = h.spawn_file(&wasmd_tests::guest(guest), &["serve", name], SERVICE_CAPS, Limits::default());
    run_until(&mut h.pm, "the service's scheme", |pm| pm.scheme_names().iter().any(|n| n == name));
    pid
}

/// Spawns `reload_v1 sleep-then-receive MS` and runs until it sleeps.
fn sleeper(h: &mut Harness, ms: u32) -> Pid {
    let args = ["sleep-then-receive".to_string(), ms.to_string()];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let pid = h.spawn_file(&wasmd_tests::guest("reload_v1"), &args, SERVICE_CAPS, Limits::default());
    wait_until_blocked(h, pid);
    pid
}

fn wait_until_blocked(h: &mut Harness, pid: Pid) {
    run_until(&mut h.pm, "the process to park", |pm| {
        pm.process(pid).is_some_and(|p| p.info_state() == RunState::Blocked)
    });
}

#[test]
fn a_reload_with_state_keeps_the_pid_scheme_region_name_and_count() {
    let mut h = Harness::new();
    let pid = service(&mut h, "reload_v1", "rs1");
    assert_eq!(query(&mut h.pm, "rs1"), "v1 n=1 r=7");
    assert_eq!(query(&mut h.pm, "rs1"), "v1 n=2 r=7");
    let handles = h.pm.process(pid).unwrap().activity().handles;
    let region_bytes = h.pm.process(pid).unwrap().region_bytes();
    assert_eq!(region_bytes, 65536);

    reload(&mut h, pid, "reload_v2").expect("the reload works");

    let proc = h.pm.process(pid).expect("same pid");
    assert!(!proc.is_exited());
    assert_eq!(proc.reloads, 1);
    assert!(proc.module_path.as_ref().unwrap().ends_with("reload_v2.wasm"));
    assert_eq!(proc.activity().handles, handles, "the handles stay");
    assert_eq!(proc.region_bytes(), region_bytes, "the region stays");
    assert_eq!(proc.names, vec!["rs1".to_string()], "the name stays");
    // The count came over as state; the region and scheme work as before.
    assert_eq!(query(&mut h.pm, "rs1"), "v2 n=3 r=7");
    assert!(h.stdout(pid).contains("v2 restored n=2"), "{}", h.stdout(pid));
    assert_eq!(h.pm.scheme_names(), vec!["rs1".to_string()]);

    // And back to version 1: a second reload of the same process.
    reload(&mut h, pid, "reload_v1").expect("the reload back works");
    assert_eq!(query(&mut h.pm, "rs1"), "v1 n=4 r=7");
    assert_eq!(h.pm.process(pid).unwrap().reloads, 2);
    h.pm.kill(pid).unwrap();
}

#[test]
fn a_reload_without_state_starts_fresh_with_the_same_handles() {
    let mut h = Harness::new();
    // Saves state, but the new module takes none: it starts fresh.
    let pid = service(&mut h, "reload_v1", "rs2");
    assert_eq!(query(&mut h.pm, "rs2"), "v1 n=1 r=7");
    reload(&mut h, pid, "reload_plain").expect("the reload works");
    assert_eq!(query(&mut h.pm, "rs2"), "v3 n=1 r=7");
    assert!(h.stdout(pid).contains("v3 started fresh after a reload"), "{}", h.stdout(pid));
    // Saves none: the new module, which could take some, starts fresh too.
    reload(&mut h, pid, "reload_v2").expect("the second reload works");
    assert_eq!(query(&mut h.pm, "rs2"), "v2 n=1 r=7");
    assert!(h.stdout(pid).contains("v2 started fresh after a reload"), "{}", h.stdout(pid));
    assert_eq!(h.pm.process(pid).unwrap().region_bytes(), 65536);
    h.pm.kill(pid).unwrap();
}

#[test]
fn a_supervisor_reloads_its_linked_child_through_the_hostcall() {
    let mut h = Harness::new();
    let caps = SERVICE_CAPS.union(Caps::SPAWN);
    let pid = h.spawn_file_ns(
        &wasmd_tests::guest("reload_v1"),
        &["supervise-reload", "reload_v2.wasm"],
        caps,
        Limits::default(),
        &["sv:"],
    );
    h.run_until_exit(pid, 60);
    let out = h.stdout(pid);
    assert_eq!(h.status(pid), Some(ExitStatus::Exited(0)), "{out}{}", h.stderr(pid));
    assert!(out.contains("ok supervise-reload"), "{out}");
}

#[test]
fn failed_reloads_leave_the_old_instance_serving() {
    let mut h = Harness::new();
    let pid = service(&mut h, "reload_v1", "rs3");
    assert_eq!(query(&mut h.pm, "rs3"), "v1 n=1 r=7");
    // Modules refused before they reach the process (what `wasmd reload`
    // and the hostcall get as a load error).
    for (what, text) in [
        ("no _start", r#"(module (memory (export "memory") 1))"#),
        (
            "an unknown hostcall",
            r#"(module (import "wasmd" "no_such_call" (func)) (func (export "_start")))"#,
        ),
        ("not wasm", "\0asm garbage"),
    ] {
        assert!(h.pm.modules().compile(text.as_bytes()).is_err(), "{what}");
    }
    type Expected = fn(&ReloadError) -> bool;
    let cases: [(&str, &str, Expected); 3] = [
        (
            "a trapping start function",
            r#"(module (memory (export "memory") 1) (func $s unreachable) (start $s)
                 (func (export "_start")))"#,
            |e| matches!(e, ReloadError::Start(_)),
        ),
        (
            "memory above the limit",
            r#"(module (memory (export "memory") 5000) (func (export "_start")))"#,
            |e| matches!(e, ReloadError::MemoryLimit),
        ),
        (
            "a trapping wasmd_state_load",
            r#"(module (memory (export "memory") 1) (func (export "_start"))
                 (func (export "wasmd_state_load") (param i32 i32) unreachable))"#,
            |e| matches!(e, ReloadError::StateLoad(_)),
        ),
    ];
    for (n, (what, text, expected)) in cases.into_iter().enumerate() {
        let m = wat(&h.pm, text);
        let ticket = h.pm.reload(pid, m, None, true).expect("asked");
        let e = outcome(&mut h.pm, ticket).expect_err(what);
        assert!(expected(&e), "{what}: {e:?}");
        // The old instance still serves, its count intact.
        assert_eq!(query(&mut h.pm, "rs3"), format!("v1 n={} r=7", n + 2), "after {what}");
        assert_eq!(h.pm.process(pid).unwrap().reloads, 0);
    }
    h.pm.kill(pid).unwrap();
    run_until(&mut h.pm, "the kill", |pm| pm.process(pid).unwrap().is_exited());
    let (m, path) = module(&h.pm, "reload_v2");
    assert_eq!(h.pm.reload(pid, m, Some(path), true), Err(ReloadError::NoSuchProcess));
}

#[test]
fn a_failing_state_save_keeps_the_old_instance() {
    let mut h = Harness::new();
    let cases = [
        ("trapping", "unreachable"),
        ("out of bounds", "i32.const 65530 i32.const 100"),
        ("blocking", r#"i32.const 1000000 i64.extend_i32_u call $sleep drop i32.const 0 i32.const 0"#),
    ];
    for (what, body) in cases {
        // Yields in a loop: each yield is a safe point for a process that
        // saves state.
        let text = format!(
            r#"(module
                 (import "wasmd" "yield" (func $yield (result i64)))
                 (import "wasmd" "sleep" (func $sleep (param i64) (result i64)))
                 (memory (export "memory") 1)
                 (func (export "wasmd_state_save") (result i32 i32) {body})
                 (func (export "_start") (loop call $yield drop br 0)))"#
        );
        let m = wat(&h.pm, &text);
        let opts = wasmhost::SpawnOptions { caps: Caps::DEFAULT, ..wasmhost::SpawnOptions::new(what) };
        let pid = h.pm.spawn(m, opts).unwrap();
        h.pm.run(4);
        let (new, path) = module(&h.pm, "reload_v2");
        let ticket = h.pm.reload(pid, new, Some(path), true).unwrap();
        let e = outcome(&mut h.pm, ticket).expect_err(what);
        assert!(matches!(e, ReloadError::StateSave(_)), "{what}: {e:?}");
        h.pm.run(4);
        let proc = h.pm.process(pid).unwrap();
        assert!(!proc.is_exited(), "{what}: {:?}", proc.status());
        assert_eq!(proc.reloads, 0);
        h.pm.kill(pid).unwrap();
    }
}

#[test]
fn a_reload_waits_for_a_blocking_call_to_return_or_is_refused() {
    let mut h = Harness::new();
    let pid = sleeper(&mut h, 300);
    let (m, path) = module(&h.pm, "reload_v2");
    // Asked not to wait: refused, saying why.
    let refused = h.pm.reload(pid, m.clone(), Some(path.clone()), false).unwrap_err();
    assert_eq!(refused, ReloadError::Busy("sleep"));
    assert!(refused.to_string().contains("parked in sleep"), "{refused}");
    // Asked to wait: it waits for the sleep to end.
    let ticket = h.pm.reload(pid, m.clone(), Some(path.clone()), true).unwrap();
    assert_eq!(h.pm.reload_outcome(ticket), None);
    assert!(h.pm.reload_pending(pid));
    // A second one meanwhile is refused.
    assert_eq!(h.pm.reload(pid, m.clone(), Some(path.clone()), true), Err(ReloadError::InProgress));
    assert_eq!(outcome(&mut h.pm, ticket), Ok(()));
    // The old instance saw its sleep end before the new one ran.
    assert_eq!(h.stdout(pid), "v1 awake\n");
    run_until(&mut h.pm, "the new instance's sleep", |pm| pm.process(pid).unwrap().reloads == 1);
    wait_until_blocked(&mut h, pid);
    run_until(&mut h.pm, "v2 awake", |_| h.out.text(pid, 1) == "v1 awake\nv2 awake\n");
    // Parked in `receive` (waiting for work, nothing taken): at once, even
    // when asked not to wait.
    wait_until_blocked(&mut h, pid);
    let ticket = h.pm.reload(pid, m, Some(path), false).unwrap();
    assert_eq!(h.pm.reload_outcome(ticket), Some(Ok(())));
    assert_eq!(h.pm.process(pid).unwrap().reloads, 2);
    h.pm.kill(pid).unwrap();
}

#[test]
fn a_pending_reload_of_a_process_that_ends_fails() {
    let mut h = Harness::new();
    let pid = sleeper(&mut h, 10000);
    let (m, path) = module(&h.pm, "reload_v2");
    let ticket = h.pm.reload(pid, m, Some(path), true).unwrap();
    h.pm.kill(pid).unwrap();
    assert_eq!(outcome(&mut h.pm, ticket), Err(ReloadError::Ended));
}

#[test]
fn reloads_of_a_busy_process_on_scheduler_threads() {
    // A process yielding in a loop on two scheduler threads, reloaded over
    // and over between two modules: every reload lands at a safe point.
    let out = Arc::new(wasmd_tests::CapturedOutput::default());
    let config = wasmhost::ManagerConfig { sched_workers: 2, ..Default::default() };
    let k =
        wasmhost::Kernel::new(common::manager(config, wasmd::sys::OsPlatform::new().unwrap(), out.clone()));
    let spin = |n: u32| {
        format!(
            r#"(module
                 (import "wasmd" "yield" (func $yield (result i64)))
                 (memory (export "memory") 1)
                 (global $n (mut i32) (i32.const {n}))
                 (func (export "wasmd_state_save") (result i32 i32)
                   (i32.store (i32.const 0) (global.get $n)) (i32.const 0) (i32.const 4))
                 (func (export "wasmd_state_load") (param i32 i32)
                   (global.set $n (i32.add (i32.load (local.get 0)) (i32.const 1))))
                 (func (export "_start") (loop call $yield drop br 0)))"#
        )
    };
    let (a, b) = {
        let pm = k.lock();
        (wat(&pm, &spin(0)), wat(&pm, &spin(1000)))
    };
    let pid = k.lock().spawn(a.clone(), wasmhost::SpawnOptions::new("spin")).unwrap();
    for i in 0..200 {
        let m = if i % 2 == 0 { b.clone() } else { a.clone() };
        let ticket = k.lock().reload(pid, m, None, true).unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(outcome) = k.lock().reload_outcome(ticket) {
                assert_eq!(outcome, Ok(()), "reload {i}");
                break;
            }
            assert!(Instant::now() < deadline, "reload {i} did not land");
            std::thread::sleep(Duration::from_micros(100));
        }
    }
    let pm = k.lock();
    let proc = pm.process(pid).unwrap();
    assert!(!proc.is_exited(), "{:?}", proc.status());
    assert_eq!(proc.reloads, 200);
}

#[test]
fn only_a_descendant_can_be_reloaded_by_a_guest_even_with_proc() {
    let mut h = Harness::new();
    let target = h.spawn_file(&wasmd_tests::guest("reload_v1"), &["idle"], SERVICE_CAPS, Limits::default());
    let v2 = wasmd_tests::guest("reload_v2").display().to_string();
    // What a process with `caps`, not an ancestor of `target`, gets.
    let mut attempt = |caps: Caps| {
        let pid = h.spawn_file(
            &wasmd_tests::guest("reload_v1"),
            &["try-reload", &target.to_string(), &v2],
            caps,
            Limits::default(),
        );
        h.run_until_exit(pid, 30);
        h.stdout(pid)
    };
    let refused = format!("reload=err:{}\n", wasmd_abi::errno::EPERM);
    assert_eq!(attempt(Caps::ALL), refused);
    // Without `spawn`, not even that.
    assert_eq!(attempt(Caps(Caps::ALL.0 & !Caps::SPAWN.0)), refused);
    assert_eq!(h.pm.process(target).unwrap().reloads, 0);
    h.pm.kill(target).unwrap();
}
