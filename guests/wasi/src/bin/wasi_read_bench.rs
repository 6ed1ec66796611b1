//! `wasi_read_bench PATH PASSES`: reads the file PATH (in a preopen, e.g.
//! `/bench.dat`) PASSES times from its start in 4 KiB reads, as std's
//! `File` drives them: one `fd_read` a read, until one returns 0 (end of
//! file), then an `fd_seek` to 0 for the next pass. Prints `reads=N
//! bytes=B sum=S`: N every `fd_read` made (the ones at end of file too), B
//! the bytes read, S the wrapping sum of the little-endian `u32` each read
//! starts with (the benchmark writes each 4 KiB block's index there), which
//! checks the offsets while touching 4 bytes a read, not the whole buffer.
//! The benchmark suite's `wasi_read_vs_native` runs it beside the native
//! `file_read_bench` fixture, which does the same reads through `fs_read`.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(path), Some(passes)) = (args.get(1), args.get(2).and_then(|p| p.parse::<u32>().ok())) else {
        eprintln!("usage: wasi_read_bench PATH PASSES");
        std::process::exit(2);
    };
    let mut file = File::open(path).unwrap_or_else(|e| panic!("opening {path}: {e}"));
    let mut buf = vec![0u8; 4096];
    let (mut reads, mut bytes, mut sum) = (0u64, 0u64, 0u32);
    for _ in 0..passes {
        file.seek(SeekFrom::Start(0)).expect("seek to 0");
        loop {
            let n = file.read(&mut buf).expect("read");
            reads += 1;
            if n == 0 {
                break;
            }
            bytes += n as u64;
            if n >= 4 {
                sum = sum.wrapping_add(u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]));
            }
        }
    }
    println!("reads={reads} bytes={bytes} sum={sum}");
}
