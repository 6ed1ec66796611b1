//! Daemons joined through a real NATS server (`nats-server` on loopback,
//! one per test): remote spawn, `ps --all`, another node's status, log
//! and ctl, refusals, a node that dies, and a hostile peer on the bus.
//!
//! Needs `nats-server` on the PATH (Debian: `apt-get install
//! nats-server`; `.ci/run` installs it).

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{eventually, frame, holds_soon, text, Daemon};
use wasmd_tests::guest;
use wasmd_tests::nats::NatsServer;

/// A `nats-server` on loopback (see [`NatsServer`]), killed on drop.
struct Nats {
    url: String,
    _server: NatsServer,
}

impl Nats {
    fn start() -> Nats {
        Self::start_with("nats", &[])
    }

    /// A server with `extra` arguments, reached by URLs of `scheme`.
    fn start_with(scheme: &str, extra: &[&std::ffi::OsStr]) -> Nats {
        let server = NatsServer::start(scheme, extra)
            .unwrap_or_else(|e| panic!("{e} (Debian: apt-get install nats-server)"));
        Nats { url: server.url.clone(), _server: server }
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
            // Long enough that a loaded 2-core machine (CI runs these
            // tests side by side) does not miss a live node's heartbeats.
            "--node-timeout-ms",
            "1000",
        ])
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
    // A node's directories are listed from the other.
    let root = text(&a.cli(&["ls", "/scheme/wasm/node/b"]));
    assert!(root.lines().any(|l| l == "ps") && root.lines().any(|l| l == format!("{pid}/")), "{root}");
    let files = text(&a.cli(&["ls", &format!("/scheme/wasm/node/b/{pid}")]));
    assert!(files.lines().any(|l| l == "wait") && files.lines().any(|l| l == "ctl"), "{files}");
    // Any file of a node's tree, by its name; this node's own too.
    for node in ["a", "b"] {
        let stats = text(&a.cli(&["cat", &format!("/scheme/wasm/node/{node}/stats")]));
        assert!(stats.contains("processes_live:"), "{node}: {stats}");
    }
    // Killed from a, it ends on b.
    assert_eq!(a.cli(&["kill", &answer]).status.code(), Some(0));
    eventually("b's process was killed", || text(&b.cli(&["status", pid])).contains("status: killed"));
    let out = a.cli(&["wait", &answer]);
    assert_eq!((out.status.code(), text(&out).trim()), (Some(137), "killed"));
}

#[test]
fn reads_that_wait_on_a_node_wait_across_it() {
    let nats = Nats::start();
    let (a, _b) = pair(&nats);
    let worker = guest("worker");
    let out = a.cli(&["spawn", "node=b", "cap=stdio,time", worker.to_str().unwrap(), "sleep", "300"]);
    let answer = text(&out).trim().to_string();
    let pid = answer.strip_prefix("b/").unwrap().to_string();
    let started = Instant::now();
    // Its output streams until it exits, then ends; its exit is waited for.
    let stdout = a.cli(&["cat", &format!("/scheme/wasm/node/b/{pid}/stdout")]);
    assert_eq!(text(&stdout), format!("worker {pid}: slept 300 ms\n"));
    let waited = a.cli(&["wait", &answer]);
    assert_eq!((waited.status.code(), text(&waited).trim()), (Some(0), "exited(0)"));
    assert!(started.elapsed() >= Duration::from_millis(250), "they waited for the exit");
    // `run/` of another node runs the module there and streams its output here.
    let hello = guest("hello").display().to_string();
    let out = a.cli(&["cat", &format!("/scheme/wasm/node/b/run{hello}")]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(text(&out).starts_with("Hello from wasmd! I am pid"), "{out:?}");
}

#[test]
fn a_guest_scheme_of_one_node_is_used_from_another_and_its_death_is_eio() {
    use wasmd::client::ClientError;
    use wasmd::sys::linux::protocol::{Reply, Request};
    use wasmd_abi::scheme::flags;
    let nats = Nats::start();
    let (a, b) = pair(&nats);
    for (module, name) in [("ramfs", "ramfs"), ("faulty_scheme", "faulty")] {
        let path = guest(module).display().to_string();
        assert_eq!(b.cli(&["spawn", "cap=stdio,scheme,time", &path, name]).status.code(), Some(0));
        eventually("the scheme is up", || {
            text(&b.cli(&["ls", "/scheme/wasm/scheme"])).contains(&format!("{name}/"))
        });
    }
    let notes = "/scheme/wasm/node/b/scheme/ramfs/notes.txt";
    assert_eq!(a.cli(&["write", notes, "hello across"]).status.code(), Some(0));
    assert_eq!(text(&a.cli(&["cat", notes])), "hello across");
    assert_eq!(text(&b.cli(&["cat", "/scheme/ramfs/notes.txt"])), "hello across");
    assert_eq!(text(&a.cli(&["ls", "/scheme/wasm/node/b/scheme/ramfs"])), "notes.txt\n");
    // Resized, flushed and removed there, as a local file would be.
    let mut c = a.client();
    let fd = c.open(notes, flags::O_RDWR).unwrap();
    assert!(matches!(c.call(Request::Ftruncate { fd, len: 5 }), Ok(Reply::Done)));
    assert!(matches!(c.call(Request::Fsync { fd }), Ok(Reply::Done)));
    assert!(c.call(Request::Close { fd }).is_ok());
    assert_eq!(text(&b.cli(&["cat", "/scheme/ramfs/notes.txt"])), "hello");
    let unlink = |c: &mut wasmd::sys::linux::client::Client, path: &str| {
        c.call(Request::Unlink { path: path.into(), flags: 0 })
    };
    assert!(matches!(unlink(&mut c, notes), Ok(Reply::Done)));
    assert_eq!(text(&b.cli(&["ls", "/scheme/ramfs"])), "");
    assert!(matches!(unlink(&mut c, notes), Err(ClientError::Errno(2))), "gone there");
    // The rest of a node's tree cannot be removed; nor a node.
    assert!(matches!(unlink(&mut c, "/scheme/wasm/node/b/ps"), Err(ClientError::Errno(1))));
    assert!(matches!(unlink(&mut c, "/scheme/wasm/node/b"), Err(ClientError::Errno(1))));
    assert!(matches!(unlink(&mut c, "/scheme/wasm/node/z/scheme/ramfs/x"), Err(ClientError::Errno(2))));
    // An open its provider answers late (after the short time an OS open
    // waits there before it is answered, optimistically) is answered to a
    // guest of a as the provider did.
    let client = guest("fs_client").display().to_string();
    let slow = "node:b/scheme/faulty/slow";
    let args = ["spawn", "cap=stdio", "grant=node:b/scheme/faulty", &client, slow];
    let pid = text(&a.cli(&[&args[..], &[&format!("{slow}-missing"), slow]].concat()));
    assert_eq!(text(&a.cli(&["wait", pid.trim()])).trim(), "exited(0)");
    let said = text(&a.cli(&["log", pid.trim()]));
    assert!(said.contains(&format!("open:{slow}-missing=err:2\nopen:{slow}=ok:()")), "{said}");
    // For a native program here, whose open is answered at once, the
    // refusal is the first read's error.
    let fd = c.open("/scheme/wasm/node/b/scheme/faulty/slow-missing", flags::O_RDONLY).unwrap();
    let read = c.call(Request::Read { fd, offset: 0, len: 10, nonblock: false });
    assert!(matches!(read, Err(ClientError::Errno(2))), "{read:?}");
    // A read its provider never answers waits on a, until the provider dies on b.
    let mut waiter = a.client();
    let fd = waiter.open("/scheme/wasm/node/b/scheme/faulty/hang", flags::O_RDONLY).unwrap();
    let pending =
        std::thread::spawn(move || waiter.call(Request::Read { fd, offset: 0, len: 10, nonblock: false }));
    std::thread::sleep(Duration::from_millis(200));
    assert!(!pending.is_finished(), "the hung read must wait");
    assert_eq!(b.cli(&["cat", "/scheme/faulty/crash"]).status.code(), Some(1));
    let result = pending.join().unwrap();
    assert!(matches!(result, Err(ClientError::Errno(5))), "{result:?}");
}

#[test]
fn a_read_waiting_on_a_node_that_dies_fails_with_eio() {
    use wasmd::client::ClientError;
    use wasmd::sys::linux::protocol::Request;
    use wasmd_abi::scheme::flags;
    let nats = Nats::start();
    let (a, mut b) = pair(&nats);
    let worker = guest("worker");
    let answer =
        text(&a.cli(&["spawn", "node=b", "cap=stdio,time", worker.to_str().unwrap(), "sleep", "600000"]));
    let pid = answer.trim().strip_prefix("b/").unwrap().to_string();
    let mut waiter = a.client();
    let fd = waiter.open(&format!("/scheme/wasm/node/b/{pid}/wait"), flags::O_RDONLY).unwrap();
    let pending =
        std::thread::spawn(move || waiter.call(Request::Read { fd, offset: 0, len: 64, nonblock: false }));
    std::thread::sleep(Duration::from_millis(200));
    assert!(!pending.is_finished(), "the wait must wait");
    b.child.kill().unwrap();
    b.child.wait().unwrap();
    let result = pending.join().unwrap();
    assert!(matches!(result, Err(ClientError::Errno(5))), "{result:?}");
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
    refused(&["cat", "/scheme/wasm/node/b/nothing"], "node b: cannot open nothing");
    // A request would go round: refused.
    refused(&["cat", "/scheme/wasm/node/b/node/a/ps"], "do not cross nodes");
    // A daemon in no cluster refuses `node=`.
    let alone = Daemon::start(&[]);
    let out = alone.cli(&["spawn", "node=b", worker]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("in no cluster"), "{out:?}");
    assert!(alone.client().list("/scheme/wasm/node").is_err());
    let out = alone.cli(&["ps", "--all"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("in no cluster"), "{out:?}");
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

/// The heartbeats `node` published during `window`, heard on the bus:
/// each one's names (`None`: a beat without them).
fn beats_of(url: &str, node: &str, window: Duration) -> Vec<Option<serde_json::Value>> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        use futures_util::StreamExt;
        let client = async_nats::connect(url).await.unwrap();
        let mut beats = client.subscribe("wasmd.heartbeat").await.unwrap();
        let mut heard = Vec::new();
        let until = tokio::time::Instant::now() + window;
        while let Ok(Some(msg)) = tokio::time::timeout_at(until, beats.next()).await {
            let beat: serde_json::Value = serde_json::from_slice(&msg.payload).unwrap();
            if beat["node"] == node {
                heard.push(beat.get("names").cloned());
            }
        }
        heard
    })
}

