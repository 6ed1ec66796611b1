//! The Redox request rules, run on Linux against a real [`Daemon`] with
//! the real guests: what a Redox program's `ls`, `stat`, `spawn`, `rm`,
//! `truncate` and `fsync` turn into, byte for byte.

use wasmd_abi::Errno;

use std::sync::Arc;
use std::time::{Duration, Instant};

use syscall::dirent::{DirentHeader, DirentIter};
use syscall::flag::StdFsCallKind;
use wasmd_abi::scheme::{flags, mode};

use super::*;

const ROOT: Caller = Caller::ROOT;
use crate::control::{Completion, Entry};

const HEADER: u16 = size_of::<DirentHeader>() as u16;

fn daemon() -> Daemon {
    let platform = crate::sys::OsPlatform::with_file_root(None).unwrap();
    Daemon::with_workers(Arc::new(platform), Arc::new(crate::loader::FsModuleLoader::new(Vec::new())), 0)
}

fn guest(name: &str) -> String {
    wasmd_tests::guest(name).display().to_string()
}

/// Runs `call` and, when it waits, steps the daemon until its completion
/// comes (10 s at most); then fills a buffer of `len` bytes.
fn answer(
    d: &mut Daemon,
    endpoint: Endpoint<'_>,
    call: &Call<'_>,
    len: usize,
) -> (Result<usize, Errno>, Vec<u8>) {
    const TOKEN: Token = 77;
    let result = match run(d, endpoint, call, TOKEN) {
        Poll::Ready(r) => r,
        Poll::Pending => wait_for(d, TOKEN),
    };
    let mut buf = vec![0u8; len];
    let n = fill(call.shape(), result, &mut buf);
    (n, buf)
}

fn wait_for(d: &mut Daemon, token: Token) -> Result<Output, Errno> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        d.step(16);
        let done: Vec<Completion> = d.take_completions();
        if let Some(c) = done.into_iter().find(|c| c.token == token) {
            return c.result;
        }
        assert!(Instant::now() < deadline, "no completion for token {token}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn std_fs(fd: u64, kind: StdFsCallKind, arg1: u64, arg2: u64, payload: usize) -> Call<'static> {
    Call::std_fs(fd as usize, &[kind as u64, arg1, arg2], payload)
}

/// Names of the packed entries in `buf[..n]`, and the last opaque offset.
fn names(buf: &[u8]) -> (Vec<String>, u64) {
    let mut last = 0;
    let names = DirentIter::new(buf)
        .map(|e| {
            let (header, name) = e.unwrap();
            last = header.next_opaque_id;
            // Names are NUL-terminated and padded to align the next header.
            let len = name.iter().position(|&b| b == 0).unwrap_or(name.len());
            String::from_utf8(name[..len].to_vec()).unwrap()
        })
        .collect();
    (names, last)
}

/// Spawns the provider guest `module` serving `name` and waits until the
/// scheme is there; its pid.
fn provider(d: &mut Daemon, module: &str, name: &str) -> u32 {
    let pid = spawn(d, &format!("cap=stdio,scheme {} {name}", guest(module)));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !d.manager().scheme_names().iter().any(|n| n == name) {
        assert!(Instant::now() < deadline, "the scheme never appeared");
        d.step(16);
    }
    pid
}

fn spawn(d: &mut Daemon, spec: &str) -> u32 {
    spawn_as(d, ROOT, spec).unwrap()
}

/// Writes `spec` to `spawn` as `caller`, reads the pid back (or the
/// errno of the write or of the read).
fn spawn_as(d: &mut Daemon, caller: Caller, spec: &str) -> Result<u32, Errno> {
    let fd = open(d, Endpoint::Wasm, 0, "spawn", flags::O_RDWR, caller)?;
    let write = Call::Write { fd: fd as usize, offset: 0, data: spec.as_bytes(), nonblock: false };
    answer(d, Endpoint::Wasm, &write, 0).0?;
    // The kernel moved the offset past the spec: the answer must not care.
    let read = Call::Read { fd: fd as usize, offset: spec.len() as u64, len: 32, nonblock: false };
    let (n, buf) = answer(d, Endpoint::Wasm, &read, 32);
    let text = String::from_utf8_lossy(&buf[..n?]).into_owned();
    d.close(fd);
    Ok(text.trim().parse().unwrap_or_else(|_| panic!("spawn answered {text:?}")))
}

