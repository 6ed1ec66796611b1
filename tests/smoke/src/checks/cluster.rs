//! Many machines: the daemon joined to another node through NATS (in the
//! QEMU harness, a node on the Linux host reached over QEMU's network),
//! used as a native program uses it — with files under
//! `/scheme/wasm/node/NAME/`.

use std::time::{Duration, Instant};

use super::{check, line_in, names, text, wait, PATIENCE};
use crate::{eventually, Outcome, Peer, Setup, Tree};

/// A node's heartbeats may be slow to come under TCG at first.
const JOIN_PATIENCE: Duration = Duration::from_secs(90);
/// Frames bridged from a guest here to a guest on the other node.
const FRAMES: usize = 200;
/// How long the source waits before it writes.
const SOURCE_DELAY_MS: u64 = 2000;
/// How long a stopped node may take to be seen gone (its node timeout,
/// 20 s in the QEMU harness, and TCG's slowness).
const LEAVE_PATIENCE: Duration = Duration::from_secs(90);

pub(super) fn cluster(setup: &Setup) -> Outcome {
    let Some(peer) = setup.peer.clone() else {
        return Outcome::Skip("no cluster: the daemon was started without another node to join".into());
    };
    (|| {
        let mut tree = setup.tree()?;
        let tree = tree.as_mut();
        let node = |rest: &str| format!("/scheme/wasm/node/{}/{rest}", peer.node);
        let started = Instant::now();
        eventually(&format!("node {} in /scheme/wasm/node", peer.node), JOIN_PATIENCE, || {
            Ok(names(tree.list("/scheme/wasm/node")?).contains(&peer.node))
        })?;
        let joined = started.elapsed();
        // A process spawned there, seen and killed from here.
        let worker = spawn_there(tree, &peer, &format!("cap=stdio,time {}/worker.wasm sleep 600000", peer.examples))?;
        let ps = text(tree.read(&node("ps"))?);
        check(ps.lines().any(|l| l.split_whitespace().next() == Some(worker.as_str())), || {
            format!("{} has no pid {worker}:\n{ps}", node("ps"))
        })?;
        // It acts there for that node's remote user (nobody), not for us.
        let status = text(tree.read(&node(&format!("{worker}/status")))?);
        check(super::field(&status, "owner").as_deref() == Some("65534:65534"), || {
            format!("{}: {status}", node(&format!("{worker}/status")))
        })?;
        tree.write(&node(&format!("{worker}/ctl")), b"kill")?;
        let ended = text(tree.read(&node(&format!("{worker}/wait")))?);
        check(ended.trim() == "killed", || format!("{worker} there ended {ended:?}, not killed"))?;
        // A guest scheme there, used here with plain file calls.
        let fs = spawn_there(tree, &peer, &format!("cap=stdio,scheme {}/ramfs.wasm smokenode", peer.examples))?;
        let file = node("scheme/smokenode/notes.txt");
        eventually("the scheme there to take a file", PATIENCE, || Ok(tree.write(&file, b"hello from here").is_ok()))?;
        let back = tree.read(&file)?;
        check(back == b"hello from here", || format!("{file} reads {:?}", text(back.clone())))?;
        tree.truncate_and_sync(&file, 5)?;
        let cut = tree.read(&file)?;
        check(cut == b"hello", || format!("{file} after ftruncate 5: {:?}", text(cut.clone())))?;
        tree.remove(&file)?;
        let left = tree.list(&node("scheme/smokenode"))?;
        check(left.is_empty(), || format!("after unlink {} lists {left:?}", node("scheme/smokenode")))?;
        tree.write(&node(&format!("{fs}/ctl")), b"kill")?;
        // A guest there uses a guest scheme here, through its grant.
        let here = names(tree.list("/scheme/wasm/node")?).into_iter().find(|n| *n != peer.node);
        let here = here.ok_or("this node is not in /scheme/wasm/node")?;
        let ours = super::guest_schemes::ramfs(setup, tree, "smokehere")?;
        let grant = format!("node:{here}/scheme/smokehere");
        let client = spawn_there(
            tree,
            &peer,
            &format!("cap=stdio grant={grant} {}/fs_client.wasm {grant}", peer.fixtures),
        )?;
        let ended = text(tree.read(&node(&format!("{client}/wait")))?);
        let said = text(tree.read(&node(&format!("{client}/log")))?);
        check(ended.trim() == "exited(0)", || format!("fs_client there ended {ended:?}: {said}"))?;
        for line in ["write=ok:()", "read=ok:\"hello, world\"", "unlink=ok:()", "rmdir=ok:()"] {
            check(said.lines().any(|l| l == line), || format!("fs_client there did not say {line}:\n{said}"))?;
        }
        super::kill(tree, ours)?;
        // Mailbox messages: a guest here finds a server there by name.
        let rtt = mail(setup, tree, &peer)?;
        // Channels bridged both ways: every frame crosses, in order per
        // writer.
        let (there, took) = bridge(setup, tree, &peer)?;
        let (back, took_back) = bridge_back(setup, tree, &peer, &here)?;
        let own = guest_bridge(setup, tree, &peer)?;
        // Last, the other node dies.
        let death = match &setup.stop_peer {
            Some(stop) => {
                let left = node_death(setup, tree, &peer, stop.as_ref())?;
                format!(
                    "; stopped, node {} was gone after {} s, a monitor here of its process ended noconnection \
                     and its name went",
                    peer.node,
                    left.as_secs()
                )
            }
            None => "; its death not tried (nothing here can stop it)".to_string(),
        };
        Ok(format!(
            "node {} joined after {} ms; spawn, ps, status, kill, a guest scheme (write, read, ftruncate, fsync, \
             unlink) there; a guest there used one here (fs_client: write, read, unlink, rmdir); 64 B mailbox \
             round trip with a server there {} µs; bridged there: {there} ({} ms first to last frame); back: \
             {back} ({} ms); a guest's own bridge there: {own}{death}",
            peer.node,
            joined.as_millis(),
            rtt / 1000,
            took.as_millis(),
            took_back.as_millis()
        ))
    })()
    .into()
}

