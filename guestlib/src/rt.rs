//! Runtime glue: the entry point, the global allocator and the panic
//! handler.
//!
//! `wasmd_guest::main!(my_main)` exports `_start`, which calls `my_main`
//! and exits with the code its result maps to ([`Termination`]). A panic
//! prints `panicked at FILE:LINE: MESSAGE` to stderr (formatted on the
//! stack, so it works when memory is exhausted) and exits with code 101.

use crate::io::{StackWriter, Stream};
use crate::process;
use core::fmt::Write;

/// What `main` may return, and the exit code it maps to.
pub trait Termination {
    /// The process exit code for this value.
    fn report(self) -> i32;
}

impl Termination for () {
    fn report(self) -> i32 {
        0
    }
}

impl Termination for i32 {
    fn report(self) -> i32 {
        self
    }
}

impl<E: core::fmt::Display> Termination for Result<(), E> {
    fn report(self) -> i32 {
        match self {
            Ok(()) => 0,
            Err(e) => {
                crate::eprintln!("error: {e}");
                1
            }
        }
    }
}

/// Runs a guest's main function and exits with its code. Called by the
/// `_start` that [`crate::main!`] generates.
#[doc(hidden)]
pub fn run_main<T: Termination>(main: fn() -> T) -> ! {
    let code = main().report();
    process::exit(code)
}

/// Defines the guest entry point `_start`, which runs the given function.
///
/// ```ignore
/// wasmd_guest::main!(main);
/// fn main() { wasmd_guest::println!("hi"); }
/// ```
#[macro_export]
macro_rules! main {
    ($main:path) => {
        #[no_mangle]
        pub extern "C" fn _start() {
            $crate::rt::run_main($main)
        }
    };
}

#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOCATOR: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;

#[cfg(all(target_arch = "wasm32", not(test)))]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    report_panic(info);
    process::exit(101)
}

/// Writes a panic report to stderr without allocating.
#[allow(dead_code)]
pub(crate) fn report_panic(info: &core::panic::PanicInfo<'_>) {
    let mut w = StackWriter::<512>::new();
    let _ = match info.location() {
        Some(loc) => writeln!(w, "panicked at {}:{}: {}", loc.file(), loc.line(), info.message()),
        None => writeln!(w, "panicked: {}", info.message()),
    };
    let _ = crate::io::write(Stream::Stderr, w.as_bytes());
}
