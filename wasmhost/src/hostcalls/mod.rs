//! The hostcall implementations, registered on the shared linker.
//!
//! Local hostcalls work on the caller's [`ProcessState`] and guest memory
//! directly: a capability bit test or a handle lookup, one bounds check at
//! decode ([`guest_range`], [`crate::region::Region::range`]), then
//! infallible slice access; no allocation, no string lookup. Hostcalls
//! that need the rest of the system record a [`Syscall`] and return
//! [`KernelCall`] (see [`crate::process`]). Every guest pointer and length
//! is checked before anything is read or written: a bad range is
//! `-Errno::BadAddress`, never a trap.
//!
//! Each hostcall is an inner function returning `Result<i64, errno>` (or
//! `Result<Syscall, errno>` for kernel calls); [`define`] registers them
//! and turns errors into `-errno`.

pub(crate) mod fs;
pub(crate) mod mailbox;
pub(crate) mod process;
mod region;
mod scheme;

use std::ops::Range;
use wasmd_abi::Errno;

use wasmd_abi::Caps;
use wasmi::{Caller, Error, Linker};

use crate::process::ProcessState;
use crate::syscall::{KernelCall, Syscall};

pub(crate) type Ctx<'a> = Caller<'a, ProcessState>;
pub(crate) type Ret = Result<i64, Error>;

/// A hostcall result: a value, or an errno.
pub(crate) type CallResult = Result<i64, Errno>;

/// `-errno` as a hostcall return value.
#[inline]
pub(crate) fn err(errno: Errno) -> i64 {
    -i64::from(errno.errno())
}

/// The `i64` a guest receives for a result.
#[inline]
pub(crate) fn ret(result: CallResult) -> i64 {
    result.unwrap_or_else(err)
}

/// Suspends the guest for `call`, or returns its errno.
#[inline]
pub(crate) fn kernel(caller: &mut Ctx<'_>, call: Result<Syscall, Errno>) -> Ret {
    match call {
        Ok(call) => {
            caller.data_mut().syscall = Some(call);
            Err(Error::host(KernelCall))
        }
        Err(e) => Ok(err(e)),
    }
}

/// Bytes a hostcall copies per unit of fuel: wasmi's own rate for its
/// bulk-memory instructions. A guest that moves data through hostcalls
/// (output, region copies) pays for it as one copying inside wasm does, so
/// its time slice ends after a bounded amount of work whatever it calls.
pub const BYTES_PER_FUEL: u64 = 64;

/// Charges the caller fuel for a successful copying hostcall that moved
/// `result` bytes, and passes the result on. Fuel never goes below zero:
/// an exhausted slice ends at the guest's next instruction (preemption,
/// or `out of fuel` when its budget is spent).
#[inline]
pub(crate) fn charge_copy(caller: &mut Ctx<'_>, result: CallResult) -> CallResult {
    if let Ok(bytes) = result {
        let cost = bytes as u64 / BYTES_PER_FUEL;
        if cost > 0 {
            if let Ok(left) = caller.get_fuel() {
                let _ = caller.set_fuel(left.saturating_sub(cost));
            }
        }
    }
    result
}

/// Checks a guest range `ptr..ptr+len` against a memory of `mem_len`
/// bytes. Both values are unsigned 32-bit offsets carried in `i32`.
#[inline]
pub fn guest_range(mem_len: usize, ptr: i32, len: i32) -> Result<Range<usize>, Errno> {
    let start = ptr as u32 as usize;
    let end = start.checked_add(len as u32 as usize).ok_or(Errno::BadAddress)?;
    if end > mem_len {
        return Err(Errno::BadAddress);
    }
    Ok(start..end)
}

/// `Errno::PermissionDenied` unless the caller holds `caps`.
#[inline]
pub(crate) fn require(caller: &Ctx<'_>, caps: Caps) -> Result<(), Errno> {
    if caller.data().caps.contains(caps) {
        Ok(())
    } else {
        Err(Errno::PermissionDenied)
    }
}

/// The guest memory and the process state; `Errno::BadAddress` when the guest
/// exports no memory.
#[inline]
pub(crate) fn memory_and_state<'a>(
    caller: &'a mut Ctx<'_>,
) -> Result<(&'a mut [u8], &'a mut ProcessState), Errno> {
    let memory = caller.data().memory.ok_or(Errno::BadAddress)?;
    Ok(memory.data_and_store_mut(caller))
}

/// Length of the guest memory (0 without one).
#[inline]
pub(crate) fn memory_len(caller: &Ctx<'_>) -> usize {
    caller.data().memory.map_or(0, |m| m.data_size(caller))
}

/// Registers every hostcall of the ABI on `linker`.
pub fn define(linker: &mut Linker<ProcessState>) -> Result<(), Error> {
    process::define(linker)?;
    region::define(linker)?;
    scheme::define(linker)?;
    mailbox::define(linker)?;
    fs::define(linker)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(guest_range(10, 0, 10), Ok(0..10));
        assert_eq!(guest_range(10, 10, 0), Ok(10..10));
        assert_eq!(guest_range(10, 5, 6), Err(Errno::BadAddress));
        assert_eq!(guest_range(10, -1, 1), Err(Errno::BadAddress));
        assert_eq!(guest_range(10, 1, -1), Err(Errno::BadAddress));
        assert_eq!(guest_range(usize::MAX, -1, -1), Ok(u32::MAX as usize..2 * u32::MAX as usize));
    }
}
