;; Writes 64 KiB to stdout again and again, without end.
(module
  (import "wasmd" "write" (func $write (param i32 i32 i32) (result i64)))
  (memory (export "memory") 2)
  (func (export "_start")
    (loop $l
      (drop (call $write (i32.const 1) (i32.const 0) (i32.const 65536)))
      (br $l))))
