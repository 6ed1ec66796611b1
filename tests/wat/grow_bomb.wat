;; Grows memory a page at a time for ever (a memory bomb).
(module
  (memory (export "memory") 1)
  (func (export "_start")
    (loop $more
      (drop (memory.grow (i32.const 1)))
      (br $more))))
