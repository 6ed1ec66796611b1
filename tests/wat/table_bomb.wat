;; One page of memory and sixteen tables of a million entries each: the
;; tables count against the memory limit (16 bytes an entry).
(module
  (memory (export "memory") 1)
  (table 1048576 funcref) (table 1048576 funcref) (table 1048576 funcref) (table 1048576 funcref)
  (table 1048576 funcref) (table 1048576 funcref) (table 1048576 funcref) (table 1048576 funcref)
  (table 1048576 funcref) (table 1048576 funcref) (table 1048576 funcref) (table 1048576 funcref)
  (table 1048576 funcref) (table 1048576 funcref) (table 1048576 funcref) (table 1048576 funcref)
  (func (export "_start")))
