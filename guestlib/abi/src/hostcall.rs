//! The hostcalls, byte for byte.
//!
//! Every hostcall is a function imported from the wasm module `"wasmd"`.
//! Pointers (`ptr`) and lengths (`len`, `cap`) are `i32` holding unsigned
//! 32-bit offsets into the guest's exported memory `"memory"`. Each call
//! returns an `i64`: `>= 0` is success, `< 0` is `-errno` ([`crate::errno`]).
//! A range `ptr..ptr+len` that is not inside the guest's memory gives
//! `-EFAULT`; nothing is read or written then.
//!
//! A module's memories are provided by wasmd: it may define them, or
//! import memory 0 as `"env" "memory"` (as C toolchains name it) or
//! `"wasmd" "memory"` with any type; other memory imports are refused at
//! load like unknown functions. Up to 8 memories (multi-memory); the
//! hostcalls see the one exported as `"memory"`, and region windows go
//! into memory 0.
//!
//! Calls marked **blocking** park the calling process in the scheduler
//! until the result is ready; other processes keep running. Calls marked
//! **sized reply** write a postcard payload into `buf` only if it fits in
//! `cap` bytes and always return the payload's length, so a guest can call
//! once with `cap = 0` to learn the size.
//!
//! | name | wasm signature | capability | returns |
//! |---|---|---|---|
//! | `exit` | `(code: i32) -> i64` | — | never returns; the process exits with `code` |
//! | `write` | `(stream: i32, ptr: i32, len: i32) -> i64` | `STDIO` | `len`; `stream` is [`STDOUT`] or [`STDERR`], else `-EBADF` |
//! | `args` | `(buf: i32, cap: i32) -> i64` | — | sized reply: postcard `Vec<&str>` of the process arguments |
//! | `clock` | `(clock: i32) -> i64` | `TIME` | nanoseconds; `clock` is [`CLOCK_MONOTONIC`] (since the daemon started) or [`CLOCK_REALTIME`] (since 1970), else `-EINVAL` |
//! | `sleep` | `(nanos: i64) -> i64` | `TIME` | blocking; `0` after at least `nanos` ns; negative `nanos` is `-EINVAL` |
//! | `yield` | `() -> i64` | — | `0`; the process goes to the back of the run queue |
//! | `random` | `(ptr: i32, len: i32) -> i64` | `RANDOM` | `len`; fills the range with OS random bytes |
//! | `spawn` | `(req: i32, len: i32) -> i64` | `SPAWN` | blocking when the module must be loaded or compiled; the child's pid. `req` holds a postcard [`crate::msg::SpawnRequest`] |
//! | `wait` | `(pid: i32, buf: i32, cap: i32) -> i64` | — | blocking; waits for child `pid` (or any child when `pid == 0`) to end, writes its postcard [`crate::msg::ExitStatus`] to `buf` (`cap` must be at least [`crate::msg::EXIT_STATUS_MAX_LEN`], or `buf == 0` to discard it), returns the child's pid. Not a child: `-ECHILD` |
//! | `kill` | `(pid: i32) -> i64` | — (`PROC` outside one's own tree) | `0`; the process ends with status `Killed`. Killing oneself does not return |
//! | `getpid` | `() -> i64` | — | the caller's pid |
//! | `process_info` | `(pid: i32, buf: i32, cap: i32) -> i64` | — (`PROC` outside one's own tree) | sized reply: postcard [`crate::msg::ProcessInfo`]; `pid == 0` means the caller |
//! | `cap_check` | `(caps: i64) -> i64` | — | `0` when the caller holds every capability bit in `caps`, else `-EPERM` |
//! | `module_open` | `(path: i32, len: i32) -> i64` | `SPAWN` | blocking unless the module is cached; a module handle (rights `READ`, `GRANT`) to the compiled module at `path` (UTF-8, at most [`MAX_PATH_LEN`] bytes), loaded as `spawn` loads a path (`-ENOENT`, `-EACCES`, `-ENOEXEC` likewise). `spawn` with [`crate::msg::ModuleSource::Handle`] starts it reading and hashing nothing. At most [`MAX_MODULE_HANDLES`] module handles at once, and within the handle limit (`-EMFILE`); each counts four times its module's size against the owner's memory budget while held (`-ENOMEM`); `fs_close` closes one |
//! | `module_load` | `(ptr: i32, len: i32) -> i64` | `SPAWN` | as `module_open`, for the module of these bytes (binary wasm or WAT text) |
//!
//!
//! ## Hot reload
//!
//! `reload` replaces the module a live process runs, keeping its pid and
//! everything it holds: handles (regions, files, sockets, schemes it
//! serves, process handles), its mailbox and queued messages and notices,
//! links, monitors, registered names, parent and children, logs, limits
//! and the fuel it used. The new instance starts at `_start` with fresh
//! linear memory (within the same limits) and the same arguments.
//!
//! | name | wasm signature | capability | returns |
//! |---|---|---|---|
//! | `reload` | `(pid: i32, path: i32, len: i32, flags: i32) -> i64` | `SPAWN`; `pid` must be a descendant of the caller (`-EPERM`; `PROC` does not widen this: the new code runs with `pid`'s capabilities and grants) | blocking; `0` once the new instance has taken over. `path` (UTF-8, at most [`MAX_PATH_LEN`] bytes, else `-E2BIG`) is loaded as `spawn` loads a path. `-EINVAL` for the caller itself or unknown `flags`; `-ESRCH` if `pid` is not live (or ends before the reload took effect); `-ENOENT`/`-ENOEXEC` for a module that cannot be loaded or has no `_start`; `-ENOMEM` when the new instance (with the state) does not fit the process's memory limit; `-ECANCELED` when `wasmd_state_save` or `wasmd_state_load` trapped; `-EBUSY` when another reload of `pid` is under way, or with [`RELOAD_NOWAIT`] when `pid` is parked in a blocking call. On any error the old instance runs on untouched |
//!
//! *When.* The reload takes effect at the process's next safe point: at
//! once when it has not run yet, when it is parked in `receive` or
//! `scheme_next` (the wait is withdrawn; a message or request not yet
//! taken stays queued for the new instance), or when it was preempted and
//! does not export `wasmd_state_save`; otherwise at its next hostcall
//! that enters the manager (that call is not carried out). So a process
//! parked in any other blocking call (`sleep`, `wait`, `region_wait`,
//! file and socket calls, `send` to a full mailbox, `spawn`) first sees
//! that call return; with [`RELOAD_NOWAIT`] the reload is refused instead
//! (`-EBUSY`).
//!
//! *State.* If the old instance exports [`STATE_SAVE`]
//! (`() -> (i32, i32)`, or `() -> i64` with the pointer in the low 32 bits
//! and the length in the high 32 bits), it is called first; the bytes it
//! names are copied out. If they are not empty and the new instance
//! exports [`STATE_LOAD`] (`(ptr: i32, len: i32) -> ()`), its memory grows
//! by enough 64 KiB pages to hold them, they are written at the start of
//! the first new page (`ptr`), and `wasmd_state_load(ptr, len)` is called
//! after the new instance's start function and before `_start`; the pages
//! are the guest's to reuse afterwards. Without either export the new
//! instance starts fresh. Both run to completion with at most
//! `wasmd::STATE_FUEL` fuel each (20,000,000, and within the process's
//! fuel budget); a hostcall that would block fails them. Requests of a
//! scheme the process serves that the old instance took and never
//! answered fail with `-EIO` unless state was handed over (the new
//! instance may then answer them by tag).
//!
//! ## Regions
//!
//! Shared-memory regions (capability `SHM` for alloc, share and attach;
//! the other calls need only a handle with the right [`crate::Rights`]).
//! `h` is a region handle, `off` a byte offset into the region (`i64`,
//! unsigned). A range outside the region is `-ERANGE`; an unaligned
//! atomic is `-EINVAL`; a handle without the needed right is `-EPERM`;
//! an unknown handle is `-EBADF`. 64-bit results are written little
//! endian to an 8-byte guest out-pointer `out`. Atomics are sequentially
//! consistent.
//!
//! | name | wasm signature | right | returns |
//! |---|---|---|---|
//! | `region_alloc` | `(size: i64) -> i64` | — | blocking; a handle with all rights to a new zeroed region of `size` bytes rounded up to 64 KiB pages (at most 1 GiB); `-ENOSPC` past the process's or the daemon's region limits |
//! | `region_share` | `(h: i32, pid: i32, rights: i32) -> i64` | `SHARE` | the region's id; `pid` may now attach it once with `rights` (a subset of the handle's). `pid` must be the caller, an ancestor or a descendant unless the caller holds `PROC` (`-EPERM`). Until attached, the region counts against `pid`'s region bytes; `-ENOSPC` past them, or when `pid` has 64 shares pending, 16 from this sender or 48 from senders other than its parent |
//! | `region_attach` | `(id: i64) -> i64` | — | a handle to a region shared with the caller; `-ENOENT` if none |
//! | `region_detach` | `(h: i32) -> i64` | — | `0`; the handle is gone (the region lives while any holder remains) |
//! | `region_size` | `(h: i32) -> i64` | — | size in bytes |
//! | `region_id` | `(h: i32) -> i64` | — | the region's global id (what `region_attach` takes) |
//! | `region_read` | `(h: i32, off: i64, ptr: i32, len: i32) -> i64` | `READ` | `len`; copies region bytes into guest memory (see *publish semantics*) |
//! | `region_read2` | `(h: i32, off_a: i64, ptr_a: i32, len_a: i32, off_b: i64, ptr_b: i32, len_b: i32) -> i64` | `READ` | `len_a + len_b`; `region_read` of range A, then of range B, in one call (each with publish semantics; A is read first). Every range is checked before anything is copied |
//! | `region_write` | `(h: i32, off: i64, ptr: i32, len: i32) -> i64` | `WRITE` | `len`; copies guest bytes into the region (see *publish semantics*) |
//! | `region_write2` | `(h: i32, off: i64, head: i32, head_len: i32, body: i32, body_len: i32) -> i64` | `WRITE` | `head_len + body_len`; copies the two guest ranges back to back into the region at `off`, as `region_write` of their concatenation would (publish semantics when `off` is a multiple of 8 and `head_len >= 8`) — a framed record without staging it in one buffer first |
//! | `region_load32` | `(h: i32, off: i64) -> i64` | `READ` | the `u32` at `off` |
//! | `region_store32` | `(h: i32, off: i64, v: i32) -> i64` | `WRITE` | `0` |
//! | `region_fetch_add32` | `(h: i32, off: i64, v: i32) -> i64` | `WRITE` | the previous `u32` (wrapping add) |
//! | `region_cas32` | `(h: i32, off: i64, expected: i32, new: i32) -> i64` | `WRITE` | the previous `u32`; the swap happened iff it equals `expected` |
//! | `region_load64` | `(h: i32, off: i64, out: i32) -> i64` | `READ` | `0`; the `u64` at `off` is written to `out` |
//! | `region_store64` | `(h: i32, off: i64, v: i64) -> i64` | `WRITE` | `0` |
//! | `region_fetch_add64` | `(h: i32, off: i64, v: i64, out: i32) -> i64` | `WRITE` | `0`; the previous `u64` is written to `out` |
//! | `region_cas64` | `(h: i32, off: i64, expected: i64, new: i64, out: i32) -> i64` | `WRITE` | `0`; the previous `u64` is written to `out` |
//! | `region_wait` | `(h: i32, off: i64, expected: i32, timeout_ns: i64) -> i64` | `READ` | blocking; `-EAGAIN` at once if the `u32` at `off` is not `expected`, else parks until `region_notify` on the same region and offset (`0`) or the timeout (`-ETIMEDOUT`; a negative timeout waits for ever); with several scheduler threads it may first spin for up to 20 µs and return `0` as soon as the value changes, so, as with any futex, a waiter re-checks its condition after `0` |
//! | `region_notify` | `(h: i32, off: i64, count: i32) -> i64` | `READ` | wakes up to `count` waiters of that offset; returns how many |
//! | `region_map` | `(h: i32, off: i64, len: i64, ptr: i32) -> i64` | `READ` and `WRITE` | `0`; a *window*: the region's bytes `off..off + len` appear at `ptr..ptr + len` of the caller's memory 0, shared, with no copy (see *Windows*) |
//! | `region_unmap` | `(ptr: i32) -> i64` | — | `0`; the window at `ptr` is gone and its memory reads as zeros again; `-EINVAL` if no window starts at `ptr` |
//!
//! *Windows*: `off`, `len` and `ptr` must be multiples of [`WINDOW_ALIGN`]
//! (64 KiB, a wasm page; `-EINVAL`); `ptr..ptr + len` must lie in memory
//! 0 (`-EFAULT`) and be memory the guest does not use: every byte zero,
//! as in pages it just grew with `memory.grow` (else `-EBUSY`, also when
//! another window is there); `off..off + len` must lie in the region
//! (`-ERANGE`). A handle with only `READ` cannot have a window (`-EPERM`:
//! it keeps the copying calls). At most [`MAX_WINDOWS`] at once per
//! process, and 16,384 in the whole daemon (`-ENOSPC`). Without OS
//! support — a platform that cannot map memory into guests, or a memory
//! wasmd could not place in its arena — `-EOPNOTSUPP`. A call costs fuel
//! as a copy of `len` bytes does (the range is read to check it is
//! unused), whatever its result. Loads, stores, `memory.copy` and the atomic calls all
//! see the same bytes as every other holder and native programs mapping
//! `shm/ID`; plain loads and stores are not atomic with respect to other
//! holders. Detaching the handle, and the process's end however it comes
//! (exit, trap, kill), unmap its windows.
//!
//! *Publish semantics*: when `off` is a multiple of 8 and `len >= 8`,
//! `region_write` stores the first 8 bytes last, as one atomic store, and
//! `region_read` loads the first 8 bytes first, as one atomic load. A
//! writer can thus publish a whole record (a header word followed by data)
//! with one call, and a reader that sees the header word sees the data.
//!
//! ## Mailboxes, links and monitors
//!
//! See [`crate::mailbox`] for the message layout, the bounds and what
//! notices mean. `h` is a process handle (rights: [`crate::Rights::WRITE`]
//! to send to it, [`crate::Rights::GRANT`] to pass it on in a message).
//! Linking to or monitoring a process outside the caller's tree (the
//! processes spawned under the same top-level process) needs `PROC`
//! (`-EPERM`).
//!
//! | name | wasm signature | capability | returns |
//! |---|---|---|---|
//! | `process_handle` | `(pid: i32) -> i64` | — (`PROC` beyond the caller, its ancestors and descendants) | a process handle to `pid` (0: the caller) with all rights; `-ESRCH` if it is not live. A stand-in's pid gives a handle that sends to another node (*Processes of other nodes*) |
//! | `send` | `(h: i32, tag: i64, ptr: i32, len: i32, handles: i32, nhandles: i32, flags: i32) -> i64` | right `WRITE` | `0` once the message is queued; blocking when the mailbox is full, unless `flags` has [`crate::mailbox::SEND_NOWAIT`] (`-EAGAIN`). `handles` points at `nhandles` (at most 4, else `-E2BIG`) `u32` process handles of the caller, each with `GRANT` (`-EPERM`); the receiver gets its own copies with the same rights. The process gone: `-ESRCH`; a tag from [`crate::mailbox::NOTICE_BASE`] up: `-EINVAL`; `len` above [`crate::mailbox::MAX_MESSAGE_LEN`]: `-E2BIG` |
//! | `receive` | `(filter: i32, nfilter: i32, buf: i32, cap: i32, timeout_ns: i64) -> i64` | — | blocking; takes the oldest queued message whose tag is one of the `nfilter` (at most 16, else `-E2BIG`) `u64` tags at `filter` (`nfilter == 0`: any tag), writes it to `buf` (header, handle entries, payload) and returns its length. `cap` below 24 is `-EINVAL`; a message longer than `cap` stays queued, its header is written and the call returns `-ERANGE`. `timeout_ns < 0` waits for ever; `0` returns `-EAGAIN` at once when nothing matches; else `-ETIMEDOUT` after that long. A message whose handles do not fit in the caller's table stays queued: `-EMFILE` |
//! | `link` | `(pid: i32) -> i64` | — (`PROC` outside the tree) | `0`; a bidirectional link (again: no change); `-ESRCH` if `pid` is not live; `-EINVAL` for the caller itself; `-ENOSPC` past [`crate::mailbox::MAX_WATCHES`] |
//! | `unlink` | `(pid: i32) -> i64` | — | `0`, linked or not |
//! | `monitor` | `(pid: i32) -> i64` | — (`PROC` outside the tree) | a monitor reference (> 0); a process already ended gives its down notice at once (with its status while it is still known, else none); `-ENOSPC` past [`crate::mailbox::MAX_WATCHES`] |
//! | `demonitor` | `(reference: i64) -> i64` | — | `0`; the monitor is gone and a down notice of it still queued is removed; `-ENOENT` for a reference the caller does not hold and has no notice of |
//! | `trap_exit` | `(on: i32) -> i64` | — | the previous setting (0 or 1); while on, a linked process's end gives an exit notice instead of killing the caller |
//! | `name_register` | `(name: i32, len: i32) -> i64` | — | `0`; the caller is registered as `name` (1–64 of `[a-z0-9._-]`, `-EINVAL`) until it ends or unregisters; `-EEXIST` while another live process holds it (in a cluster: on any node, as far as this node has heard); at most 16 names per process (`-ENOSPC`). `/scheme/wasm/name/NAME` shows it |
//! | `name_unregister` | `(name: i32, len: i32) -> i64` | — | `0`; `-ENOENT` if the caller does not hold `name` |
//! | `name_lookup` | `(name: i32, len: i32, pid_out: i32) -> i64` | — (`PROC` outside the tree) | a process handle (all rights) to the process registered as `name`, its pid written as a `u32` to the 4 bytes at `pid_out` (unless `pid_out` is 0); in a cluster, with `PROC`, a name held on another node gives a handle that sends there (`WRITE` only) and its stand-in pid (see *Processes of other nodes*); `-ENOENT` if none (or it is outside the caller's tree without `PROC`) |
//! | `name_whereis` | `(name: i32, len: i32) -> i64` | — (`PROC` outside the tree, and for a name held on another node) | the pid of the process registered as `name`: a local one, or in a cluster the stand-in of the process of another node that holds it (see *Processes of other nodes*; kept while the caller lives); `-ENOENT` if none (or the caller may not see it) |
//! | `spawn_with` | `(req: i32, len: i32, flags: i32, out: i32) -> i64` | `SPAWN` | `spawn`, and before the child runs: linked to the caller with [`crate::mailbox::SPAWN_LINK`], monitored with [`crate::mailbox::SPAWN_MONITOR`] (the reference is written as a `u64` to the 8 bytes at `out`; `out` is ignored without it) |
//!
//! ## Processes of other nodes
//!
//! A daemon may be a node of a cluster (`wasmd daemon --nats URL`). Pids
//! from [`REMOTE_PID_BASE`] up never name a local process: each stands
//! for one process of another node, for as long as this node has a link,
//! a monitor or a spawn of it (the same remote process keeps the same
//! pid meanwhile). A guest gets one from `spawn_on`, `name_whereis` or
//! `name_lookup`, or as the `from` of a notice or of a message sent from
//! another node.
//!
//! | name | wasm signature | capability | returns |
//! |---|---|---|---|
//! | `spawn_on` | `(node: i32, node_len: i32, req: i32, len: i32, flags: i32, out: i32) -> i64` | `SPAWN` | blocking until the other node answered; `spawn_with` on the node named by the UTF-8 at `node..node+node_len`: the pid standing for the child there. The module must be a path (resolved here against the caller's module as `spawn` does, then loaded there from that absolute path) or a module handle (its file's path); bytes and `grants` are `-EINVAL`. `caps` and `limits` are checked against the caller's here (`-EPERM`); the other node then spawns for its *remote user* under its own policy (its refusal's errno comes back, e.g. `-EACCES`). The program name is the module's file stem there. `namespace: None` passes the caller's grants. An unknown node or one not alive: `-ENOENT`; no answer within the cluster's request timeout: `-ETIMEDOUT`; this daemon in no cluster: `-EOPNOTSUPP` |
//! | `chan_bridge` | `(h: i32, node: i32, node_len: i32, chan: i64) -> i64` | right `READ` on `h` | blocking until the other node answered: `0` once the channel in region `h` is bridged into channel `chan` (its `chan/ID`) of the node named by the UTF-8 at `node..node+node_len`, as a `bridge` file of the control tree does for the caller's owner (the caller's owner must control the region's channel: `-EACCES`): from the call on, the channel has a strong reader here (its writers wait for the bridge), and the other node's channel was opened for writing by that node's remote user under its policy (its refusal's errno comes back, e.g. `-EACCES`, `-ENOENT`). The frames then move, with their writers, in order per writer, with `Park` as bounded credit, until the stream here ends, or the caller ends: then what the channel holds is still sent, and the bridge ends (so a channel nobody writes any more holds no bridge for ever). Not a region handle: `-EBADF`; an unknown node or one not alive: `-ENOENT`; 64 bridges of the caller alive already, or 1,024 of all guests: `-EBUSY`; this daemon in no cluster: `-EOPNOTSUPP` |
//!
//! On such a pid, `link`, `unlink`, `monitor` and `demonitor` work as on
//! a local one, without waiting for the network: the other node sets up
//! its side when the message reaches it. They need `PROC`, except on a
//! child the caller spawned with `spawn_on` (as `kill` does: `-EPERM`);
//! the other node accepts them for processes owned by its remote user
//! (those spawned for other nodes), and a link or monitor it does not
//! accept, or to a process no longer live, ends as `ExitStatus::NoProcess`
//! (a down notice with no status for a monitor). `kill` sends the kill
//! and returns `0`. When the remote process ends, its linked and
//! monitoring processes here get the same notices (or end) as for a local
//! process; when its node leaves the cluster (no heartbeat within the
//! node timeout), each gets them with `ExitStatus::NoConnection` (as
//! does a link or monitor made later of a process of a node not there). In the
//! other direction, a local process's end reaches the remote processes
//! linked to it, and a node that leaves ends the links to its processes
//! here with `NoConnection` too. A stand-in is an `i32` argument
//! below 0 for the calls that take pids: `wait`, `process_info`,
//! `region_share` and `reload` take local pids only (a stand-in is
//! `-EINVAL` or `-ESRCH` there).
//!
//! **Messages across nodes.** `process_handle` of a stand-in (with
//! `PROC`, or one the caller holds: its `spawn_on` child, a name it
//! found, the sender of a message it got) gives a handle with `WRITE`
//! only, that sends to that process on its node. `send` through it
//! copies the message out and returns `0` at once; it never parks (at
//! most [`MAX_QUEUED_SENDS`] messages of this node wait to leave, beyond
//! that `-EAGAIN`), and `nhandles` must be 0 (handles do not cross nodes:
//! `-EINVAL`). The other node queues the message in the receiver's
//! mailbox, from the sender's stand-in there (so `process_handle(from)`
//! answers it) — when the receiver is live, its mailbox has room, and it
//! is owned by that node's remote user or holds the sender's stand-in
//! (it spawned the sender, found its name or got a message from it: an
//! answer reaches whoever asked); otherwise the message is
//! dropped there (counted in its `stats`, `messages_dropped_from_nodes`).
//! Delivery is at most once: the messages of one sender to one receiver
//! arrive in the order sent while both nodes see each other, and before
//! the notice of the sender's end. A reply or a monitor tells a sender
//! what became of its message.
//!
//! ## Scheme providers
//!
//! A guest with capability `SCHEME` implements a scheme: it registers a
//! name and then loops on `scheme_next`/`scheme_reply`. Requests and
//! replies are postcard [`crate::scheme::SchemeRequest`] and
//! [`crate::scheme::SchemeReply`]. When the provider exits, traps or is
//! killed, its schemes go away and their pending requests fail with
//! `-EIO`.
//!
//! | name | wasm signature | capability | returns |
//! |---|---|---|---|
//! | `scheme_register` | `(name: i32, len: i32) -> i64` | `SCHEME` | a scheme handle; the name is 1–64 of `[a-z0-9._-]` (`-EINVAL`), not taken nor reserved (`-EEXIST`) |
//! | `scheme_next` | `(h: i32, buf: i32, cap: i32) -> i64` | — | blocking; sized reply: the next request's length, written to `buf` if it fits (else it stays queued: call again with a bigger buffer) |
//! | `scheme_reply` | `(h: i32, ptr: i32, len: i32) -> i64` | — | `0`; `-EINVAL` for an undecodable reply, `-ENOENT` for a tag not in flight |
//! | `scheme_unregister` | `(h: i32) -> i64` | — | `0`; the scheme goes away (pending requests fail with `-EIO`) |
//!
//! ## Files and sockets
//!
//! Paths are `SCHEME:REST` (`/scheme/SCHEME/REST` and `/REST`, meaning
//! `file:/REST`, are accepted too). Each is checked against the process's
//! namespace grants (`SCHEME:PREFIX[=ro|rw]`, given at spawn; see the
//! `wasmd::namespace` docs): no grant is `-EACCES`, climbing above the
//! root with `..` is `-EACCES`, writing under a read-only grant is
//! `-EACCES`. A path in a guest-implemented scheme goes to its provider;
//! other schemes go to the OS (on Linux: `file:` inside the daemon's file
//! root, `tcp:` and `udp:` to real sockets; on Redox: the real
//! `/scheme/...`). In a cluster, the scheme `node` is other nodes' trees:
//! `node:NAME/PATH` is `PATH` of node `NAME`'s `wasm` tree (for example
//! `node:b/scheme/ramfs/notes.txt`, a guest scheme of node b), opened
//! there for that node's remote user; open, read, write, `fs_getdents`,
//! `fs_ftruncate`, `fs_fsync`, `fs_unlink` and close work, `fs_fstat`
//! gives a file of size 0, other calls are `-EOPNOTSUPP`, and a node that leaves fails what waits on it with
//! `-EIO` (no guest may register `node`). Every call here is blocking: it parks only the caller.
//! Flags are Redox `O_*` values ([`crate::scheme::flags`]).
//!
//! | name | wasm signature | returns |
//! |---|---|---|
//! | `fs_open` | `(path: i32, len: i32, flags: i32) -> i64` | a file handle |
//! | `fs_read` | `(h: i32, buf: i32, len: i32) -> i64` | bytes read at the handle's position, which advances (0 at the end); at most 1 MiB |
//! | `fs_write` | `(h: i32, ptr: i32, len: i32) -> i64` | bytes written at the position, which advances |
//! | `fs_seek` | `(h: i32, offset: i64, whence: i32) -> i64` | the new position; `whence` 0 set, 1 current, 2 end |
//! | `fs_close` | `(h: i32) -> i64` | `0`; closes a file, socket, process or module handle |
//! | `fs_fstat` | `(h: i32, buf: i32, cap: i32) -> i64` | the length of the postcard [`crate::scheme::Stat`] written to `buf` (`-ERANGE` if it does not fit) |
//! | `fs_getdents` | `(h: i32, buf: i32, cap: i32) -> i64` | the number of entries written to `buf` as a postcard `Vec<`[`crate::scheme::DirEntry`]`>` (as many as fit, continuing where the last call stopped; 0 at the end) |
//! | `fs_unlink` | `(path: i32, len: i32) -> i64` | `0` |
//! | `fs_mkdir` | `(path: i32, len: i32) -> i64` | `0` |
//! | `net_connect` | `(addr: i32, len: i32) -> i64` | a connected socket handle; `addr` is `tcp:HOST:PORT` or `udp:HOST:PORT` |
//! | `net_listen` | `(addr: i32, len: i32) -> i64` | a listening TCP socket or a bound UDP socket (port 0 picks one) |
//! | `net_accept` | `(h: i32) -> i64` | a connected socket handle |
//! | `net_send` | `(h: i32, ptr: i32, len: i32) -> i64` | bytes sent |
//! | `net_recv` | `(h: i32, buf: i32, len: i32) -> i64` | bytes received (0 at the end of a stream) |
//!
//! The entry point is the exported function `_start` with no parameters
//! and no results; returning from it is `exit(0)`. A module without
//! `_start` cannot be spawned (`-ENOEXEC`).
//!
//! When a spawn makes the child's instance: the first spawn of a module
//! makes it before `spawn` returns, so what is wrong with the module
//! itself (an import wasmd does not provide or of another type, no
//! `_start`, a segment that does not fit) fails that spawn
//! (`-ENOEXEC`), and a start function that traps or exits, or initial
//! memory beyond the child's limit, is the child's exit status. Once a
//! module was instantiated, `spawn` returns before the child's instance
//! is made: the child's first turn makes it, on whichever worker runs
//! it, and `process_info` shows it ready with 0 memory pages until then.
//! Its start function and memory limit end it as before; should its
//! owner's memory budget run out between the spawn and that first turn
//! (`spawn` checks the budget holds its initial memory), it ends
//! trapped with a message starting `cannot start: `.

