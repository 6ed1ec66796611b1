//! Version 2 of the counter service: what `wasmd reload PID counter_v2.wasm`
//! puts in place of version 1, keeping its pid, scheme and count (see
//! `src/counter/service.rs`).
#![no_std]
#![no_main]

extern crate alloc;

const VERSION: u32 = 2;

include!("../counter/service.rs");
