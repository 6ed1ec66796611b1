//! The `wasi_calls` target: generated guests calling every
//! `wasi_snapshot_preview1` function with hostile arguments.
//!
//! Each call's parameters have a role (a descriptor, a path, an iovec
//! array, an out-pointer of a given size, ...): an argument is mostly a
//! value of its role (small descriptors, descriptors earlier `path_open`s
//! wrote, paths that climb, iovecs that overlap or leave memory, clock and
//! descriptor subscriptions), sometimes any hostile value (as `hostcalls`).
//!
//! Besides "no panic, no hang, every guest ended soon after its kill",
//! the guests check that no call writes guest memory outside what it may
//! write: around each call, 8-byte guard words (just before and after each
//! out-pointer's and buffer's range, after the first iovec's buffer, and
//! at both ends of memory) that no output of the call may cover are
//! compared before and after; a changed one makes the guest exit with
//! `GUARD_EXIT | call index`. A generated guest never traps by itself
//! (its own loads are bounds-checked), so a trap is the host's doing.
//! And nothing may appear outside the guests' file root: its directory
//! holds the root and a file the root's symbolic links point at.

use super::*;

/// The exit code prefix of a guest that saw a guard word change.
pub const GUARD_EXIT: i32 = 0x5EAD_0000;

/// The role of a parameter (one or more wasm parameters).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// A descriptor (`i32`).
    Fd,
    /// A path: `ptr, len` (two `i32`).
    Path,
    /// Iovecs the call writes into (reads): `ptr, count`.
    IovsIn,
    /// Iovecs the call reads from (writes): `ptr, count`.
    IovsOut,
    /// A buffer the call fills: `ptr, len`.
    Buf,
    /// An out-pointer to `size` bytes aligned to `align`.
    Out(u32, u32),
    /// `poll_oneoff`'s `subscriptions, events, count` (three `i32`).
    Subs,
    /// Flags (`i32`).
    Flags,
    /// `oflags` (`i32`).
    Oflags,
    /// `lookupflags` (`i32`).
    Lookup,
    /// `whence` (`i32`).
    Whence,
    /// `clockid` (`i32`).
    Clock,
    /// `advice` (`i32`).
    Advice,
    /// `fstflags` (`i32`).
    Fst,
    /// Any `i32`.
    Int,
    /// `rights` (`i64`).
    RightSet,
    /// A file offset or size (`i64`).
    Off,
    /// A timestamp (`i64`).
    Time,
    /// A `dircookie` (`i64`).
    Cookie,
}
use Role::*;

impl Role {
    /// Its wasm parameters.
    fn types(self) -> &'static [Ty] {
        match self {
            Path | IovsIn | IovsOut | Buf => &[Ty::I, Ty::I],
            Subs => &[Ty::I, Ty::I, Ty::I],
            RightSet | Off | Time | Cookie => &[Ty::L],
            _ => &[Ty::I],
        }
    }
}

/// The arguments and environment of the guests: `args_get` and
/// `environ_get` write exactly these.
pub(super) const WASI_ARGS: [&str; 1] = ["p0"];
pub(super) const WASI_ENV: [&str; 2] = ["A=1", "WASMD_FUZZ=yes"];
const ARGV: Role = Out(4 * WASI_ARGS.len() as u32, 4);
const ARGS_BYTES: Role = Out(3, 1);
const ENVV: Role = Out(4 * WASI_ENV.len() as u32, 4);
const ENV_BYTES: Role = Out(4 + 15, 1);

