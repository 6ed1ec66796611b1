//! Services: what syscalls and the embedder ask of the process manager,
//! one concept each — [`spawn`](self::spawn), [`regions`](self::regions),
//! fs and network I/O ([`io`](self::io)), mailboxes ([`mail`](self::mail)),
//! guest schemes ([`schemes`](self::schemes)) and a guest's reload of
//! another process ([`reload`](self::reload)). Each is written against the narrow
//! [`crate::context::Context`], never the whole manager: the process
//! table, run queues, waits in flight and counts stay in the manager's
//! core below. They sit below the dispatch (which hands them a context)
//! and the run loop; none of them names another.

pub(crate) mod io;
pub(crate) mod mail;
pub(crate) mod regions;
pub(crate) mod reload;
pub(crate) mod schemes;
pub(crate) mod spawn;
