#![no_main]
//! `cargo +nightly fuzz run socket_protocol`: see `wasmd_fuzz::harness::socket_protocol`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| wasmd_fuzz::harness::socket_protocol(data));
