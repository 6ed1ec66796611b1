//! Generated guests: guest-scheme providers with hostile results, and
//! channel peers with hostile headers and frames.

use super::*;

// ---------------------------------------------------------------------
// Guest-scheme results (scheme_replies, and the daemon's provider)
// ---------------------------------------------------------------------

/// An owned `SchemeResult` (its borrowed parts live in a side buffer).
#[derive(Debug)]
pub(super) enum OwnedResult {
    Value(u64),
    Data(usize, usize),
    Stat(Stat),
    Dirents(Vec<(u64, u64, u8, usize, usize)>),
    Error(i32),
}

impl OwnedResult {
    pub(super) fn borrowed<'b>(&self, side: &'b [u8]) -> SchemeResult<'b> {
        let text = |a: usize, b: usize| std::str::from_utf8(&side[a..b]).unwrap_or("?");
        match self {
            OwnedResult::Value(v) => SchemeResult::Value(*v),
            OwnedResult::Data(a, b) => SchemeResult::Data(&side[*a..*b]),
            OwnedResult::Stat(s) => SchemeResult::Stat(*s),
            OwnedResult::Dirents(v) => SchemeResult::Dirents(
                v.iter()
                    .map(|(ino, next, kind, a, b)| DirEntry {
                        ino: *ino,
                        next: *next,
                        kind: *kind,
                        name: text(*a, *b),
                    })
                    .collect(),
            ),
            OwnedResult::Error(e) => SchemeResult::Error(*e),
        }
    }
}

pub(super) const ERRNOS: &[i32] = &[0, 1, 2, 5, 9, 11, 13, 17, 22, 28, 32, 90, -1, -5, i32::MIN, i32::MAX];
pub(super) const DIRENT_NAMES: &[&str] =
    &["a", "", ".", "..", "d/e", "x\0y", "\u{1F980}", "averyveryverylongname"];

/// A fuzzed scheme result; data and names go to `side`.
pub(super) fn scheme_result(input: &mut Input<'_>, side: &mut Vec<u8>) -> OwnedResult {
    match input.below(6) {
        0 => OwnedResult::Value(input.pick(BOUNDARIES) as u64),
        1 => OwnedResult::Value(u64::from(input.u8() % 8)),
        2 => {
            let a = side.len();
            if input.below(4) == 0 {
                let n = input.pick(&[0usize, 1, 16, 64, 100, 4096, 16000]);
                side.resize(a + n, 0xAB);
            } else {
                side.extend_from_slice(input.bytes(64));
            }
            OwnedResult::Data(a, side.len())
        }
        3 => OwnedResult::Stat(Stat {
            mode: input.u16(),
            size: input.pick(BOUNDARIES) as u64,
            ino: input.u64(),
            nlink: input.u32(),
            mtime: input.u64(),
        }),
        4 => {
            let n = input.below(5);
            let entries = (0..n)
                .map(|_| {
                    let a = side.len();
                    if input.bool() {
                        side.extend_from_slice(input.pick(DIRENT_NAMES).as_bytes());
                    } else {
                        side.extend_from_slice(input.string(12).as_bytes());
                    }
                    let next =
                        if input.bool() { input.pick(BOUNDARIES) as u64 } else { u64::from(input.u8()) };
                    (u64::from(input.u8()), next, input.u8(), a, side.len())
                })
                .collect();
            OwnedResult::Dirents(entries)
        }
        _ => OwnedResult::Error(input.pick(ERRNOS)),
    }
}

/// A fuzzed reply body for the provider guest: a postcard
/// `SchemeResult` (the guest puts the request's tag before it) or, with
/// the `raw` flag, arbitrary bytes sent as the whole reply.
pub(super) fn reply_body(input: &mut Input<'_>) -> (Vec<u8>, u32) {
    let flags = if input.below(4) == 0 { u32::from(input.u8() & 7) } else { 0 };
    if flags & 2 != 0 {
        return (input.bytes(32).to_vec(), flags);
    }
    let mut side = Vec::new();
    let result = scheme_result(input, &mut side);
    (msg::encode(&result.borrowed(&side)), flags)
}

