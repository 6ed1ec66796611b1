//! Guests on several scheduler threads ([`wasmhost::Kernel`]): parallel
//! turns, wake-ups across workers, kill and suspend of a process running
//! on another worker.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmd::sys::OsPlatform;
use wasmd_abi::{Caps, ExitStatus, RunState};
use wasmd_tests::CapturedOutput;
use wasmhost::{Kernel, Limits, ManagerConfig, Pid};

fn kernel(workers: usize) -> (Kernel, Arc<CapturedOutput>) {
    kernel_with(ManagerConfig { sched_workers: workers, ..ManagerConfig::default() })
}

fn kernel_with(config: ManagerConfig) -> (Kernel, Arc<CapturedOutput>) {
    let out = Arc::new(CapturedOutput::default());
    let pm = common::manager(config, OsPlatform::new().unwrap(), out.clone());
    (Kernel::new(pm), out)
}

fn spawn(k: &Kernel, path: &Path, args: &[&str]) -> Pid {
    spawn_with(k, path, args, Caps::DEFAULT)
}

fn spawn_with(k: &Kernel, path: &Path, args: &[&str], caps: Caps) -> Pid {
    common::spawn_file_in(&mut k.lock(), path, args, caps, Limits::default(), &[])
}

fn state(k: &Kernel, pid: Pid) -> RunState {
    k.lock().info(pid).unwrap().state
}

fn fuel(k: &Kernel, pid: Pid) -> u64 {
    k.lock().info(pid).unwrap().fuel_used
}

/// Waits until `pid` exits; its status.
fn wait_exit(k: &Kernel, pid: Pid, secs: u64) -> ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(status) = k.lock().process(pid).and_then(|p| p.status().cloned()) {
            return status;
        }
        assert!(Instant::now() < deadline, "pid {pid} did not finish");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Waits until `f` holds.
