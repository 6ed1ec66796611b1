//! What the daemon reports: `ps` filters, `ps --json`, `status --json`,
//! per-process counters and `stats`, through the real binary.

mod common;

use common::{text, Daemon};
use wasmd_tests::guest;

/// Spawns `worker ARGS` on `daemon`; its pid.
fn spawn(daemon: &Daemon, args: &[&str]) -> String {
    let worker = guest("worker").display().to_string();
    let mut all = vec!["spawn", &worker];
    all.extend_from_slice(args);
    let out = daemon.cli(&all);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    text(&out).trim().to_string()
}

/// Waits until `pid` has exited.
fn wait(daemon: &Daemon, pid: &str) {
    let out = daemon.cli(&["wait", pid]);
    assert!(out.status.code().is_some(), "{out:?}");
}

#[test]
fn ps_filters_and_json() {
    let daemon = Daemon::start(&[]);
    let done = spawn(&daemon, &["count", "1000"]);
    wait(&daemon, &done);
    let sleeper = spawn(&daemon, &["sleep", "60000"]);
    let pids = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["ps"];
        all.extend_from_slice(args);
        let out = daemon.cli(&all);
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        let t = text(&out);
        assert!(t.starts_with("   PID"), "the header stays: {t}");
        t.lines().skip(1).map(|l| l.split_whitespace().next().unwrap().to_string()).collect()
    };
    assert_eq!(pids(&["--live"]), vec![sleeper.clone()]);
    assert_eq!(pids(&["--exited"]), vec![done.clone()]);
    assert_eq!(pids(&["--name", "worker"]), vec![done.clone(), sleeper.clone()]);
    assert!(pids(&["--name", "nobody"]).is_empty());
    let out = daemon.cli(&["ps", "--live", "--exited"]);
    assert_eq!(out.status.code(), Some(2), "conflicting filters are a usage error");

    let json: serde_json::Value = serde_json::from_slice(&daemon.cli(&["ps", "--json"]).stdout).unwrap();
    let all = json.as_array().unwrap();
    assert_eq!(all.len(), 2);
    let exited = &all[0];
    assert_eq!(exited["pid"].as_u64().unwrap().to_string(), done);
    assert_eq!(exited["state"], "exited");
    assert_eq!(exited["status"], "exited(0)");
    assert_eq!(exited["exit_code"], 0);
    assert_eq!(exited["name"], "worker");
    assert!(exited["fuel_used"].as_u64().unwrap() > 1000);
    assert!(exited["hostcalls"].as_u64().unwrap() > 0, "{exited}");
    assert!(exited["bytes_out"].as_u64().unwrap() > 0, "it printed its sum: {exited}");
    assert!(exited["cpu_ns"].as_u64().unwrap() > 0, "{exited}");
    let live = &all[1];
    assert_eq!(live["state"], "blocked");
    assert!(live["status"].is_null() && live["exit_code"].is_null() && live["fuel_limit"].is_null());
    for key in ["parent", "uid", "gid", "module_hash", "caps", "memory_pages", "handles", "region_bytes"] {
        assert!(!live[key].is_null(), "{key} missing: {live}");
    }
    let one: serde_json::Value =
        serde_json::from_slice(&daemon.cli(&["status", "--json", &sleeper]).stdout).unwrap();
    assert_eq!(one["pid"].as_u64().unwrap().to_string(), sleeper);
    let filtered: serde_json::Value =
        serde_json::from_slice(&daemon.cli(&["ps", "--json", "--exited"]).stdout).unwrap();
    assert_eq!(filtered.as_array().unwrap().len(), 1);
    // The limits, as text `status` gives them; the fields in the
    // documented order, filtered or not.
    assert_eq!((one["mem_pages_limit"].as_u64(), one["handles_limit"].as_u64()), (Some(4096), Some(1024)));
    assert_eq!(one["region_bytes_limit"].as_u64(), Some(256 << 20));
    assert_eq!(one["mailbox"].as_u64(), Some(0));
    let order = |v: &serde_json::Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    let documented = [
        "pid",
        "parent",
        "uid",
        "gid",
        "state",
        "name",
        "module_hash",
        "caps",
        "memory_pages",
        "fuel_used",
        "fuel_limit",
        "cpu_ns",
        "hostcalls",
        "bytes_in",
        "bytes_out",
        "handles",
        "region_bytes",
        "mailbox",
        "mem_pages_limit",
        "handles_limit",
        "region_bytes_limit",
        "links",
        "traps_exits",
        "reloads",
        "names",
        "status",
        "exit_code",
    ];
    assert_eq!(order(&one), documented);
    assert_eq!(order(&filtered[0]), documented, "a filtered ps --json keeps the order");
}

