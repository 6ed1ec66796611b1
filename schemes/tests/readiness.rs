//! `fevent` readiness of control files, driven in-process through the
//! OS-neutral [`Daemon`] (what the Redox frontend posts as `fevent`s).

use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmd_abi::Errno;

use wasmd::control::{Caller, Daemon, Poll, EVENT_READ, EVENT_WRITE};
use wasmd_abi::scheme::flags;
use wasmd_tests::guest;

fn daemon() -> Daemon {
    let platform = wasmd::sys::OsPlatform::with_file_root(None).unwrap();
    Daemon::with_workers(Arc::new(platform), Arc::new(wasmd::loader::FsModuleLoader::new(Vec::new())), 0)
}

/// Steps the daemon until `f` gives a value (10 s at most).
fn settle<T>(d: &mut Daemon, mut f: impl FnMut(&mut Daemon) -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        d.step(64);
        if let Some(v) = f(d) {
            return v;
        }
        assert!(Instant::now() < deadline, "the daemon never got there");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// A non-blocking read: the data, or `None` while it would wait.
fn try_read(d: &mut Daemon, fd: u64, len: usize) -> Option<Vec<u8>> {
    match d.read(fd, 0, len, true, 0) {
        Poll::Ready(Ok(data)) => Some(data),
        Poll::Ready(Err(Errno::WouldBlock)) => None,
        other => panic!("read: {other:?}"),
    }
}

fn write(d: &mut Daemon, fd: u64, data: &[u8]) {
    match d.write(fd, 0, data, false, 0) {
        Poll::Ready(Ok(n)) => assert_eq!(n, data.len()),
        other => panic!("write: {other:?}"),
    }
}

#[test]
fn fevent_reports_channel_and_wait_readiness() {
    let mut d = daemon();
    let spawn = d.open("spawn", flags::O_RDWR, Caller::ROOT).unwrap();
    write(&mut d, spawn, format!("cap=stdio,time,shm {}", guest("chan_native").display()).as_bytes());
    let pid = settle(&mut d, |d| try_read(d, spawn, 32));
    let pid = String::from_utf8(pid).unwrap().trim().to_string();
    let ids = settle(&mut d, |d| {
        // `log` is a snapshot taken at open.
        let log = d.open(&format!("{pid}/log"), flags::O_RDONLY, Caller::ROOT).unwrap();
        let text = String::from_utf8(try_read(d, log, 4096)?).unwrap();
        d.close(log);
        text.lines().find(|l| l.starts_with("shm=")).map(str::to_string)
    });
    let id = |key: &str| ids.split(' ').find_map(|kv| kv.strip_prefix(key)).unwrap().to_string();
    let (shm, out, inbound) = (id("shm="), id("out="), id("in="));

    // A channel with frames is readable at once (a read-only file is never
    // writable).
    let full = d.open(&format!("chan/{out}"), flags::O_RDONLY, Caller::ROOT).unwrap();
    assert_eq!(d.fevent(full), Ok(EVENT_READ));
    // An empty one is not, and becomes readable when a frame arrives.
    let reader = d.open(&format!("chan/{inbound}"), flags::O_RDONLY, Caller::ROOT).unwrap();
    let writer = d.open(&format!("chan/{inbound}"), flags::O_WRONLY, Caller::ROOT).unwrap();
    assert_eq!(d.fevent(reader), Ok(0));
    d.step(64);
    assert!(d.take_events().is_empty(), "nothing changed yet");
    write(&mut d, writer, b"ping");
    d.step(64);
    assert_eq!(d.take_events(), vec![(reader, EVENT_READ)]);
    // Reported once per change, not on every step.
    d.step(64);
    assert!(d.take_events().is_empty());

    // `PID/wait` becomes readable when the guest exits.
    let wait = d.open(&format!("{pid}/wait"), flags::O_RDONLY, Caller::ROOT).unwrap();
    assert_eq!(d.fevent(wait), Ok(EVENT_WRITE));
    write(&mut d, writer, b"second");
    let word = d.open(&format!("shm/{shm}"), flags::O_RDWR, Caller::ROOT).unwrap();
    match d.write(word, 64, &1u32.to_le_bytes(), false, 0) {
        Poll::Ready(Ok(4)) => {}
        other => panic!("{other:?}"),
    }
    let events = settle(&mut d, |d| {
        let events = d.take_events();
        events.iter().any(|(id, _)| *id == wait).then_some(events)
    });
    assert!(events.contains(&(wait, EVENT_READ | EVENT_WRITE)), "{events:?}");
    match d.read(wait, 0, 64, true, 0) {
        Poll::Ready(Ok(status)) => assert_eq!(status, b"exited(0)\n"),
        other => panic!("{other:?}"),
    }
    // Write readiness: the native reader (strong, reading nothing) holds
    // the ring; a full Park channel is not writable until it reads.
    assert_eq!(d.fevent(writer), Ok(EVENT_WRITE), "a write-only file is never readable");
    let mut sent = 0;
    while let Poll::Ready(Ok(_)) = d.write(writer, 0, &[9; 200], true, 0) {
        sent += 1;
        assert!(sent < 1000, "the channel never filled");
    }
    d.step(64);
    let _ = d.take_events();
    assert_eq!(d.fevent(writer), Ok(0), "full: neither readable nor writable");
    let mut drained = 0;
    while let Some(frame) = try_read(&mut d, reader, 4096) {
        assert!(!frame.is_empty());
        drained += 1;
    }
    assert!(drained >= sent, "{drained} frames read, {sent} filler frames written");
    d.step(64);
    assert!(d.take_events().contains(&(writer, EVENT_WRITE)), "room again: writable");
    // A read-only file does not write, a write-only one does not read.
    assert!(matches!(d.write(reader, 0, b"x", true, 0), Poll::Ready(Err(Errno::BadHandle))));
    assert!(matches!(d.read(writer, 0, 64, true, 0), Poll::Ready(Err(Errno::BadHandle))));
    // Unknown files have no readiness.
    assert_eq!(d.fevent(9999), Err(Errno::BadHandle));
}
