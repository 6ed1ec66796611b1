//! Processes of other nodes, on one process manager: what another node's
//! notices may do to local processes, and the bounds that hold against a
//! peer that sends too many (the cluster tests run the rest across real
//! daemons and NATS).

mod common;

use common::Harness;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use wasmd_abi::mailbox::MAX_WATCHES;
use wasmd_abi::ExitStatus;

use wasmhost::{RemoteNotice, RemotePid, MAX_STAND_INS};

fn peer(pid: u32) -> RemotePid {
    RemotePid { node: "b".into(), pid }
}

/// A manager with one idle process, and its owner; its notices wait
/// for a link that never takes them.
fn idle_process() -> (Harness, u32, wasmhost::Owner) {
    let mut h = Harness::new();
    h.pm.set_notice_waker(Some(Arc::new(|| true)));
    let pid = h.wat("idle");
    h.pm.run(16);
    let owner = h.pm.process(pid).unwrap().owner;
    (h, pid, owner)
}

#[test]
fn a_peer_cannot_grow_a_process_records_without_end() {
    let (mut h, pid, owner) = idle_process();
    // One peer process monitoring it again and again, then many linking.
    for reference in 0..(MAX_WATCHES as u64 + 100) {
        h.pm.remote_monitor(peer(7), pid, reference, owner);
    }
    for by in 0..(MAX_WATCHES as u32 + 100) {
        h.pm.remote_link(peer(1000 + by), pid, owner);
    }
    let watches = &h.pm.process(pid).unwrap().watches;
    assert_eq!(watches.watchers.len(), MAX_WATCHES, "monitors of it are bounded");
    assert_eq!(watches.links.len(), MAX_WATCHES, "links with it are bounded");
    assert!(h.pm.stand_ins() <= MAX_STAND_INS);
    // Each one refused was told so: a monitor's down with no status, a
    // link's end as `noproc`.
    let ops = h.pm.take_remote_notices();
    let downs = ops
        .iter()
        .filter(|op| matches!(op, RemoteNotice::Ended { status: None, reference: Some(_), .. }))
        .count();
    let noprocs = ops
        .iter()
        .filter(|op| {
            matches!(op, RemoteNotice::Ended { status: Some(ExitStatus::NoProcess), reference: None, .. })
        })
        .count();
    assert_eq!((downs, noprocs), (100, 100));
    // Its end tells every peer process that watched it.
    h.pm.kill(pid).unwrap();
    let ops = h.pm.take_remote_notices();
    let ended = ops.iter().filter(|op| matches!(op, RemoteNotice::Ended { pid: p, .. } if *p == pid)).count();
    assert_eq!(ended, 2 * MAX_WATCHES);
    assert_eq!(h.pm.stand_ins(), 0, "nothing is kept for them after");
}

#[test]
fn a_peer_may_not_touch_a_process_of_another_user_nor_forge_an_end() {
    let (mut h, pid, owner) = idle_process();
    let stranger = wasmhost::Owner { uid: owner.uid + 1, gid: owner.gid + 1 };
    h.pm.remote_link(peer(1), pid, stranger);
    h.pm.remote_monitor(peer(1), pid, 5, stranger);
    assert!(h.pm.remote_kill(pid, stranger).is_err());
    // An end of a process it is not linked with, from any peer: nothing.
    h.pm.remote_ended(peer(1), pid, Some(ExitStatus::Killed), None);
    h.pm.remote_ended(peer(2), pid, Some(ExitStatus::Killed), Some(1));
    let p = h.pm.process(pid).unwrap();
    assert!(!p.is_exited() && p.watches.links.is_empty() && p.watches.watchers.is_empty());
    // A node that leaves ends the links its processes had.
    h.pm.remote_link(peer(3), pid, owner);
    assert_eq!(h.pm.process(pid).unwrap().watches.links.len(), 1);
    h.pm.node_left("b");
    h.pm.run(16);
    assert_eq!(
        h.status(pid),
        Some(ExitStatus::Killed),
        "an idle process that traps no exits ends with its link"
    );
}

