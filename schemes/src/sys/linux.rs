//! Linux backend (the embedded backend used for development, tests and
//! benchmarks).

use wasmd_abi::errno::EIO;

/// [`wasmhost::Platform`] on Linux.
#[derive(Debug, Default)]
pub struct OsPlatform;

impl OsPlatform {
    /// The Linux platform.
    pub fn new() -> std::io::Result<Self> {
        Ok(Self)
    }
}

impl wasmhost::Platform for OsPlatform {
    fn random(&self, mut buf: &mut [u8]) -> Result<(), i32> {
        while !buf.is_empty() {
            let n =
                rustix::rand::getrandom(&mut *buf, rustix::rand::GetRandomFlags::empty()).map_err(|_| EIO)?;
            buf = &mut buf[n..];
        }
        Ok(())
    }
}
