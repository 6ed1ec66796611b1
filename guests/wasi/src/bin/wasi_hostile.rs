//! `wasi_hostile [fault CASE | faults]`: WASI calls with hostile arguments.
//! The host must survive every one and answer it as WASI says.
//!
//! Without arguments it makes the calls that must return an errno, one
//! line per call, `CASE -> ERRNO` (the WASI errno number), then prints
//! `hostile done` and exits 0: forged fds, `..`, absolute and symlink
//! escapes from the preopen (`../x` and `a/../../x` with `O_CREAT`,
//! `/etc/passwd`, `escape_link/x` through a symlink a test may plant), a
//! too-small name buffer, a bad clock id, `poll_oneoff` without
//! subscriptions, calls on fd 3 after closing it, and two boundary cases
//! that must succeed (an empty buffer exactly at the end of memory for
//! `fd_write` and `random_get`).
//!
//! `wasi_hostile faults` lists the fault cases, one name a line; `wasi_hostile
//! fault CASE` makes that one call and prints `CASE -> ERRNO`. Each passes
//! an address the host cannot use: outside linear memory (far past it,
//! straddling its end, a length that wraps a 32-bit address, a count of
//! records that does not fit) or misaligned. WASI (the witx "Pointers"
//! rules) says such a call shall trap, where a host may instead answer
//! `EFAULT`; either way it must not touch memory outside the guest's. One
//! case a process, since a trap ends it.
//!
//! Expects fd 3 to be a preopened directory holding a file `data.txt` and
//! a directory `a/` (as `--grant file:/` over a prepared fs root gives);
//! without them the file cases answer with their own errnos.

use wasmd_wasi_guests::raw::*;
use wasmd_wasi_guests::{
    addr, addr_mut, clock_subscription, memory_end, CLOCK_REALTIME, EVENT_SIZE, RIGHTS_READ,
};

/// An address far outside any 32-bit linear memory the guest has.
const FAR: u32 = 0xFFFF_FFF0;
/// The preopen the file cases work in.
const PREOPEN: u32 = 3;
/// A descriptor number nothing opened.
const FORGED: u32 = 12345;
/// `O_CREAT`.
const OFLAGS_CREAT: u32 = 1;
/// `LOOKUPFLAGS_SYMLINK_FOLLOW`.
const FOLLOW: u32 = 1;
/// `fd_write` and `path_create_file` on top of reading.
const RIGHTS_WRITE: u64 = RIGHTS_READ | (1 << 6) | (1 << 10);
/// What the `fd_write` cases write (to stderr).
const PROBE: &[u8] = b"hostile probe\n";

/// Prints one case's result.
fn case(name: &str, errno: i32) {
    println!("{name} -> {errno}");
}

/// An iovec (`buf`, `len`) as the host reads it.
fn iovec(buf: u32, len: u32) -> [u32; 2] {
    [buf, len]
}

/// `fd_write` of `iovs` (`iovs_len` of them) to `fd`, the count stored in
/// a valid place.
fn write_iovs(fd: u32, iovs: u32, iovs_len: u32) -> i32 {
    let mut written = 0u32;
    fd_write(fd, iovs, iovs_len, addr_mut(&mut written))
}

/// `fd_write` of one iovec to `fd`.
fn write_one(fd: u32, buf: u32, len: u32) -> i32 {
    let iov = iovec(buf, len);
    write_iovs(fd, addr(&iov), 1)
}

/// `path_open` beneath `dirfd`, following symlinks.
fn open_path(dirfd: u32, path: &str, oflags: u32, rights: u64, opened: &mut u32) -> i32 {
    path_open(dirfd, FOLLOW, addr(path), path.len() as u32, oflags, rights, 0, 0, addr_mut(opened))
}

/// Opens `data.txt` in the preopen for reading; 0 if that fails (the
/// fault cases then meet `EBADF` instead, which their test reports).
fn open_data() -> u32 {
    let mut opened = 0u32;
    match open_path(PREOPEN, "data.txt", 0, RIGHTS_READ, &mut opened) {
        0 => opened,
        _ => 0,
    }
}

/// `fd_read` from `data.txt` into one iovec.
fn read_one(buf: u32, len: u32) -> i32 {
    let iov = iovec(buf, len);
    let mut count = 0u32;
    fd_read(open_data(), addr(&iov), 1, addr_mut(&mut count))
}

/// `poll_oneoff` on one 1 ms clock subscription, with each address
/// replaced by the caller's where given.
fn poll(subs: Option<u32>, events: Option<u32>, nsubscriptions: u32, nevents: Option<u32>) -> i32 {
    let sub = clock_subscription(7, 1_000_000);
    let mut event_buf = [0u8; EVENT_SIZE];
    let mut count = 0u32;
    poll_oneoff(
        subs.unwrap_or(addr(&sub)),
        events.unwrap_or(addr_mut(&mut event_buf)),
        nsubscriptions,
        nevents.unwrap_or(addr_mut(&mut count)),
    )
}