#[test]
fn std_fs_calls_decode_from_their_metadata() {
    let stat = size_of::<syscall::Stat>();
    assert_eq!(std_fs(5, StdFsCallKind::Fstat, 0, 0, stat), Call::Fstat { fd: 5 });
    assert_eq!(std_fs(5, StdFsCallKind::Fstat, 0, 0, stat - 1), Call::Refused(Errno::InvalidArgument));
    assert_eq!(
        std_fs(5, StdFsCallKind::Getdents, 9, u64::from(HEADER), 4096),
        Call::Getdents { fd: 5, offset: 9, header_size: HEADER }
    );
    // A header smaller than the kernel's, or one that does not fit a u16.
    assert_eq!(std_fs(5, StdFsCallKind::Getdents, 0, 4, 4096), Call::Refused(Errno::InvalidArgument));
    assert_eq!(std_fs(5, StdFsCallKind::Getdents, 0, 1 << 20, 4096), Call::Refused(Errno::InvalidArgument));
    assert_eq!(std_fs(5, StdFsCallKind::Fsync, 0, 0, 0), Call::Fsync { fd: 5 });
    assert_eq!(std_fs(5, StdFsCallKind::Ftruncate, 123, 0, 0), Call::Ftruncate { fd: 5, len: 123 });
    assert_eq!(std_fs(5, StdFsCallKind::Fchmod, 0o644, 0, 0), Call::Refused(Errno::NotSupported));
    assert_eq!(Call::std_fs(5, &[200, 0, 0], 0), Call::Refused(Errno::NotSupported));
    assert_eq!(Call::std_fs(5, &[], 0), Call::Refused(Errno::NotSupported));
}

#[test]
fn ls_of_the_tree_pages_through_packed_entries() {
    let mut d = daemon();
    let root = open(&mut d, Endpoint::Wasm, 0, "", flags::O_RDONLY | flags::O_DIRECTORY, ROOT).unwrap();
    let call = std_fs(root, StdFsCallKind::Getdents, 0, u64::from(HEADER), 4096);
    let (n, buf) = answer(&mut d, Endpoint::Wasm, &call, 4096);
    let (all, last) = names(&buf[..n.unwrap()]);
    assert_eq!(all, ["ps", "ps.json", "stats", "spawn", "run", "shm", "chan", "scheme", "name"]);
    // From the last entry's offset on: the end.
    let call = std_fs(root, StdFsCallKind::Getdents, last, u64::from(HEADER), 4096);
    assert_eq!(answer(&mut d, Endpoint::Wasm, &call, 4096).0, Ok(0));
    // A small buffer takes what fits, and the listing goes on from there.
    let mut seen = Vec::new();
    let mut offset = 0;
    loop {
        let call = std_fs(root, StdFsCallKind::Getdents, offset, u64::from(HEADER), 40);
        let (n, buf) = answer(&mut d, Endpoint::Wasm, &call, 40);
        let n = n.unwrap();
        if n == 0 {
            break;
        }
        let (page, last) = names(&buf[..n]);
        assert!(!page.is_empty());
        seen.extend(page);
        offset = last;
    }
    assert_eq!(seen, all);
    // Too small for even one entry: an error, never a silent end.
    let call = std_fs(root, StdFsCallKind::Getdents, 0, u64::from(HEADER), 8);
    assert_eq!(answer(&mut d, Endpoint::Wasm, &call, 8).0, Err(Errno::InvalidArgument));
}

