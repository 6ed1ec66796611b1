#![no_main]
//! `cargo +nightly fuzz run wasi_calls`: see `wasmd_fuzz::harness::wasi_calls`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| wasmd_fuzz::harness::wasi_calls(data));
