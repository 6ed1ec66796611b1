//! The process's arguments.

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use crate::process::sized_reply;
use crate::sys;

/// The arguments this process was spawned with (by convention the first
/// is the program name).
pub fn args() -> Vec<String> {
    let Ok(bytes) = sized_reply(|buf, cap| {
        // SAFETY: `buf`/`cap` describe a live, writable buffer.
        unsafe { sys::args(buf, cap) }
    }) else {
        return Vec::new();
    };
    wasmd_abi::msg::decode::<Vec<&str>>(&bytes)
        .map(|v| v.into_iter().map(ToString::to_string).collect())
        .unwrap_or_default()
}
