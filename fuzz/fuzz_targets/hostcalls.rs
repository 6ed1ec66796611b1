#![no_main]
//! `cargo +nightly fuzz run hostcalls`: see `wasmd_fuzz::harness::hostcalls`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| wasmd_fuzz::harness::hostcalls(data));