/// Import module of every hostcall.
pub const MODULE: &str = "wasmd";
/// Name of the entry point a guest exports.
pub const ENTRY: &str = "_start";
/// Name of the memory a guest exports.
pub const MEMORY: &str = "memory";

/// `write` stream: standard output.
pub const STDOUT: i32 = 1;
/// `write` stream: standard error.
pub const STDERR: i32 = 2;

/// `clock` id: monotonic nanoseconds since the daemon started.
pub const CLOCK_MONOTONIC: i32 = 0;
/// `clock` id: nanoseconds since the Unix epoch.
pub const CLOCK_REALTIME: i32 = 1;

/// `reload` flag: refuse (`-EBUSY`) instead of waiting for a blocking call
/// of the process to return.
pub const RELOAD_NOWAIT: i32 = 1;
/// Most module handles (`module_open`, `module_load`) a process holds at
/// once.
pub const MAX_MODULE_HANDLES: usize = 64;
/// Region windows (`region_map`) a process may have at once.
pub const MAX_WINDOWS: usize = 64;
/// Alignment of a window's guest address, region offset and length.
pub const WINDOW_ALIGN: usize = 64 << 10;
/// Longest path `reload` and `module_open` take, in bytes.
pub const MAX_PATH_LEN: usize = 4096;
/// Pids from here up stand for processes of other nodes (see *Processes
/// of other nodes*); local pids are below it.
pub const REMOTE_PID_BASE: u32 = 0x8000_0000;

