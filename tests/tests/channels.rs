//! Channels across guest processes: wrap-around, many writers × many
//! readers (attribution and per-writer order), Park vs Drop under load,
//! weak-reader loss accounting, drain/terminate and header validation.

mod common;

use std::collections::HashMap;

use common::Harness;
use wasmd_abi::ExitStatus;
use wasmhost::Pid;

/// What one channel run produced: every child's summary line, by role.
struct Run {
    writers: Vec<HashMap<String, String>>,
    readers: Vec<HashMap<String, String>>,
}

fn fields(line: &str) -> HashMap<String, String> {
    line.split_whitespace().filter_map(|w| w.split_once('=')).map(|(k, v)| (k.into(), v.into())).collect()
}

fn run(args: &[&str]) -> Run {
    let mut h = Harness::new();
    let coordinator = h.guest("chan_test", args);
    h.run_all();
    assert_eq!(h.status(coordinator), Some(ExitStatus::Exited(0)), "{}", h.stderr(coordinator));
    let out = h.stdout(coordinator);
    let mut run = Run { writers: Vec::new(), readers: Vec::new() };
    for line in out.lines().filter(|l| l.starts_with("spawned ")) {
        let f = fields(line);
        let pid: Pid = f["pid"].parse().unwrap();
        assert!(out.contains(&format!("exit pid={pid} status=exited(0)")), "{out}\n{}", h.stderr(pid));
        let summary = fields(h.stdout(pid).trim());
        match f["role"].as_str() {
            "writer" => run.writers.push(summary),
            _ => run.readers.push(summary),
        }
    }
    assert_eq!(h.pm.live(), 0);
    assert_eq!(h.pm.regions_in_use(), (0, 0), "the channel's region went with its last holder");
    run
}

fn assert_complete(reader: &HashMap<String, String>, frames: usize, last: &str) {
    assert_eq!(reader["frames"], frames.to_string(), "{reader:?}");
    for key in ["in_order", "gapless", "intact"] {
        assert_eq!(reader[key], "true", "{key}: {reader:?}");
    }
    assert_eq!(reader["lost_bytes"], "0");
    assert_eq!(reader["last"], last);
}

#[test]
fn one_writer_one_reader() {
    let r = run(&["n=300", "size=64"]);
    assert_eq!(r.writers[0]["sent"], "300");
    assert_complete(&r.readers[0], 300, "2:300");
}

#[test]
fn wrap_around_many_times() {
    // 2000 frames of 116 bytes through a 4 KiB ring: ~57 laps, with pad
    // frames at block ends.
    let r = run(&["cap=4096", "n=2000", "size=100", "max=256"]);
    assert_complete(&r.readers[0], 2000, "2:2000");
}

#[test]
fn many_writers_many_readers_across_processes() {
    let r = run(&["w=3", "r=3", "n=400", "size=40", "cap=8192", "max=256"]);
    assert_eq!(r.writers.len(), 3);
    let mut ids: Vec<&str> = r.writers.iter().map(|w| w["writer"].as_str()).collect();
    ids.sort_unstable();
    assert_eq!(ids, ["2", "3", "4"], "each writer has its own id (1 is the coordinator's)");
    for reader in &r.readers {
        assert_complete(reader, 1200, "2:400,3:400,4:400");
        assert_eq!(reader["writers"], "3");
    }
}

#[test]
fn channels_have_windows_unless_attached_copying() {
    for (flag, windowed) in [("-", "true"), ("copy", "false")] {
        let r = run(&["r=1", "wr=1", "n=50", "size=64", flag]);
        let strong = r.readers.iter().find(|x| x["kind"] == "strong").unwrap();
        assert_eq!(strong["windowed"], windowed, "{flag}: {strong:?}");
        let weak = r.readers.iter().find(|x| x["kind"] == "weak").unwrap();
        assert_eq!(weak["windowed"], "false", "a read-only handle gets no window: {weak:?}");
        assert_complete(strong, 50, "2:50");
    }
}

/// Batches from several writers at once, small frames (staged and copied
/// whole) and large ones (written and read in place through windows), and
/// through the copying calls: every reader gets every frame intact, in
/// each writer's order, the batches of different writers interleaved.
#[test]
fn batched_writes_reach_every_reader_whole_and_in_order() {
    for (size, extra) in [("40", "-"), ("1000", "-"), ("40", "copy"), ("1000", "copy")] {
        let r = run(&[
            "w=3",
            "r=2",
            "n=300",
            "cap=16384",
            "max=2048",
            "batch=16",
            &format!("size={size}"),
            extra,
        ]);
        for w in &r.writers {
            assert_eq!(w["sent"], "300", "{size} {extra}: {w:?}");
        }
        for reader in &r.readers {
            assert_complete(reader, 900, "2:300,3:300,4:300");
        }
    }
}

/// Weak readers over batches: they copy (no in-place frame that a writer
/// could overwrite under them), lose whole frames when lapped, are told,
/// and never see a torn one.
#[test]
fn weak_readers_of_batches_lose_whole_frames_and_are_told() {
    let r = run(&["r=0", "wr=2", "cap=4096", "n=1500", "size=100", "pause=3", "max=256", "batch=8"]);
    assert_eq!(r.writers[0]["sent"], "1500");
    for reader in &r.readers {
        assert_ne!(reader["lost_bytes"], "0", "{reader:?}");
        assert_eq!(reader["gaps_explained"], "true", "{reader:?}");
        assert_eq!(reader["in_order"], "true");
        assert_eq!(reader["intact"], "true");
        assert_eq!(reader["last"], "2:1500");
    }
}

