;; Allocates 64 KiB regions until refused; exits with how many it got.
;; The refusal must be ENOSPC (28) or EMFILE (24), else it exits 100.
(module
  (import "wasmd" "region_alloc" (func $alloc (param i64) (result i64)))
  (import "wasmd" "exit" (func $exit (param i32) (result i64)))
  (memory (export "memory") 1)
  (func (export "_start") (local $n i32) (local $r i64)
    (loop $more
      (local.set $r (call $alloc (i64.const 65536)))
      (if (i64.ge_s (local.get $r) (i64.const 0))
        (then (local.set $n (i32.add (local.get $n) (i32.const 1))) (br $more))))
    (if (i32.and (i64.ne (local.get $r) (i64.const -28)) (i64.ne (local.get $r) (i64.const -24)))
      (then (drop (call $exit (i32.const 100)))))
    (drop (call $exit (local.get $n)))))
