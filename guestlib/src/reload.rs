//! Hot reload: replace a live process's module, keeping its pid and all it
//! holds ([`reload`]), and carry state from one instance to the next
//! ([`state!`](crate::state) and [`restored`]).
//!
//! ```ignore
//! // The service: saves its counter, and starts from it after a reload.
//! wasmd_guest::state!(save);
//! fn save() -> Vec<u8> { COUNT.load().to_le_bytes().to_vec() }
//! fn main() {
//!     let start = wasmd_guest::reload::restored().map_or(0, |b| decode(&b));
//!     // ...
//! }
//! // Its supervisor, later:
//! wasmd_guest::reload::reload(service, "service-v2.wasm")?;
//! ```
//!
//! What a reload keeps, when it takes effect and how state travels are
//! documented byte for byte in `wasmd_abi::hostcall` (*Hot reload*).

use alloc::vec::Vec;
use core::cell::UnsafeCell;

use crate::error::{check, Result};
use crate::process::Pid;
use crate::sys;

/// Replaces the module of `pid` (a descendant of the caller; the caller
/// needs `SPAWN`) with the one at `path`, keeping its pid. Waits
/// until the new instance has taken over; when `pid` is parked in a
/// blocking call that means until that call returned. On an error the
/// old instance runs on.
pub fn reload(pid: Pid, path: &str) -> Result<()> {
    reload_with(pid, path, 0)
}

/// As [`reload`], but refused with [`crate::Error::Busy`] instead of
/// waiting while `pid` is parked in a blocking call.
pub fn reload_nowait(pid: Pid, path: &str) -> Result<()> {
    reload_with(pid, path, wasmd_abi::hostcall::RELOAD_NOWAIT)
}

fn reload_with(pid: Pid, path: &str, flags: i32) -> Result<()> {
    // SAFETY: pointer and length of a live string.
    check(unsafe { sys::reload(pid as i32, path.as_ptr(), path.len(), flags) }).map(|_| ())
}

/// A cell for the state in transit (guests run single-threaded: one
/// instance, one thread).
#[doc(hidden)]
pub struct StateCell(UnsafeCell<Option<Vec<u8>>>);

// SAFETY: a wasm32 guest instance runs on one thread; the cell is only
// touched by the state exports and `restored`, never concurrently.
unsafe impl Sync for StateCell {}

impl core::fmt::Debug for StateCell {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("StateCell")
    }
}

impl StateCell {
    const fn new() -> Self {
        StateCell(UnsafeCell::new(None))
    }

    /// Replaces the contents.
    #[doc(hidden)]
    pub fn put(&self, bytes: Option<Vec<u8>>) {
        // SAFETY: single-threaded (see the `Sync` impl); no reference into
        // the cell outlives this call.
        unsafe { *self.0.get() = bytes }
    }

    /// Takes the contents.
    fn take(&self) -> Option<Vec<u8>> {
        // SAFETY: as in `put`.
        unsafe { (*self.0.get()).take() }
    }

    /// Pointer and length of the contents, packed as `wasmd_state_save`
    /// returns them (`0` when empty).
    #[doc(hidden)]
    pub fn packed(&self) -> i64 {
        // SAFETY: as in `put`; the bytes stay in the cell while the host
        // copies them.
        match unsafe { &*self.0.get() } {
            Some(bytes) => ((bytes.len() as u64) << 32 | bytes.as_ptr() as u32 as u64) as i64,
            None => 0,
        }
    }
}

/// The state saved for the next instance (kept alive while the host
/// copies it).
#[doc(hidden)]
pub static SAVED: StateCell = StateCell::new();

/// The state the previous instance left, until [`restored`] takes it.
#[doc(hidden)]
pub static RESTORED: StateCell = StateCell::new();

/// The state the previous instance saved, if this instance was started by
/// a reload that carried state (taken: a second call gives `None`).
pub fn restored() -> Option<Vec<u8>> {
    RESTORED.take()
}

/// Copies the state the host placed at `ptr..ptr+len` (called by the
/// `wasmd_state_load` export [`state!`](crate::state) defines).
#[doc(hidden)]
pub fn load(ptr: u32, len: u32) {
    // SAFETY: the host placed `len` bytes at `ptr` in this instance's
    // memory just before the call (see `wasmd_abi::hostcall`).
    let bytes = unsafe { core::slice::from_raw_parts(ptr as usize as *const u8, len as usize) };
    RESTORED.put(Some(bytes.to_vec()));
}

/// Exports the hot-reload state functions: `wasmd_state_save`, which
/// calls `$save` (a `fn() -> Vec<u8>`) for the bytes to hand to the next
/// instance, and `wasmd_state_load`, which keeps the bytes the previous
/// instance saved for [`restored`].
#[macro_export]
macro_rules! state {
    ($save:path) => {
        #[no_mangle]
        pub extern "C" fn wasmd_state_save() -> i64 {
            $crate::reload::SAVED.put(Some($save()));
            $crate::reload::SAVED.packed()
        }

        #[no_mangle]
        pub extern "C" fn wasmd_state_load(ptr: u32, len: u32) {
            $crate::reload::load(ptr, len)
        }
    };
}
