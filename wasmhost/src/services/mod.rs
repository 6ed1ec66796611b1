//! Services: what syscalls and the embedder ask of the process manager,
//! one concept each — [`spawn`](self::spawn), [`regions`](self::regions),
//! fs and network I/O ([`io`](self::io)) and guest schemes
//! ([`schemes`](self::schemes)). They sit above the manager's core (the
//! process table, waits and lifecycle) and below the syscall dispatch
//! and the run loop; none of them names another.

pub(crate) mod io;
pub(crate) mod regions;
pub(crate) mod schemes;
pub(crate) mod spawn;
