;; Parses as WAT, but does not validate: the function returns an i64
;; where it declares an i32.
(module
  (memory (export "memory") 1)
  (func (export "_start"))
  (func $wrong (result i32) (i64.const 1)))
