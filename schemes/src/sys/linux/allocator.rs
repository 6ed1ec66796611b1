//! The memory allocator of every program built on this crate on Linux
//! (the daemon, its tests and the benchmark suite, so the suite measures
//! what the daemon runs): mimalloc instead of glibc's `malloc`.
//!
//! A spawn allocates a few dozen small objects (the store, the process
//! record, its log, mailbox and handle table) and an exit frees them, so
//! the allocator is a large part of a spawn's cost. Same-run A/B on the
//! 2-core development machine (`wasmd-bench --profile-spawn 200000`, four
//! alternating runs each): glibc 2.69–3.21 µs per spawn and run to exit,
//! mimalloc 2.28–2.58 µs; the resident memory per idle 1-page guest went
//! from 8.96 KiB to 8.50 KiB (`--quick --only idle`).
//!
//! Redox keeps its libc's allocator (mimalloc does not build there).

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