/// Every preview 1 function with its parameters' roles, in the order of
/// `wasmhost::wasi::NAMES` (all return an `i32` errno; `proc_exit`
/// returns nothing and is only ever the last call).
pub const WASI_CALLS: &[(&str, &[Role])] = &[
    ("args_get", &[ARGV, ARGS_BYTES]),
    ("args_sizes_get", &[Out(4, 4), Out(4, 4)]),
    ("environ_get", &[ENVV, ENV_BYTES]),
    ("environ_sizes_get", &[Out(4, 4), Out(4, 4)]),
    ("clock_res_get", &[Clock, Out(8, 8)]),
    ("clock_time_get", &[Clock, Time, Out(8, 8)]),
    ("fd_advise", &[Fd, Off, Off, Advice]),
    ("fd_allocate", &[Fd, Off, Off]),
    ("fd_close", &[Fd]),
    ("fd_datasync", &[Fd]),
    ("fd_fdstat_get", &[Fd, Out(24, 8)]),
    ("fd_fdstat_set_flags", &[Fd, Flags]),
    ("fd_fdstat_set_rights", &[Fd, RightSet, RightSet]),
    ("fd_filestat_get", &[Fd, Out(64, 8)]),
    ("fd_filestat_set_size", &[Fd, Off]),
    ("fd_filestat_set_times", &[Fd, Time, Time, Fst]),
    ("fd_pread", &[Fd, IovsIn, Off, Out(4, 4)]),
    ("fd_prestat_get", &[Fd, Out(8, 4)]),
    ("fd_prestat_dir_name", &[Fd, Buf]),
    ("fd_pwrite", &[Fd, IovsOut, Off, Out(4, 4)]),
    ("fd_read", &[Fd, IovsIn, Out(4, 4)]),
    ("fd_readdir", &[Fd, Buf, Cookie, Out(4, 4)]),
    ("fd_renumber", &[Fd, Fd]),
    ("fd_seek", &[Fd, Off, Whence, Out(8, 8)]),
    ("fd_sync", &[Fd]),
    ("fd_tell", &[Fd, Out(8, 8)]),
    ("fd_write", &[Fd, IovsOut, Out(4, 4)]),
    ("path_create_directory", &[Fd, Path]),
    ("path_filestat_get", &[Fd, Lookup, Path, Out(64, 8)]),
    ("path_filestat_set_times", &[Fd, Lookup, Path, Time, Time, Fst]),
    ("path_link", &[Fd, Lookup, Path, Fd, Path]),
    ("path_open", &[Fd, Lookup, Path, Oflags, RightSet, RightSet, Flags, Out(4, 4)]),
    ("path_readlink", &[Fd, Path, Buf, Out(4, 4)]),
    ("path_remove_directory", &[Fd, Path]),
    ("path_rename", &[Fd, Path, Fd, Path]),
    ("path_symlink", &[Path, Fd, Path]),
    ("path_unlink_file", &[Fd, Path]),
    ("poll_oneoff", &[Subs, Out(4, 4)]),
    ("proc_exit", &[Int]),
    ("proc_raise", &[Int]),
    ("random_get", &[Buf]),
    ("sched_yield", &[]),
    ("sock_accept", &[Fd, Flags, Out(4, 4)]),
    ("sock_recv", &[Fd, IovsIn, Flags, Out(4, 4), Out(2, 2)]),
    ("sock_send", &[Fd, IovsOut, Flags, Out(4, 4)]),
    ("sock_shutdown", &[Fd, Flags]),
];

/// Relative paths (and some that are not) a guest may name; the file
/// root holds `a`, `d/e`, `d/sub/`, and links `l` (to `a`), `dl` (to
/// `d`), `esc` (to `../outside`, out of the root), `abs` (to the
/// outside file's absolute path) and `loop` (to itself).
pub(super) const WASI_PATHS: &[&[u8]] = &[
    b"a",
    b"d/e",
    b"..",
    b"../x",
    b"a/../../b",
    b".",
    b"d/",
    b"/abs",
    b"",
    b"d",
    b"d/sub",
    b"d/sub/../e",
    b"l",
    b"esc",
    b"esc/x",
    b"abs",
    b"loop",
    b"dl/e",
    b"new",
    b"d/new",
    b"x/y/z",
    b"a/",
    b"./a",
    b"d//e",
    b"...",
    b"\xff\xfe",
    b"a\0b",
    b"outside",
    b"../outside",
    b"d/../../outside",
];

/// Where the fd slots are: 8 `u32`s that `path_open` and `sock_accept`
/// often write their new descriptor to and descriptor arguments often
/// load (they start as 3..=10).
const FD_SLOTS: u32 = 0x100;
/// Where the blobs start, and the most they may reach.
const BLOBS: usize = 0x400;
const BLOBS_END: usize = 0x7000;
/// The out zone: where out-pointers and buffers mostly point.
const OUT_ZONE: u32 = 0x8000;

