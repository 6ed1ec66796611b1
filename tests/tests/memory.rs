//! Guest memory provided by wasmd (from its arena, see
//! `wasmhost::arena`): modules with their own memory, an imported one,
//! none and two all run; slots are reused clean; region windows are seen
//! live by other guests and native mappings, refused where they must be,
//! and go with their process however it ends.

mod common;

use std::time::{Duration, Instant};

use common::Harness;
use wasmhost::{ExitStatus, SpawnError, SpawnOptions};

/// Runs a WAT module to its end: its exit status.
fn run_wat(h: &mut Harness, wat: &str) -> Result<ExitStatus, SpawnError> {
    let module = h.pm.modules().compile(wat.as_bytes())?;
    let pid = h.pm.spawn(module, SpawnOptions::new("m"))?;
    h.run_until_exit(pid, 10);
    Ok(h.status(pid).expect("exited"))
}

const EXIT: &str = r#"(import "wasmd" "exit" (func $exit (param i32) (result i64)))"#;

#[test]
fn modules_with_their_own_memory_an_imported_one_none_and_two_all_run() {
    let mut h = Harness::new();
    let own = format!(
        r#"(module {EXIT} (memory (export "memory") 1 2) (data (i32.const 16) "\2a")
           (func (export "_start") (drop (call $exit (i32.load8_u (i32.const 16))))))"#
    );
    assert_eq!(run_wat(&mut h, &own), Ok(ExitStatus::Exited(42)));
    for (module, name) in [("env", "memory"), ("wasmd", "memory")] {
        let imported = format!(
            r#"(module {EXIT} (import "{module}" "{name}" (memory 1)) (data (i32.const 16) "\2b")
               (func (export "_start") (drop (call $exit (i32.load8_u (i32.const 16))))))"#
        );
        assert_eq!(run_wat(&mut h, &imported), Ok(ExitStatus::Exited(43)), "{module}.{name}");
    }
    let none = format!(r#"(module {EXIT} (func (export "_start") (drop (call $exit (i32.const 7)))))"#);
    assert_eq!(run_wat(&mut h, &none), Ok(ExitStatus::Exited(7)));
    // Two memories: data in each, read from both; the second can grow.
    let two = format!(
        r#"(module {EXIT} (memory $a 1) (memory $b 1 3)
           (data (memory $a) (i32.const 0) "\05") (data (memory $b) (i32.const 0) "\06")
           (func (export "_start")
             (if (i32.ne (memory.grow $b (i32.const 2)) (i32.const 1)) (then (drop (call $exit (i32.const 99)))))
             (i32.store8 $b (i32.const 131072) (i32.const 1))
             (drop (call $exit (i32.add (i32.load8_u $a (i32.const 0))
               (i32.add (i32.load8_u $b (i32.const 0)) (i32.load8_u $b (i32.const 131072))))))))"#
    );
    assert_eq!(run_wat(&mut h, &two), Ok(ExitStatus::Exited(12)));
    // Other memory imports are refused as unknown, as unknown functions are.
    let odd = format!(r#"(module {EXIT} (import "x" "y" (memory 1)) (func (export "_start")))"#);
    assert!(
        matches!(run_wat(&mut h, &odd), Err(SpawnError::UnknownImport { ref module, ref name }) if module == "x" && name == "y")
    );
    // A memory above the process's limit ends it as before.
    let big = format!(r#"(module {EXIT} (memory 5000) (func (export "_start")))"#);
    assert_eq!(run_wat(&mut h, &big), Ok(ExitStatus::MemoryLimit));
    // Every slot came back.
    assert_eq!(h.pm.arena_stats().map(|s| s.slots), Some(0));
}

#[test]
fn a_slot_is_reused_clean() {
    let mut h = Harness::new();
    // Fills its memory, grown to 4 pages, with 0xab.
    let dirty = format!(
        r#"(module {EXIT} (memory 1)
           (func (export "_start")
             (drop (memory.grow (i32.const 3)))
             (memory.fill (i32.const 0) (i32.const 0xab) (i32.const 262144))
             (drop (call $exit (i32.const 0)))))"#
    );
    // Grows to 4 pages and exits with 1 if any byte is not zero.
    let check = format!(
        r#"(module {EXIT} (memory 1)
           (func (export "_start") (local $i i32)
             (drop (memory.grow (i32.const 3)))
             (loop $l
               (if (i32.load8_u (local.get $i)) (then (drop (call $exit (i32.const 1)))))
               (local.set $i (i32.add (local.get $i) (i32.const 1)))
               (br_if $l (i32.lt_u (local.get $i) (i32.const 262144))))
             (drop (call $exit (i32.const 0)))))"#
    );
    let before = h.pm.arena_stats().expect("an arena on Linux");
    for round in 0..20 {
        assert_eq!(run_wat(&mut h, &dirty), Ok(ExitStatus::Exited(0)));
        assert_eq!(
            run_wat(&mut h, &check),
            Ok(ExitStatus::Exited(0)),
            "round {round}: a byte of the last guest"
        );
    }
    let after = h.pm.arena_stats().unwrap();
    assert_eq!(after.slots, 0);
    assert_eq!(after.free, before.free + 1, "one slot, reused by every guest");
}

