;; Allocates a region and waits on it for ever.
(module
  (import "wasmd" "region_alloc" (func $alloc (param i64) (result i64)))
  (import "wasmd" "region_wait" (func $wait (param i32 i64 i32 i64) (result i64)))
  (memory (export "memory") 1)
  (func (export "_start")
    (drop (call $wait (i32.wrap_i64 (call $alloc (i64.const 4096))) (i64.const 0) (i32.const 0) (i64.const -1)))))
