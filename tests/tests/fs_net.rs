//! Guest fs and socket hostcalls: a guest using another guest's scheme
//! in-process, host files confined to a root, namespace grants, and real
//! TCP/UDP with native peers on 127.0.0.1.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::Harness;
use wasmd_abi::{Caps, ExitStatus};
use wasmd_tests::CapturedOutput;

fn provider_caps() -> Caps {
    Caps::DEFAULT.union(Caps::SCHEME_PROVIDE)
}

fn temp_dir(tag: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let dir = std::env::temp_dir().join(format!("wasmd-{tag}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn expect_fs_session(h: &Harness, pid: u32) {
    assert_eq!(h.status(pid), Some(ExitStatus::Exited(0)), "{}", h.stderr(pid));
    let kv = h.kv(pid);
    let expect = [
        ("mkdir", "ok:()"),
        ("write", "ok:()"),
        ("read", "ok:\"hello, world\""),
        ("seek_write_read", "ok:(7, \"WORLD\", 12)"),
        ("readdir", "ok:[(\"hello.txt\", 8)]"),
        ("missing", "err:2"),
        ("unlink", "ok:()"),
        ("after_unlink", "ok:[]"),
        ("rmdir", "ok:()"),
    ];
    for (key, value) in expect {
        assert_eq!(kv.get(key).map(String::as_str), Some(value), "{key}");
    }
}

#[test]
fn a_guest_uses_a_guest_ramfs_in_process() {
    let mut h = Harness::new();
    let ramfs = h.guest_with("ramfs", &[], provider_caps(), &[]);
    h.pm.run(4);
    let client = h.guest_with("fs_client", &["ramfs:"], Caps::DEFAULT, &["ramfs:"]);
    h.run_until_exit(client, 20);
    expect_fs_session(&h, client);
    h.pm.kill(ramfs).unwrap();
}

#[test]
fn grants_are_enforced() {
    let mut h = Harness::new();
    let ramfs = h.guest_with("ramfs", &[], provider_caps(), &[]);
    h.pm.run(4);
    // No grant at all.
    let none = h.guest_with("fs_client", &["ramfs:", "ramfs:/x"], Caps::DEFAULT, &[]);
    h.run_until_exit(none, 20);
    let kv = h.kv(none);
    for key in ["mkdir", "write", "read", "readdir", "open:ramfs:/x"] {
        assert_eq!(kv[key], "err:13", "{key}");
    }
    // Read-only: reading is allowed (the file is missing), writing is not.
    let ro = h.guest_with(
        "fs_client",
        &["ramfs:", "ramfs:/nope", "ramfs:/../escape"],
        Caps::DEFAULT,
        &["ramfs:=ro"],
    );
    h.run_until_exit(ro, 20);
    let kv = h.kv(ro);
    assert_eq!(kv["mkdir"], "err:13");
    assert_eq!(kv["write"], "err:13");
    assert_eq!(kv["read"], "err:2");
    assert_eq!(kv["open:ramfs:/nope"], "err:2");
    assert_eq!(kv["open:ramfs:/../escape"], "err:13", "climbing above the root");
    // A grant for one prefix does not cover another, nor other schemes.
    let narrow = h.guest_with(
        "fs_client",
        &["ramfs:/a", "ramfs:/b/x", "file:/etc/passwd"],
        Caps::DEFAULT,
        &["ramfs:/a"],
    );
    h.run_until_exit(narrow, 20);
    let kv = h.kv(narrow);
    assert_eq!(kv["open:ramfs:/b/x"], "err:13");
    assert_eq!(kv["open:file:/etc/passwd"], "err:13");
    // Inside the grant: it reaches the provider, which has no /a.
    assert_eq!(kv["mkdir"], "err:2");
    h.pm.kill(ramfs).unwrap();
}

#[test]
fn host_files_stay_inside_the_root() {
    let root = temp_dir("fsroot");
    let outside = temp_dir("outside");
    std::fs::write(outside.join("secret"), b"s3cr3t").unwrap();
    std::os::unix::fs::symlink(&outside, root.join("escape")).unwrap();
    let mut h = Harness::with_fs_root(&root);
    let extra = ["file:/../secret", "file:/escape/secret", "file:/escape"];
    let mut args = vec!["file:/"];
    args.extend(extra);
    let pid = h.guest_with("fs_client", &args, Caps::DEFAULT, &["file:/"]);
    h.run_until_exit(pid, 20);
    expect_fs_session(&h, pid);
    let kv = h.kv(pid);
    assert_eq!(kv["open:file:/../secret"], "err:13", "`..` cannot leave the root");
    assert_eq!(kv["open:file:/escape/secret"], "err:13", "a symlink cannot leave the root");
    assert_eq!(kv["open:file:/escape"], "err:13");
    // The session cleaned up after itself, on the real disk.
    let left: Vec<_> = std::fs::read_dir(&root).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, vec![std::ffi::OsString::from("escape")]);
    // Without a root, `file:` is refused even with a grant.
    let mut h = Harness::new();
    let pid = h.guest_with("fs_client", &["file:/"], Caps::DEFAULT, &["file:/"]);
    h.run_until_exit(pid, 20);
    assert_eq!(h.kv(pid)["mkdir"], "err:13");
    let _ = std::fs::remove_dir_all(root);
    let _ = std::fs::remove_dir_all(outside);
}

/// Each pid and how it ended.
type Statuses = Vec<(u32, Option<ExitStatus>)>;

/// Runs guests in a manager on its own thread until they exit; `setup`
/// spawns them and returns their pids.
fn run_guests_in_background(
    setup: impl FnOnce(&mut Harness) -> Vec<u32> + Send + 'static,
) -> (Arc<CapturedOutput>, std::thread::JoinHandle<Statuses>) {
    let (tx, rx) = std::sync::mpsc::channel();
    let handle = std::thread::spawn(move || {
        let mut h = Harness::new();
        tx.send(h.out.clone()).unwrap();
        let pids = setup(&mut h);
        let deadline = Instant::now() + Duration::from_secs(30);
        while pids.iter().any(|p| !h.pm.process(*p).unwrap().is_exited()) && Instant::now() < deadline {
            h.pm.run(64);
            h.pm.wait_for_events(Some(Duration::from_millis(1)));
        }
        pids.iter().map(|p| (*p, h.status(*p))).collect()
    });
    (rx.recv().unwrap(), handle)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn a_guest_tcp_echo_server_serves_native_clients() {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let guest_addr = addr.clone();
    let (out, done) = run_guests_in_background(move |h| {
        vec![h.guest_with(
            "net_peer",
            &["echo-server", &guest_addr, "2"],
            Caps::DEFAULT,
            &["tcp:127.0.0.1:*"],
        )]
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while !out.all_stdout().contains("listening") {
        assert!(Instant::now() < deadline, "the guest never listened");
        std::thread::sleep(Duration::from_millis(5));
    }
    for msg in ["hello over tcp", "a second connection"] {
        let mut conn = TcpStream::connect(&addr).unwrap();
        conn.write_all(msg.as_bytes()).unwrap();
        conn.shutdown(std::net::Shutdown::Write).unwrap();
        let mut back = String::new();
        conn.read_to_string(&mut back).unwrap();
        assert_eq!(back, msg);
    }
    let statuses = done.join().unwrap();
    assert_eq!(statuses[0].1, Some(ExitStatus::Exited(0)));
}

#[test]
fn a_guest_tcp_client_talks_to_a_native_server() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let server = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut buf = [0u8; 64];
        let n = conn.read(&mut buf).unwrap();
        let mut reply = b"server got: ".to_vec();
        reply.extend_from_slice(&buf[..n]);
        conn.write_all(&reply).unwrap();
    });
    let guest_addr = addr.clone();
    let (out, done) = run_guests_in_background(move |h| {
        vec![h.guest_with(
            "net_peer",
            &["tcp-client", &guest_addr, "ping"],
            Caps::DEFAULT,
            &["tcp:127.0.0.1:*"],
        )]
    });
    let statuses = done.join().unwrap();
    server.join().unwrap();
    assert_eq!(statuses[0].1, Some(ExitStatus::Exited(0)));
    assert!(out.all_stdout().contains("reply=server got: ping"), "{}", out.all_stdout());
}

#[test]
fn a_guest_udp_client_gets_a_reply() {
    let server = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = server.local_addr().unwrap().to_string();
    let echo = std::thread::spawn(move || {
        let mut buf = [0u8; 64];
        let (n, from) = server.recv_from(&mut buf).unwrap();
        server.send_to(&[b"udp:", &buf[..n]].concat(), from).unwrap();
    });
    let guest_addr = addr.clone();
    let (out, done) = run_guests_in_background(move |h| {
        vec![h.guest_with(
            "net_peer",
            &["udp-client", &guest_addr, "datagram"],
            Caps::DEFAULT,
            &["udp:127.0.0.1:*"],
        )]
    });
    let statuses = done.join().unwrap();
    echo.join().unwrap();
    assert_eq!(statuses[0].1, Some(ExitStatus::Exited(0)));
    assert!(out.all_stdout().contains("reply=udp:datagram"), "{}", out.all_stdout());
}

#[test]
fn sockets_need_a_matching_grant() {
    let mut h = Harness::new();
    let pid =
        h.guest_with("net_peer", &["tcp-client", "127.0.0.1:9", "x"], Caps::DEFAULT, &["tcp:10.0.0.1:*"]);
    h.run_until_exit(pid, 20);
    assert_eq!(h.status(pid), Some(ExitStatus::Exited(1)));
    assert!(h.stderr(pid).contains("errno 13"), "{}", h.stderr(pid));
    let listen = h.guest_with(
        "net_peer",
        &["echo-server", "127.0.0.1:0", "1"],
        Caps::DEFAULT,
        &["tcp:127.0.0.1:*=ro"],
    );
    h.run_until_exit(listen, 20);
    assert!(
        h.stderr(listen).contains("errno 13"),
        "listening needs a read-write grant: {}",
        h.stderr(listen)
    );
}

#[test]
fn a_lying_provider_cannot_write_past_a_clients_buffer() {
    // Answers longer than the request, write counts above what was
    // written and absurd sizes are EIO; the client's memory and file
    // position stay as they were.
    let mut h = Harness::new();
    let faulty = h.guest_with("faulty_scheme", &[], provider_caps(), &[]);
    h.pm.run(4);
    let path = wasmd_tests::wat("liar_client");
    let client = h.spawn_file_ns(&path, &[], Caps::DEFAULT, wasmhost::Limits::default(), &["faulty:"]);
    h.run_until_exit(client, 20);
    assert_eq!(h.status(client), Some(ExitStatus::Exited(0)), "first failed check");
    h.pm.kill(faulty).unwrap();
}

#[test]
fn access_modes_hold_on_every_call_not_only_at_open() {
    let root = temp_dir("modes");
    let mut h = Harness::with_fs_root(&root);
    let ramfs = h.guest_with("ramfs", &[], provider_caps(), &[]);
    h.pm.run(4);
    let path = wasmd_tests::wat("access_modes");
    for (file, grant) in [("ramfs:/m.txt", "ramfs:"), ("file:/m.txt", "file:/=rw")] {
        let client = h.spawn_file_ns(&path, &[file], Caps::DEFAULT, wasmhost::Limits::default(), &[grant]);
        h.run_until_exit(client, 20);
        assert_eq!(h.status(client), Some(ExitStatus::Exited(0)), "{file}: first failed check");
    }
    h.pm.kill(ramfs).unwrap();
}

#[test]
fn symlinks_cannot_take_a_guest_out_of_its_grant() {
    // The daemon's file root holds two tenants' directories; the guest is
    // granted only `/sandbox`, where someone left links pointing out.
    let root = temp_dir("grant");
    std::fs::create_dir_all(root.join("sandbox")).unwrap();
    std::fs::create_dir_all(root.join("other")).unwrap();
    std::fs::write(root.join("other/victim.txt"), b"another tenant's").unwrap();
    std::os::unix::fs::symlink("..", root.join("sandbox/up")).unwrap();
    std::os::unix::fs::symlink("../other", root.join("sandbox/other")).unwrap();
    std::os::unix::fs::symlink("inside.txt", root.join("sandbox/alias")).unwrap();
    std::fs::write(root.join("sandbox/inside.txt"), b"mine").unwrap();
    let mut h = Harness::with_fs_root(&root);
    for base in ["file:/sandbox/up/other", "file:/sandbox/other"] {
        let args = [
            base,
            "file:/sandbox/up/other/victim.txt",
            "file:/sandbox/other/victim.txt",
            "file:/sandbox/alias",
            "rm:file:/sandbox/other/victim.txt",
            "rm:file:/sandbox/up/other/victim.txt",
        ];
        let pid = h.guest_with("fs_client", &args, Caps::DEFAULT, &["file:/sandbox=rw"]);
        h.run_until_exit(pid, 20);
        let kv = h.kv(pid);
        // Create, mkdir, read, list and delete through the links: refused.
        for key in ["mkdir", "write", "read", "readdir", "unlink", "rmdir"] {
            assert_eq!(kv[key], "err:13", "{base}: {key}");
        }
        for key in [
            "open:file:/sandbox/up/other/victim.txt",
            "open:file:/sandbox/other/victim.txt",
            "rm:file:/sandbox/other/victim.txt",
            "rm:file:/sandbox/up/other/victim.txt",
        ] {
            assert_eq!(kv[key], "err:13", "{base}: {key}");
        }
        // A link that stays inside the grant still works.
        assert_eq!(kv["open:file:/sandbox/alias"], "ok:()");
    }
    assert_eq!(std::fs::read(root.join("other/victim.txt")).unwrap(), b"another tenant's");
    assert!(!root.join("other/dir").exists());
    let _ = std::fs::remove_dir_all(root);
}

#[test]
fn a_fifo_in_the_sandbox_cannot_hold_up_io_or_spawns() {
    let root = temp_dir("fifo");
    let status = std::process::Command::new("mkfifo").arg(root.join("pipe")).status().unwrap();
    assert!(status.success());
    let mut h = Harness::with_fs_root(&root);
    // Several guests open the FIFO (no writer will ever come): refused at
    // once, so no I/O thread is held.
    let openers: Vec<u32> = (0..8)
        .map(|_| h.guest_with("fs_client", &["file:/", "file:/pipe"], Caps::DEFAULT, &["file:/"]))
        .collect();
    for pid in &openers {
        h.run_until_exit(*pid, 20);
        assert_eq!(h.kv(*pid)["open:file:/pipe"], "err:13");
    }
    // Spawns (module loading) and other guests' file I/O go on.
    let client = h.guest_with("fs_client", &["file:/"], Caps::DEFAULT, &["file:/"]);
    h.run_until_exit(client, 20);
    expect_fs_session(&h, client);
    let _ = std::fs::remove_dir_all(root);
}

#[test]
fn a_big_host_directory_lists_in_linear_time() {
    let root = temp_dir("bigdir");
    std::fs::create_dir_all(root.join("big")).unwrap();
    for i in 0..30_000 {
        std::fs::write(root.join(format!("big/f{i:05}")), b"").unwrap();
    }
    let mut h = Harness::with_fs_root(&root);
    let pid = h.guest_with("lister", &["file:/big"], Caps::DEFAULT, &["file:/=ro"]);
    // Quadratic paging took 7-17 s here; linear takes well under a second.
    h.run_until_exit(pid, 20);
    assert_eq!(h.status(pid), Some(ExitStatus::Exited(0)), "{}", h.stderr(pid));
    assert_eq!(h.stdout(pid).trim(), "count=30000 first=f00000 last=f29999");
    let _ = std::fs::remove_dir_all(root);
}

#[test]
fn a_big_guest_scheme_directory_lists_in_linear_time() {
    let mut h = Harness::new();
    let provider = h.guest_with("big_dir", &["60000"], provider_caps(), &[]);
    h.pm.run(4);
    let pid = h.guest_with("lister", &["big:"], Caps::DEFAULT, &["big:"]);
    h.run_until_exit(pid, 60);
    assert_eq!(h.status(pid), Some(ExitStatus::Exited(0)), "{}", h.stderr(pid));
    assert_eq!(h.stdout(pid).trim(), "count=60000 first=e00000 last=e59999");
    // The provider built its 60,000 entries once, not once per page of 64
    // (938 times: the 15-20 s stall).
    assert_eq!(h.stdout(provider).matches("listing taken").count(), 1, "{}", h.stdout(provider));
    h.pm.kill(provider).unwrap();
}

#[test]
fn connects_that_never_complete_hold_no_thread() {
    use rustix::net::{AddressFamily, SocketFlags, SocketType};
    // A listener that never accepts, its queue full: further connections
    // hang in their handshake.
    let listener = rustix::net::socket(AddressFamily::INET, SocketType::STREAM, None).unwrap();
    rustix::net::bind(&listener, &"127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap()).unwrap();
    rustix::net::listen(&listener, 0).unwrap();
    let addr = match rustix::net::getsockname(&listener).unwrap().try_into().unwrap() {
        std::net::SocketAddr::V4(a) => a,
        other => panic!("{other:?}"),
    };
    let mut fillers = Vec::new();
    for _ in 0..4 {
        let s =
            rustix::net::socket_with(AddressFamily::INET, SocketType::STREAM, SocketFlags::NONBLOCK, None)
                .unwrap();
        let _ = rustix::net::connect(&s, &std::net::SocketAddr::V4(addr));
        fillers.push(s);
    }
    std::thread::sleep(Duration::from_millis(100));
    let root = temp_dir("connects");
    let mut h = Harness::with_fs_root(&root);
    let target = addr.to_string();
    // More hanging connects than there are I/O threads.
    let connectors: Vec<u32> = (0..8)
        .map(|_| {
            h.guest_with("net_peer", &["tcp-client", &target, "hello"], Caps::DEFAULT, &["tcp:127.0.0.1:*"])
        })
        .collect();
    for _ in 0..20 {
        h.pm.run(16);
        h.pm.wait_for_events(Some(Duration::from_millis(5)));
    }
    // Another guest's file I/O (and its spawn) goes on meanwhile.
    let client = h.guest_with("fs_client", &["file:/"], Caps::DEFAULT, &["file:/"]);
    h.run_until_exit(client, 5);
    expect_fs_session(&h, client);
    for pid in connectors {
        assert!(!h.pm.process(pid).unwrap().is_exited(), "still waiting for its peer");
        h.pm.kill(pid).unwrap();
    }
    let _ = std::fs::remove_dir_all(root);
}

/// The OS platform, except that the first wait for a socket to become
/// readable is kept for the test to fire by hand (a spurious readiness:
/// nothing to read yet).
struct HeldReadiness {
    os: wasmd::sys::OsPlatform,
    held: std::sync::Mutex<Option<Box<dyn FnOnce() + Send>>>,
    taken: std::sync::atomic::AtomicBool,
}

impl wasmhost::Platform for HeldReadiness {
    fn random(&self, buf: &mut [u8]) -> Result<(), i32> {
        self.os.random(buf)
    }

    fn create_shared_memory(&self, size: usize) -> Result<Box<dyn wasmhost::region::SharedMemory>, i32> {
        self.os.create_shared_memory(size)
    }

    fn net_connect(&self, proto: &str, addr: &str) -> Result<Arc<dyn wasmhost::HostSocket>, i32> {
        self.os.net_connect(proto, addr)
    }

    fn net_wait(
        &self,
        socket: &Arc<dyn wasmhost::HostSocket>,
        writable: bool,
        ready: Box<dyn FnOnce() + Send>,
    ) {
        if !writable && !self.taken.swap(true, std::sync::atomic::Ordering::SeqCst) {
            *self.held.lock().unwrap() = Some(ready);
        } else {
            self.os.net_wait(socket, writable, ready);
        }
    }
}

#[test]
fn a_suspended_process_keeps_its_socket_wait_across_a_retry() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let platform = Arc::new(HeldReadiness {
        os: wasmd::sys::OsPlatform::new().unwrap(),
        held: std::sync::Mutex::new(None),
        taken: std::sync::atomic::AtomicBool::new(false),
    });
    let mut h = Harness::with_platform(wasmhost::ManagerConfig::default(), SharedPlatform(platform.clone()));
    let pid = h.guest_with("net_peer", &["tcp-client", &addr, "ping"], Caps::DEFAULT, &["tcp:127.0.0.1:*"]);
    listener.set_nonblocking(true).unwrap();
    let mut conn = None;
    let mut got = [0u8; 4];
    // The guest connects, sends its line and waits to receive.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut read = 0;
    while read < 4 || platform.held.lock().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the guest never waited to receive");
        h.pm.run(4);
        h.pm.wait_for_events(Some(Duration::from_millis(5)));
        if conn.is_none() {
            conn = listener.accept().ok().map(|(c, _)| c);
        }
        if let Some(c) = conn.as_mut().filter(|_| read < 4) {
            c.set_nonblocking(true).unwrap();
            if let Ok(n) = c.read(&mut got[read..]) {
                read += n;
            }
        }
    }
    let mut conn = conn.unwrap();
    assert_eq!(&got, b"ping");
    // Suspended, then a readiness that finds nothing: the retry waits
    // again, and that new wait must survive the suspension.
    h.pm.suspend(pid).unwrap();
    let spurious = platform.held.lock().unwrap().take().unwrap();
    spurious();
    for _ in 0..5 {
        h.pm.run(4);
        h.pm.wait_for_events(Some(Duration::from_millis(5)));
    }
    conn.set_nonblocking(false).unwrap();
    conn.write_all(b"pong").unwrap();
    drop(conn);
    for _ in 0..20 {
        h.pm.run(4);
        h.pm.wait_for_events(Some(Duration::from_millis(5)));
    }
    h.pm.resume(pid).unwrap();
    h.run_until_exit(pid, 10);
    assert_eq!(h.status(pid), Some(ExitStatus::Exited(0)), "{}", h.stderr(pid));
    assert!(h.stdout(pid).contains("reply=pong"), "{}", h.stdout(pid));
}

/// A platform shared with the test.
struct SharedPlatform(Arc<HeldReadiness>);

impl wasmhost::Platform for SharedPlatform {
    fn random(&self, buf: &mut [u8]) -> Result<(), i32> {
        self.0.random(buf)
    }

    fn create_shared_memory(&self, size: usize) -> Result<Box<dyn wasmhost::region::SharedMemory>, i32> {
        self.0.create_shared_memory(size)
    }

    fn net_connect(&self, proto: &str, addr: &str) -> Result<Arc<dyn wasmhost::HostSocket>, i32> {
        self.0.net_connect(proto, addr)
    }

    fn net_wait(
        &self,
        socket: &Arc<dyn wasmhost::HostSocket>,
        writable: bool,
        ready: Box<dyn FnOnce() + Send>,
    ) {
        self.0.net_wait(socket, writable, ready)
    }
}
