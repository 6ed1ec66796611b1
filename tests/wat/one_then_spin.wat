;; Writes one line, then spins for ever without writing again: `wasmd run` must still end when its output's reader goes away.
(module
  (import "wasmd" "write" (func $write (param i32 i32 i32) (result i64)))
  (memory (export "memory") 1)
  (data (i32.const 0) "y\n")
  (func (export "_start")
    (drop (call $write (i32.const 1) (i32.const 0) (i32.const 2)))
    (loop $l (br $l))))
