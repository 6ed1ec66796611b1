//! Guests' processes across nodes, and the cluster-wide name registry.
//!
//! Processes: the daemon carries what its process manager asks of other
//! nodes ([`wasmhost::RemoteOp`]: a guest's `spawn_on`, its channel
//! bridges) over the cluster, and hands the manager what they answer (a
//! spawn's pid). Links, monitors, kills, messages and the ends that
//! other nodes' linked or monitoring processes must hear of are one-way
//! notices, in order, which the link thread carries between the
//! managers itself (`crate::cluster::notices`), not this thread.
//!
//! A guest's spawn on another node goes as a [`Request::Spawn`] naming
//! the guest (`by`) and its link or monitor, which the other node sets
//! up for that guest's stand-in as soon as the child's pid is known
//! (see [`super::remote`]). The other node accepts links, monitors and
//! kills for the processes owned by its remote user only (see
//! [`wasmhost::RemoteNotice`]).
//!
//! Names: each node tells the names its processes hold in a heartbeat
//! sent at once when they change, and again in its beats after a node
//! joined and every tenth (see [`crate::cluster::wire::Heartbeat`]);
//! each node hands the manager the names the others hold
//! ([`wasmhost::ProcessManager::set_cluster_names`]), so a name is
//! registered once in the cluster (as far as the nodes have heard: two
//! nodes registering one name within a heartbeat's travel both keep it,
//! and the others see the first node's, by node name), `name_whereis`
//! finds it on any node, and `name/NAME` reads `NODE/PID` for a name
//! held elsewhere. A name moves with its process: when the process ends
//! its name goes, and when a restarted one registers it again, on any
//! node, every node sees the new holder within a message's travel.

use wasmd_abi::Errno;
use wasmhost::{RemoteOp, RemotePid, RemoteSpawn};

use super::{spec, Daemon};
use crate::cluster::wire::{Reply, Request};
use crate::cluster::Waiter;

impl Daemon {
    /// Tells the cluster this node's names when they changed.
    pub(super) fn share_names(&mut self) {
        let Some(cluster) = self.cluster.as_ref() else { return };
        let pm = self.kernel.lock();
        let version = pm.names_version();
        if self.names_shared == Some(version) {
            return;
        }
        self.names_shared = Some(version);
        cluster.share_names(pm.names());
    }

    /// Hands the manager the names the other nodes hold now.
    pub(super) fn learn_cluster_names(&mut self) {
        let Some(cluster) = self.cluster.as_ref() else { return };
        let names = cluster.cluster_names();
        let view = names
            .into_iter()
            .map(|(name, (node, pid))| (name, RemotePid { node: node.into(), pid }))
            .collect();
        self.kernel.lock().set_cluster_names(view);
    }

    /// Carries what the process manager asks of other nodes beside its
    /// notices (which the link tells itself, see `cluster::notices`):
    /// spawns there and guests' bridges.
    pub(super) fn send_remote_ops(&mut self) {
        let Some(cluster) = self.cluster.as_mut() else { return };
        let ops = self.kernel.lock().take_remote_ops();
        let mut refused = Vec::new();
        let mut bridges = Vec::new();
        let mut ended_bridgers = Vec::new();
        for op in ops {
            match op {
                RemoteOp::Spawn { token, node, by, spawn } => {
                    let request = Request::Spawn {
                        spec: spec_text(&spawn),
                        by: Some(by),
                        link: spawn.link,
                        monitor: spawn.monitor,
                    };
                    if let Err(e) = cluster.ask(&node, request, Waiter::Spawn(token)) {
                        refused.push((token, e));
                    }
                }
                RemoteOp::BridgesEnd { by } => ended_bridgers.push(by),
                RemoteOp::Bridge { token, by, owner, region, node, chan } => {
                    bridges.push((super::bridges::GuestBridgeCall { token, by, owner, region, chan }, node));
                }
            }
        }
        for (call, node) in bridges {
            self.bridge_for_guest(call, &node);
        }
        for by in ended_bridgers {
            self.end_guest_bridges(by);
        }
        if !refused.is_empty() {
            let mut pm = self.kernel.lock();
            for (token, e) in refused {
                pm.remote_spawned(token, Err(e));
            }
        }
    }

