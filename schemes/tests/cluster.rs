//! Daemons joined through a real NATS server (`nats-server` on loopback,
//! one per test): remote spawn, `ps --all`, another node's status, log
//! and ctl, refusals, a node that dies, and a hostile peer on the bus.
//!
//! Needs `nats-server` on the PATH (Debian: `apt-get install
//! nats-server`; `.ci/run` installs it).

mod common;

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{eventually, text, Daemon};
use wasmd_tests::guest;

/// A `nats-server` on a free loopback port, killed on drop.
struct Nats {
    child: Child,
    url: String,
}

impl Nats {
    fn start() -> Nats {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new("nats-server")
            .args(["-a", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start nats-server ({e}): install it (Debian: apt-get install nats-server)")
            });
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "nats-server did not come up");
            std::thread::sleep(Duration::from_millis(10));
        }
        Nats { child, url: format!("nats://127.0.0.1:{port}") }
    }

    /// A daemon joined to this server as `node`.
    fn node(&self, node: &str) -> Daemon {
        Daemon::start(&[
            "--nats",
            &self.url,
            "--node",
            node,
            "--heartbeat-ms",
            "50",
            "--node-timeout-ms",
            "400",
        ])
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The nodes `d`'s `node/` lists.
fn nodes(d: &Daemon) -> Vec<String> {
    let mut c = d.client();
    c.list("/scheme/wasm/node").map(|v| v.into_iter().map(|(n, _)| n).collect()).unwrap_or_default()
}

/// Two nodes that see each other.
fn pair(nats: &Nats) -> (Daemon, Daemon) {
    let (a, b) = (nats.node("a"), nats.node("b"));
    eventually("a and b see each other", || nodes(&a) == ["a", "b"] && nodes(&b) == ["a", "b"]);
    (a, b)
}

#[test]
fn a_spawn_runs_on_the_node_it_names_and_is_seen_and_killed_from_the_other() {
    let nats = Nats::start();
    let (a, b) = pair(&nats);
    let worker = guest("worker");
    let out = a.cli(&["spawn", "node=b", "cap=stdio,time", worker.to_str().unwrap(), "sleep", "600000"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let answer = text(&out).trim().to_string();
    let pid = answer.strip_prefix("b/").unwrap_or_else(|| panic!("a node-qualified pid: {answer}"));
    // It lives on b, not on a, and acts for b's remote identity.
    let on_b = text(&b.cli(&["ps", "--json"]));
    assert!(on_b.contains(&format!("\"pid\":{pid}")), "{on_b}");
    assert_eq!(text(&a.cli(&["ps", "--json"])).trim(), "[]");
    let status = text(&a.cli(&["status", &answer]));
    assert!(status.contains("owner: 65534:65534"), "{status}");
    // A process of a's own beside it: `ps --all` shows both, by node.
    let local = text(&a.cli(&["spawn", "cap=stdio,time", worker.to_str().unwrap(), "sleep", "600000"]));
    let all = text(&a.cli(&["ps", "--all"]));
    let lines: Vec<&str> = all.lines().collect();
    assert!(lines[0].starts_with("NODE") && lines[0].contains("PID"), "{all}");
    assert!(
        lines.iter().any(|l| l.starts_with("a ") && l.split_whitespace().nth(1) == Some(local.trim())),
        "{all}"
    );
    assert!(lines.iter().any(|l| l.starts_with("b ") && l.split_whitespace().nth(1) == Some(pid)), "{all}");
    let json: serde_json::Value = serde_json::from_str(&text(&b.cli(&["ps", "--all", "--json"]))).unwrap();
    let by_node: Vec<(String, u64)> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["node"].as_str().unwrap().to_string(), p["pid"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        by_node,
        [("a".to_string(), local.trim().parse().unwrap()), ("b".to_string(), pid.parse().unwrap())]
    );
    // Any file of a node's tree, by its name; this node's own too.
    for node in ["a", "b"] {
        let stats = text(&a.cli(&["cat", &format!("/scheme/wasm/node/{node}/stats")]));
        assert!(stats.contains("processes_live:"), "{node}: {stats}");
    }
    // Killed from a, it ends on b.
    assert_eq!(a.cli(&["kill", &answer]).status.code(), Some(0));
    eventually("b's process was killed", || text(&b.cli(&["status", pid])).contains("status: killed"));
    // A file that answers only by waiting does not cross (yet), and says so.
    let out = a.cli(&["cat", &format!("/scheme/wasm/node/b/{pid}/wait")]);
    assert_eq!(out.status.code(), Some(0), "an ended process's wait answers at once");
    assert_eq!(text(&out).trim(), "killed");
}

#[test]
fn what_a_node_refuses_is_refused_with_its_reason() {
    let nats = Nats::start();
    let (a, _b) = pair(&nats);
    let worker = guest("worker");
    let worker = worker.to_str().unwrap();
    let refused = |args: &[&str], why: &str| {
        let out = a.cli(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(why), "{args:?}: {stderr}");
    };
    refused(&["spawn", "node=c", worker], "no such node alive");
    // b's policy for other nodes' requests: its remote user's.
    refused(&["spawn", "node=b", "cap=all", worker], "node b: user 65534 may not give a guest proc");
    refused(&["spawn", "node=b", "/nonexistent.wasm"], "node b: cannot load module `/nonexistent.wasm`");
    refused(&["kill", "b/4242"], "node b: cannot open 4242/ctl");
    refused(&["status", "c/1"], "no such file");
    // A request would go round: refused.
    refused(&["cat", "/scheme/wasm/node/b/node/a/ps"], "do not cross nodes");
    // A daemon in no cluster refuses `node=`.
    let alone = Daemon::start(&[]);
    let out = alone.cli(&["spawn", "node=b", worker]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("in no cluster"), "{out:?}");
    assert!(alone.client().list("/scheme/wasm/node").is_err());
}

#[test]
fn a_node_that_dies_leaves_the_cluster() {
    let nats = Nats::start();
    let (a, mut b) = pair(&nats);
    b.child.kill().unwrap();
    b.child.wait().unwrap();
    eventually("a no longer lists b", || nodes(&a) == ["a"]);
    let out = a.cli(&["spawn", "node=b", guest("worker").to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such node alive"), "{out:?}");
    // A new b joins again.
    let _b = nats.node("b");
    eventually("a lists b again", || nodes(&a) == ["a", "b"]);
}

#[test]
fn garbage_on_the_bus_is_answered_and_harms_nothing() {
    let nats = Nats::start();
    let (a, _b) = pair(&nats);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let client = async_nats::connect(nats.url.as_str()).await.unwrap();
        for garbage in [&b"not json"[..], b"{\"op\":\"format_disk\"}", b"", &[0xff; 4096]] {
            let reply = client.request("wasmd.node.a.req", garbage.to_vec().into()).await.unwrap();
            let reply: serde_json::Value = serde_json::from_slice(&reply.payload).unwrap();
            assert_eq!(reply["result"], "failed", "{reply}");
        }
        // Forged heartbeats with names that are not node names are ignored.
        for name in ["x.y", "", "../a"] {
            let beat = serde_json::json!({ "node": name }).to_string();
            client.publish("wasmd.heartbeat", beat.into_bytes().into()).await.unwrap();
        }
        client.flush().await.unwrap();
    });
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(nodes(&a), ["a", "b"]);
    // a still serves its tree and b's requests.
    assert_eq!(b_ps_through(&a).lines().next().map(|l| l.contains("PID")), Some(true));
}

/// b's `ps`, read through a.
fn b_ps_through(a: &Daemon) -> String {
    text(&a.cli(&["cat", "/scheme/wasm/node/b/ps"]))
}
