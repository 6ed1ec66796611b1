//! Raw hostcall imports.
//!
//! On `wasm32` these are the functions imported from module `"wasmd"`
//! (see `wasmd_abi::hostcall` for each one, byte for byte). On other
//! targets every call returns `-ENOSYS`, so the pure parts of this crate
//! (ring arithmetic, encodings) can be unit-tested on the host.

macro_rules! hostcalls {
    ($( $(#[$doc:meta])* pub fn $name:ident($($arg:ident: $ty:ty),*) -> i64; )*) => {
        #[cfg(target_arch = "wasm32")]
        #[link(wasm_import_module = "wasmd")]
        extern "C" {
            $( $(#[$doc])* pub fn $name($($arg: $ty),*) -> i64; )*
        }

        $(
            #[cfg(not(target_arch = "wasm32"))]
            $(#[$doc])*
            ///
            /// # Safety
            /// Host build: always returns `-ENOSYS`.
            pub unsafe fn $name($(_: $ty),*) -> i64 {
                -(wasmd_abi::errno::ENOSYS as i64)
            }
        )*
    };
}

hostcalls! {
    /// End the process with `code`.
    pub fn exit(code: i32) -> i64;
    /// Write `len` bytes at `ptr` to stream 1 (stdout) or 2 (stderr).
    pub fn write(stream: i32, ptr: *const u8, len: usize) -> i64;
    /// Sized reply: the postcard-encoded argument list.
    pub fn args(buf: *mut u8, cap: usize) -> i64;
    /// Nanoseconds of clock 0 (monotonic) or 1 (realtime).
    pub fn clock(clock: i32) -> i64;
    /// Park for at least `nanos` nanoseconds.
    pub fn sleep(nanos: i64) -> i64;
    /// Fill `ptr..ptr+len` with random bytes.
    pub fn random(ptr: *mut u8, len: usize) -> i64;
    /// Spawn from a postcard `SpawnRequest`; returns the pid.
    pub fn spawn(req: *const u8, len: usize) -> i64;
    /// Wait for a child (0 = any); writes its `ExitStatus`; returns its pid.
    pub fn wait(pid: i32, buf: *mut u8, cap: usize) -> i64;
    /// Kill a process.
    pub fn kill(pid: i32) -> i64;
    /// The caller's pid.
    pub fn getpid() -> i64;
    /// Sized reply: a postcard `ProcessInfo`.
    pub fn process_info(pid: i32, buf: *mut u8, cap: usize) -> i64;
    /// 0 when the caller holds every capability in `caps`, else `-EPERM`.
    pub fn cap_check(caps: i64) -> i64;
}

/// Give up the rest of this time slice (import `yield`).
#[cfg(target_arch = "wasm32")]
pub unsafe fn yield_now() -> i64 {
    #[link(wasm_import_module = "wasmd")]
    extern "C" {
        #[link_name = "yield"]
        fn wasmd_yield() -> i64;
    }
    // SAFETY: no arguments; the import is the `yield` hostcall.
    unsafe { wasmd_yield() }
}

/// Give up the rest of this time slice (host build: `-ENOSYS`).
///
/// # Safety
/// Host build: always returns `-ENOSYS`.
#[cfg(not(target_arch = "wasm32"))]
pub unsafe fn yield_now() -> i64 {
    -(wasmd_abi::errno::ENOSYS as i64)
}
