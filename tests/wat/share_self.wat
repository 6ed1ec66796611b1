;; Allocates a 64 KiB region, shares it with itself, detaches it, again
;; and again: the pending shares keep the regions alive, so they must
;; count. Exits 0 when a share or an allocation is refused (-ENOSPC, 28)
;; within 100 rounds, 1 if it never is, 2 on another error.
(module
  (import "wasmd" "exit" (func $exit (param i32) (result i64)))
  (import "wasmd" "getpid" (func $getpid (result i64)))
  (import "wasmd" "region_alloc" (func $alloc (param i64) (result i64)))
  (import "wasmd" "region_share" (func $share (param i32 i32 i32) (result i64)))
  (import "wasmd" "region_detach" (func $detach (param i32) (result i64)))
  (memory (export "memory") 1)
  (func $refused (param $r i64)
    (if (i64.eq (local.get $r) (i64.const -28)) (then (drop (call $exit (i32.const 0)))))
    (if (i64.lt_s (local.get $r) (i64.const 0)) (then (drop (call $exit (i32.const 2))))))
  (func (export "_start")
    (local $i i32) (local $h i64)
    (loop $round
      (local.set $h (call $alloc (i64.const 65536)))
      (call $refused (local.get $h))
      (call $refused (call $share (i32.wrap_i64 (local.get $h)) (i32.wrap_i64 (call $getpid)) (i32.const 1)))
      (drop (call $detach (i32.wrap_i64 (local.get $h))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $round (i32.lt_u (local.get $i) (i32.const 100))))
    (drop (call $exit (i32.const 1)))))