// ---------------------------------------------------------------------
// Harness guests for the daemon
// ---------------------------------------------------------------------

/// A scheme provider (`fz`) answering each request with the next reply
/// of a fuzzed list (cycling): the request's tag then a fuzzed result, or
/// (flags) raw bytes, no answer at all, or the answer twice.
pub fn provider_guest(input: &mut Input<'_>) -> String {
    let mut table = Vec::new();
    let mut bodies: Vec<u8> = Vec::new();
    let count = input.below(9);
    let base = 1024 + 4 + 12 * 8;
    let mut entries = Vec::new();
    for _ in 0..count {
        let (body, flags) = reply_body(input);
        if bodies.len() + body.len() > 30000 {
            break;
        }
        entries.push(((base + bodies.len()) as u32, body.len() as u32, flags));
        bodies.extend_from_slice(&body);
    }
    table.extend_from_slice(&(entries.len() as u32).to_le_bytes());
    for (at, len, flags) in &entries {
        table.extend_from_slice(&at.to_le_bytes());
        table.extend_from_slice(&len.to_le_bytes());
        table.extend_from_slice(&flags.to_le_bytes());
    }
    table.resize(4 + 12 * 8, 0);
    table.extend_from_slice(&bodies);
    format!(
        r#"(module
  (import "wasmd" "scheme_register" (func $reg (param i32 i32) (result i64)))
  (import "wasmd" "scheme_next" (func $next (param i32 i32 i32) (result i64)))
  (import "wasmd" "scheme_reply" (func $reply (param i32 i32 i32) (result i64)))
  (memory (export "memory") 1)
  (data (i32.const 0) "fz")
  (data (i32.const 1024) {table})
  (func (export "_start")
    (local $h i32) (local $n i64) (local $i i32) (local $t i32) (local $b i32)
    (local $e i32) (local $m i32) (local $len i32) (local $flags i32)
    (local.set $h (i32.wrap_i64 (call $reg (i32.const 0) (i32.const 2))))
    (local.set $m (i32.load (i32.const 1024)))
    (loop $serve
      (local.set $n (call $next (local.get $h) (i32.const 32768) (i32.const 16384)))
      (if (i64.lt_s (local.get $n) (i64.const 0)) (then (return)))
      (if (i64.gt_s (local.get $n) (i64.const 16384)) (then (return)))
      (local.set $t (i32.const 0))
      (block $tagged
        (loop $copy
          (local.set $b (i32.load8_u (i32.add (i32.const 32768) (local.get $t))))
          (i32.store8 (i32.add (i32.const 49152) (local.get $t)) (local.get $b))
          (local.set $t (i32.add (local.get $t) (i32.const 1)))
          (br_if $tagged (i32.eqz (i32.and (local.get $b) (i32.const 128))))
          (br_if $copy (i32.lt_u (local.get $t) (i32.const 10)))))
      (if (i32.eqz (local.get $m)) (then (br $serve)))
      (local.set $e (i32.add (i32.const 1028) (i32.mul (i32.rem_u (local.get $i) (local.get $m)) (i32.const 12))))
      (local.set $len (i32.load offset=4 (local.get $e)))
      (local.set $flags (i32.load offset=8 (local.get $e)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (if (i32.and (local.get $flags) (i32.const 1)) (then (br $serve)))
      (if (i32.and (local.get $flags) (i32.const 2))
        (then
          (memory.copy (i32.const 49152) (i32.load (local.get $e)) (local.get $len))
          (local.set $t (i32.const 0)))
        (else
          (memory.copy (i32.add (i32.const 49152) (local.get $t)) (i32.load (local.get $e)) (local.get $len))))
      (drop (call $reply (local.get $h) (i32.const 49152) (i32.add (local.get $t) (local.get $len))))
      (if (i32.and (local.get $flags) (i32.const 4))
        (then (drop (call $reply (local.get $h) (i32.const 49152) (i32.add (local.get $t) (local.get $len))))))
      (br $serve))))"#,
        table = wat_bytes(&table)
    )
}

/// A client of `fz:` through the fs hostcalls (its replies come from the
/// fuzzed provider), a few rounds.
pub const SCHEME_CLIENT: &str = r#"(module
  (import "wasmd" "fs_open" (func $open (param i32 i32 i32) (result i64)))
  (import "wasmd" "fs_read" (func $read (param i32 i32 i32) (result i64)))
  (import "wasmd" "fs_write" (func $write (param i32 i32 i32) (result i64)))
  (import "wasmd" "fs_seek" (func $seek (param i32 i64 i32) (result i64)))
  (import "wasmd" "fs_close" (func $close (param i32) (result i64)))
  (import "wasmd" "fs_fstat" (func $fstat (param i32 i32 i32) (result i64)))
  (import "wasmd" "fs_getdents" (func $getdents (param i32 i32 i32) (result i64)))
  (import "wasmd" "fs_unlink" (func $unlink (param i32 i32) (result i64)))
  (import "wasmd" "fs_mkdir" (func $mkdir (param i32 i32) (result i64)))
  (memory (export "memory") 1)
  (data (i32.const 0) "fz:/a")
  (data (i32.const 16) "fz:/d")
  (func (export "_start")
    (local $h i32) (local $k i32)
    (loop $again
      (local.set $h (i32.wrap_i64 (call $open (i32.const 0) (i32.const 5) (i32.const 0x2030000))))
      (drop (call $read (local.get $h) (i32.const 1024) (i32.const 64)))
      (drop (call $write (local.get $h) (i32.const 0) (i32.const 5)))
      (drop (call $fstat (local.get $h) (i32.const 2048) (i32.const 64)))
      (drop (call $getdents (local.get $h) (i32.const 4096) (i32.const 512)))
      (drop (call $seek (local.get $h) (i64.const 0) (i32.const 2)))
      (drop (call $read (local.get $h) (i32.const 65500) (i32.const 36)))
      (drop (call $getdents (local.get $h) (i32.const 65520) (i32.const 16)))
      (drop (call $close (local.get $h)))
      (drop (call $unlink (i32.const 0) (i32.const 5)))
      (drop (call $mkdir (i32.const 16) (i32.const 5)))
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (br_if $again (i32.lt_u (local.get $k) (i32.const 3))))))"#;

