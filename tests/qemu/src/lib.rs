//! # wasmd-qemu — wasmd inside a real Redox, booted under QEMU
//!
//! Three steps, each usable alone (the `wasmd-qemu` binary and
//! `cargo xtask redox-stage` / `redox-qemu` expose them):
//!
//! 1. [`stage`]: writes a staging tree shaped like a Redox root —
//!    `usr/bin/wasmd` and `usr/bin/wasmd-smoke` (Redox builds, see
//!    [`redox_build`]), `usr/share/wasmd/*.wasm` (the example guests;
//!    the smoke test's own under `smoke/`, its WASI programs under
//!    `smoke/wasi/`, the wasi-testsuite's tests under `smoke/wasi-suite/`
//!    when `WASMD_SMOKE_WASI_SUITE` names them),
//!    `usr/lib/init.d/20_wasmd.service` (the unit the cookbook recipe
//!    installs) and `usr/lib/init.d/25_wasmd_smoke.service` (a oneshot unit
//!    that runs the smoke test once wasmd serves `/scheme/wasm`).
//! 2. [`inject`]: copies a staging tree into the RedoxFS inside a disk
//!    image with the `redoxfs` crate as a library — no FUSE, no root.
//! 3. [`boot`]: boots the image headless with `qemu-system-x86_64` (KVM,
//!    falling back to TCG), serial console to a log file, and waits for
//!    `WASMD-SMOKE: PASS` / `WASMD-SMOKE: FAIL <reason>` or a timeout.
//!
//! [`harness`] runs all three on a copy of `REDOX_IMAGE`; when the image,
//! QEMU or a Redox build of wasmd is missing it says what is missing
//! ([`Outcome::Skipped`]) instead of failing.

pub mod boot;
pub mod cluster;
/// The project's guest build (shared with the test crate and `xtask`).
#[path = "../../guest_build.rs"]
pub mod guest_build;
pub mod inject;
pub mod redox_build;
pub mod stage;

use std::path::PathBuf;
use std::time::Duration;

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// A file operation on the host failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: std::io::Error,
    },
    /// The RedoxFS library refused an operation.
    #[error("redoxfs: {what}: errno {errno}")]
    RedoxFs {
        /// What was being done.
        what: String,
        /// The error number.
        errno: i32,
    },
    /// A build or tool failed.
    #[error("{0}")]
    Tool(String),
}

impl HarnessError {
    /// An I/O error with what was being done.
    pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> HarnessError {
        let what = what.into();
        move |source| HarnessError::Io { what, source }
    }
}

/// The result of [`harness`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The smoke test printed its PASS marker.
    Passed {
        /// The accelerator QEMU ran with (`kvm` or `tcg`).
        accel: String,
        /// Time from starting QEMU to the marker.
        after: Duration,
        /// The smoke test's per-check lines (and wasi-testsuite lines)
        /// from the serial log.
        checks: Vec<String>,
    },
    /// The smoke test failed, or no marker came.
    Failed {
        /// The reason (the FAIL line, or what happened instead).
        reason: String,
        /// The last lines of the serial log.
        tail: String,
    },
    /// Something the harness needs is missing (listed).
    Skipped(Vec<String>),
}

/// Settings of [`harness`], usually from the environment
/// ([`HarnessConfig::from_env`]).
#[derive(Debug, Clone)]
pub struct HarnessConfig {
    /// The Redox disk image to test (copied, never modified).
    pub image: Option<PathBuf>,
    /// The QEMU binary.
    pub qemu: PathBuf,
    /// Where the Redox binaries come from.
    pub binaries: redox_build::Source,
    /// The example guests (`.wasm`).
    pub guests: PathBuf,
    /// The WASI guests (`.wasm`, built from `guests/wasi`).
    pub wasi_guests: PathBuf,
    /// A wasi-testsuite directory of compiled tests to stage, if any.
    pub wasi_suite: Option<PathBuf>,
    /// How long to wait for the marker.
    pub timeout: Duration,
    /// Where to keep the copy of the image and the serial log.
    pub work_dir: PathBuf,
    /// Run a cluster around the boot (a NATS server and a node on the
    /// host, joined over QEMU's network: [`cluster`]).
    pub cluster: bool,
    /// The NATS server binary (for `cluster`).
    pub nats_server: PathBuf,
}

