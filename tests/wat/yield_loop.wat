;; Yields forever: one syscall after another (lock pressure on the
;; process table).
(module
  (import "wasmd" "yield" (func $yield (result i64)))
  (memory (export "memory") 1)
  (func (export "_start")
    (loop $forever
      (drop (call $yield))
      (br $forever))))