#[test]
fn messages_of_a_peer_are_taken_within_bounds_and_only_by_whom_they_may_reach() {
    use wasmd_abi::mailbox::{MAILBOX_MESSAGES, MAX_MESSAGE_LEN, NOTICE_BASE};
    let (mut h, pid, owner) = idle_process();
    let stranger = wasmhost::Owner { uid: owner.uid + 1, gid: owner.gid + 1 };
    // Garbage and a process that is not the remote user's: dropped.
    assert!(!h.pm.remote_send(peer(1), pid, NOTICE_BASE, b"forged notice".to_vec(), owner));
    assert!(!h.pm.remote_send(peer(1), pid, 1, vec![0; MAX_MESSAGE_LEN + 1], owner));
    assert!(!h.pm.remote_send(peer(1), pid, 1, b"hi".to_vec(), stranger));
    assert!(!h.pm.remote_send(peer(1), 999, 1, b"hi".to_vec(), owner));
    assert_eq!(h.pm.remote_messages_dropped(), 4);
    assert_eq!(h.pm.stand_ins(), 0, "nothing kept for what was dropped");
    // One peer floods it: the mailbox's bound holds, the rest is dropped
    // and counted; one stand-in stands for the sender.
    let sent = MAILBOX_MESSAGES + 100;
    let taken = (0..sent).filter(|_| h.pm.remote_send(peer(7), pid, 1, b"x".to_vec(), owner)).count();
    assert_eq!(taken, MAILBOX_MESSAGES);
    assert_eq!(h.pm.remote_messages_dropped(), 4 + 100);
    assert_eq!(h.pm.stand_ins(), 1);
    let queued = h.pm.process(pid).unwrap().mailbox_len();
    assert_eq!(queued, MAILBOX_MESSAGES);
    // The receiver holds the sender's stand-in: its answers may go back.
    assert_eq!(h.pm.process(pid).unwrap().watches.stand_ins.len(), 1);
    // Its end lets the stand-in go.
    h.pm.kill(pid).unwrap();
    h.pm.run(16);
    assert_eq!(h.pm.stand_ins(), 0);
}

#[test]
fn a_message_dropped_for_a_full_mailbox_keeps_nothing_for_its_sender() {
    use wasmd_abi::mailbox::MAILBOX_MESSAGES;
    let (mut h, pid, owner) = idle_process();
    for _ in 0..MAILBOX_MESSAGES {
        assert!(h.pm.remote_send(peer(7), pid, 1, b"x".to_vec(), owner));
    }
    // Full: each new sender's message is dropped, and no stand-in or
    // watch is kept for it.
    for by in 0..100 {
        assert!(!h.pm.remote_send(peer(1000 + by), pid, 1, b"x".to_vec(), owner));
    }
    assert_eq!(h.pm.stand_ins(), 1);
    assert_eq!(h.pm.process(pid).unwrap().watches.stand_ins.len(), 1);
}

#[test]
fn notices_wake_the_link_and_are_dropped_once_it_is_gone() {
    let (mut h, pid, owner) = idle_process();
    let wakes = Arc::new(AtomicUsize::new(0));
    let up = Arc::new(AtomicBool::new(true));
    let (w, u) = (wakes.clone(), up.clone());
    h.pm.set_notice_waker(Some(Arc::new(move || {
        w.fetch_add(1, Ordering::SeqCst);
        u.load(Ordering::SeqCst)
    })));
    // A link of a peer process that is refused (another user's) is told
    // back at once: a notice, and the link woken.
    let stranger = wasmhost::Owner { uid: owner.uid + 1, gid: owner.gid + 1 };
    h.pm.remote_link(peer(1), pid, stranger);
    assert_eq!(wakes.load(Ordering::SeqCst), 1);
    let told = h.pm.take_remote_notices();
    assert!(
        matches!(&told[..], [RemoteNotice::Ended { to, pid: p, status: Some(ExitStatus::NoProcess), reference: None }]
            if *to == peer(1) && *p == pid),
        "{told:?}"
    );
    // The link ended: what comes is dropped, and what waited too.
    h.pm.remote_link(peer(2), pid, stranger);
    up.store(false, Ordering::SeqCst);
    h.pm.remote_link(peer(3), pid, stranger);
    assert!(h.pm.take_remote_notices().is_empty(), "nothing waits for a link that is gone");
    h.pm.remote_link(peer(4), pid, stranger);
    assert_eq!(wakes.load(Ordering::SeqCst), 3, "a link that is gone is not asked again");
    assert!(h.pm.take_remote_notices().is_empty());
    // With no link at all, nothing is kept either.
    h.pm.set_notice_waker(None);
    h.pm.remote_link(peer(5), pid, stranger);
    assert!(h.pm.take_remote_notices().is_empty());
}
