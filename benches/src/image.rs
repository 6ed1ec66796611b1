//! Initial memory from a copy-on-write image against applying the data
//! segments (issue 15: "measure whether it beats applying the segments,
//! and keep the faster"): `image_small_vs_segments`,
//! `image_large_vs_segments`.
//!
//! Both sides run what a spawn does with a module's memory, in bare wasmi
//! over one reserved, page-aligned buffer (as wasmd's arena slots are):
//! the memory is made (`Memory::new_static`, which zero-fills its initial
//! pages), the module instantiated, its `_start` run (it reads one byte
//! in every 4 KiB of its data, as a program using its data does), and the
//! pages given back for the next spawn.
//!
//! - **segments** (what wasmd does): wasmi copies the active data segment
//!   into the memory at instantiation; the pages go back with
//!   `MADV_DONTNEED`, except that a memory of at most 2 MiB stays
//!   resident for the next spawn (as a free arena slot keeps its pages).
//! - **image**: the data lives once in a memfd; the module has no data
//!   segment; after the memory is made, the image is mapped over the data
//!   pages `MAP_PRIVATE | MAP_FIXED` (reads share the memfd's pages, a
//!   write copies one), and to give the pages back that range is mapped
//!   anonymous again (`MADV_DONTNEED` would bring the image back, not
//!   zeros; the rest of the memory as on the other side).
//!
//! Small is the data of the project's Rust guests (about 6 KB), large
//! 4 MiB. Linux only, as the daemon's arena on Linux.

use std::ffi::c_void;
use std::os::fd::OwnedFd;
use std::time::Instant;

use rustix::mm::{madvise, mmap, mmap_anonymous, Advice, MapFlags, ProtFlags};

use crate::guests::best_interleaved;
use crate::report::Figure;

/// Wasm pages.
const PAGE: usize = 65536;

/// A free arena slot keeps this much of its memory resident (wasmhost's
/// arena, `WARM_BYTES`).
const WARM_BYTES: usize = 2 << 20;

/// A module importing `pages` pages of memory (as wasmd's rewrite makes
/// every module's own memory an import), reading one byte in every 4 KiB
/// of `data_len` bytes from offset 0; with `segment`, an active data
/// segment puts `data_len` bytes of `Z` there.
fn module(pages: usize, data_len: usize, segment: bool) -> String {
    let data =
        if segment { format!("(data (i32.const 0) \"{}\")", "Z".repeat(data_len)) } else { String::new() };
    format!(
        r#"(module
  (import "env" "memory" (memory {pages}))
  {data}
  (global $sum (export "sum") (mut i32) (i32.const 0))
  (func (export "_start") (local $at i32)
    (loop $next
      (global.set $sum (i32.add (global.get $sum) (i32.load8_u (local.get $at))))
      (local.set $at (i32.add (local.get $at) (i32.const 4096)))
      (br_if $next (i32.lt_u (local.get $at) (i32.const {data_len}))))))"#
    )
}

/// One memory's worth of reserved address space, reused by every spawn.
struct Buffer {
    base: *mut u8,
    len: usize,
}

impl Buffer {
    fn new(len: usize) -> Buffer {
        // SAFETY: a fresh anonymous mapping; nothing else refers to it.
        let base = unsafe {
            mmap_anonymous(std::ptr::null_mut(), len, ProtFlags::READ | ProtFlags::WRITE, MapFlags::PRIVATE)
        }
        .expect("reserves memory");
        Buffer { base: base.cast(), len }
    }

    /// The whole buffer as wasmi's static memory buffer.
    fn as_static(&self) -> &'static mut [u8] {
        // SAFETY: the mapping lives for the rest of the program (never
        // unmapped); each spawn's memory is dropped (its store is) before
        // the next one takes the buffer again.
        unsafe { std::slice::from_raw_parts_mut(self.base, self.len) }
    }

    /// Gives the first `len` bytes back: zero pages again.
    fn discard(&self, len: usize) {
        // SAFETY: the range lies in this buffer's mapping and no memory
        // refers to it any more.
        unsafe { madvise(self.base.cast::<c_void>(), len, Advice::LinuxDontNeed) }.expect("madvise");
    }

    /// Maps `len` bytes of `image` over the start, copy-on-write.
    fn map_image(&self, image: &OwnedFd, len: usize) {
        let flags = MapFlags::PRIVATE | MapFlags::FIXED;
        // SAFETY: replaces pages of this buffer's own mapping; the memory
        // over them exists but no reference to its bytes is held.
        unsafe { mmap(self.base.cast(), len, ProtFlags::READ | ProtFlags::WRITE, flags, image, 0) }
            .expect("maps the image");
    }

    /// Maps the start anonymous again (zero pages), undoing `map_image`.
    fn unmap_image(&self, len: usize) {
        let flags = MapFlags::PRIVATE | MapFlags::FIXED;
        // SAFETY: as in `map_image`.
        unsafe { mmap_anonymous(self.base.cast(), len, ProtFlags::READ | ProtFlags::WRITE, flags) }
            .expect("maps zeros");
    }
}

