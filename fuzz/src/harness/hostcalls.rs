//! The `module_load` and `hostcalls` targets: arbitrary modules, and
//! generated guests calling every hostcall with hostile arguments.

use super::*;

// ---------------------------------------------------------------------
// module_load
// ---------------------------------------------------------------------

/// Compiles `bytes` (binary or WAT) with the module cache; when that
/// works, spawns it (all capabilities, a small fuel budget, 4 pages),
/// runs a bounded number of time slices and kills everything.
pub fn module_load(bytes: &[u8]) {
    let mut pm = manager(OsPlatform::new().expect("the Linux platform"));
    let Ok(module) = pm.modules().compile(bytes) else { return };
    let again = pm.modules().compile(bytes).expect("a module that compiled compiles again");
    assert_eq!(again.hash, module.hash);
    let mut opts = SpawnOptions::new("fuzz");
    opts.caps = Caps::ALL;
    opts.limits = Limits { max_pages: 4, fuel: Some(200_000), max_handles: 16, max_region_bytes: 1 << 20 };
    // Instantiation errors (wrong import types, ...) are errors, not panics.
    if pm.spawn(module, opts).is_ok() {
        run_bounded(&mut pm, 4, 32);
    }
    kill_all(&mut pm);
}

// ---------------------------------------------------------------------
// hostcalls
// ---------------------------------------------------------------------

/// A wasm value type of a hostcall parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ty {
    /// `i32`.
    I,
    /// `i64`.
    L,
}
use Ty::{I, L};

/// Every hostcall with its parameters (all return `i64`), in the order of
/// `wasmd_abi::hostcall::NAMES`.
pub const HOSTCALLS: &[(&str, &[Ty])] = &[
    ("exit", &[I]),
    ("write", &[I, I, I]),
    ("args", &[I, I]),
    ("clock", &[I]),
    ("sleep", &[L]),
    ("yield", &[]),
    ("random", &[I, I]),
    ("spawn", &[I, I]),
    ("wait", &[I, I, I]),
    ("kill", &[I]),
    ("getpid", &[]),
    ("process_info", &[I, I, I]),
    ("cap_check", &[L]),
    ("module_open", &[I, I]),
    ("module_load", &[I, I]),
    ("reload", &[I, I, I, I]),
    ("region_alloc", &[L]),
    ("region_share", &[I, I, I]),
    ("region_attach", &[L]),
    ("region_detach", &[I]),
    ("region_size", &[I]),
    ("region_id", &[I]),
    ("region_read", &[I, L, I, I]),
    ("region_read2", &[I, L, I, I, L, I, I]),
    ("region_write", &[I, L, I, I]),
    ("region_write2", &[I, L, I, I, I, I]),
    ("region_load32", &[I, L]),
    ("region_store32", &[I, L, I]),
    ("region_fetch_add32", &[I, L, I]),
    ("region_cas32", &[I, L, I, I]),
    ("region_load64", &[I, L, I]),
    ("region_store64", &[I, L, L]),
    ("region_fetch_add64", &[I, L, L, I]),
    ("region_cas64", &[I, L, L, L, I]),
    ("region_wait", &[I, L, I, L]),
    ("region_notify", &[I, L, I]),
    ("region_map", &[I, L, L, I]),
    ("region_unmap", &[I]),
    ("process_handle", &[I]),
    ("send", &[I, L, I, I, I, I, I]),
    ("receive", &[I, I, I, I, L]),
    ("link", &[I]),
    ("unlink", &[I]),
    ("monitor", &[I]),
    ("demonitor", &[L]),
    ("trap_exit", &[I]),
    ("spawn_with", &[I, I, I, I]),
    ("spawn_on", &[I, I, I, I, I, I]),
    ("name_register", &[I, I]),
    ("name_unregister", &[I, I]),
    ("name_lookup", &[I, I, I]),
    ("name_whereis", &[I, I]),
    ("scheme_register", &[I, I]),
    ("scheme_next", &[I, I, I]),
    ("scheme_reply", &[I, I, I]),
    ("scheme_unregister", &[I]),
    ("fs_open", &[I, I, I]),
    ("fs_read", &[I, I, I]),
    ("fs_write", &[I, I, I]),
    ("fs_seek", &[I, L, I]),
    ("fs_close", &[I]),
    ("fs_fstat", &[I, I, I]),
    ("fs_getdents", &[I, I, I]),
    ("fs_unlink", &[I, I]),
    ("fs_mkdir", &[I, I]),
    ("net_connect", &[I, I]),
    ("net_listen", &[I, I]),
    ("net_accept", &[I]),
    ("net_send", &[I, I, I]),
    ("net_recv", &[I, I, I]),
    ("chan_bridge", &[I, I, I, L]),
];