/// The peer's daemon is stopped (`stop`): it leaves the cluster, a guest
/// here monitoring a process there (found by its name) sees it end
/// `noconnection`, and the name goes. How long the node took to be gone.
fn node_death(setup: &Setup, tree: &mut dyn Tree, peer: &Peer, stop: &dyn Fn()) -> Result<Duration, String> {
    named_there(tree, peer, "smoke-gone", &format!("{}/supervision.wasm named", peer.fixtures))?;
    let watcher =
        tree.spawn(&format!("cap=stdio,time,proc {} watch-name smoke-gone", setup.fixture("supervision")))?;
    super::log_line(tree, watcher, "found ")?;
    stop();
    let stopped = Instant::now();
    eventually(&format!("node {} gone from /scheme/wasm/node", peer.node), LEAVE_PATIENCE, || {
        Ok(!names(tree.list("/scheme/wasm/node")?).contains(&peer.node))
    })?;
    let left = stopped.elapsed();
    let down = super::log_line(tree, watcher, "down ")?;
    check(down.trim() == "down noconnection", || format!("the monitor of smoke-gone ended: {down:?}"))?;
    eventually("the name smoke-gone gone here", PATIENCE, || {
        Ok(tree.read("/scheme/wasm/name/smoke-gone").map_or(true, |held| text(held).trim().is_empty()))
    })?;
    super::kill(tree, watcher)?;
    Ok(left)
}

/// Spawns `MODULE NAME` (`module`: the path and first arguments of a guest
/// that registers its last argument as a name) on the peer and waits
/// until the name is seen here (`/scheme/wasm/name/NAME`); its pid there.
fn named_there(tree: &mut dyn Tree, peer: &Peer, name: &str, module: &str) -> Result<String, String> {
    let pid = spawn_there(tree, peer, &format!("cap=stdio {module} {name}"))?;
    let file = format!("/scheme/wasm/name/{name}");
    eventually(&format!("the name {name}, seen here"), PATIENCE, || {
        Ok(text(tree.read(&file)?).trim() == format!("{}/{pid}", peer.node))
    })?;
    Ok(pid)
}

/// Spawns `spec` on the peer; its pid there.
fn spawn_there(tree: &mut dyn Tree, peer: &Peer, spec: &str) -> Result<String, String> {
    let answer = text(tree.exchange("/scheme/wasm/spawn", format!("node={} {spec}", peer.node).as_bytes())?);
    let pid = answer.trim().strip_prefix(&format!("{}/", peer.node)).map(str::to_string);
    pid.ok_or_else(|| format!("a spawn on {} answered {answer:?}", peer.node))
}

/// Bridges a source here into a sink on the peer; what the sink said and
/// how long the sink took from the first frame to the last.
fn bridge(setup: &Setup, tree: &mut dyn Tree, peer: &Peer) -> Result<(String, Duration), String> {
    let sink_spec = format!("cap=stdio,time,shm {}/chan_rtt.wasm node-sink 0", peer.fixtures);
    let sink = spawn_there(tree, peer, &sink_spec)?;
    let sink_log = format!("/scheme/wasm/node/{}/{sink}/log", peer.node);
    let inbound = line_in(tree, &sink_log, "chans ")?["chans ".len()..].to_string();
    let source =
        // It writes after SOURCE_DELAY_MS: the bridge must hold the channel
        // by then (a channel without a strong reader holds no writer back).
        tree.spawn(&format!(
            "cap=stdio,time,shm {} node-source {FRAMES} 64 2 {SOURCE_DELAY_MS}",
            setup.fixture("chan_rtt")
        ))?;
    let out = line_in(tree, &format!("/scheme/wasm/{source}/log"), "chans ")?["chans ".len()..].to_string();
    let answer =
        text(tree.exchange("/scheme/wasm/bridge", format!("{out} {}/{inbound}", peer.node).as_bytes())?);
    check(answer == format!("bridged {FRAMES} frames\n"), || format!("the bridge answered {answer:?}"))?;
    let said = line_in(tree, &sink_log, "frames=")?;
    let expected = format!("frames={FRAMES} bytes={} writers=2 ordered=yes ", FRAMES * 64);
    check(said.starts_with(&expected), || format!("the sink there said {said:?}"))?;
    check(wait(tree, source)? == "exited(0)", || "the source did not exit 0".into())?;
    // The sink's time from its first frame to the end of the stream.
    Ok(sink_said(&said))
}

