//! Processes: spawn, wait, kill, exit, identity and inspection.

use alloc::vec::Vec;
use core::cell::OnceCell;

use wasmd_abi::msg::{self, SpawnRequest, EXIT_STATUS_MAX_LEN};
pub use wasmd_abi::{Caps, ExitStatus, Grant, ModuleSource, ProcessInfo, Rights, RunState, SpawnLimits};

use crate::error::{check, Error, Result};
use crate::sys;

/// A process id.
pub type Pid = u32;

/// Ends the calling process with `code`.
pub fn exit(code: i32) -> ! {
    // SAFETY: `exit` takes a plain integer and does not return.
    unsafe {
        sys::exit(code);
    }
    // Only reachable on a host build, where hostcalls are stubs.
    #[allow(clippy::empty_loop)]
    loop {}
}

/// Gives up the rest of this time slice.
pub fn yield_now() {
    // SAFETY: no arguments.
    unsafe {
        sys::yield_now();
    }
}

/// The caller's pid.
pub fn id() -> Pid {
    // SAFETY: no arguments.
    unsafe { sys::getpid() as Pid }
}

/// True when the caller holds every capability in `caps`.
pub fn has_caps(caps: Caps) -> bool {
    // SAFETY: scalar argument.
    unsafe { sys::cap_check(caps.0 as i64) == 0 }
}

/// A compiled module held by this process (`module_open`, `module_load`):
/// spawning from it ([`Command::module`]) reads, hashes and compiles
/// nothing, so a supervisor restarting a child pays only for the new
/// instance. Closed on drop.
#[derive(Debug)]
pub struct Module {
    handle: u32,
}

impl Module {
    /// The module file at `path` (resolved as [`Command::path`] resolves
    /// it), compiled. Needs `SPAWN`; at most 64 module handles at once.
    pub fn open(path: &str) -> Result<Module> {
        // SAFETY: pointer and length of a live string.
        let h = check(unsafe { sys::module_open(path.as_ptr(), path.len()) })?;
        Ok(Module { handle: h as u32 })
    }

    /// The module of these bytes (binary wasm or WAT text), compiled.
    pub fn load(bytes: &[u8]) -> Result<Module> {
        // SAFETY: pointer and length of a live buffer.
        let h = check(unsafe { sys::module_load(bytes.as_ptr(), bytes.len()) })?;
        Ok(Module { handle: h as u32 })
    }

    /// The raw handle.
    pub fn handle(&self) -> u32 {
        self.handle
    }
}

impl Drop for Module {
    fn drop(&mut self) {
        // SAFETY: scalar argument; the handle is ours and closed once.
        unsafe {
            sys::fs_close(self.handle as i32);
        }
    }
}

/// Builds a child process: module, arguments, capabilities, limits.
///
/// ```ignore
/// let pid = Command::path("child.wasm").arg("x").caps(Caps::STDIO).spawn()?;
/// let status = wait(pid)?;
/// ```
#[derive(Clone, Debug)]
pub struct Command<'a> {
    module: ModuleSource<'a>,
    args: Vec<&'a str>,
    caps: Option<Caps>,
    limits: SpawnLimits,
    grants: Vec<Grant>,
    namespace: Option<Vec<&'a str>>,
    /// The cluster node to run on (`None`: this one).
    node: Option<&'a str>,
    /// The request as encoded by the first spawn, for the next ones (a
    /// pool or supervisor spawns one command many times); every builder
    /// method clears it (`edit`).
    encoded: OnceCell<Vec<u8>>,
}

impl<'a> Command<'a> {
    /// A child from a module file (resolved by the daemon; relative paths
    /// against the directory of the caller's module).
    pub fn path(path: &'a str) -> Self {
        Self::new(ModuleSource::Path(path))
    }

    /// A child from module bytes (binary wasm or WAT text).
    pub fn bytes(bytes: &'a [u8]) -> Self {
        Self::new(ModuleSource::Bytes(bytes))
    }

    /// A child from a module this process holds (see [`Module`]); its
    /// first argument is `name`.
    pub fn module(module: &Module, name: &'a str) -> Self {
        let mut command = Self::new(ModuleSource::Handle(module.handle));
        command.args[0] = name;
        command
    }

    fn new(module: ModuleSource<'a>) -> Self {
        // By convention the first argument is the program name.
        let name = match module {
            ModuleSource::Path(p) => p,
            ModuleSource::Bytes(_) | ModuleSource::Handle(_) => "wasm",
        };
        Command {
            module,
            args: alloc::vec![name],
            caps: None,
            limits: SpawnLimits::default(),
            grants: Vec::new(),
            namespace: None,
            node: None,
            encoded: OnceCell::new(),
        }
    }

    /// Gives the child these namespace grants (`SCHEME:PREFIX[=ro|rw]`),
    /// each within one of the caller's; by default it inherits the
    /// caller's.
    pub fn namespace(self, grants: impl IntoIterator<Item = &'a str>) -> Self {
        self.edit(|c| c.namespace = Some(grants.into_iter().collect()))
    }

    /// Passes a region (or a channel's region) to the child with `rights`;
    /// the child attaches it by id (`Region::attach(region.id()?)`).
    pub fn grant(self, region: &crate::region::Region, rights: Rights) -> Self {
        self.edit(|c| c.grants.push(Grant { handle: region.handle() as u32, rights }))
    }

    /// Adds an argument (after the program name, which comes first).
    pub fn arg(self, arg: &'a str) -> Self {
        self.edit(|c| c.args.push(arg))
    }