fn eventually(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn spinning_guests_run_on_both_workers_and_are_killed_while_running() {
    let (k, _) = kernel(2);
    let spinners: Vec<Pid> = (0..4).map(|_| spawn(&k, &wasmd_tests::wat("loop"), &[])).collect();
    eventually("every spinner ran", 10, || spinners.iter().all(|p| fuel(&k, *p) > 1_000_000));
    let stats = k.stats();
    assert_eq!(stats.turns.len(), 2);
    assert!(stats.turns.iter().all(|t| *t > 0), "a worker ran nothing: {stats:?}");
    // Killed wherever they are (some on a worker right now).
    for p in &spinners {
        k.lock().kill(*p).unwrap();
    }
    for p in spinners {
        assert_eq!(wait_exit(&k, p, 5), ExitStatus::Killed);
    }
    assert_eq!(k.lock().live(), 0);
}

#[test]
fn a_guest_running_on_another_worker_is_suspended_and_resumed() {
    let (k, _) = kernel(2);
    let spinner = spawn(&k, &wasmd_tests::wat("loop"), &[]);
    eventually("the spinner runs", 10, || state(&k, spinner) == RunState::Running);
    k.lock().suspend(spinner).unwrap();
    eventually("the suspension takes effect at the end of the turn", 5, || {
        state(&k, spinner) == RunState::Suspended
    });
    let stopped = fuel(&k, spinner);
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(fuel(&k, spinner), stopped, "a suspended process burnt fuel");
    k.lock().resume(spinner).unwrap();
    eventually("it runs again", 5, || fuel(&k, spinner) > stopped);
    k.lock().kill(spinner).unwrap();
    assert_eq!(wait_exit(&k, spinner, 5), ExitStatus::Killed);
}

fn fields(line: &str) -> HashMap<String, String> {
    line.split_whitespace().filter_map(|w| w.split_once('=')).map(|(k, v)| (k.into(), v.into())).collect()
}

#[test]
fn channel_readers_and_writers_on_different_workers_lose_nothing() {
    // Writers and readers wake each other through futexes in the ring
    // (Park: writers wait for the strong readers), across workers.
    let (k, out) = kernel(2);
    let args = ["w=3", "r=3", "n=400", "size=40", "cap=4096", "max=256"];
    let coordinator = spawn(&k, &wasmd_tests::guest("chan_test"), &args);
    assert_eq!(wait_exit(&k, coordinator, 60), ExitStatus::Exited(0), "{}", out.text(coordinator, 2));
    let text = out.text(coordinator, 1);
    let mut readers = 0;
    for line in text.lines().filter(|l| l.starts_with("spawned ")) {
        let f = fields(line);
        let pid: Pid = f["pid"].parse().unwrap();
        assert!(text.contains(&format!("exit pid={pid} status=exited(0)")), "{text}");
        if f["role"] == "reader" {
            let summary = fields(out.text(pid, 1).trim());
            assert_eq!(summary["frames"], "1200", "{summary:?}");
            for key in ["in_order", "gapless", "intact"] {
                assert_eq!(summary[key], "true", "{key}: {summary:?}");
            }
            readers += 1;
        }
    }
    assert_eq!(readers, 3);
    // Which worker ran what is up to the OS's scheduling of the two
    // threads (on a loaded machine one may run everything); that both
    // run guests is checked with spinners, which cannot finish early.
}

#[test]
fn sleeping_guests_wake_on_time_with_idle_workers() {
    let (k, _) = kernel(2);
    let started = Instant::now();
    let sleeper = spawn(&k, &wasmd_tests::guest("worker"), &["sleep", "30"]);
    assert_eq!(wait_exit(&k, sleeper, 10), ExitStatus::Exited(0));
    assert!(started.elapsed() >= Duration::from_millis(30));
}

#[test]
fn channel_round_trips_on_one_and_on_two_workers() {
    for workers in [1, 2] {
        let (k, out) = kernel(workers);
        let pid = spawn(&k, &wasmd_tests::guest("chan_rtt"), &["2000", "64"]);
        let deadline = Instant::now() + Duration::from_secs(30);
        while k.lock().process(pid).is_some_and(|p| !p.is_exited()) {
            if Instant::now() > deadline {
                let pm = k.lock();
                for p in pm.pids() {
                    let proc = pm.process(p).unwrap();
                    eprintln!("pid {p}: {:?} fuel {} stop {:?}", proc.sched, proc.fuel_used, proc.stop);
                }
                panic!("{workers} workers: queued {} stats {:?}", pm.queued(), "");
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        assert_eq!(k.lock().process(pid).and_then(|p| p.status().cloned()), Some(ExitStatus::Exited(0)));
        assert!(out.text(pid, 1).starts_with("rtt_ns="), "{}", out.text(pid, 1));
    }
}

#[test]
fn a_fork_bomb_on_two_workers_fills_its_tree_and_no_more() {
    let (k, _) = kernel_with(ManagerConfig { sched_workers: 2, max_tree: 50, ..ManagerConfig::default() });
    let bomb = spawn(&k, &wasmd_tests::wat("fork_bomb"), &[]);
    eventually("the bomb's tree fills", 20, || k.lock().live() >= 50);
    // It stays full: spawns from both workers at once never pass the bound.
    for _ in 0..50 {
        assert_eq!(k.lock().live(), 50, "the tree grew past its bound");
        std::thread::sleep(Duration::from_millis(2));
    }
    // Another tree still runs, beside the bomb's processes on both workers.
    let other = spawn(&k, &wasmd_tests::wat("hello"), &[]);
    assert_eq!(wait_exit(&k, other, 10), ExitStatus::Exited(0));
    // Killing everything, some of it running on a worker right now.
    let pids = k.lock().pids();
    for p in pids {
        let _ = k.lock().kill(p);
    }
    eventually("every process ends", 10, || k.lock().live() == 0);
    let _ = bomb;
}

#[test]
fn parents_spawning_in_parallel_get_exactly_their_children() {
    // Children are instantiated without the manager's lock, on the
    // parents' workers at once; each parent still gets exactly
    // `max_children` (one child counted twice would stop it at 4), and
    // every child is in the table.
    let config = ManagerConfig { sched_workers: 2, max_children: 7, ..ManagerConfig::default() };
    let (k, _out) = kernel_with(config);
    let parents: Vec<Pid> = (0..4).map(|_| spawn(&k, &wasmd_tests::wat("spawn_many"), &[])).collect();
    for &parent in &parents {
        assert_eq!(wait_exit(&k, parent, 20), ExitStatus::Exited(7), "parent {parent}");
    }
    // A parent may end before its last children had their turn (spawns
    // by path are quick once the file is known): they end on their own.
    eventually("every child ends", 10, || k.lock().live() == 0);
    assert_eq!(k.lock().pids().len(), 4 * 8);
}

#[test]
fn the_embedder_sleeps_until_a_provider_on_a_worker_answers() {
    // The daemon's open of a guest scheme's file waits for the provider's
    // reply this way (no polling): the reply wakes it.
    let (k, _out) = kernel(1);
    let ramfs = spawn_with(&k, &wasmd_tests::guest("ramfs"), &[], Caps::DEFAULT.union(Caps::SCHEME_PROVIDE));
    eventually("ramfs registers", 20, || k.lock().scheme_names().iter().any(|n| n == "ramfs"));
    for i in 0..20 {
        let seen = k.news();
        let path = format!("f{i}");
        let op = wasmd_abi::scheme::SchemeOp::Open {
            path: &path,
            flags: wasmd_abi::scheme::flags::O_CREAT | wasmd_abi::scheme::flags::O_RDWR,
        };
        let tag = k.lock().scheme_request("ramfs", op).expect("the scheme is there");
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut replies = Vec::new();
        while replies.is_empty() {
            k.wait_news(seen, deadline);
            assert!(Instant::now() < deadline, "no reply to request {i}: the embedder was not woken");
            replies = k.lock().take_scheme_replies();
        }
        assert!(k.news() > seen);
        assert_eq!(replies.len(), 1);
        assert_eq!(replies[0].0, tag);
        assert!(matches!(replies[0].1, wasmhost::guest_scheme::Reply::Value(_)), "{:?}", replies[0].1);
    }
    k.lock().kill(ramfs).unwrap();
}
