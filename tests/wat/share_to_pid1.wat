;; Shares a new region with pid 1 and exits with the result's errno
;; (0 when the share was accepted).
(module
  (import "wasmd" "exit" (func $exit (param i32) (result i64)))
  (import "wasmd" "region_alloc" (func $alloc (param i64) (result i64)))
  (import "wasmd" "region_share" (func $share (param i32 i32 i32) (result i64)))
  (memory (export "memory") 1)
  (func (export "_start")
    (local $r i64)
    (local.set $r (call $share (i32.wrap_i64 (call $alloc (i64.const 65536))) (i32.const 1) (i32.const 1)))
    (if (i64.lt_s (local.get $r) (i64.const 0))
      (then (drop (call $exit (i32.wrap_i64 (i64.sub (i64.const 0) (local.get $r)))))))
    (drop (call $exit (i32.const 0)))))
