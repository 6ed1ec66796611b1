//! What each kind of control file answers to the calls it does not
//! specialise (`fstat` modes, reads and writes of directories, truncates,
//! `getdents` and `mmap` of plain files), driven in-process through the
//! OS-neutral [`Daemon`].

use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmd_abi::Errno;

use wasmd::control::{Caller, Daemon, Poll};
use wasmd_abi::scheme::{flags, mode};
use wasmd_tests::guest;

fn daemon() -> Daemon {
    let platform = wasmd::sys::OsPlatform::with_file_root(None).unwrap();
    Daemon::with_workers(Arc::new(platform), Arc::new(wasmd::loader::FsModuleLoader::new(Vec::new())), 0)
}

fn open(d: &mut Daemon, path: &str, open_flags: u32) -> u64 {
    d.open(path, open_flags, Caller::ROOT).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A sleeping guest's pid.
fn sleeper(d: &mut Daemon) -> String {
    let spawn = open(d, "spawn", flags::O_RDWR);
    let spec = format!("{} sleep 60000", guest("worker").display());
    assert_eq!(d.write(spawn, 0, spec.as_bytes(), false, 0), Poll::Ready(Ok(spec.len())));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        d.step(16);
        if let Poll::Ready(Ok(pid)) = d.read(spawn, 0, 32, true, 0) {
            return String::from_utf8(pid).unwrap().trim().to_string();
        }
        assert!(Instant::now() < deadline, "the spawn never finished");
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn each_kind_of_file_has_its_mode_and_defaults() {
    let mut d = daemon();
    let pid = sleeper(&mut d);
    let dir = mode::MODE_DIR | 0o755;
    let cases = [
        (String::new(), dir),
        ("run".into(), dir),
        ("shm".into(), dir),
        ("chan".into(), dir),
        ("scheme".into(), dir),
        (pid.clone(), dir),
        ("ps".into(), mode::MODE_FILE | 0o444),
        ("shm/index".into(), mode::MODE_FILE | 0o444),
        (format!("{pid}/status"), mode::MODE_FILE | 0o444),
        (format!("{pid}/log"), mode::MODE_FILE | 0o444),
        ("spawn".into(), mode::MODE_FILE | 0o644),
        (format!("{pid}/ctl"), mode::MODE_FILE | 0o644),
        (format!("{pid}/wait"), mode::MODE_CHR | 0o444),
    ];
    for (path, expected) in cases {
        let fd = open(&mut d, &path, flags::O_RDONLY);
        let Poll::Ready(Ok(stat)) = d.fstat(fd, 0) else { panic!("{path}: no stat") };
        assert_eq!((stat.mode, stat.ino), (expected, fd), "{path}");
        let is_dir = expected & mode::MODE_TYPE == mode::MODE_DIR;
        let truncate_ok = path == "spawn" || path.ends_with("/ctl");
        let truncated = d.ftruncate(fd, 0, 0);
        match (is_dir, truncate_ok) {
            (true, _) => assert_eq!(truncated, Poll::Ready(Err(Errno::IsADirectory)), "{path}"),
            (false, true) => assert_eq!(truncated, Poll::Ready(Ok(())), "{path}"),
            (false, false) => assert_eq!(truncated, Poll::Ready(Err(Errno::PermissionDenied)), "{path}"),
        }
        if is_dir {
            assert_eq!(d.read(fd, 0, 16, true, 0), Poll::Ready(Err(Errno::IsADirectory)), "{path}");
            assert_eq!(d.write(fd, 0, b"x", true, 0), Poll::Ready(Err(Errno::IsADirectory)), "{path}");
            assert!(matches!(d.getdents(fd, 0, 0), Poll::Ready(Ok(_))), "{path}");
        } else {
            assert_eq!(d.getdents(fd, 0, 0), Poll::Ready(Err(Errno::NotADirectory)), "{path}");
        }
        assert_eq!(d.fsync(fd, 0), Poll::Ready(Ok(())), "{path}");
        assert_eq!(d.mmap_address(fd, 0, 4096), Err(Errno::NoDevice), "{path}");
        d.close(fd);
    }
    // Snapshots and streams take no writes.
    for path in ["ps".to_string(), format!("{pid}/status"), format!("{pid}/wait")] {
        let fd = open(&mut d, &path, flags::O_RDONLY);
        assert_eq!(d.write(fd, 0, b"x", true, 0), Poll::Ready(Err(Errno::BadHandle)), "{path}");
    }
    // A closed file answers nothing.
    let fd = open(&mut d, "ps", flags::O_RDONLY);
    d.close(fd);
    assert_eq!(d.fstat(fd, 0), Poll::Ready(Err(Errno::BadHandle)));
    assert_eq!(d.fsync(fd, 0), Poll::Ready(Err(Errno::BadHandle)));
    assert_eq!(d.mmap_address(fd, 0, 1), Err(Errno::BadHandle));
}

#[test]
fn a_run_file_refused_as_a_directory_starts_no_spawn() {
    let mut d = daemon();
    let run = format!("run{}", guest("hello").display());
    assert_eq!(d.open(&run, flags::O_RDONLY | flags::O_DIRECTORY, Caller::ROOT), Err(Errno::NotADirectory));
    // The next file opened (a `spawn` with no spec yet) is told of no
    // spawn, however long the module would take to load.
    let spawn = open(&mut d, "spawn", flags::O_RDWR);
    for _ in 0..200 {
        d.step(16);
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(d.read(spawn, 0, 32, true, 0), Poll::Ready(Err(Errno::InvalidArgument)));
    assert!(d.manager().pids().is_empty(), "nothing was spawned");
}