#[test]
fn stat_fills_a_redox_stat() {
    let mut d = daemon();
    let ps = open(&mut d, Endpoint::Wasm, 0, "ps", flags::O_RDONLY, ROOT).unwrap();
    let len = size_of::<syscall::Stat>();
    let (n, buf) = answer(&mut d, Endpoint::Wasm, &std_fs(ps, StdFsCallKind::Fstat, 0, 0, len), len);
    assert_eq!(n, Ok(0));
    let mut stat = syscall::Stat::default();
    stat.copy_from_slice(&buf);
    assert_eq!(stat.st_mode & mode::MODE_TYPE, mode::MODE_FILE);
    let read = Call::Read { fd: ps as usize, offset: 0, len: 1 << 16, nonblock: false };
    let (table, _) = answer(&mut d, Endpoint::Wasm, &read, 1 << 16);
    assert_eq!(stat.st_size, table.unwrap() as u64);
    assert_eq!(
        answer(&mut d, Endpoint::Wasm, &Call::Fsize { fd: ps as usize }, 0).0,
        Ok(stat.st_size as usize)
    );
    let (n, path) = answer(&mut d, Endpoint::Wasm, &Call::Fpath { fd: ps as usize }, 64);
    assert_eq!(&path[..n.unwrap()], b"/scheme/wasm/ps");
    let dir = open(&mut d, Endpoint::Wasm, 0, "run", flags::O_RDONLY, ROOT).unwrap();
    let (_, buf) = answer(&mut d, Endpoint::Wasm, &Call::Fstat { fd: dir as usize }, len);
    stat.copy_from_slice(&buf);
    assert_eq!(stat.st_mode & mode::MODE_TYPE, mode::MODE_DIR);
    // A stat buffer of the wrong size is refused, not overrun.
    assert_eq!(
        answer(&mut d, Endpoint::Wasm, &Call::Fstat { fd: ps as usize }, len + 8).0,
        Err(Errno::InvalidArgument)
    );
}

