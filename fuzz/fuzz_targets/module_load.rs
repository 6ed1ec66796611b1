#![no_main]
//! `cargo +nightly fuzz run module_load`: see `wasmd_fuzz::harness::module_load`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| wasmd_fuzz::harness::module_load(data));