/// A blob in guest memory.
#[derive(Clone, Copy, Debug)]
struct Blob {
    kind: BlobKind,
    at: u32,
    len: u32,
    /// Elements (iovecs, subscriptions), or bytes.
    count: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BlobKind {
    Path,
    Iovecs,
    Subs,
    Bytes,
}

/// A hostile or ordinary `u32` pointer an iovec may hold.
fn iovec_entry(input: &mut Input<'_>, at: usize, blobs: &[Blob]) -> (u32, u32) {
    let ptr = match input.below(8) {
        0..=2 => OUT_ZONE + u32::from(input.u16()) % 0x7F00,
        3 => blobs.get(input.below(blobs.len().max(1))).map_or(0, |b| b.at),
        4 => at as u32 + u32::from(input.u8() % 32),
        5 => input.pick(&[0xFFF0, 0xFFFF, 0x1_0000, 0xFFFF_FFF0, 0x8000_0000, 0]),
        _ => input.pick(BOUNDARIES) as u32,
    };
    let len = match input.below(6) {
        0..=2 => u32::from(input.u8()),
        3 => input.pick(&[0, 1, 8, 16, 4096, 0x8000, 0x1_0000, 0x7FFF_FFFF, 0xFFFF_FFFF]),
        4 => u32::from(input.u16()),
        _ => input.pick(BOUNDARIES) as u32,
    };
    (ptr, len)
}

/// One subscription (48 bytes): a clock, a descriptor, or a bad type.
fn subscription(input: &mut Input<'_>) -> Vec<u8> {
    let mut s = vec![0u8; 48];
    s[0..8].copy_from_slice(&input.u64().to_le_bytes());
    match input.below(8) {
        0..=2 => {
            s[8] = 0;
            let id = if input.below(4) == 0 { input.u32() } else { u32::from(input.u8() % 5) };
            s[16..20].copy_from_slice(&id.to_le_bytes());
            let timeout: u64 = match input.below(5) {
                0 => 0,
                1 => u64::from(input.u16()) * 1000,
                2 => input.pick(&[1, 1_000, 1_000_000, 50_000_000, u64::MAX, 1 << 63]),
                3 => 1_700_000_000_000_000_000 + u64::from(input.u32()),
                _ => input.u64(),
            };
            s[24..32].copy_from_slice(&timeout.to_le_bytes());
            s[32..40].copy_from_slice(&u64::from(input.u8()).to_le_bytes());
            let flags = if input.bool() { u16::from(input.u8() % 4) } else { input.u16() };
            s[40..42].copy_from_slice(&flags.to_le_bytes());
        }
        3..=5 => {
            s[8] = 1 + input.u8() % 2;
            let fd = if input.below(4) == 0 { input.u32() } else { u32::from(input.u8() % 11) };
            s[16..20].copy_from_slice(&fd.to_le_bytes());
        }
        _ => {
            s[8] = input.pick(&[3, 4, 255, 0x80]);
            s[16..48].copy_from_slice(&[input.u8(); 32]);
        }
    }
    s
}

/// The guest's memory image (fd slots and blobs) and the blobs.
fn wasi_image(input: &mut Input<'_>) -> (Vec<u8>, Vec<Blob>) {
    let mut image = vec![0u8; BLOBS];
    for k in 0..8u32 {
        let at = (FD_SLOTS + 4 * k) as usize;
        image[at..at + 4].copy_from_slice(&(3 + k).to_le_bytes());
    }
    let mut blobs: Vec<Blob> = Vec::new();
    for _ in 0..2 + input.below(10) {
        let at = image.len().div_ceil(8) * 8;
        let (kind, bytes, count) = match input.below(8) {
            0..=2 => {
                let p: Vec<u8> = match input.below(8) {
                    0 => input.bytes(40).to_vec(),
                    1 => vec![b'n'; input.pick(&[254usize, 255, 256, 1024, 4097])],
                    2 => b"d/".repeat(input.pick(&[128usize, 2100])),
                    _ => input.pick(WASI_PATHS).to_vec(),
                };
                let n = p.len() as u32;
                (BlobKind::Path, p, n)
            }
            3 | 4 => {
                let n = 1 + input.below(4);
                let mut b = Vec::new();
                for _ in 0..n {
                    let (ptr, len) = iovec_entry(input, at, &blobs);
                    b.extend_from_slice(&ptr.to_le_bytes());
                    b.extend_from_slice(&len.to_le_bytes());
                }
                (BlobKind::Iovecs, b, n as u32)
            }
            5 => {
                let n = 1 + input.below(4);
                let b: Vec<u8> = (0..n).flat_map(|_| subscription(input)).collect();
                (BlobKind::Subs, b, n as u32)
            }
            _ => {
                let b = input.bytes(128).to_vec();
                let n = b.len() as u32;
                (BlobKind::Bytes, b, n)
            }
        };
        if at + bytes.len() > BLOBS_END {
            break;
        }
        image.resize(at, 0);
        image.extend_from_slice(&bytes);
        blobs.push(Blob { kind, at: at as u32, len: bytes.len() as u32, count });
    }
    (image, blobs)
}

/// A blob of `kind`, if there is one.
fn blob_of(input: &mut Input<'_>, blobs: &[Blob], kind: BlobKind) -> Option<Blob> {
    let of: Vec<&Blob> = blobs.iter().filter(|b| b.kind == kind).collect();
    if of.is_empty() {
        None
    } else {
        Some(*of[input.below(of.len())])
    }
}

fn i32c(v: i64) -> String {
    format!("(i32.const {})", v as i32)
}

fn i64c(v: i64) -> String {
    format!("(i64.const {v})")
}

/// An out-pointer to `size` bytes aligned to `align`.
fn out_ptr(input: &mut Input<'_>, size: u32, align: u32, blobs: &[Blob]) -> String {
    let zone = |input: &mut Input<'_>| (OUT_ZONE + u32::from(input.u16()) % 0x7F00) / align * align;
    let v: i64 = match input.below(12) {
        0..=4 => i64::from(zone(input)),
        5 => i64::from(zone(input) + 1 + u32::from(input.u8()) % align.max(2)),
        6 => {
            let end = 0x1_0000 - i64::from(size);
            end + i64::from(input.pick(&[0u32, align, 1, 8]))
        }
        7 if size == 4 => i64::from(FD_SLOTS + 4 * (u32::from(input.u8()) % 8)),
        8 => blobs.get(input.below(blobs.len().max(1))).map_or(0, |b| i64::from(b.at)),
        _ => return arg_expr(input, Ty::I, &[]),
    };
    i32c(v)
}

/// The arguments (WAT expressions) of a parameter of `role`.
fn role_args(input: &mut Input<'_>, role: Role, blobs: &[Blob]) -> Vec<String> {
    let hostile = input.below(8) == 0;
    if hostile {
        return role.types().iter().map(|t| arg_expr(input, *t, &[])).collect();
    }
    let pair = |a: i64, b: i64| vec![i32c(a), i32c(b)];
    match role {
        Fd => vec![match input.below(10) {
            0..=5 => i32c(i64::from(input.u8() % 11)),
            6..=8 => format!("(i32.load (i32.const {}))", FD_SLOTS + 4 * (u32::from(input.u8()) % 8)),
            _ => format!("(i32.wrap_i64 (local.get $r{}))", input.below(8)),
        }],
        Path => match blob_of(input, blobs, BlobKind::Path) {
            Some(b) => match input.below(8) {
                0 => pair(i64::from(b.at), i64::from(b.len) + 1),
                1 => pair(i64::from(b.at), i64::from(b.len.saturating_sub(1))),
                2 => pair(i64::from(b.at), input.pick(BOUNDARIES)),
                _ => pair(i64::from(b.at), i64::from(b.len)),
            },
            None => pair(input.pick(BOUNDARIES), i64::from(input.u8())),
        },
        IovsIn | IovsOut => match blob_of(input, blobs, BlobKind::Iovecs) {
            Some(b) => match input.below(8) {
                0 => pair(i64::from(b.at) + 2, i64::from(b.count)),
                1 => pair(i64::from(b.at), i64::from(b.count) + 1),
                2 => pair(i64::from(b.at), input.pick(BOUNDARIES)),
                3 => pair(i64::from(b.at), 0),
                _ => pair(i64::from(b.at), i64::from(b.count)),
            },
            None => pair(i64::from(OUT_ZONE + u32::from(input.u16() % 0x7F00)), i64::from(input.u8() % 4)),
        },
        Buf => {
            let len: i64 = match input.below(4) {
                0 => i64::from(input.u8()),
                1 => input.pick(&[0, 1, 2, 7, 8, 23, 24, 25, 64, 4096, 0x8000]),
                2 => i64::from(input.u16()),
                _ => input.pick(BOUNDARIES),
            };
            let ptr: i64 = match input.below(6) {
                0..=3 => i64::from(OUT_ZONE + u32::from(input.u16()) % 0x7F00),
                4 => 0x1_0000i64.wrapping_sub(len),
                _ => blobs.get(input.below(blobs.len().max(1))).map_or(0, |b| i64::from(b.at)),
            };
            pair(ptr, len)
        }
        Out(size, align) => vec![out_ptr(input, size, align, blobs)],
        Subs => {
            let events = match input.below(8) {
                0..=5 => i32c(i64::from((OUT_ZONE + u32::from(input.u16()) % 0x7000) / 8 * 8)),
                6 => i32c(i64::from(OUT_ZONE + 4)),
                _ => arg_expr(input, Ty::I, &[]),
            };
            match blob_of(input, blobs, BlobKind::Subs) {
                Some(b) => {
                    let n: i64 = match input.below(8) {
                        0 => 0,
                        1 => i64::from(b.count) + 1,
                        2 => input.pick(BOUNDARIES),
                        _ => i64::from(b.count),
                    };
                    let at = if input.below(8) == 0 { i64::from(b.at) + 4 } else { i64::from(b.at) };
                    vec![i32c(at), events, i32c(n)]
                }
                None => vec![i32c(i64::from(OUT_ZONE)), events, i32c(i64::from(input.u8() % 3))],
            }
        }
        Flags => vec![i32c(match input.below(4) {
            0 | 1 => i64::from(input.u8() % 32),
            2 => input.pick(BOUNDARIES),
            _ => i64::from(input.u32()),
        })],
        Oflags => {
            vec![i32c(if input.below(4) == 0 { input.pick(BOUNDARIES) } else { i64::from(input.u8() % 16) })]
        }
        Lookup => {
            vec![i32c(if input.below(4) == 0 { input.pick(BOUNDARIES) } else { i64::from(input.u8() % 2) })]
        }
        Whence => {
            vec![i32c(if input.below(4) == 0 { input.pick(BOUNDARIES) } else { i64::from(input.u8() % 4) })]
        }
        Clock => {
            vec![i32c(if input.below(4) == 0 { input.pick(BOUNDARIES) } else { i64::from(input.u8() % 5) })]
        }
        Advice => {
            vec![i32c(if input.below(4) == 0 { input.pick(BOUNDARIES) } else { i64::from(input.u8() % 7) })]
        }
        Fst => {
            vec![i32c(if input.below(4) == 0 { input.pick(BOUNDARIES) } else { i64::from(input.u8() % 16) })]
        }
        Int => vec![arg_expr(input, Ty::I, &[])],
        RightSet => vec![i64c(match input.below(6) {
            0 => -1,
            1 => 0,
            2 => input.pick(&[2, 64, 66, 0x46, 0x6_4000, 0x1FFF_FFFF, 0x7FFF_FFFF, 1 << 40]),
            3 => i64::from(input.u32()),
            _ => input.u64() as i64,
        })],
        Off => vec![i64c(match input.below(5) {
            0 => i64::from(input.u8()),
            1 => i64::from(input.u16()),
            2 => input.pick(BOUNDARIES),
            3 => input.pick(&[-1, 1 << 40, i64::MAX, i64::MAX - 1, 1 << 31]),
            _ => 0,
        })],
        Time => vec![i64c(match input.below(4) {
            0 => 0,
            1 => 1_700_000_000_000_000_000 + i64::from(input.u32()),
            2 => input.pick(BOUNDARIES),
            _ => input.u64() as i64,
        })],
        Cookie => vec![i64c(match input.below(4) {
            0 | 1 => i64::from(input.u8() % 6),
            2 => input.pick(BOUNDARIES),
            _ => input.u64() as i64,
        })],
    }
}

/// What a call may write, as WAT expressions over its argument locals:
/// ranges `(ptr i32, len i64)` and iovec arrays `(ptr i32, count i32)`.
#[derive(Default)]
struct Writes {
    ranges: Vec<(String, String)>,
    iovecs: Vec<(String, String)>,
}

/// A guest whose `_start` makes a fuzzed sequence of WASI calls (maybe
/// repeated, maybe ending with `proc_exit`), with guard checks around
/// each; and the name of each call, by index.
pub fn wasi_program(input: &mut Input<'_>) -> (String, Vec<&'static str>) {
    let (image, blobs) = wasi_image(input);
    let mut text = String::from("(module\n");
    for (i, (name, roles)) in WASI_CALLS.iter().enumerate() {
        let params: Vec<&str> =
            roles.iter().flat_map(|r| r.types()).map(|t| if *t == Ty::I { "i32" } else { "i64" }).collect();
        let result = if *name == "proc_exit" { "" } else { " (result i32)" };
        let _ = writeln!(
            text,
            "  (import \"wasi_snapshot_preview1\" \"{name}\" (func $w{i} (param {}){result}))",
            params.join(" ")
        );
    }
    let exit = WASI_CALLS.iter().position(|(n, _)| *n == "proc_exit").unwrap_or(0);
    let _ = writeln!(text, "  (memory (export \"memory\") 1)");
    let _ = writeln!(text, "  (data (i32.const 0) {})", wat_bytes(&image));
    text.push_str(GUARD_HELPERS);
    text.push_str("  (func (export \"_start\")\n");
    text.push_str("    (local $i i32)");
    for k in 0..8 {
        let _ = write!(text, " (local $r{k} i64)");
    }
    for k in 0..10 {
        let _ = write!(
            text,
            " (local $a{k} i32) (local $b{k} i64) (local $g{k} i32) (local $v{k} i64) (local $k{k} i32)"
        );
    }
    text.push_str("\n    (loop $again\n");
    let mut names = Vec::new();
    let calls = input.below(24);
    for c in 0..calls {
        let mut f = input.below(WASI_CALLS.len());
        if f == exit {
            f = (f + 1) % WASI_CALLS.len();
        }
        let (name, roles) = WASI_CALLS[f];
        let index = names.len();
        names.push(name);
        // Arguments into locals: `$aN` (i32) or `$bN` (i64) by position.
        let mut pos = 0usize;
        let mut locals: Vec<String> = Vec::new();
        let mut writes = Writes::default();
        let _ = writeln!(text, "      ;; call {index}: {name}");
        for role in roles {
            let args = role_args(input, *role, &blobs);
            let first = pos;
            for (arg, ty) in args.iter().zip(role.types()) {
                let local = if *ty == Ty::I { format!("$a{pos}") } else { format!("$b{pos}") };
                let _ = writeln!(text, "      (local.set {local} {arg})");
                locals.push(format!("(local.get {local})"));
                pos += 1;
            }
            let a = |k: usize| format!("(local.get $a{})", first + k);
            match role {
                Out(size, _) => writes.ranges.push((a(0), i64c(i64::from(*size)))),
                Buf => writes.ranges.push((a(0), format!("(i64.extend_i32_u {})", a(1)))),
                Subs => writes
                    .ranges
                    .push((a(1), format!("(i64.mul (i64.extend_i32_u {}) (i64.const 32))", a(2)))),
                IovsIn => writes.iovecs.push((a(0), a(1))),
                _ => {}
            }
        }
        // Guard words: around each range, after the first iovec's
        // buffer, and at both ends of memory.
        let mut guards: Vec<String> = vec![i32c(0), i32c(65528)];
        for (p, len) in &writes.ranges {
            guards.push(format!("(i32.sub {p} (i32.const 8))"));
            guards.push(format!("(i32.add {p} (i32.wrap_i64 {len}))"));
        }
        for (p, _) in &writes.iovecs {
            guards.push(format!("(i32.add (call $ld32 {p}) (call $ld32 (i32.add {p} (i32.const 4))))"));
        }
        guards.truncate(10);
        for (j, g) in guards.iter().enumerate() {
            let _ = writeln!(text, "      (local.set $g{j} {g})");
            let mut allowed = String::from("(i32.const 0)");
            for (p, len) in &writes.ranges {
                allowed = format!("(i32.or {allowed} (call $hit (local.get $g{j}) {p} {len}))");
            }
            for (p, n) in &writes.iovecs {
                allowed = format!("(i32.or {allowed} (call $hitv (local.get $g{j}) {p} {n}))");
            }
            let _ = writeln!(
                text,
                "      (local.set $k{j} (i32.and (call $inb (local.get $g{j})) (i32.eqz {allowed})))"
            );
            let _ = writeln!(text, "      (local.set $v{j} (call $ld64 (local.get $g{j})))");
        }
        let _ = writeln!(
            text,
            "      (local.set $r{} (i64.extend_i32_u (call $w{f} {})))",
            c % 8,
            locals.join(" ")
        );
        for j in 0..guards.len() {
            let _ = writeln!(
                text,
                "      (if (i32.and (local.get $k{j}) (i64.ne (call $ld64 (local.get $g{j})) (local.get $v{j})))\n        (then (call $w{exit} (i32.const {}))))",
                GUARD_EXIT | index as i32
            );
        }
    }
    let repeat = 1 + input.below(3);
    text.push_str("      (local.set $i (i32.add (local.get $i) (i32.const 1)))\n");
    let _ = writeln!(text, "      (br_if $again (i32.lt_u (local.get $i) (i32.const {repeat}))))");
    if input.below(4) == 0 {
        // Never a guard code: the top nibble of GUARD_EXIT is 5.
        let code = arg_expr(input, Ty::I, &[]);
        let _ = writeln!(text, "    (call $w{exit} (i32.and {code} (i32.const 0x0FFFFFFF)))");
        names.push("proc_exit");
    }
    text.push_str("  ))");
    (text, names)
}

/// The guests' own helpers: bounds-checked loads and range tests.
const GUARD_HELPERS: &str = r#"  (func $inb (param $g i32) (result i32) (i32.le_u (local.get $g) (i32.const 65528)))
  (func $ld64 (param $g i32) (result i64)
    (if (result i64) (call $inb (local.get $g)) (then (i64.load (local.get $g))) (else (i64.const 0))))
  (func $ld32 (param $a i32) (result i32)
    (if (result i32) (i32.le_u (local.get $a) (i32.const 65532)) (then (i32.load (local.get $a))) (else (i32.const 0))))
  ;; [g, g+8) meets [a, a+n) (unsigned, without wrapping)
  (func $hit (param $g i32) (param $a i32) (param $n i64) (result i32)
    (i32.and
      (i64.lt_u (i64.extend_i32_u (local.get $g)) (i64.add (i64.extend_i32_u (local.get $a)) (local.get $n)))
      (i64.lt_u (i64.extend_i32_u (local.get $a)) (i64.add (i64.extend_i32_u (local.get $g)) (i64.const 8)))))
  ;; [g, g+8) meets a buffer of the n iovecs at p (more than 64: anything may be written)
  (func $hitv (param $g i32) (param $p i32) (param $n i32) (result i32) (local $i i32) (local $e i32)
    (if (i32.gt_u (local.get $n) (i32.const 64)) (then (return (i32.const 1))))
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $e (i32.add (local.get $p) (i32.shl (local.get $i) (i32.const 3))))
        (if (call $hit (local.get $g) (call $ld32 (local.get $e))
              (i64.extend_i32_u (call $ld32 (i32.add (local.get $e) (i32.const 4)))))
          (then (return (i32.const 1))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l)))
    (i32.const 0))
