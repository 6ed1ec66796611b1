#![no_main]
//! `cargo +nightly fuzz run scheme_replies`: see `wasmd_fuzz::harness::scheme_replies`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| wasmd_fuzz::harness::scheme_replies(data));