/// ns per 64-byte mailbox round trip between a guest here and a server
/// there that it finds by name (`PROC`).
fn mail(setup: &Setup, tree: &mut dyn Tree, peer: &Peer) -> Result<u64, String> {
    let server = named_there(tree, peer, "smoke-echo", &format!("{}/actors.wasm serve", peer.fixtures))?;
    let caller =
        tree.spawn(&format!("cap=stdio,time,proc {} call smoke-echo 20 64 stop", setup.fixture("actors")))?;
    let said = super::log_line(tree, caller, "called ")?;
    check(wait(tree, caller)? == "exited(0)", || format!("the caller did not exit 0: {said}"))?;
    let ended = text(tree.read(&format!("/scheme/wasm/node/{}/{server}/wait", peer.node))?);
    check(ended.trim() == "exited(0)", || format!("the server there ended {ended:?}"))?;
    said.split("rtt_ns=")
        .nth(1)
        .and_then(|n| n.trim().parse().ok())
        .ok_or_else(|| format!("the caller said {said:?}"))
}

/// Bridges a source there into a sink here (the bridge made there, through
/// its tree: `node/NAME/bridge`); what the sink said and how long it took.
fn bridge_back(
    setup: &Setup,
    tree: &mut dyn Tree,
    peer: &Peer,
    here: &str,
) -> Result<(String, Duration), String> {
    // The sink must be this node's remote user's (a bridge writes as that
    // user): it is spawned here by the other node.
    let sink_spec = format!("node={here} cap=stdio,time,shm {} node-sink 0", setup.fixture("chan_rtt"));
    let answer =
        text(tree.exchange(&format!("/scheme/wasm/node/{}/spawn", peer.node), sink_spec.as_bytes())?);
    let sink: u32 = answer
        .trim()
        .strip_prefix(&format!("{here}/"))
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| format!("a spawn here through {} answered {answer:?}", peer.node))?;
    let inbound = super::log_line(tree, sink, "chans ")?["chans ".len()..].to_string();
    let source_spec = format!(
        "cap=stdio,time,shm {}/chan_rtt.wasm node-source {FRAMES} 64 2 {SOURCE_DELAY_MS}",
        peer.fixtures
    );
    let source = spawn_there(tree, peer, &source_spec)?;
    let source_log = format!("/scheme/wasm/node/{}/{source}/log", peer.node);
    let out = line_in(tree, &source_log, "chans ")?["chans ".len()..].to_string();
    let line = format!("{out} {here}/{inbound}");
    let answer = text(tree.exchange(&format!("/scheme/wasm/node/{}/bridge", peer.node), line.as_bytes())?);
    check(answer == format!("bridged {FRAMES} frames\n"), || {
        format!("the bridge there answered {answer:?}")
    })?;
    let said = super::log_line(tree, sink, "frames=")?;
    let expected = format!("frames={FRAMES} bytes={} writers=2 ordered=yes ", FRAMES * 64);
    check(said.starts_with(&expected), || format!("the sink here said {said:?}"))?;
    Ok(sink_said(&said))
}

/// A guest here bridges its own channel into a sink there
/// (`chan_bridge`); what the sink said.
fn guest_bridge(setup: &Setup, tree: &mut dyn Tree, peer: &Peer) -> Result<String, String> {
    let sink_spec = format!("cap=stdio,time,shm {}/chan_rtt.wasm node-sink 0", peer.fixtures);
    let sink = spawn_there(tree, peer, &sink_spec)?;
    let sink_log = format!("/scheme/wasm/node/{}/{sink}/log", peer.node);
    let inbound = line_in(tree, &sink_log, "chans ")?["chans ".len()..].to_string();
    let source = tree.spawn(&format!(
        "cap=stdio,time,shm {} node-source {FRAMES} 64 2 0 {}/{inbound}",
        setup.fixture("chan_rtt"),
        peer.node
    ))?;
    let bridged = super::log_line(tree, source, "bridge=")?;
    check(bridged == "bridge=ok", || format!("the guest's chan_bridge said {bridged}"))?;
    let said = line_in(tree, &sink_log, "frames=")?;
    let expected = format!("frames={FRAMES} bytes={} writers=2 ordered=yes ", FRAMES * 64);
    check(said.starts_with(&expected), || format!("the sink there said {said:?}"))?;
    check(wait(tree, source)? == "exited(0)", || "the source did not exit 0".into())?;
    Ok(sink_said(&said).0)
}

/// A sink's `frames=… ns=T` line: what it got, and its time from the
/// first frame to the last.
fn sink_said(said: &str) -> (String, Duration) {
    let (got, ns) = said.split_once(" ns=").unwrap_or((said, "0"));
    (got.to_string(), Duration::from_nanos(ns.trim().parse().unwrap_or(0)))
}
