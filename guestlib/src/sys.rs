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
    /// New region of `size` bytes; returns a handle.
    pub fn region_alloc(size: i64) -> i64;
    /// Lets `pid` attach the region once with `rights`; returns its id.
    pub fn region_share(handle: i32, pid: i32, rights: i32) -> i64;
    /// Attaches a region shared with the caller; returns a handle.
    pub fn region_attach(id: i64) -> i64;
    /// Drops a region handle.
    pub fn region_detach(handle: i32) -> i64;
    /// Region size in bytes.
    pub fn region_size(handle: i32) -> i64;
    /// The region's global id.
    pub fn region_id(handle: i32) -> i64;
    /// Bridges the channel in a region into a channel of another node.
    pub fn chan_bridge(handle: i32, node: *const u8, node_len: usize, chan: i64) -> i64;
    /// Copies region bytes into guest memory.
    pub fn region_read(handle: i32, offset: i64, ptr: *mut u8, len: usize) -> i64;
    /// Copies two region ranges into guest memory, in order.
    pub fn region_read2(handle: i32, off_a: i64, ptr_a: *mut u8, len_a: usize, off_b: i64, ptr_b: *mut u8, len_b: usize) -> i64;
    /// Copies guest bytes into the region.
    pub fn region_write(handle: i32, offset: i64, ptr: *const u8, len: usize) -> i64;
    /// Copies two guest ranges back to back into the region.
    pub fn region_write2(handle: i32, offset: i64, head: *const u8, head_len: usize, body: *const u8, body_len: usize) -> i64;
    /// Atomic load of a `u32`.
    pub fn region_load32(handle: i32, offset: i64) -> i64;
    /// Atomic store of a `u32`.
    pub fn region_store32(handle: i32, offset: i64, value: i32) -> i64;
    /// Atomic add to a `u32`; returns the previous value.
    pub fn region_fetch_add32(handle: i32, offset: i64, value: i32) -> i64;
    /// Atomic compare-and-swap of a `u32`; returns the previous value.
    pub fn region_cas32(handle: i32, offset: i64, expected: i32, new: i32) -> i64;
    /// Atomic load of a `u64` into `*out`.
    pub fn region_load64(handle: i32, offset: i64, out: *mut u64) -> i64;
    /// Atomic store of a `u64`.
    pub fn region_store64(handle: i32, offset: i64, value: i64) -> i64;
    /// Atomic add to a `u64`; the previous value goes to `*out`.
    pub fn region_fetch_add64(handle: i32, offset: i64, value: i64, out: *mut u64) -> i64;
    /// Atomic compare-and-swap of a `u64`; the previous value goes to `*out`.
    pub fn region_cas64(handle: i32, offset: i64, expected: i64, new: i64, out: *mut u64) -> i64;
    /// Parks until notified, if the `u32` at `offset` equals `expected`.
    pub fn region_wait(handle: i32, offset: i64, expected: i32, timeout_ns: i64) -> i64;
    /// Wakes up to `count` waiters of `offset`.
    pub fn region_notify(handle: i32, offset: i64, count: i32) -> i64;
    /// Maps `len` bytes of the region from `offset` at `ptr` of memory 0.
    pub fn region_map(handle: i32, offset: i64, len: i64, ptr: i32) -> i64;
    /// Unmaps the window at `ptr`.
    pub fn region_unmap(ptr: i32) -> i64;
    /// A process handle to `pid` (0: the caller).
    pub fn process_handle(pid: i32) -> i64;
    /// Queues a message in a process's mailbox.
    pub fn send(handle: i32, tag: i64, ptr: *const u8, len: usize, handles: *const u32, nhandles: usize, flags: i32) -> i64;
    /// Takes a message the filter accepts; returns its length.
    pub fn receive(filter: *const u64, nfilter: usize, buf: *mut u8, cap: usize, timeout_ns: i64) -> i64;
    /// Links the caller with `pid`.
    pub fn link(pid: i32) -> i64;
    /// Removes a link.
    pub fn unlink(pid: i32) -> i64;
    /// Monitors `pid`; returns the reference.
    pub fn monitor(pid: i32) -> i64;
    /// Removes a monitor (and its queued notice).
    pub fn demonitor(reference: i64) -> i64;
    /// Turns trapping exits on or off; returns the old setting.
    pub fn trap_exit(on: i32) -> i64;
    /// Registers the caller under a name.
    pub fn name_register(name: *const u8, len: usize) -> i64;
    /// Removes one of the caller's names.
    pub fn name_unregister(name: *const u8, len: usize) -> i64;
    /// A process handle to whoever holds a name; its pid goes to `*pid`.
    pub fn name_lookup(name: *const u8, len: usize, pid: *mut u32) -> i64;
    /// The pid registered as `name`, here or on another node.
    pub fn name_whereis(name: *const u8, len: usize) -> i64;
    /// A module handle to the compiled module at `path`.
    pub fn module_open(path: *const u8, len: usize) -> i64;
    /// A module handle to the compiled module of these bytes.
    pub fn module_load(ptr: *const u8, len: usize) -> i64;
    /// Replaces `pid`'s module with the one at `path`, keeping its pid.
    pub fn reload(pid: i32, path: *const u8, len: usize, flags: i32) -> i64;
    /// `spawn`, linked and/or monitored; the reference goes to `*out`.
    pub fn spawn_with(req: *const u8, len: usize, flags: i32, out: *mut u64) -> i64;
    /// `spawn_with` on the cluster node named at `node`.
    pub fn spawn_on(node: *const u8, node_len: usize, req: *const u8, len: usize, flags: i32, out: *mut u64) -> i64;
    /// Registers a scheme; returns its handle.
    pub fn scheme_register(name: *const u8, len: usize) -> i64;
    /// Blocking; sized reply: the next request.
    pub fn scheme_next(handle: i32, buf: *mut u8, cap: usize) -> i64;
    /// Answers a request.
    pub fn scheme_reply(handle: i32, ptr: *const u8, len: usize) -> i64;
    /// Removes a scheme.
    pub fn scheme_unregister(handle: i32) -> i64;
    /// Opens a path; returns a file handle.
    pub fn fs_open(path: *const u8, len: usize, flags: i32) -> i64;
    /// Reads at the position.
    pub fn fs_read(handle: i32, buf: *mut u8, len: usize) -> i64;
    /// Writes at the position.
    pub fn fs_write(handle: i32, ptr: *const u8, len: usize) -> i64;
    /// Moves the position.
    pub fn fs_seek(handle: i32, offset: i64, whence: i32) -> i64;
    /// Closes a file, socket or process handle.
    pub fn fs_close(handle: i32) -> i64;
    /// Postcard `Stat` into `buf`; returns its length.
    pub fn fs_fstat(handle: i32, buf: *mut u8, cap: usize) -> i64;
    /// Postcard `Vec<DirEntry>` into `buf`; returns the entry count.
    pub fn fs_getdents(handle: i32, buf: *mut u8, cap: usize) -> i64;
    /// Removes a path.
    pub fn fs_unlink(path: *const u8, len: usize) -> i64;
    /// Creates a directory.
    pub fn fs_mkdir(path: *const u8, len: usize) -> i64;
    /// Connects a socket.
    pub fn net_connect(addr: *const u8, len: usize) -> i64;
    /// Listens (TCP) or binds (UDP).
    pub fn net_listen(addr: *const u8, len: usize) -> i64;
    /// Accepts a connection.
    pub fn net_accept(handle: i32) -> i64;
    /// Sends bytes.
    pub fn net_send(handle: i32, ptr: *const u8, len: usize) -> i64;
    /// Receives bytes.
    pub fn net_recv(handle: i32, buf: *mut u8, len: usize) -> i64;
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
