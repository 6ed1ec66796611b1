//! The wasmd fuzz targets' bodies ([`harness`]), shared with the
//! regression test `tests/tests/fuzz_regressions.rs`, which includes
//! `harness/mod.rs` itself.

pub mod harness;
