//! Guest socket hostcalls: real TCP/UDP with native peers on 127.0.0.1,
//! socket grants, connects that never complete holding no thread, and a
//! socket wait that survives a suspension.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmd_abi::Errno;

use common::{expect_fs_session, temp_dir, Harness};
use wasmd_abi::{Caps, ExitStatus};
use wasmd_tests::CapturedOutput;

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
    fn random(&self, buf: &mut [u8]) -> Result<(), Errno> {
        self.os.random(buf)
    }

    fn create_shared_memory(&self, size: usize) -> Result<Box<dyn wasmhost::region::SharedMemory>, Errno> {
        self.os.create_shared_memory(size)
    }

    fn net_connect(&self, proto: &str, addr: &str) -> Result<Arc<dyn wasmhost::HostSocket>, Errno> {
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
    fn random(&self, buf: &mut [u8]) -> Result<(), Errno> {
        self.0.random(buf)
    }

    fn create_shared_memory(&self, size: usize) -> Result<Box<dyn wasmhost::region::SharedMemory>, Errno> {
        self.0.create_shared_memory(size)
    }

    fn net_connect(&self, proto: &str, addr: &str) -> Result<Arc<dyn wasmhost::HostSocket>, Errno> {
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