    /// The answer to a guest's spawn on another node.
    pub(super) fn guest_spawned(&mut self, token: u64, reply: Result<Reply, (Errno, String)>) {
        let result = match reply {
            Ok(Reply::Spawned { pid }) => Ok(pid),
            Ok(Reply::Failed { errno, reason }) => {
                log::info!("a guest's spawn on another node failed: {reason}");
                Err(Errno::from_errno(errno))
            }
            Ok(_) => Err(Errno::Io),
            Err((e, reason)) => {
                log::info!("a guest's spawn on another node failed: {reason}");
                Err(e)
            }
        };
        self.kernel.lock().remote_spawned(token, result);
    }

    /// Sets up what a guest of node `from` asked with its spawn here
    /// (`by`: that guest), now that the child `pid` is known.
    pub(super) fn watch_spawned(&mut self, from: &str, by: u32, pid: u32, link: bool, monitor: Option<u64>) {
        let Some(owner) = self.cluster.as_ref().map(|c| c.remote_user()) else { return };
        let of = RemotePid { node: from.into(), pid: by };
        let mut pm = self.kernel.lock();
        if link {
            pm.remote_link(of.clone(), pid, owner);
        }
        if let Some(reference) = monitor {
            pm.remote_monitor(of, pid, reference, owner);
        }
    }
}

/// The spawn spec of a guest's spawn on another node.
fn spec_text(spawn: &RemoteSpawn) -> String {
    let caps = if spawn.caps == wasmd_abi::Caps::NONE { String::new() } else { spawn.caps.to_string() };
    let mut words = vec![format!("cap={caps}")];
    let limits = &spawn.limits;
    if let Some(pages) = limits.max_pages {
        words.push(format!("mem={pages}"));
    }
    if let Some(fuel) = limits.fuel {
        words.push(format!("fuel={fuel}"));
    }
    if let Some(handles) = limits.max_handles {
        words.push(format!("handles={handles}"));
    }
    if let Some(bytes) = limits.max_region_bytes {
        words.push(format!("region-bytes={bytes}"));
    }
    words.extend(spawn.namespace.iter().map(|g| format!("grant={g}")));
    words.push(spawn.module.clone());
    words.extend(spawn.args.iter().cloned());
    spec::join(&words)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmd_abi::{Caps, SpawnLimits};

    #[test]
    fn a_guests_spawn_reads_back_as_the_same_spec() {
        let spawn = RemoteSpawn {
            module: "/srv/my mod.wasm".into(),
            args: vec!["named".into(), "a \"b\"".into()],
            caps: Caps::STDIO.union(Caps::TIME),
            limits: SpawnLimits {
                max_pages: Some(16),
                fuel: Some(1000),
                max_handles: Some(8),
                max_region_bytes: None,
            },
            namespace: vec!["file:/srv=ro".into()],
            link: true,
            monitor: None,
        };
        let parsed = spec::parse(spec_text(&spawn).as_bytes()).unwrap();
        assert_eq!(parsed.module.to_str(), Some("/srv/my mod.wasm"));
        assert_eq!(parsed.args, ["named", "a \"b\""]);
        assert_eq!(parsed.caps, Caps::STDIO.union(Caps::TIME));
        assert_eq!(
            (parsed.limits.max_pages, parsed.limits.fuel, parsed.limits.max_handles),
            (16, Some(1000), 8)
        );
        assert_eq!(parsed.grants, ["file:/srv=ro"]);
        let bare =
            RemoteSpawn { caps: Caps::NONE, limits: SpawnLimits::default(), namespace: vec![], ..spawn };
        assert_eq!(spec::parse(spec_text(&bare).as_bytes()).unwrap().caps, Caps::NONE);
    }
}
