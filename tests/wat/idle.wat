;; An idle guest: one page, sleeps for a very long time (about 30 years).
;; Used to measure the memory cost of a parked process.
(module
  (import "wasmd" "sleep" (func $sleep (param i64) (result i64)))
  (memory (export "memory") 1)
  (func (export "_start")
    (drop (call $sleep (i64.const 1000000000000000000)))))