"#;

/// The guests' file root, inside a directory of its own beside a file
/// its links point at: `(dir, root)`.
fn wasi_root() -> (PathBuf, PathBuf) {
    let dir = scratch_dir("wasi-calls");
    let root = dir.join("root");
    std::fs::create_dir_all(root.join("d/sub")).expect("the file root");
    std::fs::write(dir.join("outside"), b"keep").expect("the outside file");
    std::fs::write(root.join("a"), b"hello, wasi\n").expect("a root file");
    std::fs::write(root.join("d/e"), b"e").expect("a root file");
    let link = |target: &std::path::Path, name: &str| {
        let _ = std::os::unix::fs::symlink(target, root.join(name));
    };
    link("a".as_ref(), "l");
    link("d".as_ref(), "dl");
    link("../outside".as_ref(), "esc");
    link(&dir.join("outside"), "abs");
    link("loop".as_ref(), "loop");
    (dir, root)
}

/// Nothing appeared beside the root, and the outside file is intact.
fn check_outside(dir: &std::path::Path) {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("the scratch directory")
        .map(|e| e.expect("an entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["outside", "root"], "a guest made something outside its file root");
    let meta = std::fs::symlink_metadata(dir.join("outside")).expect("the outside file");
    assert!(meta.is_file(), "the file outside the root was replaced");
    assert_eq!(
        std::fs::read(dir.join("outside")).ok().as_deref(),
        Some(&b"keep"[..]),
        "a guest wrote outside its root"
    );
}

/// The statuses of `pids`: a trap (the generated code never traps by
/// itself) or a guard exit is a bug.
fn check_statuses(pm: &ProcessManager, pids: &[Pid], programs: &[(String, Vec<&'static str>)]) {
    for (i, pid) in pids.iter().enumerate() {
        let Some(status) = pm.info(*pid).and_then(|info| info.status) else { continue };
        trace!("p{i}: {status}");
        let (text, names) = &programs[i];
        match status {
            wasmhost::ExitStatus::Trapped(message) => {
                panic!("guest p{i} trapped (the host's doing): {message}\n{text}")
            }
            wasmhost::ExitStatus::Exited(code) if code & !0xFFFF == GUARD_EXIT => {
                let k = (code & 0xFFFF) as usize;
                panic!(
                    "guest p{i}: call {k} ({}) changed guest memory outside what it may write\n{text}",
                    names.get(k).copied().unwrap_or("?")
                )
            }
            _ => {}
        }
    }
}

/// Up to two guests, each a fuzzed sequence of WASI calls
/// ([`wasi_program`]), with every capability, a file root of their own
/// (`file:/`, read-write, preopened as 3) and `file:/d` read-only (4),
/// maybe a standard input pipe (fed, closed, or left open), a small fuel
/// budget; bounded turns, then everything is killed and must end soon.
pub fn wasi_calls(data: &[u8]) {
    let names: Vec<&str> = WASI_CALLS.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, wasmhost::wasi::NAMES, "the harness's WASI table is out of date");
    let mut input = Input::new(data);
    // The first byte chooses standard input (its low two bits: none, so
    // end of file; fed then closed; fed later and closed; open and never
    // fed, a read waits until the kill) and where the guests run (the
    // rest: on this thread, or on one or two scheduler threads).
    let mode = input.u8();
    let (stdin_mode, sched_workers) = (usize::from(mode & 3), usize::from(mode >> 2) % 3);
    let programs: Vec<(String, Vec<&'static str>)> =
        (0..1 + input.below(2)).map(|_| wasi_program(&mut input)).collect();
    let stdin_data = input.bytes(64).to_vec();
    let (dir, root) = wasi_root();
    let platform = OsPlatform::with_file_root(Some(&root)).expect("the Linux platform");
    let mut pm = manager_with(platform, sched_workers);
    let pipe = Arc::new(wasmhost::StdinPipe::new());
    if stdin_mode == 1 {
        pipe.feed(&stdin_data);
        pipe.close();
    }
    let mut pids = Vec::new();
    for (i, (text, calls)) in programs.iter().enumerate() {
        trace!("p{i}: {calls:?} (stdin mode {stdin_mode}, {sched_workers} scheduler threads)");
        let module = compile_own(&pm, text);
        let mut opts =
            guest_opts(&format!("p{i}"), Caps::ALL, Some(300_000), Owner::ROOT, &["file:/=rw", "file:/d=ro"]);
        opts.args = WASI_ARGS.iter().map(|s| s.to_string()).collect();
        opts.env = WASI_ENV.iter().map(|s| s.to_string()).collect();
        if stdin_mode != 0 {
            opts.stdin = Some(pipe.clone());
        }
        let pid = pm
            .spawn(module, opts)
            .unwrap_or_else(|e| panic!("a generated guest does not spawn: {e}\n{text}"));
        pids.push(pid);
    }
    let late_stdin = |pipe: &wasmhost::StdinPipe| {
        if stdin_mode == 2 {
            pipe.feed(&stdin_data);
            pipe.close();
        }
    };
    if sched_workers == 0 {
        run_bounded(&mut pm, 4, 64);
        late_stdin(&pipe);
        run_bounded(&mut pm, 4, 64);
        check_statuses(&pm, &pids, &programs);
        kill_all(&mut pm);
        for _ in 0..1000 {
            if pm.live() == 0 {
                break;
            }
            pm.run(64);
            pm.wait_for_events(Some(Duration::from_millis(1)));
        }
        assert_eq!(pm.live(), 0, "killed guests did not end within a second");
        check_statuses(&pm, &pids, &programs);
        drop(pm);
    } else {
        let kernel = wasmhost::Kernel::new(pm);
        // Up to 20 ms for the guests to end on their own (standard input
        // fed at 5 ms), then killed; a killed guest ends soon.
        for round in 0..1000 {
            if round == 5 {
                late_stdin(&pipe);
            }
            if kernel.lock().live() == 0 {
                break;
            }
            if round == 20 {
                check_statuses(&kernel.lock(), &pids, &programs);
            }
            if round >= 20 {
                kill_all(&mut kernel.lock());
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(kernel.lock().live(), 0, "killed guests did not end within a second");
        check_statuses(&kernel.lock(), &pids, &programs);
        drop(kernel);
    }
    check_outside(&dir);
    remove_scratch(&dir);
}