#[test]
fn heartbeats_carry_names_only_when_they_are_news() {
    let nats = Nats::start();
    let (a, _b) = pair(&nats);
    // Nothing changes: a's beats (every 50 ms) say "the same names" and
    // only every tenth has them, here none.
    let quiet = beats_of(&nats.url, "a", Duration::from_millis(1500));
    assert!(quiet.len() >= 10, "{quiet:?}");
    let named: Vec<_> = quiet.iter().flatten().collect();
    assert!(named.len() <= quiet.len() / 5, "{quiet:?}");
    assert!(named.iter().all(|names| *names == &serde_json::json!({})), "{quiet:?}");
    // A name registered on a goes out at once and is seen on b; then the
    // beats are bare again.
    let actors = guest("actors").display().to_string();
    let server = text(&a.cli(&["spawn", "cap=stdio", &actors, "serve", "beat-svc"])).trim().to_string();
    line_of(&a, &server, "serving");
    eventually("b sees the name", || {
        text(&_b.cli(&["cat", "/scheme/wasm/name/beat-svc"])).trim() == format!("a/{server}")
    });
    let after = beats_of(&nats.url, "a", Duration::from_millis(1500));
    let named: Vec<_> = after.iter().flatten().collect();
    assert!(named.len() <= after.len() / 5, "{after:?}");
    let expected = serde_json::json!({ "beat-svc": server.parse::<u32>().unwrap() });
    assert!(named.iter().all(|names| **names == expected), "{after:?}");
    // A node that joins later learns a's names (a sends them when it sees
    // it join).
    let c = nats.node("c");
    eventually("c sees the name", || {
        text(&c.cli(&["cat", "/scheme/wasm/name/beat-svc"])).trim() == format!("a/{server}")
    });
    // And a name that goes is gone everywhere.
    assert_eq!(a.cli(&["kill", &server]).status.code(), Some(0));
    eventually("the name is gone on c", || {
        text(&c.cli(&["cat", "/scheme/wasm/name/beat-svc"])).trim().is_empty()
    });
}