/// µs per spawn of a `pages`-page module with `data_len` bytes of data,
/// `count` times, its initial memory from the data segment or (`image`)
/// from a copy-on-write image.
fn spawn_us(pages: usize, data_len: usize, image: bool, count: u32) -> f64 {
    let mut config = wasmi::Config::default();
    config.consume_fuel(true);
    let engine = wasmi::Engine::new(&config);
    let wat = module(pages, data_len, !image);
    let module = wasmi::Module::new(&engine, wat.as_bytes()).expect("compiles");
    let memory_type = wasmi::MemoryType::new(pages as u32, None);
    let buffer = Buffer::new(pages * PAGE);
    let image_fd = image.then(|| {
        let fd = rustix::fs::memfd_create("wasmd-image", rustix::fs::MemfdFlags::CLOEXEC).expect("memfd");
        rustix::fs::ftruncate(&fd, data_len.next_multiple_of(4096) as u64).expect("sized");
        rustix::io::write(&fd, &vec![b'Z'; data_len]).expect("written");
        fd
    });
    let image_len = data_len.next_multiple_of(4096);
    let mut sum = 0;
    let t = Instant::now();
    for _ in 0..count {
        let mut store = wasmi::Store::new(&engine, ());
        store.set_fuel(u64::MAX / 2).expect("fuel on");
        let memory = wasmi::Memory::new_static(&mut store, memory_type, buffer.as_static()).expect("memory");
        if let Some(fd) = &image_fd {
            buffer.map_image(fd, image_len);
        }
        let mut linker = wasmi::Linker::<()>::new(&engine);
        linker.define("env", "memory", memory).expect("defined");
        let instance = linker.instantiate_and_start(&mut store, &module).expect("instantiates");
        let start = instance.get_typed_func::<(), ()>(&store, "_start").expect("has _start");
        start.call(&mut store, ()).expect("runs");
        sum = instance.get_global(&store, "sum").map(|g| g.get(&store)).and_then(|v| v.i32()).unwrap_or(0);
        drop(store);
        if image {
            buffer.unmap_image(image_len);
        }
        if pages * PAGE > WARM_BYTES {
            buffer.discard(pages * PAGE);
        }
    }
    let us = t.elapsed().as_secs_f64() * 1e6 / f64::from(count);
    assert_eq!(sum as usize, data_len.div_ceil(4096) * usize::from(b'Z'), "the guest read its data");
    us
}

/// `image_small_vs_segments`, `image_large_vs_segments`.
pub fn figures(quick: bool) -> Vec<Figure> {
    let runs = if quick { 3 } else { 5 };
    let (small, large) = ((2, 6 * 1024), (65, 4 << 20));
    let (n_small, n_large) = if quick { (2_000, 50) } else { (20_000, 300) };
    let [seg_small, img_small, seg_large, img_large] = best_interleaved(
        runs,
        [
            &mut || spawn_us(small.0, small.1, false, n_small),
            &mut || spawn_us(small.0, small.1, true, n_small),
            &mut || spawn_us(large.0, large.1, false, n_large),
            &mut || spawn_us(large.0, large.1, true, n_large),
        ],
    );
    vec![
        Figure::info(
            "image_small_vs_segments",
            "spawn with 6 KB of data (2 pages): initial memory from a copy-on-write image",
            img_small,
            "µs",
        )
        .against(seg_small, "the data segment applied (what wasmd does)"),
        Figure::info(
            "image_large_vs_segments",
            "spawn with 4 MiB of data (65 pages): initial memory from a copy-on-write image",
            img_large,
            "µs",
        )
        .against(seg_large, "the data segment applied (what wasmd does)"),
    ]
}
