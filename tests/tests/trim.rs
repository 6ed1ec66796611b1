//! Idle processes give memory back (`wasmhost::TRIM_AFTER`): the zero
//! pages of a process parked that long are released to the OS (through
//! its arena slot: on Linux with `MADV_DONTNEED`), and what the guest
//! reads afterwards is exactly what it wrote.

mod common;

use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::Harness;
use wasmd::sys::OsPlatform;
use wasmd_abi::{Caps, Errno, ExitStatus};
use wasmhost::region::SharedMemory;
use wasmhost::{ManagerConfig, Platform, SpawnOptions, VirtualMemory};

/// The Linux platform, counting the bytes its virtual memory discarded.
#[derive(Debug)]
struct Counting {
    os: OsPlatform,
    released: Arc<AtomicUsize>,
}

impl Platform for Counting {
    fn random(&self, buf: &mut [u8]) -> Result<(), Errno> {
        self.os.random(buf)
    }

    fn create_shared_memory(&self, size: usize) -> Result<Box<dyn SharedMemory>, Errno> {
        self.os.create_shared_memory(size)
    }

    fn virtual_memory(&self) -> Option<Arc<dyn VirtualMemory>> {
        let os = self.os.virtual_memory()?;
        Some(Arc::new(CountingVm { os, released: self.released.clone() }))
    }
}

/// The Linux virtual memory, counting discarded bytes.
#[derive(Debug)]
struct CountingVm {
    os: Arc<dyn VirtualMemory>,
    released: Arc<AtomicUsize>,
}

// SAFETY: every call is the Linux implementation's, with its arguments.
unsafe impl VirtualMemory for CountingVm {
    fn page_size(&self) -> usize {
        self.os.page_size()
    }

    fn max_reservation(&self) -> usize {
        self.os.max_reservation()
    }

    fn max_total(&self) -> usize {
        self.os.max_total()
    }

    fn reserve(&self, len: usize) -> Option<NonNull<u8>> {
        self.os.reserve(len)
    }

    unsafe fn discard(&self, at: NonNull<u8>, len: usize) -> Result<(), Errno> {
        // SAFETY: as the caller promised.
        let given = unsafe { self.os.discard(at, len) };
        if given.is_ok() {
            self.released.fetch_add(len, Ordering::SeqCst);
        }
        given
    }

    fn max_discards(&self) -> usize {
        self.os.max_discards()
    }

    unsafe fn restore_private(&self, at: NonNull<u8>, len: usize) -> Result<(), Errno> {
        // SAFETY: as the caller promised.
        unsafe { self.os.restore_private(at, len) }
    }

    unsafe fn unreserve(&self, at: NonNull<u8>, len: usize) {
        // SAFETY: as the caller promised.
        unsafe { self.os.unreserve(at, len) }
    }
}

/// Writes 0xab to bytes 0..100 and to one byte of page 3, sleeps 100 ms
/// (long enough to be trimmed), then checks every page: exit 0 when all
/// is as written, else the number of the failed check.
const CHECKER: &str = r#"(module
  (import "wasmd" "sleep" (func $sleep (param i64) (result i64)))
  (import "wasmd" "exit" (func $exit (param i32) (result i64)))
  (memory (export "memory") 4)
  (func $fail (param i32) (drop (call $exit (local.get 0))))
  (func (export "_start") (local $i i32)
    (memory.fill (i32.const 0) (i32.const 0xab) (i32.const 100))
    (i32.store8 (i32.const 196613) (i32.const 0xcd))
    (drop (call $sleep (i64.const 100000000)))
    (loop $scan
      (if (i32.lt_u (local.get $i) (i32.const 262144))
        (then
          (if (i32.ne
                (i32.load8_u (local.get $i))
                (if (result i32) (i32.lt_u (local.get $i) (i32.const 100))
                  (then (i32.const 0xab))
                  (else (if (result i32) (i32.eq (local.get $i) (i32.const 196613))
                    (then (i32.const 0xcd)) (else (i32.const 0))))))
            (then (call $fail (i32.const 3))))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $scan))))))"#;

#[test]
fn a_parked_process_gives_its_zero_pages_back_and_reads_what_it_wrote() {
    let released = Arc::new(AtomicUsize::new(0));
    let platform = Counting { os: OsPlatform::new().unwrap(), released: released.clone() };
    let mut h = Harness::with_platform(ManagerConfig::default(), platform);
    let module = h.pm.modules().compile(CHECKER.as_bytes()).unwrap();
    let opts = SpawnOptions { caps: Caps::DEFAULT, ..SpawnOptions::new("checker") };
    let pid = h.pm.spawn(module, opts).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !h.pm.process(pid).unwrap().is_exited() {
        assert!(Instant::now() < deadline, "the checker did not finish");
        h.pm.run(16);
        h.pm.wait_for_events(Some(Duration::from_millis(1)));
    }
    assert_eq!(h.status(pid), Some(ExitStatus::Exited(0)), "what it wrote and the zeros read back");
    // Pages 1 and 2 are all zeros, and most of 0 and 3: at least two
    // 64 KiB pages' worth went back while it slept.
    let n = released.load(Ordering::SeqCst);
    assert!(n >= 2 * 65536, "released {n} bytes");
    assert!(n < 4 * 65536, "released {n} bytes: the written pages stay");
}

#[test]
fn a_process_woken_before_the_threshold_is_not_trimmed() {
    let released = Arc::new(AtomicUsize::new(0));
    let platform = Counting { os: OsPlatform::new().unwrap(), released: released.clone() };
    let mut h = Harness::with_platform(ManagerConfig::default(), platform);
    // Sleeps 1 ms a thousand times: never parked for TRIM_AFTER.
    let text = r#"(module
      (import "wasmd" "sleep" (func $sleep (param i64) (result i64)))
      (memory (export "memory") 2)
      (func (export "_start") (local $n i32)
        (loop $again
          (drop (call $sleep (i64.const 1000000)))
          (local.set $n (i32.add (local.get $n) (i32.const 1)))
          (br_if $again (i32.lt_u (local.get $n) (i32.const 200))))))"#;
    assert!(wasmhost::TRIM_AFTER > Duration::from_millis(5));
    let module = h.pm.modules().compile(text.as_bytes()).unwrap();
    let opts = SpawnOptions { caps: Caps::DEFAULT, ..SpawnOptions::new("napper") };
    let pid = h.pm.spawn(module, opts).unwrap();
    h.run_until_exit(pid, 20);
    assert_eq!(h.status(pid), Some(ExitStatus::Exited(0)));
    assert_eq!(released.load(Ordering::SeqCst), 0);
}