impl HarnessConfig {
    /// From the environment: `REDOX_IMAGE` (the image), `QEMU` (default
    /// `qemu-system-x86_64`), `WASMD_REDOX_BIN` and `WASMD_SMOKE_REDOX_BIN`
    /// (Redox builds; else built with a Redox cross toolchain on `PATH`),
    /// `WASMD_QEMU_TIMEOUT` (seconds, default 600), `WASMD_QEMU_WORK`
    /// (default: a directory under the system's temp dir),
    /// `WASMD_SMOKE_WASI_SUITE` (a wasi-testsuite directory of compiled
    /// tests, e.g. `tests/rust/testsuite/wasm32-wasip1` of a checkout, to
    /// stage for the smoke test's `wasi-suite` check; default none),
    /// `WASMD_QEMU_CLUSTER=1` (run a cluster around the boot, for the
    /// smoke test's `cluster` check: needs `NATS_SERVER`, default
    /// `nats-server`, and a Linux build of wasmd, `WASMD_HOST_BIN` or
    /// built here; the image needs an e1000 driver and netstack).
    pub fn from_env(guests: PathBuf, wasi_guests: PathBuf) -> HarnessConfig {
        let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
        HarnessConfig {
            image: var("REDOX_IMAGE").map(PathBuf::from),
            qemu: var("QEMU").map(PathBuf::from).unwrap_or_else(|| "qemu-system-x86_64".into()),
            binaries: redox_build::Source::from_env(),
            guests,
            wasi_guests,
            wasi_suite: var("WASMD_SMOKE_WASI_SUITE").map(PathBuf::from),
            timeout: Duration::from_secs(
                var("WASMD_QEMU_TIMEOUT").and_then(|v| v.to_str()?.parse().ok()).unwrap_or(600),
            ),
            work_dir: var("WASMD_QEMU_WORK")
                .map(PathBuf::from)
                .unwrap_or_else(|| std::env::temp_dir().join(format!("wasmd-qemu-{}", std::process::id()))),
            cluster: var("WASMD_QEMU_CLUSTER").is_some_and(|v| v == "1"),
            nats_server: var("NATS_SERVER").map(PathBuf::from).unwrap_or_else(|| "nats-server".into()),
        }
    }
}

/// Stages, injects into a copy of the image, boots and waits for the
/// smoke test's marker. `log` receives progress lines.
pub fn harness(config: &HarnessConfig, log: &mut dyn FnMut(&str)) -> Result<Outcome, HarnessError> {
    let mut missing = Vec::new();
    match &config.image {
        None => missing.push("REDOX_IMAGE is not set (the path of a Redox harddrive.img)".to_string()),
        Some(image) if !image.is_file() => {
            missing.push(format!("REDOX_IMAGE {} does not exist", image.display()))
        }
        Some(_) => {}
    }
    if boot::find_program(&config.qemu).is_none() {
        missing.push(format!("{} is not installed", config.qemu.display()));
    }
    if let Some(why) = config.binaries.unavailable() {
        missing.push(why);
    }
    let nats_server = boot::find_program(&config.nats_server);
    if config.cluster && nats_server.is_none() {
        missing.push(format!(
            "{} is not installed (WASMD_QEMU_CLUSTER=1 needs it)",
            config.nats_server.display()
        ));
    }
    let Some(image) = config.image.as_deref().filter(|_| missing.is_empty()) else {
        return Ok(Outcome::Skipped(missing));
    };
    std::fs::create_dir_all(&config.work_dir).map_err(HarnessError::io("creating the work directory"))?;
    log(match config.binaries {
        redox_build::Source::Given(_) => "using the given Redox builds of wasmd and wasmd-smoke",
        _ => "building wasmd and wasmd-smoke for Redox",
    });
    let binaries = config.binaries.resolve()?;
    let tree = config.work_dir.join("stage");
    log(&format!("staging into {}", tree.display()));
    if let Some(suite) = &config.wasi_suite {
        log(&format!("staging the wasi-testsuite tests of {}", suite.display()));
    }
    let inputs = stage::Inputs {
        binaries,
        guests: config.guests.clone(),
        wasi_guests: config.wasi_guests.clone(),
        wasi_suite: config.wasi_suite.clone(),
    };
    stage::stage(&tree, &inputs)?;
    // The cluster's processes live until the boot's end.
    let host = match nats_server.filter(|_| config.cluster) {
        Some(nats_server) => {
            log("building wasmd for the host node");
            let wasmd = cluster::host_wasmd(&redox_build::workspace_root())?;
            let host = cluster::HostNode::start(&nats_server, &wasmd, &config.work_dir, &tree)?;
            for (rel, data) in host.stage_files(&tree) {
                let path = tree.join(&rel);
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)
                        .map_err(HarnessError::io(format!("creating {}", dir.display())))?;
                }
                std::fs::write(&path, data)
                    .map_err(HarnessError::io(format!("writing {}", path.display())))?;
            }
            log(&format!(
                "cluster: nats-server and node `host` on this machine (log: {})",
                host.log.display()
            ));
            Some(host)
        }
        None => None,
    };
    let copy = config.work_dir.join("harddrive.img");
    log(&format!("copying {} to {}", image.display(), copy.display()));
    std::fs::copy(image, &copy).map_err(HarnessError::io(format!("copying {}", image.display())))?;
    let written = inject::inject(&copy, &tree)?;
    log(&format!("injected {} files into the image's RedoxFS", written.len()));
    let serial = config.work_dir.join("serial.log");
    log(&format!("booting with {} (serial log: {})", config.qemu.display(), serial.display()));
    let network = host.is_some();
    let mut host = host;
    // The `cluster` check's last part: the host node dies.
    let mut stop = || {
        if let Some(host) = host.as_mut() {
            host.stop();
            log("cluster: node `host` stopped, as the smoke test asked");
        }
    };
    boot::boot(
        &boot::BootConfig {
            qemu: config.qemu.clone(),
            image: copy,
            serial,
            timeout: config.timeout,
            accel: None,
            network,
        },
        Some(&mut stop),
    )
}