/// Spins for ever (a live pid for the control files).
pub const SPINNER: &str = r#"(module (memory (export "memory") 1) (func (export "_start") (loop (br 0))))"#;

/// Exits at once with code 7.
pub const EXITER: &str = r#"(module
  (import "wasmd" "exit" (func $exit (param i32) (result i64)))
  (import "wasmd" "write" (func $write (param i32 i32 i32) (result i64)))
  (memory (export "memory") 1)
  (data (i32.const 0) "bye\n")
  (func (export "_start") (drop (call $write (i32.const 1) (i32.const 0) (i32.const 4))) (drop (call $exit (i32.const 7)))))"#;

/// A 128-byte channel header (see `wasmd_guest::channel` layout v1):
/// a fresh channel of `capacity` ring bytes and `block` blocks.
pub fn channel_header(capacity: u32, block: u32, drop_when_full: bool) -> Vec<u8> {
    let mut h = vec![0u8; 128];
    let put = |h: &mut Vec<u8>, at: usize, v: u32| h[at..at + 4].copy_from_slice(&v.to_le_bytes());
    put(&mut h, 0, u32::from_le_bytes(*b"WDCH"));
    put(&mut h, 4, 1);
    put(&mut h, 8, u32::from(drop_when_full));
    put(&mut h, 12, capacity);
    put(&mut h, 24, block);
    put(&mut h, 36, 1);
    for slot in 0..8 {
        h[64 + slot * 8..72 + slot * 8].copy_from_slice(&u64::MAX.to_le_bytes());
    }
    h
}

