;; A client of a lying provider (`faulty:/lies`, see the faulty_scheme
;; fixture): its answers exceed every request. Exits with the number of
;; the first check that failed, or 0: every answer is -EIO (5), nothing is
;; written past the guest's buffers, the file position never moves.
(module
  (import "wasmd" "exit" (func $exit (param i32) (result i64)))
  (import "wasmd" "fs_open" (func $open (param i32 i32 i32) (result i64)))
  (import "wasmd" "fs_read" (func $read (param i32 i32 i32) (result i64)))
  (import "wasmd" "fs_write" (func $write (param i32 i32 i32) (result i64)))
  (import "wasmd" "fs_seek" (func $seek (param i32 i64 i32) (result i64)))
  (memory (export "memory") 1)
  (data (i32.const 0) "faulty:/lies")
  (global $h (mut i32) (i32.const 0))
  (func $expect (param $check i32) (param $got i64) (param $want i64)
    (if (i64.ne (local.get $got) (local.get $want))
      (then (drop (call $exit (local.get $check))))))
  ;; 1 when the 16 bytes at $at are all $byte.
  (func $all (param $at i32) (param $byte i32) (result i32)
    (local $i i32)
    (loop $next
      (if (i32.ne (i32.load8_u (i32.add (local.get $at) (local.get $i))) (local.get $byte))
        (then (return (i32.const 0))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $next (i32.lt_u (local.get $i) (i32.const 16))))
    (i32.const 1))
  (func (export "_start")
    (local $r i64)
    ;; O_RDWR = 0x30000
    (local.set $r (call $open (i32.const 0) (i32.const 12) (i32.const 0x30000)))
    (if (i64.lt_s (local.get $r) (i64.const 0)) (then (drop (call $exit (i32.const 1)))))
    (global.set $h (i32.wrap_i64 (local.get $r)))
    ;; A canary after a 16-byte buffer in the middle of memory.
    (memory.fill (i32.const 1040) (i32.const 0xCC) (i32.const 16))
    (call $expect (i32.const 2) (call $read (global.get $h) (i32.const 1024) (i32.const 16)) (i64.const -5))
    (if (i32.eqz (call $all (i32.const 1040) (i32.const 0xCC))) (then (drop (call $exit (i32.const 3)))))
    (if (i32.eqz (call $all (i32.const 1024) (i32.const 0))) (then (drop (call $exit (i32.const 4)))))
    ;; The last 16 bytes of memory.
    (call $expect (i32.const 5) (call $read (global.get $h) (i32.const 65520) (i32.const 16)) (i64.const -5))
    (if (i32.eqz (call $all (i32.const 65520) (i32.const 0))) (then (drop (call $exit (i32.const 6)))))
    ;; The position did not move (SEEK_CUR = 1).
    (call $expect (i32.const 7) (call $seek (global.get $h) (i64.const 0) (i32.const 1)) (i64.const 0))
    ;; A write answered with u64::MAX bytes.
    (call $expect (i32.const 8) (call $write (global.get $h) (i32.const 0) (i32.const 8)) (i64.const -5))
    (call $expect (i32.const 9) (call $seek (global.get $h) (i64.const 0) (i32.const 1)) (i64.const 0))
    ;; A size of u64::MAX (SEEK_END = 2).
    (call $expect (i32.const 10) (call $seek (global.get $h) (i64.const 0) (i32.const 2)) (i64.const -5))
    (drop (call $exit (i32.const 0)))))