    /// Adds arguments.
    pub fn args(self, args: impl IntoIterator<Item = &'a str>) -> Self {
        self.edit(|c| c.args.extend(args))
    }

    /// Sets the child's capabilities (a subset of the caller's); by default
    /// the child inherits the caller's.
    pub fn caps(self, caps: Caps) -> Self {
        self.edit(|c| c.caps = Some(caps))
    }

    /// Limits the child's memory to `pages` 64 KiB pages.
    pub fn max_pages(self, pages: u32) -> Self {
        self.edit(|c| c.limits.max_pages = Some(pages))
    }

    /// Gives the child a total fuel budget.
    pub fn fuel(self, fuel: u64) -> Self {
        self.edit(|c| c.limits.fuel = Some(fuel))
    }

    /// Limits the child's live handles.
    pub fn max_handles(self, handles: u32) -> Self {
        self.edit(|c| c.limits.max_handles = Some(handles))
    }

    /// Runs the child on another node of the cluster (see
    /// `wasmd_abi::hostcall`, *Processes of other nodes*): its pid then
    /// stands for the process there, which links, monitors and `kill`
    /// reach. The module must be a path (or a [`Module`] opened from
    /// one) that node can read.
    pub fn node(self, node: &'a str) -> Self {
        self.edit(|c| c.node = Some(node))
    }

    /// Every builder method's one way to change the command: the request
    /// encoded by an earlier spawn no longer holds.
    fn edit(mut self, change: impl FnOnce(&mut Self)) -> Self {
        self.encoded.take();
        change(&mut self);
        self
    }

    /// The spawn request this builds, encoded (once).
    pub(crate) fn encoded(&self) -> &[u8] {
        self.encoded.get_or_init(|| msg::encode(&self.request()))
    }

    /// The spawn request this builds.
    fn request(&self) -> SpawnRequest<'a> {
        SpawnRequest {
            module: self.module.clone(),
            args: self.args.clone(),
            caps: self.caps,
            limits: self.limits,
            grants: self.grants.clone(),
            namespace: self.namespace.clone(),
        }
    }

    /// Spawns the child; returns its pid.
    pub fn spawn(&self) -> Result<Pid> {
        if self.node.is_some() {
            return self.spawn_flags(0).map(|(pid, _)| pid);
        }
        let bytes = self.encoded();
        // SAFETY: pointer and length of a live buffer.
        let ret = unsafe { sys::spawn(bytes.as_ptr(), bytes.len()) };
        check(ret).map(|pid| pid as Pid)
    }
}

impl Command<'_> {
    /// `spawn_with(flags)` here, or `spawn_on` the command's node: the
    /// pid and the monitor's reference (0 without one).
    pub(crate) fn spawn_flags(&self, flags: i32) -> Result<(Pid, u64)> {
        let bytes = self.encoded();
        let mut reference = 0u64;
        // SAFETY: pointers and lengths of live buffers.
        let ret = unsafe {
            match self.node {
                Some(node) => sys::spawn_on(
                    node.as_ptr(),
                    node.len(),
                    bytes.as_ptr(),
                    bytes.len(),
                    flags,
                    &mut reference,
                ),
                None => sys::spawn_with(bytes.as_ptr(), bytes.len(), flags, &mut reference),
            }
        };
        check(ret).map(|pid| (pid as Pid, reference))
    }
}

/// Waits for child `pid` to end and returns its status.
pub fn wait(pid: Pid) -> Result<ExitStatus> {
    wait_raw(pid as i32).map(|(_, status)| status)
}

/// Waits for any child to end; returns its pid and status.
pub fn wait_any() -> Result<(Pid, ExitStatus)> {
    wait_raw(0)
}

fn wait_raw(pid: i32) -> Result<(Pid, ExitStatus)> {
    let mut buf = [0u8; EXIT_STATUS_MAX_LEN];
    // SAFETY: pointer and capacity of a live buffer.
    let ret = unsafe { sys::wait(pid, buf.as_mut_ptr(), buf.len()) };
    let child = check(ret)? as Pid;
    let status = msg::decode(&buf).or_else(|_| postcard::take_from_bytes::<ExitStatus>(&buf).map(|(s, _)| s));
    status.map(|s| (child, s)).map_err(|_| Error::InvalidArgument)
}

/// Kills a process (a descendant, or any with the `PROC` capability).
pub fn kill(pid: Pid) -> Result<()> {
    // SAFETY: scalar argument.
    check(unsafe { sys::kill(pid as i32) }).map(|_| ())
}

/// Information about a process (0 = the caller).
pub fn info(pid: Pid) -> Result<ProcessInfo> {
    let bytes = sized_reply(|buf, cap| {
        // SAFETY: `buf`/`cap` describe a live, writable buffer.
        unsafe { sys::process_info(pid as i32, buf, cap) }
    })?;
    msg::decode(&bytes).map_err(|_| Error::InvalidArgument)
}

/// Calls a sized-reply hostcall, growing the buffer until the reply fits.
pub(crate) fn sized_reply(call: impl Fn(*mut u8, usize) -> i64) -> Result<Vec<u8>> {
    let mut buf = alloc::vec![0u8; 256];
    loop {
        let len = check(call(buf.as_mut_ptr(), buf.len()))? as usize;
        if len <= buf.len() {
            buf.truncate(len);
            return Ok(buf);
        }
        buf.resize(len, 0);
    }
}
