//! Set-up shared by the targets: managers, daemons, scratch directories,
//! guest compilation.

use super::*;

// ---------------------------------------------------------------------
// Common set-up
// ---------------------------------------------------------------------

/// True when `WASMD_FUZZ_TRACE` is set: the daemon targets print what
/// each operation answered (for triage, with the replay example).
pub(super) fn tracing() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("WASMD_FUZZ_TRACE").is_some())
}

macro_rules! trace {
    ($($arg:tt)*) => {
        if tracing() {
            eprintln!($($arg)*);
        }
    };
}

/// A manager configuration for fuzzing: small slices, few threads, small
/// limits (a fresh manager is made for every input).
pub fn fuzz_config() -> ManagerConfig {
    ManagerConfig {
        slice_fuel: 10_000,
        workers: 1,
        io_workers: 1,
        max_processes: 64,
        retained_exited: 16,
        module_cache_capacity: 16,
        max_regions: 64,
        max_region_bytes: 64 << 20,
        memory_budget: 1 << 30,
        max_children: 16,
        max_tree: 32,
        exit_log_capacity: 1024,
        log_capacity: 16 << 10,
        ..ManagerConfig::default()
    }
}

/// A process manager on the Linux platform whose loader allows no file.
pub fn manager(platform: OsPlatform) -> ProcessManager {
    manager_with(platform, 0)
}

/// [`manager`], configured for `sched_workers` scheduler threads (a
/// [`wasmhost::Kernel`] starts them).
pub fn manager_with(platform: OsPlatform, sched_workers: usize) -> ProcessManager {
    ProcessManager::new(
        ManagerConfig { sched_workers, ..fuzz_config() },
        Arc::new(platform),
        Arc::new(FsModuleLoader::new(Vec::<PathBuf>::new())),
        Arc::new(wasmhost::NoOutput),
    )
}

/// A daemon as `wasmd daemon` builds it (`Daemon::with_platform`), with
/// the fuzzing configuration of the manager and `sched_workers`
/// scheduler threads (0: guests run in the daemon's steps).
pub fn daemon(sched_workers: usize) -> Daemon {
    let platform = OsPlatform::with_file_root(None).expect("the Linux platform");
    let pm = ProcessManager::new(
        ManagerConfig { sched_workers, ..fuzz_config() },
        Arc::new(platform),
        Arc::new(FsModuleLoader::new(Vec::<PathBuf>::new())),
        Arc::new(wasmhost::NoOutput),
    );
    Daemon::new(pm, Policy::new(wasmd::sys::current_owner().uid))
}

/// Runs guests for at most `rounds` rounds of `turns` time slices,
/// waiting up to a millisecond for timers and workers when none is ready.
pub fn run_bounded(pm: &mut ProcessManager, rounds: usize, turns: usize) {
    for _ in 0..rounds {
        let ran = pm.run(turns);
        if pm.live() == 0 {
            break;
        }
        if ran == 0 {
            pm.wait_for_events(Some(Duration::from_millis(1)));
        }
    }
}

/// Lets a daemon's workers and timers make progress for up to a
/// millisecond: waits for their events when the daemon runs guests
/// itself, else sleeps (its scheduler threads handle them; waiting under
/// the kernel's lock would stall them).
pub fn wait_a_moment(daemon: &mut Daemon) {
    if daemon.workers() == 0 {
        daemon.manager().wait_for_events(Some(Duration::from_millis(1)));
    } else {
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Kills every live process.
pub fn kill_all(pm: &mut ProcessManager) {
    for pid in pm.pids() {
        let _ = pm.kill(pid);
    }
}

/// A new, empty directory for `what`, of this process and this call
/// (tests replay inputs on several threads at once).
pub fn scratch_dir(what: &str) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir =
        std::env::temp_dir().join(format!("wasmd-fuzz-{}", std::process::id())).join(format!("{what}-{n}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    dir
}

/// Removes a directory of [`scratch_dir`], and this process's directory
/// when it is empty.
pub(super) fn remove_scratch(dir: &std::path::Path) {
    let _ = std::fs::remove_dir_all(dir);
    if let Some(parent) = dir.parent() {
        let _ = std::fs::remove_dir(parent);
    }
}

/// Compiles a module the harness made (a harness bug if it fails).
pub(super) fn compile_own(pm: &ProcessManager, text: &str) -> Arc<CompiledModule> {
    pm.modules().compile(text.as_bytes()).unwrap_or_else(|e| panic!("harness module: {e}\n{text}"))
}

/// Spawn options for a harness guest.
pub(super) fn guest_opts(
    name: &str,
    caps: Caps,
    fuel: Option<u64>,
    owner: Owner,
    grants: &[&str],
) -> SpawnOptions {
    let mut opts = SpawnOptions::new(name);
    opts.args = vec![name.to_string()];
    opts.caps = caps;
    opts.limits = Limits { max_pages: 2, fuel, max_handles: 32, max_region_bytes: 4 << 20 };
    opts.owner = owner;
    opts.namespace =
        grants.iter().map(|g| wasmhost::namespace::parse_grant(g).expect("harness grant")).collect();
    opts
}

/// `bytes` as a WAT string literal.
pub(super) fn wat_bytes(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 3 + 2);
    s.push('"');
    for b in bytes {
        let _ = write!(s, "\\{b:02x}");
    }
    s.push('"');
    s
}

pub(super) const BOUNDARIES: &[i64] = &[
    0,
    1,
    2,
    3,
    4,
    7,
    8,
    16,
    64,
    255,
    4096,
    65528,
    65535,
    65536,
    65537,
    1 << 20,
    1 << 30,
    i32::MAX as i64,
    i32::MIN as i64,
    -1,
    -8,
    u32::MAX as i64,
    1 << 32,
    i64::MAX,
    i64::MIN,
    0x1_0000,    // O_RDONLY
    0x2_0000,    // O_WRONLY
    0x3_0000,    // O_RDWR
    0x203_0000,  // O_RDWR | O_CREAT
    0x603_0000,  // O_RDWR | O_CREAT | O_TRUNC
    0xa03_0000,  // O_RDWR | O_CREAT | O_EXCL
    0x1001_0000, // O_RDONLY | O_DIRECTORY
    0x1201_0000, // O_RDONLY | O_DIRECTORY | O_CREAT
    0x2001_0000, // O_STAT
    0x4_0000,    // O_NONBLOCK
];
