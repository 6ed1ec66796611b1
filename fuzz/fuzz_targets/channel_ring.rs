#![no_main]
//! `cargo +nightly fuzz run channel_ring`: see `wasmd_fuzz::harness::channel_ring`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| wasmd_fuzz::harness::channel_ring(data));
