#![no_main]
//! `cargo +nightly fuzz run spec_and_paths`: see `wasmd_fuzz::harness::spec_and_paths`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| wasmd_fuzz::harness::spec_and_paths(data));
