//! `wasmd daemon` end to end on Linux: the control tree over the Unix
//! socket, driven by the `wasmd` client commands and by a raw client.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use wasmd::client::ClientError;
use wasmd::sys::linux::client::Client;
use wasmd::sys::linux::protocol::{Reply, Request};
use wasmd_abi::scheme::flags;
use wasmd_tests::guest;

/// A daemon on a private socket, killed on drop.
struct Daemon {
    child: Child,
    socket: PathBuf,
    _dir: TempDir,
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Daemon {
    fn start(extra: &[&str]) -> Daemon {
        let dir = std::env::temp_dir().join(format!(
            "wasmd-daemon-{}-{}",
            std::process::id(),
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let socket = dir.join("wasmd.sock");
        let child = Command::new(env!("CARGO_BIN_EXE_wasmd"))
            .arg("daemon")
            .arg("--socket")
            .arg(&socket)
            .args(extra)
            .stderr(Stdio::null())
            .spawn()
            .expect("daemon starts");
        let deadline = Instant::now() + Duration::from_secs(10);
        while Client::connect(&socket).is_err() {
            assert!(Instant::now() < deadline, "daemon did not come up");
            std::thread::sleep(Duration::from_millis(10));
        }
        Daemon { child, socket, _dir: TempDir(dir) }
    }

    fn cli(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_wasmd"))
            .args(args)
            .env("WASMD_SOCKET", &self.socket)
            .output()
            .expect("client runs")
    }

    fn client(&self) -> Client {
        Client::connect(&self.socket).unwrap()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn run_path(module: &Path) -> String {
    format!("/scheme/wasm/run{}", module.display())
}

#[test]
fn root_lists_entries_and_live_pids() {
    let d = Daemon::start(&[]);
    let out = d.cli(&["ls", "/scheme/wasm"]);
    assert_eq!(text(&out), "ps\nspawn\nrun/\nshm/\nchan/\nscheme/\n");
    let pid =
        text(&d.cli(&["spawn", &guest("worker").display().to_string(), "sleep", "5000"])).trim().to_string();
    let listing = text(&d.cli(&["ls", "/scheme/wasm"]));
    assert!(listing.ends_with(&format!("scheme/\n{pid}/\n")), "{listing}");
    assert_eq!(text(&d.cli(&["ls", &format!("/scheme/wasm/{pid}")])), "status\nlog\nwait\nctl\n");
}

#[test]
fn run_streams_stdout_until_exit() {
    let d = Daemon::start(&[]);
    let out = d.cli(&["cat", &run_path(&guest("hello"))]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out), "Hello from wasmd! I am pid 1 and my args are []\n");
    // A long stream (400 lines, far more than one read) arrives whole.
    let mut c = d.client();
    let all = c.read_all(&run_path(&guest("chatty"))).unwrap();
    let all = String::from_utf8(all).unwrap();
    assert_eq!(all.lines().count(), 50);
    assert_eq!(all.lines().last(), Some("chatty 49"));
}

#[test]
fn run_of_a_missing_or_bad_module_fails_on_read() {
    let d = Daemon::start(&[]);
    let mut c = d.client();
    // The open succeeds at once (Redox: never defer an open); the read
    // reports the failure.
    let fd = c.open("/scheme/wasm/run/nonexistent/x.wasm", flags::O_RDONLY).unwrap();
    let read = c.call(Request::Read { fd, offset: 0, len: 100, nonblock: false });
    assert!(matches!(read, Err(ClientError::Errno(2))), "{read:?}");
    let out = d.cli(&["cat", "/scheme/wasm/run/etc/hostname"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a valid wasm module"), "{out:?}");
}

#[test]
fn spawn_ps_status_log_wait_ctl() {
    let d = Daemon::start(&[]);
    let worker = guest("worker").display().to_string();
    let out = d.cli(&["spawn", "cap=stdio,time", "fuel=100000000", &worker, "sleep", "200"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let pid: u32 = text(&out).trim().parse().unwrap();
    let ps = text(&d.cli(&["ps"]));
    let line = ps.lines().find(|l| l.split_whitespace().next() == Some(&pid.to_string())).unwrap();
    assert!(line.contains(" worker ") && line.contains(" blocked "), "{ps}");
    let status = text(&d.cli(&["status", &pid.to_string()]));
    assert!(status.contains(&format!("pid: {pid}\n")), "{status}");
    assert!(status.contains("caps: stdio,time\n"), "{status}");
    // wait blocks until the guest exits.
    let t = Instant::now();
    let waited = text(&d.cli(&["cat", &format!("/scheme/wasm/{pid}/wait")]));
    assert_eq!(waited, "exited(0)\n");
    assert!(t.elapsed() >= Duration::from_millis(100), "wait returned before the sleep ended");
    let log = text(&d.cli(&["cat", &format!("/scheme/wasm/{pid}/log")]));
    assert_eq!(log, format!("worker {pid}: slept 200 ms\n"));
    let status = text(&d.cli(&["status", &pid.to_string()]));
    assert!(status.contains("state: exited\n") && status.contains("status: exited(0)\n"), "{status}");

    // ctl: suspend, resume, refuel, kill.
    // It naps first, so it is still there (blocked) when ctl arrives.
    let spin = text(&d.cli(&["spawn", "fuel=1000000", &worker, "nap-spin", "2000"])).trim().to_string();
    let ctl = format!("/scheme/wasm/{spin}/ctl");
    assert_eq!(d.cli(&["write", &ctl, "suspend"]).status.code(), Some(0));
    assert!(text(&d.cli(&["status", &spin])).contains("state: suspended"));
    assert_eq!(d.cli(&["write", &ctl, "refuel 5000000"]).status.code(), Some(0));
    assert_eq!(d.cli(&["write", &ctl, "resume"]).status.code(), Some(0));
    let bad = d.cli(&["write", &ctl, "explode"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("invalid argument"));
    assert_eq!(d.cli(&["kill", &spin]).status.code(), Some(0));
    assert_eq!(text(&d.cli(&["cat", &format!("/scheme/wasm/{spin}/wait")])), "killed\n");
    assert_eq!(d.cli(&["kill", &spin]).status.code(), Some(1), "killing a dead process fails");
}

#[test]
fn refuel_extends_a_budget() {
    let d = Daemon::start(&[]);
    let worker = guest("worker").display().to_string();
    // It naps first (burning next to no fuel), so the refuel lands before
    // it starts spinning.
    let pid = text(&d.cli(&["spawn", "fuel=2000000", &worker, "nap-spin", "1000"])).trim().to_string();
    let ctl = format!("/scheme/wasm/{pid}/ctl");
    d.cli(&["write", &ctl, "refuel 3000000"]);
    assert_eq!(text(&d.cli(&["cat", &format!("/scheme/wasm/{pid}/wait")])), "out of fuel\n");
    let status = text(&d.cli(&["status", &pid]));
    let used: u64 = status.lines().find_map(|l| l.strip_prefix("fuel_used: ")).unwrap().parse().unwrap();
    assert!(used > 4_000_000, "refuelled budget was not used: {used}");
}

#[test]
fn bad_spawn_specs_are_einval() {
    let d = Daemon::start(&[]);
    let worker = guest("worker").display().to_string();
    for spec in ["", "relative.wasm", "fuel=lots /x.wasm", "cap=root /x.wasm", "colour=red /x.wasm", "\"open"]
    {
        let out = d.cli(&["spawn", spec]);
        assert_eq!(out.status.code(), Some(1), "{spec}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("invalid argument"), "{spec}: {out:?}");
    }
    let mut c = d.client();
    let fd = c.open("/scheme/wasm/spawn", flags::O_RDWR).unwrap();
    assert!(matches!(
        c.call(Request::Write { fd, offset: 0, data: b"\xff\xfe".to_vec(), nonblock: false }),
        Err(ClientError::Errno(22))
    ));
    // A well-formed spec naming a missing module fails on the read.
    let missing = d.cli(&["spawn", "/nonexistent.wasm"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no such file"), "{missing:?}");
    // The daemon is unharmed.
    assert_eq!(d.cli(&["spawn", &worker, "exit", "3"]).status.code(), Some(0));
}

#[test]
fn errors_for_unknown_paths_and_misuse() {
    let d = Daemon::start(&[]);
    let mut c = d.client();
    for path in ["/scheme/wasm/nope", "/scheme/wasm/999", "/scheme/wasm/1/status", "/scheme/other/x"] {
        assert!(matches!(c.open(path, flags::O_RDONLY), Err(ClientError::Errno(2))), "{path}");
    }
    assert!(matches!(
        c.open("/scheme/wasm/ps", flags::O_RDONLY | flags::O_DIRECTORY),
        Err(ClientError::Errno(20))
    ));
    assert!(matches!(c.open("/scheme/wasm", flags::O_WRONLY), Err(ClientError::Errno(21))));
    let fd = c.open("/scheme/wasm/ps", flags::O_RDONLY).unwrap();
    assert!(matches!(
        c.call(Request::Write { fd, offset: 0, data: b"x".to_vec(), nonblock: false }),
        Err(ClientError::Errno(9))
    ));
    assert!(matches!(
        c.call(Request::Read { fd: fd + 1000, offset: 0, len: 1, nonblock: false }),
        Err(ClientError::Errno(9))
    ));
    match c.call(Request::Fpath { fd }).unwrap() {
        Reply::Path(p) => assert_eq!(p, "/scheme/wasm/ps"),
        other => panic!("{other:?}"),
    }
    match c.call(Request::Fstat { fd }).unwrap() {
        Reply::Stat(s) => {
            assert_eq!(s.mode & wasmd_abi::scheme::mode::MODE_TYPE, wasmd_abi::scheme::mode::MODE_FILE)
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn nonblocking_reads_and_cancellation_by_disconnect() {
    let d = Daemon::start(&[]);
    let worker = guest("worker").display().to_string();
    let pid = text(&d.cli(&["spawn", &worker, "sleep", "60000"])).trim().to_string();
    let mut c = d.client();
    let fd = c.open(&format!("/scheme/wasm/{pid}/wait"), flags::O_RDONLY).unwrap();
    assert!(matches!(
        c.call(Request::Read { fd, offset: 0, len: 64, nonblock: true }),
        Err(ClientError::Errno(11))
    ));
    // A blocking read left pending by a client that goes away does not
    // disturb the daemon.
    let mut gone = d.client();
    let fd2 = gone.open(&format!("/scheme/wasm/{pid}/wait"), flags::O_RDONLY).unwrap();
    let mut raw = std::os::unix::net::UnixStream::connect(&d.socket).unwrap();
    use std::io::Write;
    raw.write_all(&wasmd::sys::linux::protocol::frame(&wasmd::sys::linux::protocol::ClientMsg {
        id: 1,
        request: Request::Read { fd: fd2, offset: 0, len: 64, nonblock: false },
    }))
    .unwrap();
    drop(raw);
    drop(gone);
    // Garbage on a connection only drops that connection.
    let mut junk = std::os::unix::net::UnixStream::connect(&d.socket).unwrap();
    junk.write_all(&[0xff, 0xff, 0xff, 0x7f, 1, 2, 3]).unwrap();
    drop(junk);
    assert_eq!(d.cli(&["kill", &pid]).status.code(), Some(0));
    assert_eq!(text(&d.cli(&["cat", &format!("/scheme/wasm/{pid}/wait")])), "killed\n");
}

#[test]
fn a_client_without_a_daemon_says_so() {
    let out = Command::new(env!("CARGO_BIN_EXE_wasmd"))
        .args(["ps", "--socket", "/nonexistent/wasmd.sock"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("cannot reach the daemon at /nonexistent/wasmd.sock"), "{err}");
}

fn spawn_provider(d: &Daemon, module: &str, name: &str) -> String {
    let path = guest(module).display().to_string();
    let pid = text(&d.cli(&["spawn", "cap=stdio,scheme", &path, name])).trim().to_string();
    assert!(!pid.is_empty());
    // The provider registers on its first time slice.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !text(&d.cli(&["ls", "/scheme/wasm/scheme"])).contains(&format!("{name}/")) {
        assert!(Instant::now() < deadline, "scheme {name} never appeared");
        std::thread::sleep(Duration::from_millis(10));
    }
    pid
}

#[test]
fn a_guest_ramfs_through_the_control_socket() {
    let d = Daemon::start(&[]);
    spawn_provider(&d, "ramfs", "ramfs");
    assert_eq!(text(&d.cli(&["ls", "/scheme/wasm/scheme"])), "ramfs/\n");
    assert_eq!(d.cli(&["write", "/scheme/ramfs/notes.txt", "hello ramfs"]).status.code(), Some(0));
    // Both names reach the same scheme.
    assert_eq!(text(&d.cli(&["cat", "/scheme/wasm/scheme/ramfs/notes.txt"])), "hello ramfs");
    assert_eq!(text(&d.cli(&["cat", "/scheme/ramfs/notes.txt"])), "hello ramfs");
    let mut c = d.client();
    // mkdir through open(O_CREAT | O_DIRECTORY), then a file inside.
    let dir = c.open("/scheme/ramfs/docs", flags::O_RDONLY | flags::O_CREAT | flags::O_DIRECTORY).unwrap();
    c.call(Request::Close { fd: dir }).unwrap();
    c.write_file("/scheme/ramfs/docs/a.md", b"# A").unwrap();
    assert_eq!(text(&d.cli(&["ls", "/scheme/ramfs"])), "docs/\nnotes.txt\n");
    assert_eq!(text(&d.cli(&["ls", "/scheme/ramfs/docs"])), "a.md\n");
    let fd = c.open("/scheme/ramfs/docs/a.md", flags::O_RDONLY).unwrap();
    match c.call(Request::Fstat { fd }).unwrap() {
        Reply::Stat(s) => assert_eq!((s.size, s.mode & 0xF000), (3, wasmd_abi::scheme::mode::MODE_FILE)),
        other => panic!("{other:?}"),
    }
    match c.call(Request::Fpath { fd }).unwrap() {
        Reply::Path(p) => assert_eq!(p, "/scheme/ramfs/docs/a.md"),
        other => panic!("{other:?}"),
    }
    // Positioned reads.
    match c.call(Request::Read { fd, offset: 2, len: 10, nonblock: false }).unwrap() {
        Reply::Data(d) => assert_eq!(d, b"A"),
        other => panic!("{other:?}"),
    }
    // The provider's errors come through.
    assert!(matches!(c.open("/scheme/ramfs/missing", flags::O_RDONLY), Err(ClientError::Errno(2))));
    assert!(matches!(
        c.open("/scheme/ramfs/notes.txt", flags::O_RDONLY | flags::O_DIRECTORY),
        Err(ClientError::Errno(20))
    ));
}

#[test]
fn a_guest_key_value_store() {
    let d = Daemon::start(&[]);
    spawn_provider(&d, "kvstore", "kv");
    for (k, v) in [("colour", "blue"), ("size", "42"), ("empty", "")] {
        assert_eq!(d.cli(&["write", &format!("/scheme/kv/{k}"), v]).status.code(), Some(0));
    }
    assert_eq!(text(&d.cli(&["cat", "/scheme/kv/size"])), "42");
    assert_eq!(text(&d.cli(&["ls", "/scheme/kv"])), "colour\nempty\nsize\n");
    // Overwrite truncates.
    d.cli(&["write", "/scheme/kv/colour", "red"]);
    assert_eq!(text(&d.cli(&["cat", "/scheme/kv/colour"])), "red");
    assert_eq!(d.cli(&["cat", "/scheme/kv/nope"]).status.code(), Some(1));
}

#[test]
fn a_provider_crash_fails_requests_in_flight_with_eio() {
    let d = Daemon::start(&[]);
    let pid = spawn_provider(&d, "faulty_scheme", "faulty");
    let mut hang = d.client();
    let fd = hang.open("/scheme/faulty/hang", flags::O_RDONLY).unwrap();
    // A read the provider never answers, waited for on another thread.
    let mut waiter = d.client();
    let wfd = waiter.open("/scheme/faulty/hang", flags::O_RDONLY).unwrap();
    let pending = std::thread::spawn(move || {
        waiter.call(Request::Read { fd: wfd, offset: 0, len: 10, nonblock: false })
    });
    std::thread::sleep(Duration::from_millis(100));
    assert!(!pending.is_finished(), "the hung read must wait");
    // Another client makes the provider trap.
    let crash = d.cli(&["cat", "/scheme/faulty/crash"]);
    assert_eq!(crash.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&crash.stderr).contains("I/O error"), "{crash:?}");
    // The hung read fails too, and promptly.
    let result = pending.join().unwrap();
    assert!(matches!(result, Err(ClientError::Errno(5))), "{result:?}");
    // The scheme is gone; its files answer EIO; nothing hangs.
    assert!(matches!(
        hang.call(Request::Read { fd, offset: 0, len: 10, nonblock: false }),
        Err(ClientError::Errno(5))
    ));
    assert!(matches!(hang.open("/scheme/faulty/other", flags::O_RDONLY), Err(ClientError::Errno(2))));
    assert!(text(&d.cli(&["status", &pid])).contains("status: trap"), "the provider trapped");
}

#[test]
fn an_open_the_provider_answers_late_still_works() {
    // The provider is suspended, so the open cannot be answered within
    // the open budget: it succeeds optimistically, and the read waits
    // for the provider and then works.
    let d = Daemon::start(&[]);
    let pid = spawn_provider(&d, "kvstore", "kv");
    d.cli(&["write", "/scheme/kv/k", "v"]);
    d.cli(&["write", &format!("/scheme/wasm/{pid}/ctl"), "suspend"]);
    let mut c = d.client();
    let fd = c.open("/scheme/kv/k", flags::O_RDONLY).unwrap();
    let mut c2 = d.client();
    let late = c2.open("/scheme/kv/missing", flags::O_RDONLY).unwrap();
    let reader = std::thread::spawn(move || {
        let ok = c.call(Request::Read { fd, offset: 0, len: 10, nonblock: false });
        let missing = c2.call(Request::Read { fd: late, offset: 0, len: 10, nonblock: false });
        (ok, missing)
    });
    std::thread::sleep(Duration::from_millis(100));
    assert!(!reader.is_finished());
    d.cli(&["write", &format!("/scheme/wasm/{pid}/ctl"), "resume"]);
    let (ok, missing) = reader.join().unwrap();
    assert!(matches!(ok, Ok(Reply::Data(ref v)) if v == b"v"), "{ok:?}");
    assert!(matches!(missing, Err(ClientError::Errno(2))), "the late refusal reaches the read: {missing:?}");
}

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

/// A `chan/` frame: writer id, payload length, payload.
fn frame(bytes: &[u8]) -> (u32, String) {
    let writer = u32::from_le_bytes(bytes[..4].try_into().unwrap());
    let len = u32::from_le_bytes(bytes[4..8].try_into().unwrap()) as usize;
    assert_eq!(bytes.len(), 8 + len, "{bytes:?}");
    (writer, String::from_utf8(bytes[8..].to_vec()).unwrap())
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
    let rd = c.open(&format!("/scheme/wasm/chan/{out}"), flags::O_RDONLY).unwrap();
    let mut writers = Vec::new();
    for n in 0..3 {
        let (w, payload) =
            frame(&data(c.call(Request::Read { fd: rd, offset: 0, len: 256, nonblock: false })));
        assert_eq!(payload, format!("frame-{n}"));
        writers.push(w);
    }
    assert!(writers.iter().all(|w| *w == writers[0] && *w != 0), "{writers:?}");
    assert!(data(c.call(Request::Read { fd: rd, offset: 0, len: 256, nonblock: false })).is_empty());
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