#[test]
fn a_scheme_providers_traffic_counts() {
    let daemon = Daemon::start(&[]);
    let ramfs = guest("ramfs").display().to_string();
    let pid = text(&daemon.cli(&["spawn", "cap=stdio,scheme", &ramfs])).trim().to_string();
    let data = vec![b'x'; 100_000];
    let mut written = false;
    for _ in 0..200 {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_wasmd"))
            .args(["write", "/scheme/ramfs/big"])
            .env("WASMD_SOCKET", &daemon.socket)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .and_then(|mut c| {
                std::io::Write::write_all(c.stdin.as_mut().unwrap(), &data)?;
                drop(c.stdin.take());
                c.wait()
            })
            .unwrap();
        if o.success() {
            written = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(written, "ramfs never served");
    assert_eq!(daemon.cli(&["cat", "/scheme/ramfs/big"]).stdout.len(), data.len());
    let one: serde_json::Value =
        serde_json::from_slice(&daemon.cli(&["status", "--json", &pid]).stdout).unwrap();
    assert!(one["bytes_in"].as_u64().unwrap() >= data.len() as u64, "the write came in: {one}");
    assert!(one["bytes_out"].as_u64().unwrap() >= data.len() as u64, "the read went out: {one}");
}

#[test]
fn status_counts_and_stats() {
    let daemon = Daemon::start(&["--workers", "2"]);
    let pid = spawn(&daemon, &["count", "5000"]);
    wait(&daemon, &pid);
    let status = text(&daemon.cli(&["status", &pid]));
    let field = |key: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key}: ")))
            .unwrap_or_else(|| panic!("no {key} in {status}"))
            .parse()
            .unwrap()
    };
    assert!(field("hostcalls") >= 2, "{status}");
    assert!(field("bytes_out") >= 20, "{status}");
    assert_eq!(field("bytes_in"), 0);
    assert!(field("cpu_ns") > 0);
    let table = text(&daemon.cli(&["ps"]));
    assert!(table.lines().next().unwrap().contains("CPU_MS") && table.contains("CALLS"), "{table}");
    let stats = text(&daemon.cli(&["stats"]));
    for line in ["processes_live: 0", "processes_exited_kept: 1", "scheduler_threads: 2"] {
        assert!(stats.contains(line), "`{line}` not in:\n{stats}");
    }
    assert!(stats.contains("turns_per_thread: ") && stats.contains("open_files: "), "{stats}");
}

#[test]
fn top_shows_the_busy_guest_first() {
    let daemon = Daemon::start(&["--workers", "2"]);
    let busy = spawn(&daemon, &["spin"]);
    let idle = spawn(&daemon, &["sleep", "60000"]);
    let out = daemon.cli(&["top", "--interval", "300", "--rounds", "1"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let t = text(&out);
    let lines: Vec<&str> = t.lines().collect();
    assert_eq!(lines[0], "2 live processes", "{t}");
    assert!(lines[1].contains("CPU%") && lines[1].contains("CALLS/s"), "{t}");
    let first: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!(first[0], busy, "{t}");
    // It spins: a share of a core well above the sleeper's 0 (not a fixed
    // share: other load on the machine takes its part).
    let cpu: f64 = first[3].parse().unwrap();
    assert!(cpu > 5.0, "a spinning guest uses a core: {t}");
    assert!(lines[3].starts_with(&format!("{idle:>7} ")), "{t}");
}
