;; Spawns two copies of itself (by path, `fork_bomb.wat`), then spins.
(module
  (import "wasmd" "spawn" (func $spawn (param i32 i32) (result i64)))
  (memory (export "memory") 1)
  ;; postcard SpawnRequest: module Path("fork_bomb.wat"), no args, no caps,
  ;; no limits, no grants, no namespace.
  (data (i32.const 0) "\00\0dfork_bomb.wat\00\00\00\00\00\00\00\00")
  (func (export "_start")
    (drop (call $spawn (i32.const 0) (i32.const 23)))
    (drop (call $spawn (i32.const 0) (i32.const 23)))
    (loop $spin (br $spin))))