#[test]
fn spawn_answers_where_the_kernel_offset_is() {
    let mut d = daemon();
    let pid = spawn(&mut d, &format!("cap=stdio,time {} sleep 60000", guest("worker")));
    let fd = open(&mut d, Endpoint::Wasm, 0, &format!("{pid}/status"), flags::O_RDONLY, ROOT).unwrap();
    let read = Call::Read { fd: fd as usize, offset: 0, len: 4096, nonblock: false };
    let (n, buf) = answer(&mut d, Endpoint::Wasm, &read, 4096);
    assert!(String::from_utf8_lossy(&buf[..n.unwrap()]).contains("module: worker"));
    // A second read of the spawn answer is the end of it.
    let spawn = open(&mut d, Endpoint::Wasm, 0, "spawn", flags::O_RDWR, ROOT).unwrap();
    let spec = format!("{} sleep 1", guest("worker"));
    let write = Call::Write { fd: spawn as usize, offset: 0, data: spec.as_bytes(), nonblock: false };
    answer(&mut d, Endpoint::Wasm, &write, 0).0.unwrap();
    let read = Call::Read { fd: spawn as usize, offset: 999, len: 2, nonblock: false };
    let mut got = Vec::new();
    loop {
        let (n, buf) = answer(&mut d, Endpoint::Wasm, &read, 2);
        let n = n.unwrap();
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    assert!(String::from_utf8(got).unwrap().trim().parse::<u32>().is_ok());
}

#[test]
fn the_tree_refuses_unlink_and_ignores_truncating_control_files() {
    let mut d = daemon();
    let pid = spawn(&mut d, &format!("cap=stdio,time {} sleep 60000", guest("worker")));
    for path in ["ps", "spawn", &format!("{pid}"), &format!("{pid}/ctl"), "run"] {
        let call = Call::Unlink { dirfd: 0, path, flags: 0 };
        assert_eq!(answer(&mut d, Endpoint::Wasm, &call, 0).0, Err(Errno::PermissionDenied), "rm {path}");
    }
    let call = Call::Unlink { dirfd: 0, path: "nothing-here", flags: 0 };
    assert_eq!(answer(&mut d, Endpoint::Wasm, &call, 0).0, Err(Errno::NotFound));
    // `echo kill > PID/ctl` may truncate first.
    let ctl = open(&mut d, Endpoint::Wasm, 0, &format!("{pid}/ctl"), flags::O_WRONLY, ROOT).unwrap();
    let truncate = std_fs(ctl, StdFsCallKind::Ftruncate, 0, 0, 0);
    assert_eq!(answer(&mut d, Endpoint::Wasm, &truncate, 0).0, Ok(0));
    let ps = open(&mut d, Endpoint::Wasm, 0, "ps", flags::O_RDONLY, ROOT).unwrap();
    let truncate = std_fs(ps, StdFsCallKind::Ftruncate, 0, 0, 0);
    assert_eq!(answer(&mut d, Endpoint::Wasm, &truncate, 0).0, Err(Errno::PermissionDenied));
    assert_eq!(answer(&mut d, Endpoint::Wasm, &std_fs(ps, StdFsCallKind::Fsync, 0, 0, 0), 0).0, Ok(0));
}

#[test]
fn guest_schemes_get_unlink_truncate_and_fsync() {
    let mut d = daemon();
    provider(&mut d, "ramfs", "callsfs");
    let fs = Endpoint::Guest("callsfs");
    let file = open(&mut d, fs, GUEST_ROOT, "a.txt", flags::O_RDWR | flags::O_CREAT, ROOT).unwrap();
    let write = Call::Write { fd: file as usize, offset: 0, data: b"0123456789", nonblock: false };
    assert_eq!(answer(&mut d, fs, &write, 0).0, Ok(10));
    assert_eq!(answer(&mut d, fs, &std_fs(file, StdFsCallKind::Ftruncate, 4, 0, 0), 0).0, Ok(0));
    assert_eq!(answer(&mut d, fs, &std_fs(file, StdFsCallKind::Fsync, 0, 0, 0), 0).0, Ok(0));
    assert_eq!(answer(&mut d, fs, &Call::Fsize { fd: file as usize }, 0).0, Ok(4));
    let read = Call::Read { fd: file as usize, offset: 0, len: 64, nonblock: false };
    let (n, buf) = answer(&mut d, fs, &read, 64);
    assert_eq!(&buf[..n.unwrap()], b"0123");
    d.close(file);
    // The access mode of the open holds on every call.
    let ro = open(&mut d, fs, GUEST_ROOT, "a.txt", flags::O_RDONLY, ROOT).unwrap();
    let write = Call::Write { fd: ro as usize, offset: 0, data: b"x", nonblock: false };
    assert_eq!(answer(&mut d, fs, &write, 0).0, Err(Errno::BadHandle));
    assert_eq!(
        answer(&mut d, fs, &std_fs(ro, StdFsCallKind::Ftruncate, 0, 0, 0), 0).0,
        Err(Errno::BadHandle)
    );
    d.close(ro);
    let wo = open(&mut d, fs, GUEST_ROOT, "a.txt", flags::O_WRONLY, ROOT).unwrap();
    let read = Call::Read { fd: wo as usize, offset: 0, len: 64, nonblock: false };
    assert_eq!(answer(&mut d, fs, &read, 64).0, Err(Errno::BadHandle));
    d.close(wo);
    // Listed by its own name, then removed by it and under the tree.
    let root = open(&mut d, fs, GUEST_ROOT, "", flags::O_RDONLY | flags::O_DIRECTORY, ROOT).unwrap();
    let (n, buf) =
        answer(&mut d, fs, &std_fs(root, StdFsCallKind::Getdents, 0, u64::from(HEADER), 4096), 4096);
    assert_eq!(names(&buf[..n.unwrap()]).0, ["a.txt"]);
    let rm = Call::Unlink { dirfd: GUEST_ROOT, path: "a.txt", flags: 0 };
    assert_eq!(answer(&mut d, fs, &rm, 0).0, Ok(0));
    assert_eq!(answer(&mut d, fs, &rm, 0).0, Err(Errno::NotFound));
    let b = open(&mut d, Endpoint::Wasm, 0, "scheme/callsfs/b.txt", flags::O_WRONLY | flags::O_CREAT, ROOT)
        .unwrap();
    d.close(b);
    let rm = Call::Unlink { dirfd: 0, path: "scheme/callsfs/b.txt", flags: 0 };
    assert_eq!(answer(&mut d, Endpoint::Wasm, &rm, 0).0, Ok(0));
}

#[test]
fn answers_from_guests_never_exceed_the_request() {
    // A provider's count larger than the write is refused.
    assert_eq!(fill(Shape::Count { asked: 16 }, Ok(Output::Count(4096)), &mut []), Err(Errno::Io));
    assert_eq!(fill(Shape::Count { asked: 16 }, Ok(Output::Count(16)), &mut []), Ok(16));
    // More data than the buffer is refused, nothing copied.
    let mut buf = [0u8; 4];
    assert_eq!(fill(Shape::Bytes, Ok(Output::Data(vec![7; 4096])), &mut buf), Err(Errno::Io));
    assert_eq!(buf, [0; 4]);
    // A path is cut to the buffer (what fpath does).
    assert_eq!(fill(Shape::Bytes, Ok(Output::Path("/scheme/wasm/ps".into())), &mut buf), Ok(4));
    // An answer of the wrong kind is Errno::Io, an error passes through.
    assert_eq!(fill(Shape::Stat, Ok(Output::Data(Vec::new())), &mut []), Err(Errno::Io));
    assert_eq!(fill(Shape::Zero, Err(Errno::NotFound), &mut []), Err(Errno::NotFound));
    let entries = vec![Entry { name: "x".repeat(300), kind: 8, next: 1 }];
    let mut buf = [0u8; 64];
    assert_eq!(
        fill(Shape::Dirents { header_size: HEADER }, Ok(Output::Entries(entries)), &mut buf),
        Err(Errno::InvalidArgument)
    );
}

#[test]
fn a_lying_provider_gets_eio_not_its_bytes_through() {
    let mut d = daemon();
    provider(&mut d, "faulty_scheme", "liesfs");
    let fs = Endpoint::Guest("liesfs");
    let file = open(&mut d, fs, GUEST_ROOT, "lies", flags::O_RDWR, ROOT).unwrap();
    // 4,096 bytes answered to a 16-byte read.
    let read = Call::Read { fd: file as usize, offset: 0, len: 16, nonblock: false };
    let (n, buf) = answer(&mut d, fs, &read, 16);
    assert_eq!(n, Err(Errno::Io));
    assert_eq!(buf, [0; 16]);
    // u64::MAX bytes answered to an 8-byte write.
    let write = Call::Write { fd: file as usize, offset: 0, data: b"12345678", nonblock: false };
    assert_eq!(answer(&mut d, fs, &write, 0).0, Err(Errno::Io));
}

const ALICE: Caller = Caller { uid: 1000, gid: 1000 };
const BOB: Caller = Caller { uid: 1001, gid: 1001 };

/// Reads a whole tree file as `caller`.
fn cat_as(d: &mut Daemon, caller: Caller, path: &str) -> Result<String, Errno> {
    let fd = open(d, Endpoint::Wasm, 0, path, flags::O_RDONLY, caller)?;
    let read = Call::Read { fd: fd as usize, offset: 0, len: 1 << 16, nonblock: true };
    let (n, buf) = answer(d, Endpoint::Wasm, &read, 1 << 16);
    d.close(fd);
    Ok(String::from_utf8_lossy(&buf[..n?]).into_owned())
}

#[test]
fn users_spawn_guests_that_act_for_them_and_no_more() {
    use std::os::unix::fs::PermissionsExt;
    let root = std::env::temp_dir().join(format!("wasmd-policy-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    for (dir, mode) in [("private", 0o700), ("shared", 0o777), ("mods", 0o755)] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
        std::fs::set_permissions(root.join(dir), std::fs::Permissions::from_mode(mode)).unwrap();
    }
    let secret_module = root.join("mods/secret.wasm");
    std::fs::copy(wasmd_tests::guest("hello"), &secret_module).unwrap();
    std::fs::set_permissions(&secret_module, std::fs::Permissions::from_mode(0o600)).unwrap();
    let platform = crate::sys::OsPlatform::with_file_root(Some(&root)).unwrap();
    let loader = Arc::new(crate::loader::FsModuleLoader::new(Vec::new()));
    let mut d = Daemon::with_workers(Arc::new(platform), loader, 0);
    let worker = guest("worker");

    // Alice's guest acts for Alice: ps and status say so.
    let pid = spawn_as(&mut d, ALICE, &format!("cap=stdio,time {worker} sleep 60000")).unwrap();
    let status = cat_as(&mut d, ALICE, &format!("{pid}/status")).unwrap();
    assert!(status.contains("owner: 1000:1000"), "{status}");
    let ps = cat_as(&mut d, BOB, "ps").unwrap();
    let row = ps.lines().find(|l| l.split_whitespace().next() == Some(&pid.to_string())).unwrap();
    assert_eq!(row.split_whitespace().nth(2), Some("1000"), "{ps}");
    // Bob may see it in ps, not inspect or control it; root may.
    for file in ["status", "log", "wait", "ctl"] {
        let path = format!("{pid}/{file}");
        assert_eq!(open(&mut d, Endpoint::Wasm, 0, &path, flags::O_RDONLY, BOB), Err(Errno::AccessDenied));
    }
    assert!(cat_as(&mut d, ROOT, &format!("{pid}/status")).is_ok());
    // More capabilities than users get: refused at the write.
    let err = spawn_as(&mut d, ALICE, &format!("cap=all {worker} sleep 1")).unwrap_err();
    assert_eq!(err, Errno::PermissionDenied);
    assert!(spawn_as(&mut d, ROOT, &format!("cap=all {worker} count 1")).is_ok());
    // `file:` grants only where the user may go; a module the user may read.
    let grant = |dir: &str, mode: &str| format!("cap=stdio grant=file:/{dir}={mode} {worker} count 1");
    assert_eq!(spawn_as(&mut d, ALICE, &grant("private", "ro")), Err(Errno::AccessDenied));
    assert!(spawn_as(&mut d, ALICE, &grant("shared", "rw")).is_ok());
    assert_eq!(spawn_as(&mut d, ALICE, &grant("mods", "rw")), Err(Errno::AccessDenied));
    assert!(spawn_as(&mut d, ALICE, &grant("mods", "ro")).is_ok());
    assert!(spawn_as(&mut d, ROOT, &grant("private", "rw")).is_ok());
    let secret = format!("{}", secret_module.display());
    assert_eq!(spawn_as(&mut d, ALICE, &secret), Err(Errno::AccessDenied));
    assert!(spawn_as(&mut d, ROOT, &secret).is_ok());
    let run = format!("run{secret}");
    let fd = open(&mut d, Endpoint::Wasm, 0, &run, flags::O_RDONLY, ALICE).unwrap();
    let read = Call::Read { fd: fd as usize, offset: 0, len: 64, nonblock: false };
    assert_eq!(answer(&mut d, Endpoint::Wasm, &read, 64).0, Err(Errno::AccessDenied));
    // Regions: only those of one's own processes.
    let native = spawn_as(&mut d, ALICE, &format!("cap=stdio,time,shm {}", guest("chan_native"))).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let shm = loop {
        let log = cat_as(&mut d, ALICE, &format!("{native}/log")).unwrap();
        if let Some(id) = log.split_whitespace().find_map(|w| w.strip_prefix("shm=")) {
            break id.to_string();
        }
        assert!(Instant::now() < deadline, "no region");
        d.step(16);
    };
    assert!(cat_as(&mut d, ALICE, "shm/index").unwrap().contains(&format!("{shm} ")));
    assert!(!cat_as(&mut d, BOB, "shm/index").unwrap().contains(&format!("{shm} ")));
    for path in [format!("shm/{shm}"), format!("chan/{shm}")] {
        assert_eq!(open(&mut d, Endpoint::Wasm, 0, &path, flags::O_RDONLY, BOB), Err(Errno::AccessDenied));
    }
    assert!(open(&mut d, Endpoint::Wasm, 0, &format!("shm/{shm}"), flags::O_RDONLY, ALICE).is_ok());
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn replies_to_abandoned_requests_are_not_kept() {
    let mut d = daemon();
    let provider = provider(&mut d, "faulty_scheme", "lazyfs");
    let fs = Endpoint::Guest("lazyfs");
    // 200 reads the provider never answers, half cancelled, half closed.
    for i in 0..200u64 {
        let file = open(&mut d, fs, GUEST_ROOT, "hang", flags::O_RDONLY, ROOT).unwrap();
        let read = Call::Read { fd: file as usize, offset: 0, len: 1 << 20, nonblock: false };
        assert_eq!(run(&mut d, fs, &read, 1000 + i), Poll::Pending);
        d.step(4);
        if i % 2 == 0 {
            assert!(d.cancel(1000 + i));
        } else {
            d.close(file);
        }
    }
    // The provider dies: every abandoned request gets its Errno::Io reply.
    let ctl = open(&mut d, Endpoint::Wasm, 0, &format!("{provider}/ctl"), flags::O_WRONLY, ROOT).unwrap();
    let kill = Call::Write { fd: ctl as usize, offset: 0, data: b"kill", nonblock: false };
    answer(&mut d, Endpoint::Wasm, &kill, 0).0.unwrap();
    for _ in 0..10 {
        d.step(16);
    }
    assert_eq!(d.kept_replies(), 0);
}
