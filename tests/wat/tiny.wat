;; The smallest guest: one page, returns at once. Used for spawn timing.
(module
  (memory (export "memory") 1)
  (func (export "_start")))