/// Small modules a fuzzed `spawn` may start from bytes.
pub(super) const CHILD_MODULES: &[&str] = &[
    r#"(module (memory (export "memory") 1) (func (export "_start")))"#,
    r#"(module (func (export "_start") (loop (br 0))))"#,
    r#"(module (import "wasmd" "yield" (func $y (result i64))) (func (export "_start") (loop (drop (call $y)) (br 0))))"#,
    r#"(module (import "wasmd" "exit" (func $e (param i32) (result i64))) (func (export "_start") (drop (call $e (i32.const 3)))))"#,
    r#"(module (import "wasmd" "nope" (func)) (func (export "_start")))"#,
    "\0asm\x01\0\0\0garbage",
];

/// Namespace paths a fuzzed guest may use.
pub(super) const GUEST_PATHS: &[&str] = &[
    "fz:/a",
    "fz:/",
    "fz:/d/e",
    "/scheme/fz/a",
    "file:/a",
    "file:/",
    "file:/d",
    "file:/d/f",
    "/a",
    "/",
    "file:/../x",
    "fz:/../..",
    "tcp:127.0.0.1:9",
    "udp:*:0",
    "nosuch:/x",
    "wasm:/ps",
    "",
];

/// Namespace grants a fuzzed spawn may ask for its child.
pub(super) const CHILD_GRANTS: &[&str] =
    &["file:/=rw", "file:/=ro", "fz:/", "file:/a=ro", "tcp:*", "fz:/x=rw", "bad"];

pub(super) const SCHEME_NAMES: &[&str] = &["fz", "wasm", "FZ", "", "fz2", "..", "file", "a-b.c_d"];

/// Arbitrary data a guest can point hostcalls at: raw bytes, a path, a
/// scheme name, a postcard `SpawnRequest` or `SchemeReply`.
pub(super) fn guest_blob(input: &mut Input<'_>) -> Vec<u8> {
    match input.below(6) {
        0 => input.bytes(256).to_vec(),
        1 => {
            if input.below(4) == 0 {
                input.bytes(32).to_vec()
            } else {
                input.pick(GUEST_PATHS).as_bytes().to_vec()
            }
        }
        2 => {
            if input.below(4) == 0 {
                input.bytes(80).to_vec()
            } else {
                input.pick(SCHEME_NAMES).as_bytes().to_vec()
            }
        }
        3 => spawn_request(input),
        4 => {
            let tag = if input.bool() { u64::from(input.u8() % 16) } else { input.u64() };
            let mut owned = Vec::new();
            let result = scheme_result(input, &mut owned);
            msg::encode(&SchemeReply { tag, result: result.borrowed(&owned) })
        }
        _ => {
            // u64 words (for 64-bit region values, `wait` buffers, ...)
            (0..input.below(8)).flat_map(|_| (input.pick(BOUNDARIES) as u64).to_le_bytes()).collect()
        }
    }
}

pub(super) fn spawn_request(input: &mut Input<'_>) -> Vec<u8> {
    let path;
    let module = if input.below(4) == 0 {
        path = input.string(24);
        ModuleSource::Path(&path)
    } else {
        ModuleSource::Bytes(input.pick(CHILD_MODULES).as_bytes())
    };
    let args_owned: Vec<String> = (0..input.below(4)).map(|_| input.string(8)).collect();
    let args: Vec<&str> = args_owned.iter().map(String::as_str).collect();
    let caps = match input.below(3) {
        0 => None,
        1 => Some(Caps(u64::from(input.u8() & 0x7f))),
        _ => Some(Caps(input.u64())),
    };
    let opt_u64 = |input: &mut Input<'_>| input.bool().then(|| input.pick(BOUNDARIES) as u64);
    let limits = SpawnLimits {
        max_pages: opt_u64(input).map(|v| v as u32),
        fuel: opt_u64(input),
        max_handles: opt_u64(input).map(|v| v as u32),
        max_region_bytes: opt_u64(input),
    };
    let grants: Vec<Grant> = (0..input.below(3))
        .map(|_| Grant { handle: u32::from(input.u8() % 8), rights: Rights(u32::from(input.u8())) })
        .collect();
    let namespace = match input.below(3) {
        0 => None,
        _ => Some((0..input.below(3)).map(|_| input.pick(CHILD_GRANTS)).collect::<Vec<&str>>()),
    };
    msg::encode(&SpawnRequest { module, args, caps, limits, grants, namespace })
}