/// Offsets of the channel header's fields, for hostile writes.
pub(super) const HEADER_FIELDS: &[u64] = &[0, 4, 8, 12, 16, 20, 24, 32, 36, 40, 44, 52, 64, 72, 80, 120];

/// A fuzzed channel header: a fresh one with some fields changed.
pub(super) fn fuzzed_header(input: &mut Input<'_>, ring_bytes: u32) -> Vec<u8> {
    let capacity = if input.bool() {
        ring_bytes
    } else {
        input.pick(&[0, 16, 32, 4096, 8192, ring_bytes * 2, u32::MAX])
    };
    let block =
        if input.bool() { (capacity / 4).max(32) } else { input.pick(&[0, 16, 17, 32, 1024, capacity]) };
    let mut h = channel_header(capacity, block, input.bool());
    for _ in 0..input.below(4) {
        let at = input.pick(HEADER_FIELDS) as usize;
        let v = input.pick(BOUNDARIES) as u64;
        let n = if at.is_multiple_of(8) && input.bool() { 8 } else { 4 };
        h[at..at + n].copy_from_slice(&v.to_le_bytes()[..n]);
    }
    h
}

/// A guest that makes a region holding a (fuzzed) channel, then applies
/// fuzzed writes to it, one per millisecond: a hostile peer of `chan/ID`.
pub fn channel_guest(input: &mut Input<'_>) -> String {
    let mut image = fuzzed_header(input, 4096);
    image.extend_from_slice(input.bytes(256));
    let mut table = Vec::new();
    let mut bodies = Vec::new();
    let count = input.below(8);
    table.extend_from_slice(&(count as u32).to_le_bytes());
    for _ in 0..count {
        let body = input.bytes(24);
        let off = if input.bool() { input.pick(HEADER_FIELDS) } else { u64::from(input.u16() % 4300) };
        table.extend_from_slice(&(off as u32).to_le_bytes());
        table.extend_from_slice(&((20000 + bodies.len()) as u32).to_le_bytes());
        table.extend_from_slice(&(body.len() as u32).to_le_bytes());
        bodies.extend_from_slice(body);
    }
    format!(
        r#"(module
  (import "wasmd" "region_alloc" (func $alloc (param i64) (result i64)))
  (import "wasmd" "region_write" (func $rw (param i32 i64 i32 i32) (result i64)))
  (import "wasmd" "sleep" (func $sleep (param i64) (result i64)))
  (memory (export "memory") 1)
  (data (i32.const 0) {image})
  (data (i32.const 16384) {table})
  (data (i32.const 20000) {bodies})
  (func (export "_start")
    (local $h i32) (local $i i32) (local $n i32) (local $e i32)
    (local.set $h (i32.wrap_i64 (call $alloc (i64.const 8192))))
    (drop (call $rw (local.get $h) (i64.const 0) (i32.const 0) (i32.const {len})))
    (local.set $n (i32.load (i32.const 16384)))
    (loop $l
      (if (i32.lt_u (local.get $i) (local.get $n))
        (then
          (local.set $e (i32.add (i32.const 16388) (i32.mul (local.get $i) (i32.const 12))))
          (drop (call $rw (local.get $h) (i64.extend_i32_u (i32.load (local.get $e)))
            (i32.load offset=4 (local.get $e)) (i32.load offset=8 (local.get $e))))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))))
      (drop (call $sleep (i64.const 1000000)))
      (br $l))))"#,
        image = wat_bytes(&image),
        len = image.len(),
        table = wat_bytes(&table),
        bodies = wat_bytes(&bodies),
    )
}