#[test]
fn garbage_on_the_bus_is_answered_and_harms_nothing() {
    let nats = Nats::start();
    let (a, _b) = pair(&nats);
    // A process of a's own user (not its remote user), which no notice of
    // another node may touch.
    let worker = guest("worker");
    let local = text(&a.cli(&["spawn", "cap=stdio,time", worker.to_str().unwrap(), "sleep", "600000"]));
    let local: u32 = local.trim().parse().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let client = async_nats::connect(nats.url.as_str()).await.unwrap();
        let notices = [
            serde_json::json!({"from": "b", "op": "kill", "pid": local, "by": 1}),
            serde_json::json!({"from": "b", "op": "ended", "pid": 1, "to": local, "status": "killed"}),
            serde_json::json!({"from": "b", "op": "ended", "pid": 1, "to": local, "reference": 1}),
            serde_json::json!({"from": "b", "op": "link", "pid": local, "by": 1}),
            serde_json::json!({"from": "b", "op": "monitor", "pid": 0, "by": 1, "reference": 5}),
            serde_json::json!({"from": "b", "op": "kill", "pid": 0x8000_0001u32, "by": 1}),
            serde_json::json!({"from": "../b", "op": "kill", "pid": local, "by": 1}),
            serde_json::json!({"from": "b", "op": "explode"}),
        ];
        for notice in notices {
            client.publish("wasmd.node.a.notice", notice.to_string().into_bytes().into()).await.unwrap();
        }
        client.publish("wasmd.node.a.notice", vec![0xff; 4096].into()).await.unwrap();
        // Names that are not registry names, or pids that cannot be, are
        // not believed.
        let beat =
            serde_json::json!({"node": "z", "names": {"Bad Name": 3, "zero": 0, "stand-in": 0x8000_0000u32}});
        client.publish("wasmd.heartbeat", beat.to_string().into_bytes().into()).await.unwrap();
        let forged = br#"{"from":"b","op":"read","handle":1,"offset":0,"len":10}"#;
        let bad_name = br#"{"from":"../x","op":"open","path":"ps","flags":0}"#;
        for garbage in [&b"not json"[..], b"{\"op\":\"format_disk\"}", b"", &[0xff; 4096], forged, bad_name] {
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
    assert!(text(&a.cli(&["status", &local.to_string()])).contains("state: blocked"), "untouched");
    assert_eq!(text(&a.cli(&["cat", &format!("/scheme/wasm/{local}/links")])), "", "no link was forged");
    assert_eq!(text(&a.cli(&["ls", "/scheme/wasm/name"])), "");
    eventually("z left", || nodes(&a) == ["a", "b"]);
    // a still serves its tree and b's requests.
    assert_eq!(b_ps_through(&a).lines().next().map(|l| l.contains("PID")), Some(true));
}

/// b's `ps`, read through a.
fn b_ps_through(a: &Daemon) -> String {
    text(&a.cli(&["cat", "/scheme/wasm/node/b/ps"]))
}

#[test]
fn a_channel_of_one_node_is_read_and_written_from_another() {
    use wasmd::client::ClientError;
    use wasmd::sys::linux::protocol::{Reply, Request};
    use wasmd_abi::scheme::flags;
    let nats = Nats::start();
    let (a, _b) = pair(&nats);
    // Spawned through a: it acts for b's remote user, who may then use
    // its channels from a.
    let path = guest("chan_native").display().to_string();
    let proc = text(&a.cli(&["spawn", "node=b", "cap=stdio,time,shm", &path])).trim().to_string();
    let line = |prefix: &str| {
        let mut found = String::new();
        eventually(prefix, || {
            let log = text(&a.cli(&["log", &proc]));
            found = log.lines().find(|l| l.starts_with(prefix)).unwrap_or("").to_string();
            !found.is_empty()
        });
        found
    };
    let ids = line("shm=");
    let id = |key: &str| ids.split(' ').find_map(|kv| kv.strip_prefix(key)).unwrap().to_string();
    let (out, inbound) = (id("out="), id("in="));
    let mut c = a.client();
    // The guest's three frames, in order and attributed to it, then the end.
    common::guest_frames_then_end(&mut c, &format!("/scheme/wasm/node/b/chan/{out}"));
    // Frames from a reach the guest on b.
    let wr = c.open(&format!("/scheme/wasm/node/b/chan/{inbound}"), flags::O_WRONLY).unwrap();
    assert!(matches!(
        c.call(Request::Write { fd: wr, offset: 0, data: b"ping".to_vec(), nonblock: false }),
        Ok(Reply::Count(4))
    ));
    let got = line("got ");
    assert!(got.ends_with(" 4 ping"), "{got}");
    assert!(matches!(
        c.call(Request::Write { fd: wr, offset: 0, data: b"native frame".to_vec(), nonblock: false }),
        Ok(Reply::Count(12))
    ));
    // After the guest ended: a strong reader on b that reads nothing, so
    // the channel fills. Non-blocking writes from a are taken one in
    // flight at a time (EAGAIN until b took the last), and once b's
    // channel is full a write from a waits there and here.
    assert_eq!(text(&a.cli(&["wait", &proc])).trim(), "exited(0)");
    let probe = c.open(&format!("/scheme/wasm/node/b/chan/{inbound}"), flags::O_RDONLY).unwrap();
    // Its first non-blocking reads open it there, take what the channel
    // still holds, and leave a read asked (which makes it a reader).
    let mut empty = 0;
    while empty < 10 {
        match c.call(Request::Read { fd: probe, offset: 0, len: 256, nonblock: true }) {
            Err(ClientError::Errno(11)) => empty += 1,
            Ok(Reply::Data(d)) if !d.is_empty() => empty = 0,
            other => panic!("{other:?}"),
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let (mut taken, mut again, started) = (0, 0, Instant::now());
    loop {
        match c.call(Request::Write { fd: wr, offset: 0, data: vec![7; 4], nonblock: true }) {
            Ok(Reply::Count(4)) => taken += 1,
            Err(ClientError::Errno(11)) => again += 1,
            other => panic!("{other:?}"),
        }
        if again > 50 && started.elapsed() > Duration::from_secs(1) {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
        assert!(taken < 2000, "a 4 KiB channel never filled");
    }
    assert!(taken >= 10, "{taken} writes taken");
    let mut blocked = a.client();
    let bfd = blocked.open(&format!("/scheme/wasm/node/b/chan/{inbound}"), flags::O_WRONLY).unwrap();
    let pending = std::thread::spawn(move || {
        blocked.call(Request::Write { fd: bfd, offset: 0, data: b"late".to_vec(), nonblock: false })
    });
    std::thread::sleep(Duration::from_millis(200));
    assert!(!pending.is_finished(), "a write to a full Park channel of another node must wait");
    // Reading on b (through a) makes room: the late frame comes last.
    let mut frames = Vec::new();
    while !pending.is_finished() || frames.last().map(|(_, p): &(u32, String)| p.as_str()) != Some("late") {
        match c.call(Request::Read { fd: probe, offset: 0, len: 256, nonblock: false }) {
            Ok(Reply::Data(d)) if !d.is_empty() => frames.push(frame(&d)),
            other => panic!("{other:?}"),
        }
        assert!(frames.len() <= taken + 2, "{} frames", frames.len());
    }
    assert!(matches!(pending.join().unwrap(), Ok(Reply::Count(4))));
}

/// `open_files` of `d`'s `stats` (the file the reading opens included).
fn open_files(d: &Daemon) -> u64 {
    let stats = text(&d.cli(&["stats"]));
    let line = stats.lines().find(|l| l.starts_with("open_files:")).unwrap_or_else(|| panic!("{stats}"));
    line["open_files:".len()..].trim().parse().unwrap()
}

#[test]
fn a_file_closed_here_is_closed_there_even_while_it_opens() {
    use wasmd::client::ClientError;
    use wasmd::sys::linux::protocol::Request;
    use wasmd_abi::scheme::flags;
    let nats = Nats::start();
    let (a, b) = pair(&nats);
    let before = open_files(&b);
    let mut c = a.client();
    for _ in 0..20 {
        let fd = c.open("/scheme/wasm/node/b/ps", flags::O_RDONLY).unwrap();
        // Sends the open there and answers EAGAIN at once; closed at once.
        let r = c.call(Request::Read { fd, offset: 0, len: 64, nonblock: true });
        assert!(matches!(r, Err(ClientError::Errno(11))), "{r:?}");
        c.call(Request::Close { fd }).unwrap();
    }
    for _ in 0..20 {
        let fd = c.open("/scheme/wasm/node/b/ps", flags::O_RDONLY).unwrap();
        let _ = c.call(Request::Read { fd, offset: 0, len: 64, nonblock: false }).unwrap();
        c.call(Request::Close { fd }).unwrap();
    }
    eventually("b closed every file a opened there", || open_files(&b) == before);
}

/// Runs `openssl` with `args` in `dir`.
fn openssl(dir: &std::path::Path, args: &[&str]) {
    let out = Command::new("openssl").args(args).current_dir(dir).output().expect("openssl runs");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn nodes_join_over_tls_and_with_a_password_and_are_refused_without() {
    let dir = common::TempDir(std::env::temp_dir().join(format!("wasmd-tls-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0).unwrap();
    // A CA, and a server certificate for 127.0.0.1 signed by it.
    openssl(
        &dir.0,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "1",
            "-subj",
            "/CN=wasmd test CA",
        ],
    );
    openssl(
        &dir.0,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    );
    std::fs::write(dir.0.join("san.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    openssl(
        &dir.0,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "1",
            "-extfile",
            "san.ext",
        ],
    );
    let (cert, key) = (dir.0.join("server.pem"), dir.0.join("server.key"));
    let args = ["--user", "wasmd", "--pass", "s3cret", "--tls", "--tlscert"].map(std::ffi::OsStr::new);
    let nats = Nats::start_with(
        "tls",
        &[&args[..], &[cert.as_os_str(), "--tlskey".as_ref(), key.as_os_str()]].concat(),
    );
    let ca = dir.0.join("ca.pem").display().to_string();
    let join = |node: &str, ca: Option<&str>, password: &str| {
        let mut args = vec![
            "daemon",
            "--nats",
            &nats.url,
            "--node",
            node,
            "--nats-user",
            "wasmd",
            "--heartbeat-ms",
            "50",
        ];
        if let Some(ca) = ca {
            args.extend(["--nats-ca", ca]);
        }
        let socket = dir.0.join(format!("{node}.sock"));
        Command::new(env!("CARGO_BIN_EXE_wasmd"))
            .args(&args)
            .arg("--socket")
            .arg(&socket)
            .env("WASMD_NATS_PASSWORD", password)
            .env("XDG_CONFIG_HOME", &dir.0)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    // Without the CA the server's certificate is not trusted; with a
    // wrong password it refuses: the daemon says why and exits 1.
    for (ca, password) in [(None, "s3cret"), (Some(ca.as_str()), "wrong")] {
        let out = join("x", ca, password).wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{ca:?} {password}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("cannot join the cluster"), "{out:?}");
    }
    // With both, two nodes join and work together.
    let mut children = [join("a", Some(&ca), "s3cret"), join("b", Some(&ca), "s3cret")];
    let a_socket = dir.0.join("a.sock");
    let cli = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_wasmd")).args(args).env("WASMD_SOCKET", &a_socket).output().unwrap()
    };
    eventually("a sees b over TLS", || text(&cli(&["ls", "/scheme/wasm/node"])) == "a/\nb/\n");
    let tiny = wasmd_tests::wat("tiny").display().to_string();
    let out = cli(&["spawn", "node=b", &tiny]);
    assert!(text(&out).starts_with("b/"), "{out:?}");
    for c in &mut children {
        let _ = c.kill();
        let _ = c.wait();
    }
}

#[test]
fn a_node_joins_with_the_servers_token_and_not_without() {
    let nats = Nats::start_with("nats", &["--auth".as_ref(), "t0ken".as_ref()]);
    let join = |token: &str| {
        let dir =
            common::TempDir(std::env::temp_dir().join(format!("wasmd-token-{}-{token}", std::process::id())));
        joins_or_exits(&dir.0, &["--nats", &nats.url], &[("WASMD_NATS_TOKEN", token)])
    };
    assert_eq!(join("t0ken"), Ok(()));
    assert_eq!(join("wrong"), Err(Some(1)));
}

#[test]
fn a_node_joins_as_an_nkey_user_and_not_with_another_key() {
    let dir = common::TempDir(std::env::temp_dir().join(format!("wasmd-nkey-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0).unwrap();
    let user = nkeys::KeyPair::new_user();
    let conf = dir.0.join("nats.conf");
    std::fs::write(&conf, format!("authorization {{ users = [ {{ nkey: \"{}\" }} ] }}\n", user.public_key()))
        .unwrap();
    let nats = Nats::start_with("nats", &["-c".as_ref(), conf.as_os_str()]);
    let join = |seed: &str| {
        let seed_file = dir.0.join("seed");
        std::fs::write(&seed_file, seed).unwrap();
        let seed_file = seed_file.display().to_string();
        joins_or_exits(&dir.0.join("node"), &["--nats", &nats.url, "--nats-nkey", &seed_file], &[])
    };
    assert_eq!(join(&user.seed().unwrap()), Ok(()));
    assert_eq!(join(&nkeys::KeyPair::new_user().seed().unwrap()), Err(Some(1)));
}

/// A NATS JWT (v2) with `claims` (`iss`, `iat` and `jti` added),
/// signed by `issuer`.
fn jwt(issuer: &nkeys::KeyPair, mut claims: serde_json::Value) -> String {
    use base64::Engine;
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    claims["iss"] = issuer.public_key().into();
    claims["iat"] = 1_700_000_000u64.into();
    claims["jti"] = format!("JTI{}", claims["sub"].as_str().unwrap_or("")).into();
    let head = b64(br#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
    let body = b64(claims.to_string().as_bytes());
    let signed = format!("{head}.{body}");
    let signature = issuer.sign(signed.as_bytes()).unwrap();
    format!("{signed}.{}", b64(&signature))
}

#[test]
fn a_node_joins_with_a_creds_file_of_an_operator_mode_server_and_not_with_another() {
    let dir = common::TempDir(std::env::temp_dir().join(format!("wasmd-creds-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0).unwrap();
    // An operator, its account and a user of it, as `nsc` would make them.
    let (operator, account) = (nkeys::KeyPair::new_operator(), nkeys::KeyPair::new_account());
    let op = serde_json::json!({"name": "op", "sub": operator.public_key(), "nats": {"type": "operator", "version": 2}});
    let limits = serde_json::json!({"subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1,
        "wildcards": true, "conn": -1, "leaf": -1});
    let acc = serde_json::json!({"name": "acc", "sub": account.public_key(),
        "nats": {"limits": limits, "default_permissions": {"pub": {}, "sub": {}}, "type": "account", "version": 2}});
    let op_jwt = dir.0.join("op.jwt");
    std::fs::write(&op_jwt, jwt(&operator, op)).unwrap();
    let conf = dir.0.join("nats.conf");
    let preload = format!("{}: \"{}\"", account.public_key(), jwt(&operator, acc));
    let config =
        format!("operator: \"{}\"\nresolver: MEMORY\nresolver_preload: {{ {preload} }}\n", op_jwt.display());
    std::fs::write(&conf, config).unwrap();
    let nats = Nats::start_with("nats", &["-c".as_ref(), conf.as_os_str()]);
    let creds = |signer: &nkeys::KeyPair| {
        let user = nkeys::KeyPair::new_user();
        let claims = serde_json::json!({"name": "node", "sub": user.public_key(),
            "nats": {"pub": {}, "sub": {}, "subs": -1, "data": -1, "payload": -1, "type": "user", "version": 2}});
        format!(
            "-----BEGIN NATS USER JWT-----\n{}\n------END NATS USER JWT------\n\n\
             -----BEGIN USER NKEY SEED-----\n{}\n------END USER NKEY SEED------\n",
            jwt(signer, claims),
            user.seed().unwrap()
        )
    };
    let join = |creds: &str| {
        let file = dir.0.join("node.creds");
        std::fs::write(&file, creds).unwrap();
        let file = file.display().to_string();
        joins_or_exits(&dir.0.join("node"), &["--nats", &nats.url, "--nats-creds", &file], &[])
    };
    assert_eq!(join(&creds(&account)), Ok(()), "a user of the account joins");
    assert_eq!(join(&creds(&nkeys::KeyPair::new_account())), Err(Some(1)), "a user of no known account");
    assert_eq!(join("not a creds file"), Err(Some(1)));
}

/// Starts `wasmd daemon` as node `a` with `args` and `env` (its socket
/// and config in `dir`, made here): `Ok` once it serves (then stops
/// it), or the code it exited with.
fn joins_or_exits(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Result<(), Option<i32>> {
    std::fs::create_dir_all(dir).unwrap();
    let socket = dir.join("a.sock");
    let _ = std::fs::remove_file(&socket);
    let mut child = Command::new(env!("CARGO_BIN_EXE_wasmd"))
        .args(["daemon", "--node", "a", "--socket"])
        .arg(&socket)
        .args(args)
        .envs(env.iter().copied())
        .env("XDG_CONFIG_HOME", dir)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Err(status.code());
        }
        if wasmd::sys::linux::client::Client::connect(&socket).is_ok() {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(());
        }
        assert!(Instant::now() < deadline, "neither joined nor refused");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Pids of `d`'s live processes named `name`.
fn live_named(d: &Daemon, name: &str) -> Vec<u64> {
    let json: serde_json::Value = serde_json::from_str(&text(&d.cli(&["ps", "--json"]))).unwrap_or_default();
    let all = json.as_array().cloned().unwrap_or_default();
    all.iter()
        .filter(|p| p["name"] == name && p["state"] != "exited")
        .filter_map(|p| p["pid"].as_u64())
        .collect()
}

#[test]
fn a_supervisor_restarts_its_child_on_another_node_when_the_childs_node_dies() {
    let nats = Nats::start();
    let (a, mut b, c) = (nats.node("a"), nats.node("b"), nats.node("c"));
    let all = ["a", "b", "c"];
    eventually("the three see each other", || [&a, &b, &c].iter().all(|d| nodes(d) == all));
    let supervision = guest("supervision");
    let out = a.cli(&["spawn", "cap=stdio,time,spawn", supervision.to_str().unwrap(), "across", "b", "c"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let sup = text(&out).trim().to_string();
    let log = || text(&a.cli(&["log", &sup]));
    // A guest of a's that finds the child by its name, wherever it runs,
    // and monitors it.
    let out =
        a.cli(&["spawn", "cap=stdio,time,proc", supervision.to_str().unwrap(), "watch-name", "across-child"]);
    let watcher = text(&out).trim().to_string();
    let watched = || text(&a.cli(&["log", &watcher]));
    let name_on_a = || text(&a.cli(&["cat", "/scheme/wasm/name/across-child"])).trim().to_string();
    // The child runs on b (the first node it names), linked to its
    // supervisor across the network; a knows it by a stand-in pid.
    eventually("the child runs on b", || live_named(&b, "supervision").len() == 1);
    eventually("the supervisor said where", || log().starts_with("started "));
    let stand_in: u64 = log().trim().strip_prefix("started ").unwrap().parse().unwrap();
    assert!(stand_in >= 0x8000_0000, "a stand-in pid: {stand_in}");
    let on_a = [sup.parse::<u64>().unwrap(), watcher.parse().unwrap()];
    assert_eq!(live_named(&a, "supervision"), on_a, "only the supervisor and the watcher on a");
    assert!(live_named(&c, "supervision").is_empty());
    // Its name, registered on b, is seen from a: in the tree and by a's
    // guest.
    let child_on_b = live_named(&b, "supervision")[0];
    eventually("a sees the name on b", || name_on_a() == format!("b/{child_on_b}"));
    eventually("the watcher found it", || watched().starts_with("found "));
    assert!(text(&a.cli(&["ls", "/scheme/wasm/name"])).lines().any(|l| l == "across-child"));
    // b's daemon dies: b leaves the cluster, the child's end reaches the
    // supervisor as `noconnection`, and it restarts the child on c.
    b.child.kill().unwrap();
    b.child.wait().unwrap();
    let restarted = holds_soon(|| live_named(&c, "supervision").len() == 1);
    assert!(restarted, "restarted on c; the supervisor said:\n{}", log());
    let said = log();
    let restart = said.lines().nth(1).unwrap_or_default().to_string();
    assert!(restart.starts_with("restarted noconnection "), "{said}");
    // The name moved with its process: registered again on c, it is seen
    // there and from a; the watcher's monitor ended with b, and it found
    // the name's new holder.
    let child_on_c = live_named(&c, "supervision")[0];
    eventually("the name is the child's on c", || {
        text(&c.cli(&["cat", "/scheme/wasm/name/across-child"])).trim() == child_on_c.to_string()
    });
    eventually("a sees the name on c", || name_on_a() == format!("c/{child_on_c}"));
    eventually("the watcher saw it go and found it again", || watched().lines().count() >= 3);
    let seen = watched();
    let lines: Vec<&str> = seen.lines().collect();
    assert_eq!(lines[1], "down noconnection", "{seen}");
    assert!(lines[2].starts_with("found ") && lines[2] != lines[0], "a new stand-in: {seen}");
    // Killed on c, the child's end reaches its supervisor as it was; the
    // restart goes to c again (b is gone).
    assert_eq!(c.cli(&["kill", &child_on_c.to_string()]).status.code(), Some(0));
    eventually("restarted again", || log().lines().count() == 3);
    let said = log();
    assert!(said.lines().nth(2).unwrap().starts_with("restarted killed "), "{said}");
    eventually("the watcher saw the kill", || watched().lines().nth(3) == Some("down killed"));
    eventually("a new child on c", || {
        let now = live_named(&c, "supervision");
        now.len() == 1 && now[0] != child_on_c
    });
    // The supervisor's own end goes the other way: killed on a, its
    // linked child on c is killed too.
    let child_on_c = live_named(&c, "supervision")[0];
    assert_eq!(a.cli(&["kill", &sup]).status.code(), Some(0));
    eventually("the child on c ended with its supervisor", || {
        text(&c.cli(&["status", &child_on_c.to_string()])).contains("status: killed")
    });
}

/// The first line of `pid`'s output (read through `d`) starting with
/// `prefix`, once there is one.
fn line_of(d: &Daemon, pid: &str, prefix: &str) -> String {
    let mut found = String::new();
    eventually(&format!("{pid} says {prefix}"), || {
        let log = text(&d.cli(&["log", pid]));
        found = log.lines().find(|l| l.starts_with(prefix)).unwrap_or("").to_string();
        !found.is_empty()
    });
    found
}

#[test]
fn a_bridge_carries_a_channel_to_another_node_with_its_writers_order_backpressure_and_end() {
    use wasmd::sys::linux::protocol::{Reply, Request};
    use wasmd_abi::scheme::flags;
    let nats = Nats::start();
    let (a, _b) = pair(&nats);
    let rtt = guest("chan_rtt");
    let rtt = rtt.to_str().unwrap();
    // First a bridge of a channel whose writer reserved a frame and never
    // publishes it: its reader in a's link must not wait for that writer
    // (everything below goes through the same link).
    let stuck = text(&a.cli(&["spawn", "cap=stdio,time,shm", rtt, "node-stuck"]));
    let stuck_out = line_of(&a, stuck.trim(), "chans ")["chans ".len()..].to_string();
    let stuck_sink = text(&a.cli(&["spawn", "node=b", "cap=stdio,time,shm", rtt, "node-sink", "0"]));
    let stuck_in = line_of(&a, stuck_sink.trim(), "chans ")["chans ".len()..].to_string();
    let mut stuck_client = a.client();
    let stuck_fd = stuck_client.open("/scheme/wasm/bridge", flags::O_RDWR).unwrap();
    let line = format!("{stuck_out} b/{stuck_in}");
    let wrote = stuck_client.call(Request::Write {
        fd: stuck_fd,
        offset: 0,
        data: line.into_bytes(),
        nonblock: false,
    });
    assert!(matches!(wrote, Ok(Reply::Count(_))), "{wrote:?}");
    // The sink runs on b (spawned from a: it is b's remote user's, whose
    // channels a's bridge may write) and reads nothing for its first second.
    let sink = text(&a.cli(&["spawn", "node=b", "cap=stdio,time,shm", rtt, "node-sink", "1000"]));
    let sink = sink.trim();
    let inbound = line_of(&a, sink, "chans ")["chans ".len()..].to_string();
    // The source on a: 4,000 frames of 64 bytes from two writers.
    let source = text(&a.cli(&["spawn", "cap=stdio,time,shm", rtt, "node-source", "4000", "64", "2", "300"]));
    let source = source.trim();
    let out = line_of(&a, source, "chans ")["chans ".len()..].to_string();
    let mut c = a.client();
    let fd = c.open("/scheme/wasm/bridge", flags::O_RDWR).unwrap();
    let line = format!("{out} b/{inbound}");
    let wrote = c.call(Request::Write { fd, offset: 0, data: line.into_bytes(), nonblock: false });
    assert!(matches!(wrote, Ok(Reply::Count(_))), "{wrote:?}");
    // Park across the bridge: what b's channel and the credit in flight
    // hold is far less than the 4,000 frames, so the source waits.
    std::thread::sleep(Duration::from_millis(500));
    assert!(!text(&a.cli(&["log", source])).contains("done"), "the source must wait for the sleeping sink");
    // The read waits for the end of the stream.
    match c.call(Request::Read { fd, offset: 0, len: 256, nonblock: false }) {
        Ok(Reply::Data(d)) => assert_eq!(String::from_utf8_lossy(&d), "bridged 4000 frames\n"),
        other => panic!("{other:?}"),
    }
    let got = line_of(&a, sink, "frames=");
    assert!(got.starts_with("frames=4000 bytes=256000 writers=2 ordered=yes "), "{got}");
    assert_eq!(text(&a.cli(&["wait", sink])).trim(), "exited(0)");
    assert_eq!(text(&a.cli(&["wait", source])).trim(), "exited(0)");
    // A bridge to a channel b's remote user may not write is refused
    // with b's reason; one to no node is refused here.
    let fd = c.open("/scheme/wasm/bridge", flags::O_RDWR).unwrap();
    let source = text(&a.cli(&["spawn", "cap=stdio,time,shm", rtt, "node-source", "1", "64", "1", "1500"]));
    let out = line_of(&a, source.trim(), "chans ")["chans ".len()..].to_string();
    let _ = c.call(Request::Write {
        fd,
        offset: 0,
        data: format!("{out} b/999999").into_bytes(),
        nonblock: false,
    });
    assert!(c.call(Request::Read { fd, offset: 0, len: 256, nonblock: false }).is_err());
    let refused = a.cli(&["bridge", &out, "z/1"]);
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("node z"), "{refused:?}");
    // Through the command line: the second source's one frame crosses.
    let sink = text(&a.cli(&["spawn", "node=b", "cap=stdio,time,shm", rtt, "node-sink", "0"]));
    let inbound = line_of(&a, sink.trim(), "chans ")["chans ".len()..].to_string();
    let bridged = a.cli(&["bridge", &out, &format!("b/{inbound}")]);
    assert_eq!(
        (bridged.status.code(), text(&bridged).as_str()),
        (Some(0), "bridged 1 frames\n"),
        "{bridged:?}"
    );
    assert!(line_of(&a, sink.trim(), "frames=").starts_with("frames=1 bytes=64 writers=1 ordered=yes"));
    // Drop across the bridge: b's channel is a `Drop` one and its reader
    // sleeps, so frames beyond its room are dropped there (their credit
    // granted): the source is not held back, and what arrives is in order.
    let sink = text(&a.cli(&["spawn", "node=b", "cap=stdio,time,shm", rtt, "node-sink", "3000", "drop"]));
    let sink = sink.trim();
    let inbound = line_of(&a, sink, "chans ")["chans ".len()..].to_string();
    let source = text(&a.cli(&["spawn", "cap=stdio,time,shm", rtt, "node-source", "4000", "64", "2", "300"]));
    let source = source.trim();
    let out = line_of(&a, source, "chans ")["chans ".len()..].to_string();
    let fd = c.open("/scheme/wasm/bridge", flags::O_RDWR).unwrap();
    let line = format!("{out} b/{inbound}");
    let wrote = c.call(Request::Write { fd, offset: 0, data: line.into_bytes(), nonblock: false });
    assert!(matches!(wrote, Ok(Reply::Count(_))), "{wrote:?}");
    match c.call(Request::Read { fd, offset: 0, len: 256, nonblock: false }) {
        Ok(Reply::Data(d)) => assert_eq!(String::from_utf8_lossy(&d), "bridged 4000 frames\n"),
        other => panic!("{other:?}"),
    }
    assert!(line_of(&a, source, "done").starts_with("done"));
    assert!(
        !text(&a.cli(&["log", sink])).contains("frames="),
        "the sink still sleeps: the source was not held"
    );
    let got = line_of(&a, sink, "frames=");
    let frames: u64 = got["frames=".len()..].split(' ').next().unwrap().parse().unwrap();
    assert!(frames > 0 && frames < 4000, "{got}");
    assert!(got.contains(" writers=2 ordered=yes "), "{got}");
    // The stuck bridge still waits (nothing crossed), and closes.
    assert!(!text(&a.cli(&["log", stuck_sink.trim()])).contains("frames="), "the stuck frame never crossed");
    assert!(stuck_client.call(Request::Close { fd: stuck_fd }).is_ok());
    // No bridge is left: nor are their watches of the channels, here or there.
    for d in [&a, &_b] {
        eventually("no watches left", || {
            text(&d.cli(&["cat", "/scheme/wasm/stats"])).contains("futex_watches: 0\n")
        });
    }
}

#[test]
fn one_node_cannot_take_every_waiting_slot() {
    let nats = Nats::start();
    let (_a, b) = pair(&nats);
    let worker = guest("worker");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (busy, waiting) = runtime.block_on(async {
        // A peer that calls itself z: a process of b's remote user, and
        // its wait file opened once...
        let client = async_nats::connect(nats.url.as_str()).await.unwrap();
        let ask = |body: serde_json::Value| {
            let client = client.clone();
            async move {
                let reply =
                    client.request("wasmd.node.b.req", body.to_string().into_bytes().into()).await.unwrap();
                serde_json::from_slice::<serde_json::Value>(&reply.payload).unwrap()
            }
        };
        let spec = format!("cap=stdio,time {} sleep 600000", worker.display());
        let spawned = ask(serde_json::json!({"from": "z", "op": "spawn", "spec": spec})).await;
        let pid = spawned["pid"].as_u64().unwrap_or_else(|| panic!("{spawned}"));
        let opened =
            ask(serde_json::json!({"from": "z", "op": "open", "path": format!("{pid}/wait"), "flags": 0}))
                .await;
        let handle = opened["handle"].as_u64().unwrap_or_else(|| panic!("{opened}"));
        // ...then read 1,100 times at once, which all wait for the exit.
        let mut reads = tokio::task::JoinSet::new();
        for _ in 0..1100 {
            let read =
                ask(serde_json::json!({"from": "z", "op": "read", "handle": handle, "offset": 0, "len": 64}));
            reads.spawn(async move { tokio::time::timeout(Duration::from_secs(3), read).await.ok() });
        }
        let (mut busy, mut waiting) = (0, 0);
        while let Some(done) = reads.join_next().await {
            match done.unwrap() {
                Some(reply) if reply["errno"] == 16 => busy += 1,
                Some(reply) => panic!("{reply}"),
                None => waiting += 1,
            }
        }
        (busy, waiting)
    });
    assert_eq!((busy, waiting), (76, 1024), "1,024 of one node's requests wait, the rest are refused");
    // b still answers others.
    assert!(text(&b.cli(&["stats"])).contains("processes_live: 1"));
}

#[test]
fn a_guest_uses_a_guest_scheme_of_another_node_through_its_grant() {
    let nats = Nats::start();
    let (a, b) = pair(&nats);
    let ramfs = guest("ramfs").display().to_string();
    assert_eq!(b.cli(&["spawn", "cap=stdio,scheme", &ramfs, "ramfs"]).status.code(), Some(0));
    eventually("the scheme is up", || text(&b.cli(&["ls", "/scheme/wasm/scheme"])).contains("ramfs/"));
    let client = guest("fs_client").display().to_string();
    // A guest of a's, granted b's ramfs, works in it as in a local one.
    let run = |grant: &str| {
        let pid =
            text(&a.cli(&["spawn", "cap=stdio", &format!("grant={grant}"), &client, "node:b/scheme/ramfs"]));
        let pid = pid.trim().to_string();
        assert_eq!(text(&a.cli(&["wait", &pid])).trim(), "exited(0)");
        text(&a.cli(&["log", &pid]))
    };
    let said = run("node:b/scheme/ramfs");
    for line in [
        "mkdir=ok:()",
        "write=ok:()",
        "read=ok:\"hello, world\"",
        "missing=err:2",
        "unlink=ok:()",
        "after_unlink=ok:[]",
        "rmdir=ok:()",
    ] {
        assert!(said.lines().any(|l| l == line), "{line} in:\n{said}");
    }
    assert!(said.lines().any(|l| l.starts_with("readdir=ok:") && l.contains("hello.txt")), "{said}");
    // What it removed is gone on b.
    assert_eq!(text(&b.cli(&["ls", "/scheme/ramfs"])), "");
    // Without the grant: refused here, nothing sent.
    let said = run("node:b/scheme/other");
    assert!(said.lines().any(|l| l == "write=err:13"), "{said}");
}

#[test]
fn a_message_to_a_name_on_another_node_is_answered_and_one_it_may_not_take_is_dropped() {
    let nats = Nats::start();
    let (a, b) = pair(&nats);
    let actors = guest("actors").display().to_string();
    // The server runs on b for b's remote user (spawned from a).
    let server = text(&a.cli(&["spawn", "node=b", "cap=stdio", &actors, "serve", "svc"]));
    let server = server.trim().to_string();
    assert!(line_of(&a, &server, "serving").starts_with("serving svc"));
    eventually("a knows where svc is", || text(&a.cli(&["cat", "/scheme/wasm/name/svc"])).trim() == server);
    // A guest of a's finds it by name and makes 50 round trips of 64 bytes:
    // each reply comes from the stand-in b made for it, in order.
    let caller = text(&a.cli(&["spawn", "cap=stdio,time,proc", &actors, "call", "svc", "50", "64", "stop"]));
    let caller = caller.trim().to_string();
    assert_eq!(text(&a.cli(&["wait", &caller])).trim(), "exited(0)", "{}", text(&a.cli(&["log", &caller])));
    assert!(line_of(&a, &caller, "called").starts_with("called svc rtt_ns="));
    // The last message stopped the server.
    assert_eq!(text(&a.cli(&["wait", &server])).trim(), "exited(0)");
    // Without PROC a name of another node is not found.
    let blind = text(&a.cli(&["spawn", "cap=stdio,time", &actors, "call", "svc", "1", "8"]));
    assert_ne!(text(&a.cli(&["wait", blind.trim()])).trim(), "exited(0)");
    // A process of b's own user (not b's remote user) takes nothing from
    // other nodes: the message is dropped there, and counted.
    let own = text(&b.cli(&["spawn", "cap=stdio", &actors, "serve", "own"]));
    assert!(line_of(&b, own.trim(), "serving").starts_with("serving own"));
    eventually("a knows own", || text(&a.cli(&["cat", "/scheme/wasm/name/own"])).starts_with("b/"));
    let sender = text(&a.cli(&["spawn", "cap=stdio,proc", &actors, "send-to", "own"]));
    assert_eq!(text(&a.cli(&["wait", sender.trim()])).trim(), "exited(0)");
    eventually("b counted the dropped message", || {
        text(&b.cli(&["cat", "/scheme/wasm/stats"])).contains("messages_dropped_from_nodes: 1\n")
    });
    // The server on b got nothing: it still waits.
    assert!(!text(&b.cli(&["status", own.trim()])).contains("exited"));
}

#[test]
fn a_guest_bridges_its_own_channel_to_another_node() {
    let nats = Nats::start();
    let (a, _b) = pair(&nats);
    let rtt = guest("chan_rtt");
    let rtt = rtt.to_str().unwrap();
    // A sink on b that waits `pause` ms before it reads: its pid and
    // `b/CHAN`, its channel.
    let sink_on_b = |pause: &str| {
        let sink = text(&a.cli(&["spawn", "node=b", "cap=stdio,time,shm", rtt, "node-sink", pause]));
        let sink = sink.trim().to_string();
        let inbound = line_of(&a, &sink, "chans ")["chans ".len()..].to_string();
        (sink, format!("b/{inbound}"))
    };
    // A source on `d`: `count` frames of `size` bytes from `writers`
    // writers, into the channel `to` it bridges itself; its pid.
    let source = |d: &Daemon, count: &str, size: &str, writers: &str, to: &str| {
        let spec = ["spawn", "cap=stdio,time,shm", rtt, "node-source", count, size, writers, "0", to];
        text(&d.cli(&spec)).trim().to_string()
    };
    // The source bridges its channel itself, then writes at once: the
    // bridge held the channel from the call on, so nothing is lost.
    let (sink, to) = sink_on_b("0");
    let from = source(&a, "1000", "64", "2", &to);
    assert_eq!(line_of(&a, &from, "bridge="), "bridge=ok");
    let got = line_of(&a, &sink, "frames=");
    assert!(got.starts_with("frames=1000 bytes=64000 writers=2 ordered=yes "), "{got}");
    assert_eq!(text(&a.cli(&["wait", &from])).trim(), "exited(0)");
    assert_eq!(text(&a.cli(&["wait", &sink])).trim(), "exited(0)");
    // Frames that do not fit the channel there wait for room as a parked
    // writer does (a watch on its space sequence), and all arrive.
    let (sink, to) = sink_on_b("1500");
    let from = source(&a, "200", "4096", "2", &to);
    assert_eq!(line_of(&a, &from, "bridge="), "bridge=ok");
    eventually("b's end waits for room", || {
        text(&_b.cli(&["cat", "/scheme/wasm/stats"]))
            .lines()
            .any(|l| l.starts_with("futex_watches: ") && l != "futex_watches: 0")
    });
    let got = line_of(&a, &sink, "frames=");
    assert!(got.starts_with("frames=200 bytes=819200 writers=2 ordered=yes "), "{got}");
    // Refusals come back as errnos: no such channel there, no such node.
    for (to, errno) in [("b/999999", 2), ("z/1", 2)] {
        let from = source(&a, "1", "64", "1", to);
        assert_eq!(line_of(&a, &from, "bridge="), format!("bridge=err:{errno}"), "{to}");
    }
    // The daemon's own bridge files are closed when the bridges end.
    eventually("the bridge files are closed", || open_files(&a) == 0);
    // One process has at most 64 bridges alive; they end with it.
    let (_, to) = sink_on_b("0");
    let many = text(&a.cli(&["spawn", "cap=stdio,time,shm", rtt, "bridge-many", "70", &to]));
    let many = many.trim();
    assert_eq!(line_of(&a, many, "bridged="), "bridged=64");
    assert_eq!(line_of(&a, many, "refused="), "refused=16");
    assert_eq!(a.cli(&["kill", many]).status.code(), Some(0));
    eventually("its bridges ended with it", || open_files(&a) == 0);
    // Outside a cluster there is nothing to bridge to.
    let alone = Daemon::start(&[]);
    let from = source(&alone, "1", "64", "1", "b/1");
    assert_eq!(line_of(&alone, &from, "bridge="), "bridge=err:95");
}
