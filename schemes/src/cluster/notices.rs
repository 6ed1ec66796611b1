//! Notices between the processes of two nodes, on the link thread: what
//! this node's process manager tells other nodes (links, unlinks,
//! monitors, kills, messages, ends: [`wasmhost::RemoteNotice`]) and what
//! other nodes tell it ([`Notice`]), with no other thread between.
//!
//! Outbound: a guest's hostcall queues a notice in the manager, whose
//! notice waker (set by the daemon when it joins the cluster, see
//! [`waker`]) wakes the link's loop; the loop takes what waits
//! ([`tell`]) and publishes each to its node's notice subject, in the
//! order made. A link or monitor of a process of a node that is not
//! alive ends at once (`noconnection`), as that node's leaving would
//! have ended it; anything else for such a node is dropped. Inbound: a
//! notice from another node is handed to the manager at once
//! ([`deliver`]), for the processes of this node's remote user.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use wasmd_abi::ExitStatus;
use wasmhost::{KernelHandle, NoticeWaker, Owner, RemoteNotice, RemotePid};

use super::link::SharedPeers;
use super::wire::{self, Notice, NoticeEnvelope};
use super::ClusterConfig;

/// The manager's notice waker for a link: it wakes the link's loop
/// through `ready` while the link runs (`running`), and says when it no
/// longer does.
pub(crate) fn waker(ready: Arc<tokio::sync::Notify>, running: Arc<AtomicBool>) -> NoticeWaker {
    Arc::new(move || {
        let up = running.load(Ordering::SeqCst);
        if up {
            ready.notify_one();
        }
        up
    })
}

/// Publishes the notices the manager has for other nodes (see the
/// module docs).
pub(crate) async fn tell(
    client: &async_nats::Client,
    config: &ClusterConfig,
    kernel: &KernelHandle,
    peers: &SharedPeers,
) {
    let notices = kernel.lock().take_remote_notices();
    let mut lost = Vec::new();
    for notice in notices {
        let node = notice.to().node.clone();
        let alive = peers.lock().unwrap_or_else(|e| e.into_inner()).is_alive(&node, config.node_timeout);
        if !alive {
            match notice {
                RemoteNotice::Link { to, by } => lost.push((to, by, None)),
                RemoteNotice::Monitor { to, by, reference } => lost.push((to, by, Some(reference))),
                _ => {}
            }
            continue;
        }
        let envelope = NoticeEnvelope { from: config.node.clone(), notice: on_the_wire(notice) };
        let bytes = serde_json::to_vec(&envelope).unwrap_or_default();
        if let Err(e) = client.publish(wire::notice_subject(&node), bytes.into()).await {
            log::warn!("nats: notice to {node} not sent: {e}");
        }
    }
    if !lost.is_empty() {
        let mut pm = kernel.lock();
        for (to, by, reference) in lost {
            pm.remote_ended(to, by, Some(ExitStatus::NoConnection), reference);
        }
    }
}

/// A notice of this node's manager as it crosses to the other node.
fn on_the_wire(notice: RemoteNotice) -> Notice {
    match notice {
        RemoteNotice::Link { to, by } => Notice::Link { pid: to.pid, by },
        RemoteNotice::Unlink { to, by } => Notice::Unlink { pid: to.pid, by },
        RemoteNotice::Monitor { to, by, reference } => Notice::Monitor { pid: to.pid, by, reference },
        RemoteNotice::Demonitor { to, by, reference } => Notice::Demonitor { pid: to.pid, by, reference },
        RemoteNotice::Kill { to, by } => Notice::Kill { pid: to.pid, by },
        RemoteNotice::Send { to, by, tag, data } => Notice::Send { pid: to.pid, by, tag, data },
        RemoteNotice::Ended { to, pid, status, reference } => {
            Notice::Ended { pid, to: to.pid, status: status.map(|s| s.to_string()), reference }
        }
    }
}

/// Hands the manager a notice of node `from` (requests on processes of
/// this node act for `owner`, the remote user).
pub(crate) fn deliver(kernel: &KernelHandle, owner: Owner, from: &str, notice: Notice) {
    let of = |pid| RemotePid { node: from.into(), pid };
    let mut pm = kernel.lock();
    match notice {
        Notice::Link { pid, by } => pm.remote_link(of(by), pid, owner),
        Notice::Unlink { pid, by } => pm.remote_unlink(of(by), pid),
        Notice::Monitor { pid, by, reference } => pm.remote_monitor(of(by), pid, reference, owner),
        Notice::Demonitor { pid, by, reference } => pm.remote_demonitor(of(by), pid, reference),
        Notice::Kill { pid, by } => {
            if let Err(e) = pm.remote_kill(pid, owner) {
                log::info!("node {from}: process {by} may not kill {pid} here: {e}");
            }
        }
        Notice::Ended { pid, to, status, reference } => {
            let status = status.and_then(|s| s.parse::<ExitStatus>().ok());
            pm.remote_ended(of(pid), to, status, reference);
        }
        Notice::Send { pid, by, tag, data } => {
            if !pm.remote_send(of(by), pid, tag, data, owner) {
                log::debug!("node {from}: a message of process {by} to {pid} was dropped");
            }
        }
        // Bridges' credit is the link's own (see `bridge`).
        Notice::Credit { .. } => {}
    }
}
