//! The serving thread asks Linux for short time slices.
//!
//! Scheduler threads run guests flat out (at nice +5). Linux's EEVDF
//! scheduler lets a running thread finish its slice (about 3 ms) before a
//! thread that wakes on the same core runs, unless the waking one asked
//! for shorter slices (`sched_setattr` with `sched_runtime`, Linux 6.12
//! and later): then its earlier deadline preempts at once. The serving
//! thread asks for 100 µs slices, so a request waits for a core about
//! that long, not a whole slice of a busy guest. Older kernels ignore the
//! value; a refusal is only logged.

/// `struct sched_attr` (include/uapi/linux/sched/types.h), version 1.
#[repr(C)]
struct SchedAttr {
    size: u32,
    sched_policy: u32,
    sched_flags: u64,
    sched_nice: i32,
    sched_priority: u32,
    sched_runtime: u64,
    sched_deadline: u64,
    sched_period: u64,
    sched_util_min: u32,
    sched_util_max: u32,
}

/// The slice the serving thread asks for.
const SLICE_NS: u64 = 100_000;

/// Asks for short slices for the calling thread (normal policy, nice 0).
pub fn ask_for_short_slices() {
    let attr = SchedAttr {
        size: std::mem::size_of::<SchedAttr>() as u32,
        sched_policy: 0, // SCHED_OTHER
        sched_flags: 0,
        sched_nice: 0,
        sched_priority: 0,
        sched_runtime: SLICE_NS,
        sched_deadline: 0,
        sched_period: 0,
        sched_util_min: 0,
        sched_util_max: 0,
    };
    // SAFETY: `sched_setattr(0, attr, 0)` reads `size` bytes of a valid,
    // initialised `sched_attr` that lives across the call, for the calling
    // thread; it writes nothing.
    let done = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const SchedAttr, 0) };
    if done != 0 {
        log::debug!("short slices for the serving thread refused: {}", std::io::Error::last_os_error());
    }
}