/// A fault case: its name and the call.
type Fault = (&'static str, fn() -> i32);

/// The calls with an address the host cannot use.
const FAULTS: &[Fault] = &[
    ("fd_write bad iovec ptr", || write_iovs(2, FAR, 1)),
    ("fd_write iovec array past memory end", || write_iovs(2, memory_end() - 4, 1)),
    ("fd_write iovs_len 0x7fffffff", || {
        let iov = iovec(addr(PROBE), PROBE.len() as u32);
        write_iovs(2, addr(&iov), 0x7fff_ffff)
    }),
    ("fd_write iovec buf out of memory", || write_one(2, FAR, 16)),
    ("fd_write iovec buf past memory end", || write_one(2, memory_end() - 4, 8)),
    ("fd_write iovec len wraps", || write_one(2, addr(PROBE), u32::MAX - 8)),
    ("fd_write bad nwritten ptr", || {
        let iov = iovec(addr(PROBE), PROBE.len() as u32);
        fd_write(2, addr(&iov), 1, FAR)
    }),
    ("fd_write misaligned iovec ptr", || {
        let iovs = [0u32; 3];
        write_iovs(2, addr(&iovs) + 2, 1)
    }),
    ("fd_read bad iovec ptr", || {
        let mut count = 0u32;
        fd_read(open_data(), FAR, 1, addr_mut(&mut count))
    }),
    ("fd_read buf out of memory", || read_one(FAR, 16)),
    ("fd_read buf past memory end", || read_one(memory_end() - 4, 8)),
    ("fd_read bad nread ptr", || {
        let mut buf = [0u8; 16];
        let iov = iovec(addr_mut(&mut buf), buf.len() as u32);
        fd_read(open_data(), addr(&iov), 1, FAR)
    }),
    ("fd_fdstat_get bad out ptr", || fd_fdstat_get(1, FAR)),
    ("path_open bad path ptr", || {
        let mut opened = 0u32;
        path_open(PREOPEN, FOLLOW, FAR, 8, 0, RIGHTS_READ, 0, 0, addr_mut(&mut opened))
    }),
    ("path_open path past memory end", || {
        let mut opened = 0u32;
        path_open(PREOPEN, FOLLOW, memory_end() - 4, 8, 0, RIGHTS_READ, 0, 0, addr_mut(&mut opened))
    }),
    ("path_open bad out ptr", || {
        let path = "data.txt";
        path_open(PREOPEN, FOLLOW, addr(path), path.len() as u32, 0, RIGHTS_READ, 0, 0, FAR)
    }),
    ("path_filestat_get bad out ptr", || {
        let path = "data.txt";
        path_filestat_get(PREOPEN, FOLLOW, addr(path), path.len() as u32, FAR)
    }),
    ("fd_prestat_get bad out ptr", || fd_prestat_get(PREOPEN, FAR)),
    ("fd_prestat_dir_name bad buf ptr", || fd_prestat_dir_name(PREOPEN, FAR, 1)),
    ("fd_readdir bad buf ptr", || {
        let mut used = 0u32;
        fd_readdir(PREOPEN, FAR, 128, 0, addr_mut(&mut used))
    }),
    ("fd_readdir bad bufused ptr", || {
        let mut buf = [0u8; 128];
        fd_readdir(PREOPEN, addr_mut(&mut buf), buf.len() as u32, 0, FAR)
    }),
    ("args_sizes_get bad ptr", || {
        let mut size = 0u32;
        args_sizes_get(FAR, addr_mut(&mut size))
    }),
    ("args_get bad argv ptr", || {
        let mut buf = vec![0u8; 4096];
        args_get(FAR, addr_mut(buf.as_mut_slice()))
    }),
    ("args_get bad argv_buf ptr", || {
        let mut pointers = [0u32; 64];
        args_get(addr_mut(&mut pointers), FAR)
    }),
    ("environ_sizes_get bad ptr", || {
        let mut count = 0u32;
        environ_sizes_get(addr_mut(&mut count), FAR)
    }),
    ("environ_get bad environ ptr", || {
        let mut buf = vec![0u8; 4096];
        environ_get(FAR, addr_mut(buf.as_mut_slice()))
    }),
    ("environ_get bad environ_buf ptr", || {
        let mut pointers = [0u32; 64];
        environ_get(addr_mut(&mut pointers), FAR)
    }),
    ("random_get out of memory", || random_get(FAR, 16)),
    ("random_get past memory end", || random_get(memory_end() - 8, 16)),
    ("random_get len wraps", || {
        let mut buf = [0u8; 16];
        random_get(addr_mut(&mut buf), u32::MAX - 8)
    }),
    ("clock_time_get bad out ptr", || clock_time_get(CLOCK_REALTIME, 1, FAR)),
    ("clock_time_get misaligned out ptr", || {
        let mut buf = [0u64; 2];
        clock_time_get(CLOCK_REALTIME, 1, addr_mut(&mut buf) + 4)
    }),
    ("clock_res_get bad out ptr", || clock_res_get(CLOCK_REALTIME, FAR)),
    ("poll_oneoff bad subscriptions ptr", || poll(Some(FAR), None, 1, None)),
    ("poll_oneoff subscriptions past memory end", || poll(Some(memory_end() - 8), None, 1, None)),
    ("poll_oneoff nsubscriptions 0x7fffffff", || poll(None, None, 0x7fff_ffff, None)),
    ("poll_oneoff bad events ptr", || poll(None, Some(FAR), 1, None)),
    ("poll_oneoff bad nevents ptr", || poll(None, None, 1, Some(FAR))),
];

/// The calls that must return an errno (or succeed), in order: the
/// preopen is closed last.
fn errno_cases() {
    case("fd_write empty iovec at memory end", write_one(2, memory_end(), 0));
    case("fd_write forged fd 12345", write_one(FORGED, addr(PROBE), PROBE.len() as u32));
    case("fd_write forged fd 0xffffffff", write_one(u32::MAX, addr(PROBE), PROBE.len() as u32));
    let mut buf = [0u8; 16];
    let iov = iovec(addr_mut(&mut buf), buf.len() as u32);
    let mut count = 0u32;
    case("fd_read forged fd 12345", fd_read(FORGED, addr(&iov), 1, addr_mut(&mut count)));
    case("fd_close forged fd 12345", fd_close(FORGED));
    let mut stat = [0u64; 8];
    case("fd_fdstat_get forged fd 0xffffffff", fd_fdstat_get(u32::MAX, addr_mut(&mut stat)));

    let mut opened = 0u32;
    for (name, path, oflags, rights) in [
        ("path_open ../x (create)", "../x", OFLAGS_CREAT, RIGHTS_WRITE),
        ("path_open a/../../x (create)", "a/../../x", OFLAGS_CREAT, RIGHTS_WRITE),
        ("path_open absolute /etc/passwd", "/etc/passwd", 0, RIGHTS_READ),
        (
            "path_open ../../../../../../../../etc/passwd",
            "../../../../../../../../etc/passwd",
            0,
            RIGHTS_READ,
        ),
        ("path_open escape_link/x (create)", "escape_link/x", OFLAGS_CREAT, RIGHTS_WRITE),
    ] {
        case(name, open_path(PREOPEN, path, oflags, rights, &mut opened));
    }
    case("path_open forged dirfd 12345", open_path(FORGED, "data.txt", 0, RIGHTS_READ, &mut opened));
    let up = "../";
    case(
        "path_filestat_get ../",
        path_filestat_get(PREOPEN, FOLLOW, addr(up), up.len() as u32, addr_mut(&mut stat)),
    );

    let mut prestat = [0u32; 2];
    case("fd_prestat_get fd 3", fd_prestat_get(PREOPEN, addr_mut(&mut prestat)));
    case("fd_prestat_get forged fd 12345", fd_prestat_get(FORGED, addr_mut(&mut prestat)));
    let mut name = [0u8; 64];
    case("fd_prestat_dir_name too small", fd_prestat_dir_name(PREOPEN, addr_mut(&mut name), 0));

    case("random_get empty at memory end", random_get(memory_end(), 0));
    let mut time = 0u64;
    case("clock_time_get bad clock id", clock_time_get(999, 1, addr_mut(&mut time)));
    case("clock_res_get bad clock id", clock_res_get(999, addr_mut(&mut time)));
    case("poll_oneoff nsubscriptions 0", poll(None, None, 0, None));

    case("fd_close fd 3", fd_close(PREOPEN));
    case("fd_write closed fd 3", write_one(PREOPEN, addr(PROBE), PROBE.len() as u32));
    case("fd_close closed fd 3", fd_close(PREOPEN));
    case("fd_prestat_get closed fd 3", fd_prestat_get(PREOPEN, addr_mut(&mut prestat)));
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        [] => {
            errno_cases();
            println!("hostile done");
        }
        ["faults"] => {
            for (name, _) in FAULTS {
                println!("{name}");
            }
        }
        ["fault", name] => match FAULTS.iter().find(|(n, _)| n == name) {
            Some((name, call)) => case(name, call()),
            None => {
                eprintln!("wasi_hostile: no fault case `{name}`");
                std::process::exit(2);
            }
        },
        _ => {
            eprintln!("usage: wasi_hostile [faults | fault CASE]");
            std::process::exit(2);
        }
    }
}