/// A strong reader holding writers back with batches: nothing lost.
#[test]
fn park_holds_batched_writers_back() {
    let r = run(&["cap=4096", "n=600", "size=700", "pause=5", "max=1024", "batch=6"]);
    assert_eq!(r.writers[0]["dropped"], "0");
    assert_complete(&r.readers[0], 600, "2:600");
}

#[test]
fn park_holds_writers_back_for_a_slow_strong_reader() {
    // The reader sleeps every 5 frames; the writer could fill the 4 KiB
    // ring many times over, but parks instead: nothing is lost.
    let r = run(&["cap=4096", "n=600", "size=200", "pause=5", "max=256"]);
    assert_eq!(r.writers[0]["dropped"], "0");
    assert_complete(&r.readers[0], 600, "2:600");
}

/// A full `Drop` channel drops frames (the rest of a batch, written in
/// batches) and tells the writer how many went.
#[test]
fn drop_reports_dropped_frames_to_the_writer() {
    for batch in ["batch=1", "batch=10"] {
        let r = run(&["bp=drop", "cap=4096", "n=600", "size=200", "pause=5", "max=256", batch]);
        let sent: usize = r.writers[0]["sent"].parse().unwrap();
        let dropped: usize = r.writers[0]["dropped"].parse().unwrap();
        assert_eq!(sent + dropped, 600, "{batch}");
        assert!(dropped > 0, "{batch}: a slow reader must cause drops");
        let reader = &r.readers[0];
        assert_eq!(reader["frames"], sent.to_string(), "{batch}: every frame sent was read");
        assert_eq!(reader["in_order"], "true");
        assert_eq!(reader["intact"], "true");
        assert_eq!(reader["lost_bytes"], "0", "a strong reader loses nothing; the writer dropped");
    }
}

#[test]
fn weak_readers_lose_bytes_and_are_told() {
    // No strong reader: the writer never waits, and a slow weak reader
    // falls behind, is told how many bytes it lost, and resumes in order.
    let r = run(&["r=0", "wr=2", "cap=4096", "n=1500", "size=100", "pause=3", "max=256"]);
    assert_eq!(r.writers[0]["sent"], "1500");
    for reader in &r.readers {
        let lost: u64 = reader["lost_bytes"].parse().unwrap();
        assert!(lost > 0, "{reader:?}");
        assert_eq!(reader["gapless"], "false");
        assert_eq!(reader["gaps_explained"], "true", "every gap came with a loss report");
        assert_eq!(reader["in_order"], "true");
        assert_eq!(reader["intact"], "true");
        assert_eq!(reader["last"], "2:1500", "the newest frames are still read");
        let frames: u64 = reader["frames"].parse().unwrap();
        assert!(frames < 1500);
    }
}

#[test]
fn a_strong_reader_is_not_slowed_by_weak_ones() {
    let r = run(&["r=1", "wr=1", "cap=4096", "n=800", "size=120", "pause=0", "max=256"]);
    let strong = r.readers.iter().find(|x| x["kind"] == "strong").unwrap();
    assert_complete(strong, 800, "2:800");
}

#[test]
fn weak_writers_write_until_the_channel_is_drained() {
    let r = run(&["w=0", "ww=2", "n=200", "size=30"]);
    for w in &r.writers {
        assert_eq!(w["sent"], "200");
    }
    assert_complete(&r.readers[0], 400, "2:200,3:200");
}

#[test]
fn edge_semantics_in_one_process() {
    let mut h = Harness::new();
    let pid = h.guest("chan_semantics", &[]);
    h.run_all();
    assert_eq!(h.status(pid), Some(ExitStatus::Exited(0)), "{}", h.stderr(pid));
    let kv = h.kv(pid);
    let expect = [
        ("write_after_drain", "Closed"),
        ("drained_read_0", "(1, 10, 0)"),
        ("drained_read_1", "(1, 10, 1)"),
        ("drained_read_2", "(1, 10, 2)"),
        ("end_of_stream", "Closed"),
        ("new_writer_after_drain", "Closed"),
        ("read_after_terminate", "Aborted"),
        ("write_after_terminate", "Aborted"),
        ("try_read_empty", "WouldBlock"),
        ("max_payload", "1008"),
        ("too_large", "TooLarge"),
        ("largest_ok", "Sent"),
        ("try_write_full", "WouldBlock after=12"),
        ("read_frees_space", "1008"),
        ("try_write_after_drain_of_ring", "Sent"),
        ("drop_sent_dropped", "(16, 24)"),
        ("ninth_strong_reader", "NoReaderSlot"),
        ("slot_freed_on_drop", "()"),
        ("open_after_weak_close", "true"),
        ("open_after_one_close", "true"),
        ("closed_after_last_close", "true"),
        ("read_then_eos", "[97]"),
        ("eos", "Closed"),
        ("zeroed_region", "NotAChannel"),
        ("future_version", "UnsupportedVersion(99)"),
    ];
    for (key, value) in expect {
        assert_eq!(kv.get(key).map(String::as_str), Some(value), "{key}");
    }
}
