//! Redox backend.
//!
//! Random bytes come from `/scheme/rand` (crates using `getrandom` 0.3
//! read `/dev/urandom`, which does not exist early in boot). The file is
//! opened once at start-up, on the main thread: the serving thread never
//! opens paths.

use std::fs::File;
use std::io::Read;

use wasmd_abi::errno::EIO;

/// [`wasmhost::Platform`] on Redox.
#[derive(Debug)]
pub struct OsPlatform {
    rand: File,
}

impl OsPlatform {
    /// Opens the OS resources the platform uses.
    pub fn new() -> std::io::Result<Self> {
        Ok(Self { rand: File::open("/scheme/rand")? })
    }
}

impl wasmhost::Platform for OsPlatform {
    fn random(&self, buf: &mut [u8]) -> Result<(), i32> {
        (&self.rand).read_exact(buf).map_err(|_| EIO)
    }
}
