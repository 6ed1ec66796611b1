//! Clocks and sleeping (capability `TIME`).

use core::time::Duration;

use crate::error::{check, Result};
use crate::sys;
use wasmd_abi::hostcall::{CLOCK_MONOTONIC, CLOCK_REALTIME};

/// Time since the daemon started, monotonic.
pub fn monotonic() -> Result<Duration> {
    // SAFETY: scalar argument.
    check(unsafe { sys::clock(CLOCK_MONOTONIC) }).map(Duration::from_nanos)
}

/// Wall-clock time since the Unix epoch.
pub fn realtime() -> Result<Duration> {
    // SAFETY: scalar argument.
    check(unsafe { sys::clock(CLOCK_REALTIME) }).map(Duration::from_nanos)
}

/// Parks the process for at least `d`; other processes keep running.
pub fn sleep(d: Duration) -> Result<()> {
    let nanos = i64::try_from(d.as_nanos()).unwrap_or(i64::MAX);
    // SAFETY: scalar argument.
    check(unsafe { sys::sleep(nanos) }).map(|_| ())
}
