//! Runs fuzz targets' bodies without libFuzzer (stable Rust is enough):
//!
//! ```sh
//! cargo run --release --example replay -- TARGET PATH...   # files, or directories of them
//! cargo run --release --example replay -- TARGET --random N [SEED]
//! ```
//!
//! The second form feeds N pseudo-random inputs (a quick check of a
//! harness change before a long run); with `REPLAY_KEEP=DIR`, each is
//! written to `DIR/TARGET-current` before it runs (a failing one stays).
//!
//! `cargo run --release --example replay -- --seeds DIR` writes seed inputs
//! for `socket_protocol` (well-formed request frames) into `DIR`.

use std::path::Path;

use wasmd_fuzz::harness;

fn body(target: &str) -> fn(&[u8]) {
    match target {
        "module_load" => harness::module_load,
        "hostcalls" => harness::hostcalls,
        "spec_and_paths" => harness::spec_and_paths,
        "socket_protocol" => harness::socket_protocol,
        "scheme_replies" => harness::scheme_replies,
        "channel_ring" => harness::channel_ring,
        "wasi_calls" => harness::wasi_calls,
        other => panic!("unknown target {other}"),
    }
}

fn files(path: &Path, out: &mut Vec<std::path::PathBuf>) {
    if path.is_dir() {
        let mut entries: Vec<_> = std::fs::read_dir(path).unwrap().map(|e| e.unwrap().path()).collect();
        entries.sort();
        for e in entries {
            files(&e, out);
        }
    } else {
        out.push(path.to_path_buf());
    }
}

/// Well-formed request streams for `socket_protocol`.
fn socket_seeds(dir: &Path) {
    use wasmd::sys::linux::protocol::{frame, ClientMsg, Request};
    std::fs::create_dir_all(dir).unwrap();
    let open = |id, path: &str, flags| ClientMsg { id, request: Request::Open { path: path.into(), flags } };
    let streams: Vec<Vec<ClientMsg>> = vec![
        vec![
            open(1, "/scheme/wasm/ps", 0x1_0000),
            ClientMsg { id: 2, request: Request::Read { fd: 1, offset: 0, len: 4096, nonblock: false } },
            ClientMsg { id: 3, request: Request::Close { fd: 1 } },
        ],
        vec![
            open(1, "/scheme/wasm", 0x1001_0000),
            ClientMsg { id: 2, request: Request::Getdents { fd: 1, offset: 0 } },
            ClientMsg { id: 3, request: Request::Fstat { fd: 1 } },
            ClientMsg { id: 4, request: Request::Fpath { fd: 1 } },
        ],
        vec![
            open(1, "/scheme/wasm/spawn", 0x3_0000),
            ClientMsg {
                id: 2,
                request: Request::Write {
                    fd: 1,
                    offset: 0,
                    data: b"cap=stdio /nonexistent.wasm".to_vec(),
                    nonblock: false,
                },
            },
            ClientMsg { id: 3, request: Request::Read { fd: 1, offset: 0, len: 16, nonblock: true } },
        ],
        vec![
            open(1, "/scheme/fz/a", 0x3_0000),
            ClientMsg {
                id: 2,
                request: Request::Write { fd: 1, offset: 0, data: b"x".to_vec(), nonblock: false },
            },
            ClientMsg { id: 3, request: Request::Ftruncate { fd: 1, len: 0 } },
            ClientMsg { id: 4, request: Request::Fsync { fd: 1 } },
            ClientMsg { id: 5, request: Request::Unlink { path: "/scheme/fz/a".into(), flags: 0 } },
        ],
        vec![open(1, "/scheme/wasm/1/wait", 0x1_0000), open(2, "/scheme/wasm/shm/index", 0x1_0000)],
    ];
    for (i, stream) in streams.iter().enumerate() {
        for mode in [0u8, 1, 3] {
            let mut bytes = vec![mode];
            for m in stream {
                bytes.extend_from_slice(&frame(m));
            }
            std::fs::write(dir.join(format!("seed-{i}-{mode}")), bytes).unwrap();
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args[0] == "--seeds" {
        socket_seeds(Path::new(&args[1]));
        return;
    }
    let run = body(&args[0]);
    if args.get(1).map(String::as_str) == Some("--random") {
        let n: usize = args[2].parse().unwrap();
        let mut seed: u64 = args.get(3).map_or(1, |s| s.parse().unwrap());
        let started = std::time::Instant::now();
        for i in 0..n {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let len = (seed >> 33) as usize % 2048;
            let data: Vec<u8> = (0..len)
                .map(|_| {
                    seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    (seed >> 56) as u8
                })
                .collect();
            if std::env::var_os("REPLAY_VERBOSE").is_some() {
                eprintln!("input {i}: {len} bytes, seed state {seed}");
            }
            // The input about to run, kept when it fails.
            if let Some(dir) = std::env::var_os("REPLAY_KEEP") {
                std::fs::write(Path::new(&dir).join(format!("{}-current", args[0])), &data).unwrap();
            }
            run(&data);
        }
        eprintln!("{n} random inputs in {:?}", started.elapsed());
        return;
    }
    let mut all = Vec::new();
    for a in &args[1..] {
        files(Path::new(a), &mut all);
    }
    for f in &all {
        eprintln!("{}", f.display());
        run(&std::fs::read(f).unwrap());
    }
    eprintln!("{} inputs", all.len());
}
