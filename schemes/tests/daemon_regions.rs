//! `wasmd daemon` end to end on Linux: `shm/` and `chan/`, a guest's
//! regions and channels as files (and, on Linux, its region mapped
//! natively).

mod common;

use std::time::{Duration, Instant};

use common::{frame, text, Daemon};
use wasmd::client::ClientError;
use wasmd::sys::linux::protocol::{Reply, Request};
use wasmd_abi::scheme::flags;
use wasmd_tests::guest;

/// Reads the guest's log until a line starting with `prefix` appears.
fn wait_for_line(d: &Daemon, pid: &str, prefix: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = text(&d.cli(&["cat", &format!("/scheme/wasm/{pid}/log")]));
        if let Some(line) = log.lines().find(|l| l.starts_with(prefix)) {
            return line.to_string();
        }
        assert!(Instant::now() < deadline, "no line {prefix:?} in {log:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn data(reply: Result<Reply, ClientError>) -> Vec<u8> {
    match reply {
        Ok(Reply::Data(d)) => d,
        other => panic!("expected data, got {other:?}"),
    }
}

#[test]
fn shm_and_chan_files_reach_guest_regions_and_channels() {
    let d = Daemon::start(&[]);
    let path = guest("chan_native").display().to_string();
    let pid = text(&d.cli(&["spawn", "cap=stdio,time,shm", &path])).trim().to_string();
    let ids = wait_for_line(&d, &pid, "shm=");
    let id = |key: &str| {
        ids.split(' ').find_map(|kv| kv.strip_prefix(key)).unwrap_or_else(|| panic!("{ids}")).to_string()
    };
    let (shm, out, inbound) = (id("shm="), id("out="), id("in="));

    // shm/: the index and the region's bytes as a file.
    let listing = text(&d.cli(&["ls", "/scheme/wasm/shm"]));
    assert!(listing.lines().any(|l| l == "index") && listing.lines().any(|l| l == shm), "{listing}");
    let index = text(&d.cli(&["cat", "/scheme/wasm/shm/index"]));
    let line = index.lines().find(|l| l.starts_with(&format!("{shm} "))).unwrap_or_else(|| panic!("{index}"));
    let fields: Vec<&str> = line.split(' ').collect();
    // Regions are whole pages: at least the 4096 bytes asked for.
    let size: u64 = fields[1].parse().unwrap();
    assert!(size >= 4096 && size.is_multiple_of(4096), "{line}");
    let mut c = d.client();
    let fd = c.open(&format!("/scheme/wasm/shm/{shm}"), flags::O_RDWR).unwrap();
    assert_eq!(data(c.call(Request::Read { fd, offset: 0, len: 9, nonblock: false })), b"hello shm");
    match c.call(Request::Fstat { fd }).unwrap() {
        Reply::Stat(s) => assert_eq!(s.size, size),
        other => panic!("{other:?}"),
    }
    // Out of range is an error, not a short read of someone else's memory.
    assert!(matches!(
        c.call(Request::Write { fd, offset: size - 2, data: b"xyz".to_vec(), nonblock: false }),
        Err(ClientError::Errno(_))
    ));

    // chan/: lists the two channels (not the plain region).
    let chans = text(&d.cli(&["ls", "/scheme/wasm/chan"]));
    let mut expected = vec![out.clone(), inbound.clone()];
    expected.sort_by_key(|s| s.parse::<u64>().unwrap());
    assert_eq!(chans.lines().collect::<Vec<_>>(), expected, "{chans}");
    // Three frames from the guest's writer, then end-of-stream.
    common::guest_frames_then_end(&mut c, &format!("/scheme/wasm/chan/{out}"));
    // A second native reader, strong like the guest's: nothing to read yet.
    let probe = c.open(&format!("/scheme/wasm/chan/{inbound}"), flags::O_RDONLY).unwrap();
    assert!(matches!(
        c.call(Request::Read { fd: probe, offset: 0, len: 64, nonblock: true }),
        Err(ClientError::Errno(11))
    ));
    // Two frames to the guest's reader.
    let wr = c.open(&format!("/scheme/wasm/chan/{inbound}"), flags::O_WRONLY).unwrap();
    for msg in ["ping", "native frame"] {
        match c
            .call(Request::Write { fd: wr, offset: 0, data: msg.as_bytes().to_vec(), nonblock: false })
            .unwrap()
        {
            Reply::Count(n) => assert_eq!(n, msg.len() as u64),
            other => panic!("{other:?}"),
        }
    }
    let first = wait_for_line(&d, &pid, "got ");
    let writer: u32 = first.split(' ').nth(1).unwrap().parse().unwrap();
    assert_eq!(first, format!("got {writer} 4 ping"));
    assert_eq!(wait_for_line(&d, &pid, &format!("got {writer} 12")), format!("got {writer} 12 native frame"));
    // The probe reader sees the same frames, attributed the same; a frame
    // larger than the buffer is EMSGSIZE (kept for the next read), never a
    // torn frame.
    assert!(matches!(
        c.call(Request::Read { fd: probe, offset: 0, len: 8, nonblock: true }),
        Err(ClientError::Errno(90))
    ));
    assert_eq!(
        frame(&data(c.call(Request::Read { fd: probe, offset: 0, len: 64, nonblock: true }))),
        (writer, "ping".into())
    );

    // The region's pages mapped natively (Linux: its memfd), shared live
    // with the guest both ways.
    #[cfg(target_os = "linux")]
    {
        let os_name = fields[2];
        let file = std::fs::OpenOptions::new().read(true).write(true).open(os_name).unwrap();
        // SAFETY: a fresh shared mapping of the region's memfd, unmapped below.
        let ptr = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                size as usize,
                rustix::mm::ProtFlags::READ | rustix::mm::ProtFlags::WRITE,
                rustix::mm::MapFlags::SHARED,
                &file,
                0,
            )
            .unwrap()
        } as *mut u8;
        // SAFETY: `ptr` maps `size` >= 4096 bytes; the offsets are inside.
        unsafe {
            assert_eq!(std::slice::from_raw_parts(ptr, 9), b"hello shm");
            std::ptr::copy_nonoverlapping(b"mmap".as_ptr(), ptr.add(68), 4);
            (*(ptr.add(64) as *const std::sync::atomic::AtomicU32))
                .store(7, std::sync::atomic::Ordering::SeqCst);
            rustix::mm::munmap(ptr.cast(), size as usize).unwrap();
        }
        assert_eq!(wait_for_line(&d, &pid, "shm word"), "shm word=7 text=mmap");
    }
    assert_eq!(text(&d.cli(&["cat", &format!("/scheme/wasm/{pid}/wait")])), "exited(0)\n");

    // Park backpressure: the probe reader is strong and reads nothing, so
    // the channel fills; a non-blocking write is then EAGAIN and a
    // blocking one waits until the probe reads.
    let mut sent = 0;
    for size in [200, 4] {
        loop {
            match c.call(Request::Write { fd: wr, offset: 0, data: vec![7; size], nonblock: true }) {
                Ok(Reply::Count(n)) if n as usize == size => sent += 1,
                Err(ClientError::Errno(11)) => break,
                other => panic!("{other:?}"),
            }
            assert!(sent < 1000, "a 4 KiB channel never filled");
        }
    }
    assert!(sent >= 10, "{sent}");
    let mut blocked = d.client();
    let bfd = blocked.open(&format!("/scheme/wasm/chan/{inbound}"), flags::O_WRONLY).unwrap();
    let pending = std::thread::spawn(move || {
        blocked.call(Request::Write { fd: bfd, offset: 0, data: b"late".to_vec(), nonblock: false })
    });
    std::thread::sleep(Duration::from_millis(100));
    assert!(!pending.is_finished(), "a write to a full Park channel must wait");
    let mut frames = Vec::new();
    loop {
        match c.call(Request::Read { fd: probe, offset: 0, len: 256, nonblock: true }) {
            Ok(Reply::Data(d)) => frames.push(frame(&d).1),
            Err(ClientError::Errno(11)) if pending.is_finished() => break,
            Err(ClientError::Errno(11)) => std::thread::sleep(Duration::from_millis(5)),
            other => panic!("{other:?}"),
        }
    }
    assert!(matches!(pending.join().unwrap(), Ok(Reply::Count(4))));
    // "native frame" (left from above), the filler frames, then the late one.
    assert_eq!(frames.len(), 1 + sent + 1, "{frames:?}");
    assert_eq!(frames.last().map(String::as_str), Some("late"));
}
