;; Spawns `tiny.wat` (by path) until a spawn fails, then exits with the
;; number of children it made (none are waited for: they all count
;; against the parent's `max_children`).
(module
  (import "wasmd" "spawn" (func $spawn (param i32 i32) (result i64)))
  (import "wasmd" "exit" (func $exit (param i32) (result i64)))
  (memory (export "memory") 1)
  ;; postcard SpawnRequest: module Path("tiny.wat"), no args, no caps,
  ;; no limits, no grants, no namespace.
  (data (i32.const 0) "\00\08tiny.wat\00\00\00\00\00\00\00\00")
  (func (export "_start")
    (local $n i32)
    (block $done
      (loop $again
        (br_if $done (i64.lt_s (call $spawn (i32.const 0) (i32.const 18)) (i64.const 0)))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (br $again)))
    (drop (call $exit (local.get $n)))))
