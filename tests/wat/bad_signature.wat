;; Imports a real hostcall with the wrong type.
(module
  (import "wasmd" "write" (func $write (param i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start") (drop (call $write (i32.const 1)))))
