//! What the raw guests (`wasi_hostile`, `wasi_caps`) share: the
//! `wasi_snapshot_preview1` imports they call directly, declared here with
//! every pointer as a plain `u32` address so that a caller can pass
//! addresses outside its memory, and a few WASI constants.
//!
//! The imports are declared `safe`: the host checks every address against
//! the guest's memory and answers a bad one with an errno (`EFAULT`), so no
//! argument can make a call corrupt anything but the buffers it is given.
//! The signatures match wasi-libc's (which std links), as the linker
//! requires of two imports of one name.

/// The imports, in WASI's own names.
pub mod raw {
    #[link(wasm_import_module = "wasi_snapshot_preview1")]
    unsafe extern "C" {
        pub safe fn args_get(argv: u32, argv_buf: u32) -> i32;
        pub safe fn args_sizes_get(argc: u32, argv_buf_size: u32) -> i32;
        pub safe fn environ_get(environ: u32, environ_buf: u32) -> i32;
        pub safe fn environ_sizes_get(count: u32, buf_size: u32) -> i32;
        pub safe fn clock_res_get(id: u32, resolution: u32) -> i32;
        pub safe fn clock_time_get(id: u32, precision: u64, time: u32) -> i32;
        pub safe fn fd_close(fd: u32) -> i32;
        pub safe fn fd_fdstat_get(fd: u32, stat: u32) -> i32;
        pub safe fn fd_prestat_get(fd: u32, prestat: u32) -> i32;
        pub safe fn fd_prestat_dir_name(fd: u32, path: u32, path_len: u32) -> i32;
        pub safe fn fd_read(fd: u32, iovs: u32, iovs_len: u32, nread: u32) -> i32;
        pub safe fn fd_readdir(fd: u32, buf: u32, buf_len: u32, cookie: u64, bufused: u32) -> i32;
        pub safe fn fd_write(fd: u32, iovs: u32, iovs_len: u32, nwritten: u32) -> i32;
        pub safe fn path_open(
            fd: u32,
            dirflags: u32,
            path: u32,
            path_len: u32,
            oflags: u32,
            rights_base: u64,
            rights_inheriting: u64,
            fdflags: u32,
            opened: u32,
        ) -> i32;
        pub safe fn path_filestat_get(fd: u32, flags: u32, path: u32, path_len: u32, stat: u32) -> i32;
        pub safe fn poll_oneoff(subscriptions: u32, events: u32, nsubscriptions: u32, nevents: u32) -> i32;
        pub safe fn random_get(buf: u32, buf_len: u32) -> i32;
    }
}

/// `CLOCK_REALTIME`.
pub const CLOCK_REALTIME: u32 = 0;
/// `CLOCK_MONOTONIC`.
pub const CLOCK_MONOTONIC: u32 = 1;
/// `EVENTTYPE_CLOCK`, the tag of a clock subscription.
pub const EVENTTYPE_CLOCK: u8 = 0;
/// Size of a `subscription` record.
pub const SUBSCRIPTION_SIZE: usize = 48;
/// Size of an `event` record.
pub const EVENT_SIZE: usize = 32;
/// The rights `fd_read` and `fd_seek`: enough to read a file.
pub const RIGHTS_READ: u64 = (1 << 1) | (1 << 2);

/// The guest address of `value`.
pub fn addr<T: ?Sized>(value: &T) -> u32 {
    value as *const T as *const u8 as usize as u32
}

/// The guest address of `value`, for buffers the host writes into.
pub fn addr_mut<T: ?Sized>(value: &mut T) -> u32 {
    value as *mut T as *mut u8 as usize as u32
}

/// The first address past the end of linear memory (it moves when memory
/// grows, so take it just before use).
pub fn memory_end() -> u32 {
    let bytes = core::arch::wasm32::memory_size(0) as u64 * 65536;
    bytes.min(u64::from(u32::MAX)) as u32
}

/// A clock subscription: wake after `timeout_ns` of `CLOCK_MONOTONIC`.
pub fn clock_subscription(userdata: u64, timeout_ns: u64) -> [u8; SUBSCRIPTION_SIZE] {
    let mut sub = [0u8; SUBSCRIPTION_SIZE];
    sub[0..8].copy_from_slice(&userdata.to_le_bytes());
    sub[8] = EVENTTYPE_CLOCK;
    sub[16..20].copy_from_slice(&CLOCK_MONOTONIC.to_le_bytes());
    sub[24..32].copy_from_slice(&timeout_ns.to_le_bytes());
    sub[32..40].copy_from_slice(&1000u64.to_le_bytes());
    sub
}