/// One fuzzed hostcall argument as a WAT expression.
pub(super) fn arg_expr(input: &mut Input<'_>, ty: Ty, blobs: &[(u32, u32)]) -> String {
    let value: i64 = match input.below(9) {
        0 => i64::from(input.u8()),
        1 => i64::from(input.u16()),
        2 => match ty {
            I => i64::from(input.u32() as i32),
            L => input.u64() as i64,
        },
        3 => {
            let k = input.below(8);
            return match ty {
                I => format!("(i32.wrap_i64 (local.get $r{k}))"),
                L => format!("(local.get $r{k})"),
            };
        }
        4 => -1 - i64::from(input.u8()),
        5 => input.pick(BOUNDARIES),
        6 => blobs.get(input.below(blobs.len().max(1))).map_or(0, |b| i64::from(b.0)),
        7 => blobs.get(input.below(blobs.len().max(1))).map_or(0, |b| i64::from(b.1)),
        _ => 32768 + i64::from(input.u16() % 16384) / 8 * 8,
    };
    match ty {
        I => format!("(i32.const {})", value as i32),
        L => format!("(i64.const {value})"),
    }
}

/// A guest whose `_start` makes a fuzzed sequence of hostcalls (possibly
/// repeated), results kept in 8 locals that later arguments may use.
pub fn hostcall_program(input: &mut Input<'_>) -> String {
    let mut image = input.bytes(512).to_vec();
    let mut blobs = Vec::new();
    for _ in 0..input.below(6) {
        let blob = guest_blob(input);
        let at = image.len().max(1024).div_ceil(8) * 8;
        if at + blob.len() > 30000 {
            break;
        }
        image.resize(at, 0);
        image.extend_from_slice(&blob);
        blobs.push((at as u32, blob.len() as u32));
    }
    let mut text = String::from("(module\n");
    for (i, (name, params)) in HOSTCALLS.iter().enumerate() {
        let params: Vec<&str> = params.iter().map(|t| if *t == I { "i32" } else { "i64" }).collect();
        let _ = writeln!(
            text,
            "  (import \"wasmd\" \"{name}\" (func $h{i} (param {}) (result i64)))",
            params.join(" ")
        );
    }
    let _ = writeln!(text, "  (memory (export \"memory\") 1)");
    let _ = writeln!(text, "  (data (i32.const 0) {})", wat_bytes(&image));
    text.push_str("  (func (export \"_start\")\n");
    text.push_str("    (local $r0 i64) (local $r1 i64) (local $r2 i64) (local $r3 i64)\n");
    text.push_str("    (local $r4 i64) (local $r5 i64) (local $r6 i64) (local $r7 i64) (local $i i32)\n");
    text.push_str("    (loop $again\n");
    let calls = input.below(25);
    for c in 0..calls {
        let h = input.below(HOSTCALLS.len());
        let args: Vec<String> = HOSTCALLS[h].1.iter().map(|ty| arg_expr(input, *ty, &blobs)).collect();
        let _ = writeln!(text, "      (local.set $r{} (call $h{h} {}))", c % 8, args.join(" "));
    }
    let repeat = 1 + input.below(3);
    text.push_str("      (local.set $i (i32.add (local.get $i) (i32.const 1)))\n");
    let _ = writeln!(text, "      (br_if $again (i32.lt_u (local.get $i) (i32.const {repeat})))))");
    text.push(')');
    text
}

/// Up to two guests, each a fuzzed sequence of hostcalls
/// ([`hostcall_program`]), with every capability, a file root of their
/// own (`file:/`, read-write) and the `fz:` scheme granted, a small fuel
/// budget; bounded turns, then everything is killed. Any trap is fine.
pub fn hostcalls(data: &[u8]) {
    let names: Vec<&str> = HOSTCALLS.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, hostcall::NAMES, "the harness's hostcall table is out of date");
    let mut input = Input::new(data);
    let programs: Vec<String> = (0..1 + input.below(2)).map(|_| hostcall_program(&mut input)).collect();
    // The last byte chooses where the guests run: on this thread (0),
    // or on one or two scheduler threads at once (as in `wasmd daemon`).
    let sched_workers = input.below(3);
    let root = scratch_dir("hostcalls-root");
    let platform = OsPlatform::with_file_root(Some(&root)).expect("the Linux platform");
    let mut pm = manager_with(platform, sched_workers);
    for (i, text) in programs.iter().enumerate() {
        let module = compile_own(&pm, text);
        let opts =
            guest_opts(&format!("p{i}"), Caps::ALL, Some(300_000), Owner::ROOT, &["file:/=rw", "fz:/"]);
        pm.spawn(module, opts).unwrap_or_else(|e| panic!("a generated guest does not spawn: {e}\n{text}"));
    }
    if sched_workers == 0 {
        run_bounded(&mut pm, 6, 64);
        kill_all(&mut pm);
        drop(pm);
    } else {
        let kernel = wasmhost::Kernel::new(pm);
        // Up to 20 ms for the guests to end on their own, then killed
        // (children they spawn meanwhile too); a killed guest ends by its
        // turn's end at the latest.
        for round in 0..1000 {
            if kernel.lock().live() == 0 {
                break;
            }
            if round >= 20 {
                kill_all(&mut kernel.lock());
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(kernel.lock().live(), 0, "killed guests did not end within a second");
        drop(kernel);
    }
    remove_scratch(&root);
}
