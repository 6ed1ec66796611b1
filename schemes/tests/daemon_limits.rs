//! `wasmd daemon` end to end on Linux: bounds — a hostile client, reads
//! and open files per client, running out of descriptors.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{text, Daemon, TempDir};
use wasmd::client::ClientError;
use wasmd::sys::linux::client::Client;
use wasmd::sys::linux::protocol::{Reply, Request};
use wasmd_abi::scheme::flags;

#[test]
fn a_hostile_client_is_bounded_and_others_keep_being_served() {
    use std::io::Write;
    let d = Daemon::start(&[]);
    // 4 MiB of the smallest frames: answered in about linear time.
    let mut raw = std::os::unix::net::UnixStream::connect(&d.socket).unwrap();
    let frame = wasmd::sys::linux::protocol::frame(&wasmd::sys::linux::protocol::ClientMsg {
        id: 1,
        request: Request::Close { fd: 0 },
    });
    let burst: Vec<u8> =
        std::iter::repeat_n(frame.as_slice(), (4 << 20) / frame.len()).flatten().copied().collect();
    let started = Instant::now();
    let writer = {
        let mut raw = raw.try_clone().unwrap();
        std::thread::spawn(move || raw.write_all(&burst))
    };
    let mut answers = 0usize;
    let mut buf = vec![0u8; 1 << 16];
    let expected = (4 << 20) / frame.len();
    let mut got = Vec::new();
    while answers < expected {
        let n = std::io::Read::read(&mut raw, &mut buf).unwrap();
        got.extend_from_slice(&buf[..n]);
        while let Ok(Some(_)) =
            wasmd::sys::linux::protocol::unframe::<wasmd::sys::linux::protocol::ServerMsg>(&mut got)
        {
            answers += 1;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "{answers} of {expected} answers");
    }
    writer.join().unwrap().unwrap();
    // Reads far larger than any answer are cut to 1 MiB.
    let mut c = d.client();
    let fd = c.open("/scheme/wasm/ps", flags::O_RDONLY).unwrap();
    match c.call(Request::Read { fd, offset: 0, len: u32::MAX, nonblock: false }).unwrap() {
        Reply::Data(data) => assert!(data.len() <= 1 << 20),
        other => panic!("{other:?}"),
    }
    // Open files are bounded per client.
    let mut opened = 1;
    let err = loop {
        match c.open("/scheme/wasm/ps", flags::O_RDONLY) {
            Ok(_) => opened += 1,
            Err(e) => break e,
        }
        assert!(opened <= 100_000, "no bound on open files");
    };
    assert!(matches!(err, ClientError::Errno(24)), "{err}");
    assert_eq!(opened, 1024);
    // Another client is served all along.
    let ps = d.cli(&["ps"]);
    assert!(ps.status.success() && text(&ps).contains("PID"));
}

/// CPU time (user + system) the process `pid` has used, from /proc.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which ends with the last ')'):
    // utime and stime are the 12th and 13th, in clock ticks.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    let per_second = rustix::param::clock_ticks_per_second();
    Duration::from_millis(ticks * 1000 / per_second)
}

#[test]
fn out_of_descriptors_the_daemon_pauses_accepting_instead_of_spinning() {
    use std::os::unix::process::CommandExt;
    let dir = std::env::temp_dir().join(format!("wasmd-emfile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let _cleanup = TempDir(dir.clone());
    let socket = dir.join("wasmd.sock");
    let log = std::fs::File::create(dir.join("stderr")).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_wasmd"));
    command.arg("daemon").arg("--socket").arg(&socket).env("WASMD_LOG", "warn").stderr(log);
    // SAFETY: the closure only calls setrlimit, which is async-signal-safe.
    unsafe {
        command.pre_exec(|| {
            let limit = rustix::process::Rlimit { current: Some(48), maximum: Some(48) };
            rustix::process::setrlimit(rustix::process::Resource::Nofile, limit)?;
            Ok(())
        });
    }
    let child = command.spawn().expect("daemon starts");
    let d = Daemon { child, socket: socket.clone(), _dir: TempDir(dir.join("unused")) };
    let deadline = Instant::now() + Duration::from_secs(10);
    while Client::connect(&socket).is_err() {
        assert!(Instant::now() < deadline, "daemon did not come up");
        std::thread::sleep(Duration::from_millis(10));
    }
    // More connections than the daemon has descriptors: it accepts until
    // EMFILE, the rest wait in the listen queue.
    let held: Vec<_> = (0..80).map(|_| std::os::unix::net::UnixStream::connect(&socket).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(300));
    let pid = d.child.id();
    let (cpu_before, wall) = (cpu_time(pid), Instant::now());
    let warnings_before = std::fs::read_to_string(dir.join("stderr")).unwrap().lines().count();
    std::thread::sleep(Duration::from_secs(2));
    let cpu = cpu_time(pid) - cpu_before;
    let warnings = std::fs::read_to_string(dir.join("stderr")).unwrap().lines().count() - warnings_before;
    let elapsed = wall.elapsed();
    // Spinning on `accept` (the old behaviour) uses the whole 2 s of a core
    // and writes a warning per failed accept.
    assert!(cpu < elapsed / 4, "the daemon used {cpu:?} of CPU in {elapsed:?} at EMFILE");
    assert!(warnings <= 40, "{warnings} log lines in {elapsed:?} at EMFILE");
    let log = std::fs::read_to_string(dir.join("stderr")).unwrap();
    assert!(log.contains("not accepting for"), "no warning about EMFILE: {log:?}");
    // Once descriptors are free again, new clients are served.
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let served = Client::connect(&socket).and_then(|mut c| {
            c.open("/scheme/wasm/ps", flags::O_RDONLY).map_err(|e| std::io::Error::other(e.to_string()))
        });
        if served.is_ok() {
            break;
        }
        assert!(Instant::now() < deadline, "not served after the clients left: {served:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(d);
}
