;; Writes one line to stdout and returns from _start (exit 0).
(module
  (import "wasmd" "write" (func $write (param i32 i32 i32) (result i64)))
  (memory (export "memory") 1)
  (data (i32.const 16) "hello from wat\n")
  (func (export "_start")
    (drop (call $write (i32.const 1) (i32.const 16) (i32.const 15)))))
