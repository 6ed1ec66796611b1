//! Errors returned by hostcalls: the ABI's [`Errno`](wasmd_abi::Errno),
//! built from a hostcall's `-errno`.

/// A hostcall error (the ABI's error number type).
pub use wasmd_abi::Errno as Error;

/// A hostcall result.
pub type Result<T> = core::result::Result<T, Error>;

/// Turns a raw hostcall return value into a result.
#[inline]
pub fn check(ret: i64) -> Result<u64> {
    if ret < 0 {
        Err(Error::from_errno(i32::try_from(ret.unsigned_abs()).unwrap_or(i32::MAX)))
    } else {
        Ok(ret as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_maps_negative_values_to_errors() {
        assert_eq!(check(-1), Err(Error::PermissionDenied));
        assert_eq!(check(5), Ok(5));
        assert_eq!(check(i64::MIN), Err(Error::Other(i32::MAX)));
        assert_eq!(Error::from_errno(wasmd_abi::errno::EPERM), Error::PermissionDenied);
    }
}
