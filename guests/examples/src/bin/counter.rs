//! Version 1 of the counter service of the hot-reload demo: serves
//! `counter:`, counting visits (see `src/counter/service.rs`).
#![no_std]
#![no_main]

extern crate alloc;

const VERSION: u32 = 1;

include!("../counter/service.rs");
