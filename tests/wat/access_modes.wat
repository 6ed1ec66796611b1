;; Opens the file named by its first path (`PATH` at offset 0, length from
;; the data below) for reading only and for writing only, and checks that
;; the mode is enforced on every call: writing a read-only handle and
;; reading a write-only one are -EBADF (9). Creates the file first.
;; Exits with the number of the first failed check, or 0.
(module
  (import "wasmd" "exit" (func $exit (param i32) (result i64)))
  (import "wasmd" "args" (func $args (param i32 i32) (result i64)))
  (import "wasmd" "fs_open" (func $open (param i32 i32 i32) (result i64)))
  (import "wasmd" "fs_read" (func $read (param i32 i32 i32) (result i64)))
  (import "wasmd" "fs_write" (func $write (param i32 i32 i32) (result i64)))
  (import "wasmd" "fs_close" (func $close (param i32) (result i64)))
  (import "wasmd" "fs_getdents" (func $getdents (param i32 i32 i32) (result i64)))
  (memory (export "memory") 1)
  ;; args: postcard Vec<&str> [program, path]: read into 1024.
  (func $expect (param $check i32) (param $got i64) (param $want i64)
    (if (i64.ne (local.get $got) (local.get $want))
      (then (drop (call $exit (local.get $check))))))
  (func $handle (param $check i32) (param $r i64) (result i32)
    (if (i64.lt_s (local.get $r) (i64.const 0)) (then (drop (call $exit (local.get $check)))))
    (i32.wrap_i64 (local.get $r)))
  (func (export "_start")
    (local $p i32) (local $len i32) (local $h i32)
    (drop (call $args (i32.const 1024) (i32.const 1024)))
    ;; 1024: count (1 byte, 2); 1025: len of args[0]; then args[0]; then
    ;; len of args[1] (one byte: paths here are shorter than 128), then it.
    (local.set $p (i32.add (i32.const 1026) (i32.load8_u (i32.const 1025))))
    (local.set $len (i32.load8_u (local.get $p)))
    (local.set $p (i32.add (local.get $p) (i32.const 1)))
    ;; O_RDWR | O_CREAT = 0x30000 | 0x2000000
    (local.set $h (call $handle (i32.const 1)
      (call $open (local.get $p) (local.get $len) (i32.const 0x2030000))))
    (call $expect (i32.const 2) (call $write (local.get $h) (i32.const 0) (i32.const 4)) (i64.const 4))
    (drop (call $close (local.get $h)))
    ;; O_RDONLY = 0x10000
    (local.set $h (call $handle (i32.const 3)
      (call $open (local.get $p) (local.get $len) (i32.const 0x10000))))
    (call $expect (i32.const 4) (call $write (local.get $h) (i32.const 0) (i32.const 4)) (i64.const -9))
    (call $expect (i32.const 5) (call $read (local.get $h) (i32.const 0) (i32.const 4)) (i64.const 4))
    (drop (call $close (local.get $h)))
    ;; O_WRONLY = 0x20000
    (local.set $h (call $handle (i32.const 6)
      (call $open (local.get $p) (local.get $len) (i32.const 0x20000))))
    (call $expect (i32.const 7) (call $read (local.get $h) (i32.const 0) (i32.const 4)) (i64.const -9))
    (call $expect (i32.const 8) (call $getdents (local.get $h) (i32.const 0) (i32.const 64)) (i64.const -9))
    (call $expect (i32.const 9) (call $write (local.get $h) (i32.const 0) (i32.const 4)) (i64.const 4))
    (drop (call $close (local.get $h)))
    (drop (call $exit (i32.const 0)))))