/// Most messages to processes of other nodes one daemon holds until they
/// leave (see *Processes of other nodes*).
pub const MAX_QUEUED_SENDS: usize = 1024;

/// Export a module may have for hot reload: `() -> (i32, i32)` (or `() -> i64`,
/// the pointer in the low and the length in the high 32 bits), naming the
/// bytes of state the next instance gets (see *Hot reload*).
pub const STATE_SAVE: &str = "wasmd_state_save";
/// Export a module may have for hot reload: `(ptr: i32, len: i32) -> ()`,
/// handed the state the previous instance saved (see *Hot reload*).
pub const STATE_LOAD: &str = "wasmd_state_load";

/// Names of every hostcall of this ABI version, as imported from [`MODULE`].
pub const NAMES: &[&str] = &[
    "exit",
    "write",
    "args",
    "clock",
    "sleep",
    "yield",
    "random",
    "spawn",
    "wait",
    "kill",
    "getpid",
    "process_info",
    "cap_check",
    "module_open",
    "module_load",
    "reload",
    "region_alloc",
    "region_share",
    "region_attach",
    "region_detach",
    "region_size",
    "region_id",
    "region_read",
    "region_read2",
    "region_write",
    "region_write2",
    "region_load32",
    "region_store32",
    "region_fetch_add32",
    "region_cas32",
    "region_load64",
    "region_store64",
    "region_fetch_add64",
    "region_cas64",
    "region_wait",
    "region_notify",
    "region_map",
    "region_unmap",
    "process_handle",
    "send",
    "receive",
    "link",
    "unlink",
    "monitor",
    "demonitor",
    "trap_exit",
    "spawn_with",
    "spawn_on",
    "name_register",
    "name_unregister",
    "name_lookup",
    "name_whereis",
    "scheme_register",
    "scheme_next",
    "scheme_reply",
    "scheme_unregister",
    "fs_open",
    "fs_read",
    "fs_write",
    "fs_seek",
    "fs_close",
    "fs_fstat",
    "fs_getdents",
    "fs_unlink",
    "fs_mkdir",
    "net_connect",
    "net_listen",
    "net_accept",
    "net_send",
    "net_recv",
    "chan_bridge",
];
