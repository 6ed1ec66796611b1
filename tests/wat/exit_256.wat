;; Exits with 256, whose low 8 bits are 0: a client must still fail (1).
(module
  (import "wasmd" "exit" (func $exit (param i32) (result i64)))
  (memory (export "memory") 1)
  (func (export "_start")
    (drop (call $exit (i32.const 256)))))