#[test]
fn windows_refuse_what_they_must_and_share_bytes_both_ways() {
    let mut h = Harness::new();
    let pid = h.wat("windows");
    h.run_until_exit(pid, 10);
    assert_eq!(h.status(pid), Some(ExitStatus::Exited(0)), "exit code = first failing check");
    assert_eq!(h.pm.regions_in_use(), (0, 0));
}

#[test]
fn asking_for_a_window_costs_fuel_like_a_copy() {
    let mut h = Harness::new();
    // 100 asks for a window over all of a 4 MiB memory (refused: no such
    // handle) are paid like copies of 400 MiB.
    let wat = format!(
        r#"(module {EXIT}
           (import "wasmd" "region_map" (func $map (param i32 i64 i64 i32) (result i64)))
           (memory (export "memory") 64)
           (func (export "_start") (local $i i32)
             (loop $l
               (drop (call $map (i32.const 999) (i64.const 0) (i64.const 4194304) (i32.const 0)))
               (local.set $i (i32.add (local.get $i) (i32.const 1)))
               (br_if $l (i32.lt_u (local.get $i) (i32.const 100))))
             (drop (call $exit (i32.const 0)))))"#
    );
    let module = h.pm.modules().compile(wat.as_bytes()).unwrap();
    let pid = h.pm.spawn(module, SpawnOptions::new("m")).unwrap();
    h.run_until_exit(pid, 10);
    assert_eq!(h.status(pid), Some(ExitStatus::Exited(0)));
    let used = h.pm.process(pid).unwrap().fuel_used;
    // As for the copying calls, a charge takes at most the fuel left in
    // the slice (which then ends): the 100 asks cost at least half their
    // full price, where the instructions alone cost about 1,400.
    let copy = 100 * 4194304 / wasmhost::BYTES_PER_FUEL;
    assert!(used >= copy / 2, "used {used}, a 400 MiB copy costs {copy}");
}

#[test]
fn windows_are_seen_live_by_another_guest() {
    let mut h = Harness::new();
    let pid = h.guest("regions", &["windows"]);
    h.run_until_exit(pid, 20);
    assert_eq!(h.status(pid), Some(ExitStatus::Exited(0)), "{}", h.stderr(pid));
    let kv = h.kv(pid);
    assert_eq!(kv["answer"], "from child");
    assert_eq!(kv["rw_child"], "exited(0)");
    assert_eq!(kv["ro_child"], "exited(0)");
    let all = h.out.all_stdout();
    assert!(all.contains("wchild_rw_read=from parent"), "{all}");
    // EPERM: a read-only handle gets no window, and reads by copy.
    assert!(all.contains("wchild_ro_window=err:1 read=from parent"), "{all}");
}

#[test]
fn a_channel_moves_its_payloads_through_windows_unless_attached_copying() {
    let mut h = Harness::new();
    for (flag, windowed) in [("-", "true"), ("copy", "false"), ("batch", "true")] {
        let pid = h.guest("chan_bench", &["main", "3000", "100", "65536", flag]);
        h.run_until_exit(pid, 30);
        assert_eq!(h.status(pid), Some(ExitStatus::Exited(0)), "{}", h.stderr(pid));
        let all = h.out.all_stdout();
        let line = format!("frames=3000 bytes=300000 windowed={windowed}");
        assert!(all.contains(&line), "{all}");
    }
}

