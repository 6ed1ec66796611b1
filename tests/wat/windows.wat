;; Region windows (`region_map`/`region_unmap`) in one process: every
;; refusal with its errno, and the bytes seen both ways. Exits with the
;; number of the first check that failed, 0 when all pass. Needs `shm`.
(module
  (import "wasmd" "exit" (func $exit (param i32) (result i64)))
  (import "wasmd" "getpid" (func $getpid (result i64)))
  (import "wasmd" "region_alloc" (func $alloc (param i64) (result i64)))
  (import "wasmd" "region_share" (func $share (param i32 i32 i32) (result i64)))
  (import "wasmd" "region_attach" (func $attach (param i64) (result i64)))
  (import "wasmd" "region_detach" (func $detach (param i32) (result i64)))
  (import "wasmd" "region_load32" (func $load32 (param i32 i64) (result i64)))
  (import "wasmd" "region_store32" (func $store32 (param i32 i64 i32) (result i64)))
  (import "wasmd" "region_read" (func $read (param i32 i64 i32 i32) (result i64)))
  (import "wasmd" "region_map" (func $map (param i32 i64 i64 i32) (result i64)))
  (import "wasmd" "region_unmap" (func $unmap (param i32) (result i64)))
  (memory (export "memory") 1)
  (func $expect (param $check i32) (param $got i64) (param $want i64)
    (if (i64.ne (local.get $got) (local.get $want))
      (then (drop (call $exit (local.get $check))))))
  (func (export "_start") (local $h i32) (local $ro i32) (local $base i32) (local $spare i32)
    ;; EPERM 1, EINVAL 22, EFAULT 14, EBUSY 16, ERANGE 34, EBADF 9
    (local.set $h (i32.wrap_i64 (call $alloc (i64.const 131072))))
    (if (i32.le_s (local.get $h) (i32.const 0)) (then (drop (call $exit (i32.const 1)))))
    ;; Two fresh pages for the window, one more spare.
    (local.set $base (i32.mul (memory.grow (i32.const 3)) (i32.const 65536)))
    (local.set $spare (i32.add (local.get $base) (i32.const 131072)))
    (call $expect (i32.const 2) (call $map (local.get $h) (i64.const 0) (i64.const 131072) (local.get $base)) (i64.const 0))
    ;; A store through the window is the region's byte, and back.
    (i32.store (local.get $base) (i32.const 0x5eed))
    (call $expect (i32.const 3) (call $load32 (local.get $h) (i64.const 0)) (i64.const 0x5eed))
    (drop (call $store32 (local.get $h) (i64.const 65540) (i32.const 77)))
    (call $expect (i32.const 4) (i64.extend_i32_u (i32.load (i32.add (local.get $base) (i32.const 65540)))) (i64.const 77))
    ;; Refusals.
    (call $expect (i32.const 5) (call $map (local.get $h) (i64.const 0) (i64.const 65536) (i32.add (local.get $spare) (i32.const 4096))) (i64.const -22))
    (call $expect (i32.const 6) (call $map (local.get $h) (i64.const 4096) (i64.const 65536) (local.get $spare)) (i64.const -22))
    (call $expect (i32.const 7) (call $map (local.get $h) (i64.const 0) (i64.const 1000) (local.get $spare)) (i64.const -22))
    (call $expect (i32.const 8) (call $map (local.get $h) (i64.const 0) (i64.const 0) (local.get $spare)) (i64.const -22))
    (call $expect (i32.const 9) (call $map (local.get $h) (i64.const 0) (i64.const 65536) (i32.const -65536)) (i64.const -22))
    (call $expect (i32.const 10) (call $map (local.get $h) (i64.const 0) (i64.const 65536) (local.get $base)) (i64.const -16))
    (call $expect (i32.const 11) (call $map (local.get $h) (i64.const 65536) (i64.const 65536) (i32.add (local.get $base) (i32.const 65536))) (i64.const -16))
    (call $expect (i32.const 12) (call $map (local.get $h) (i64.const 131072) (i64.const 65536) (local.get $spare)) (i64.const -34))
    (call $expect (i32.const 13) (call $map (local.get $h) (i64.const 0) (i64.const 131072) (local.get $spare)) (i64.const -14))
    (call $expect (i32.const 14) (call $map (i32.const 999) (i64.const 0) (i64.const 65536) (local.get $spare)) (i64.const -9))
    ;; Memory the guest uses (page 0 holds a byte) is refused.
    (i32.store8 (i32.const 100) (i32.const 1))
    (call $expect (i32.const 15) (call $map (local.get $h) (i64.const 0) (i64.const 65536) (i32.const 0)) (i64.const -16))
    ;; A read-only handle keeps the copying calls.
    (local.set $ro (i32.wrap_i64 (call $attach (call $share (local.get $h) (i32.wrap_i64 (call $getpid)) (i32.const 1)))))
    (call $expect (i32.const 16) (call $map (local.get $ro) (i64.const 0) (i64.const 65536) (local.get $spare)) (i64.const -1))
    (call $expect (i32.const 17) (call $read (local.get $ro) (i64.const 0) (i32.const 200) (i32.const 4)) (i64.const 4))
    (call $expect (i32.const 18) (i64.extend_i32_u (i32.load (i32.const 200))) (i64.const 0x5eed))
    ;; A second window of the same bytes, elsewhere: both show them.
    (call $expect (i32.const 19) (call $map (local.get $h) (i64.const 0) (i64.const 65536) (local.get $spare)) (i64.const 0))
    (call $expect (i32.const 20) (i64.extend_i32_u (i32.load (local.get $spare))) (i64.const 0x5eed))
    (i32.store (i32.add (local.get $spare) (i32.const 8)) (i32.const 99))
    (call $expect (i32.const 21) (i64.extend_i32_u (i32.load (i32.add (local.get $base) (i32.const 8)))) (i64.const 99))
    ;; Unmapping: zeros again here, the region keeps its bytes.
    (call $expect (i32.const 22) (call $unmap (local.get $spare)) (i64.const 0))
    (call $expect (i32.const 23) (i64.extend_i32_u (i32.load (local.get $spare))) (i64.const 0))
    (call $expect (i32.const 24) (call $unmap (local.get $spare)) (i64.const -22))
    (call $expect (i32.const 25) (call $unmap (i32.add (local.get $base) (i32.const 65536))) (i64.const -22))
    (call $expect (i32.const 26) (call $load32 (local.get $h) (i64.const 8)) (i64.const 99))
    ;; Growing memory leaves the window alone.
    (drop (memory.grow (i32.const 1)))
    (call $expect (i32.const 27) (i64.extend_i32_u (i32.load (local.get $base))) (i64.const 0x5eed))
    ;; Detaching the handle unmaps its windows; the read-only one lives on.
    (call $expect (i32.const 28) (call $detach (local.get $h)) (i64.const 0))
    (call $expect (i32.const 29) (i64.extend_i32_u (i32.load (local.get $base))) (i64.const 0))
    (call $expect (i32.const 30) (call $load32 (local.get $ro) (i64.const 0)) (i64.const 0x5eed))
    (call $expect (i32.const 31) (call $unmap (local.get $base)) (i64.const -22))
    (drop (call $exit (i32.const 0))))
)
