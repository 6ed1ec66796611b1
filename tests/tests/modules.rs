//! Module handles (`module_open`, `module_load`, a spawn from a handle):
//! spawning from one reads nothing (the file may be gone), handles are
//! closed, checked and bounded, bad modules refused with their errno.

mod common;

use common::Harness;
use wasmd_abi::{errno, Caps, ExitStatus};
use wasmhost::Limits;

const CAPS: Caps = Caps(Caps::STDIO.0 | Caps::SPAWN.0);

#[test]
fn spawns_from_a_module_handle_and_its_refusals() {
    let mut h = Harness::new();
    let pid = h.spawn_file(&wasmd_tests::guest("modules"), &["open", "hello.wasm"], CAPS, Limits::default());
    h.run_until_exit(pid, 30);
    assert_eq!(h.status(pid), Some(ExitStatus::Exited(0)), "{}{}", h.stdout(pid), h.stderr(pid));
    let kv = h.kv(pid);
    let get = |k: &str| kv.get(k).cloned().unwrap_or_else(|| panic!("no {k} in {kv:?}"));
    assert_eq!(get("spawned"), "3");
    assert_eq!(get("closed"), errno::EBADF.to_string());
    assert_eq!(get("forged"), errno::EBADF.to_string());
    assert_eq!(get("missing"), errno::ENOENT.to_string());
    assert_eq!(get("garbage"), errno::ENOEXEC.to_string());
    assert_eq!(get("held"), wasmd_abi::hostcall::MAX_MODULE_HANDLES.to_string());
    assert_eq!(get("beyond"), errno::EMFILE.to_string());
    // The three children ran the module (hello greets, naming its
    // arguments): a command spawned again sends the same request, and a
    // command changed after a spawn sends the change.
    let args: Vec<String> = (pid + 1..pid + 4)
        .map(|c| {
            let out = h.stdout(c);
            assert!(out.starts_with("Hello from wasmd!"), "{out}");
            out.split_once("my args are ").map(|(_, a)| a.trim().to_string()).unwrap_or_default()
        })
        .collect();
    assert_eq!(args, [r#"["hello"]"#, r#"["hello"]"#, r#"["hello", "again"]"#]);
}

#[test]
fn a_module_handle_needs_no_file() {
    let root = common::temp_dir("modules");
    let file = root.join("m.wasm");
    std::fs::copy(wasmd_tests::guest("hello"), &file).unwrap();
    // Module files may come from the fixtures and from `root`, which is
    // also the guests' `file:` root.
    let out = std::sync::Arc::new(wasmd_tests::CapturedOutput::default());
    let loader = wasmd::loader::FsModuleLoader::new([root.clone(), wasmd_tests::GUESTS_DIR.into()]);
    let platform = wasmd::sys::OsPlatform::with_file_root(Some(&root)).unwrap();
    let pm = wasmhost::ProcessManager::new(
        wasmhost::ManagerConfig::default(),
        std::sync::Arc::new(platform),
        std::sync::Arc::new(loader),
        out.clone(),
    );
    let mut h = Harness { pm, out };
    let pid = h.spawn_file_ns(
        &wasmd_tests::guest("modules"),
        &["survives", file.to_str().unwrap(), "file:/m.wasm"],
        CAPS,
        Limits::default(),
        &["file:/"],
    );
    h.run_until_exit(pid, 30);
    assert_eq!(h.status(pid), Some(ExitStatus::Exited(0)), "{}{}", h.stdout(pid), h.stderr(pid));
    assert!(!file.exists(), "the guest removed it");
    let kv = h.kv(pid);
    assert_eq!(kv.get("child").map(String::as_str), Some("exited(0)"), "{kv:?}");
    assert_eq!(kv.get("by_path"), Some(&errno::ENOENT.to_string()), "{kv:?}");
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn a_module_handle_counts_against_the_memory_budget() {
    // 512 KiB of data: about 1.5 MB of WAT text, charged four times.
    let run = |budget: u64| {
        let mut h =
            Harness::with_config(wasmhost::ManagerConfig { memory_budget: budget, ..Default::default() });
        let pid = h.spawn_file(&wasmd_tests::guest("modules"), &["charge", "512"], CAPS, Limits::default());
        h.run_until_exit(pid, 60);
        assert_eq!(h.status(pid), Some(ExitStatus::Exited(0)), "{}{}", h.stdout(pid), h.stderr(pid));
        h.kv(pid)
    };
    let small = run(4 << 20);
    assert_eq!(small.get("big"), Some(&errno::ENOMEM.to_string()), "{small:?}");
    assert_eq!(small.get("tiny").map(String::as_str), Some("0"), "{small:?}");
    let large = run(64 << 20);
    assert_eq!(large.get("big").map(String::as_str), Some("0"), "{large:?}");
}

#[test]
fn a_later_spawn_makes_the_instance_on_the_first_turn_and_ends_alike() {
    let mut h = Harness::new();
    let pid = h.spawn_file(&wasmd_tests::guest("modules"), &["later"], CAPS, Limits::default());
    h.run_until_exit(pid, 30);
    assert_eq!(h.status(pid), Some(ExitStatus::Exited(0)), "{}{}", h.stdout(pid), h.stderr(pid));
    let kv = h.kv(pid);
    let get = |k: &str| kv.get(k).cloned().unwrap_or_else(|| panic!("no {k} in {kv:?}"));
    // The first spawn of each module made the instance at once, the
    // second on the child's first turn: they end the same way.
    for name in ["ok", "trap", "start_trap", "exits"] {
        assert_eq!(get(&format!("{name}0")), get(&format!("{name}1")), "{name}: {kv:?}");
        assert_eq!(get(&format!("{name}_limit")), "memory limit", "{name}");
    }
    assert_eq!(get("ok1"), "exited(0)");
    assert!(get("trap1").starts_with("trap: "), "{kv:?}");
    assert!(get("start_trap1").starts_with("trap: "), "{kv:?}");
    assert_eq!(get("exits1"), "exited(7)");
    assert_eq!(get("unborn_state"), "Ready");
    assert_eq!(get("unborn_pages"), "0", "its memory is not made before its first turn");
    assert_eq!(get("unborn_killed"), "killed");
    // Nothing is left over: every child's memory went back.
    assert_eq!(h.pm.live(), 0);
    assert_eq!(h.pm.arena_stats().map(|s| s.slots), Some(0), "{:?}", h.pm.arena_stats());
}