/// Runs `pid` until its stdout has `key=`: the value.
fn wait_for(h: &mut Harness, pid: wasmhost::Pid, key: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(v) = h.kv(pid).get(key) {
            return v.clone();
        }
        assert!(Instant::now() < deadline, "no {key}= from {pid}: {}", h.stderr(pid));
        h.pm.run(16);
        h.pm.wait_for_events(Some(Duration::from_millis(1)));
    }
}

#[cfg(target_os = "linux")]
mod native {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    /// Mappings of the region's memfd in this process (the daemon's own
    /// and every window), found by its inode.
    fn mappings_of(region: &wasmhost::region::Region) -> usize {
        let inode = std::fs::metadata(region.os_name()).unwrap().ino().to_string();
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        maps.lines().filter(|l| l.split_whitespace().nth(4) == Some(inode.as_str())).count()
    }

    #[test]
    fn windows_go_with_their_process_however_it_ends() {
        let mut h = Harness::new();
        for mode in ["exit", "trap", "kill", "detach"] {
            let pid = h.guest("regions", &["whold", if mode == "kill" { "spin" } else { mode }]);
            let id: u64 = wait_for(&mut h, pid, "id").parse().unwrap();
            // Held here too, so the region outlives the guest.
            let region = h.pm.region(id).expect("the region");
            assert_eq!(mappings_of(&region), 2, "{mode}: the region's mapping and the window");
            region.atomic_u32(8).unwrap().store(1, std::sync::atomic::Ordering::SeqCst);
            match mode {
                "kill" => h.pm.kill(pid).unwrap(),
                "detach" => {
                    assert_eq!(wait_for(&mut h, pid, "after_detach"), "0", "zeros where the window was");
                    assert_eq!(mappings_of(&region), 1, "{mode}: the window is gone");
                    h.pm.kill(pid).unwrap();
                }
                _ => h.run_until_exit(pid, 10),
            }
            h.run_until_exit(pid, 10);
            assert_eq!(mappings_of(&region), 1, "{mode}: only the region's own mapping is left");
            assert_eq!(
                region.atomic_u32(0).unwrap().load(std::sync::atomic::Ordering::SeqCst),
                0x5eed,
                "{mode}: the region kept the guest's word"
            );
        }
        assert_eq!(h.pm.arena_stats().map(|s| s.slots), Some(0));
    }

    #[test]
    fn a_window_is_seen_live_by_a_native_mapping() {
        let mut h = Harness::new();
        let pid = h.guest("regions", &["wlive"]);
        let id: u64 = wait_for(&mut h, pid, "id").parse().unwrap();
        let region = h.pm.region(id).expect("the region");
        let file = std::fs::OpenOptions::new().read(true).write(true).open(region.os_name()).unwrap();
        // SAFETY: a fresh shared mapping of the region's whole memfd,
        // unmapped below; only volatile accesses touch it.
        let at = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                65536,
                rustix::mm::ProtFlags::READ | rustix::mm::ProtFlags::WRITE,
                rustix::mm::MapFlags::SHARED,
                &file,
                0,
            )
        }
        .unwrap()
        .cast::<u8>();
        // SAFETY: inside the 64 KiB mapping.
        let seen: Vec<u8> = (0..16).map(|i| unsafe { at.add(i).read_volatile() }).collect();
        assert_eq!(seen, b"guest wrote this", "the guest's plain stores, seen natively");
        // SAFETY: inside the mapping, aligned.
        unsafe { at.add(4096).cast::<u32>().write_volatile(0xbeef) };
        h.run_until_exit(pid, 10);
        assert_eq!(h.kv(pid)["seen"], "48879", "the native store, seen by the guest's plain loads");
        // SAFETY: the mapping made above, no longer used.
        unsafe { rustix::mm::munmap(at.cast(), 65536).unwrap() };
    }
}
