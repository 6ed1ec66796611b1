//! Many machines: the daemon joined to another node through NATS (in the
//! QEMU harness, a node on the Linux host reached over QEMU's network),
//! used as a native program uses it — with files under
//! `/scheme/wasm/node/NAME/`.

use std::time::{Duration, Instant};

use super::{check, names, text, wait, PATIENCE};
use crate::{eventually, Outcome, Peer, Setup, Tree};

/// A node's heartbeats may be slow to come under TCG at first.
const JOIN_PATIENCE: Duration = Duration::from_secs(90);
/// Frames bridged from a guest here to a guest on the other node.
const FRAMES: usize = 200;
/// How long the source waits before it writes.
const SOURCE_DELAY_MS: u64 = 2000;

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
        let status = text(tree.read(&node(&format!("{worker}/status")))?);
        check(status.contains("state: "), || format!("{}: {status}", node(&format!("{worker}/status"))))?;
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
        // A channel of a guest here bridged into a guest's there: every
        // frame crosses, in order per writer.
        let (frames, took) = bridge(setup, tree, &peer)?;
        Ok(format!(
            "node {} joined after {} ms; spawn, ps, status, kill, a guest scheme (write, read, ftruncate, fsync, \
             unlink) there; bridged: {frames} (first to last frame in {} ms)",
            peer.node,
            joined.as_millis(),
            took.as_millis()
        ))
    })()
    .into()
}

/// Spawns `spec` on the peer; its pid there.
fn spawn_there(tree: &mut dyn Tree, peer: &Peer, spec: &str) -> Result<String, String> {
    let answer = text(tree.exchange("/scheme/wasm/spawn", format!("node={} {spec}", peer.node).as_bytes())?);
    let pid = answer.trim().strip_prefix(&format!("{}/", peer.node)).map(str::to_string);
    pid.ok_or_else(|| format!("a spawn on {} answered {answer:?}", peer.node))
}

/// The first line of `log` (a file's path) that starts with `prefix`.
fn line_of(tree: &mut dyn Tree, log: &str, prefix: &str) -> Result<String, String> {
    let mut found = None;
    eventually(&format!("a line `{prefix}...` in {log}"), PATIENCE, || {
        found = text(tree.read(log)?).lines().find(|l| l.starts_with(prefix)).map(str::to_string);
        Ok(found.is_some())
    })?;
    Ok(found.unwrap_or_default())
}

/// Bridges a source here into a sink on the peer; what the sink said and
/// how long the sink took from the first frame to the last.
fn bridge(setup: &Setup, tree: &mut dyn Tree, peer: &Peer) -> Result<(String, Duration), String> {
    let sink_spec = format!("cap=stdio,time,shm {}/chan_rtt.wasm node-sink 0", peer.fixtures);
    let sink = spawn_there(tree, peer, &sink_spec)?;
    let sink_log = format!("/scheme/wasm/node/{}/{sink}/log", peer.node);
    let inbound = line_of(tree, &sink_log, "chans ")?["chans ".len()..].to_string();
    let source =
        // It writes after SOURCE_DELAY_MS: the bridge must hold the channel
        // by then (a channel without a strong reader holds no writer back).
        tree.spawn(&format!(
            "cap=stdio,time,shm {} node-source {FRAMES} 64 2 {SOURCE_DELAY_MS}",
            setup.fixture("chan_rtt")
        ))?;
    let out = line_of(tree, &format!("/scheme/wasm/{source}/log"), "chans ")?["chans ".len()..].to_string();
    let answer =
        text(tree.exchange("/scheme/wasm/bridge", format!("{out} {}/{inbound}", peer.node).as_bytes())?);
    check(answer == format!("bridged {FRAMES} frames\n"), || format!("the bridge answered {answer:?}"))?;
    let said = line_of(tree, &sink_log, "frames=")?;
    let expected = format!("frames={FRAMES} bytes={} writers=2 ordered=yes ", FRAMES * 64);
    check(said.starts_with(&expected), || format!("the sink there said {said:?}"))?;
    check(wait(tree, source)? == "exited(0)", || "the source did not exit 0".into())?;
    // The sink's time from its first frame to the end of the stream.
    let ns: u64 = said.split(" ns=").nth(1).and_then(|n| n.trim().parse().ok()).unwrap_or(0);
    Ok((said.split(" ns=").next().unwrap_or("").to_string(), Duration::from_nanos(ns)))
}
