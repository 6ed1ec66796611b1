//! Boots a Redox image headless under QEMU and waits for the smoke test.
//!
//! QEMU runs with `-vga none -nographic` (the BIOS bootloader would wait
//! for a key on its resolution menu otherwise) and the serial console in a
//! log file. KVM is tried first when `/dev/kvm` exists; when QEMU exits
//! with it before a marker (nested KVM can fail with `failed to set MSR`),
//! the boot is retried with TCG. The machine has one CPU: with two, about one boot
//! in eight hangs silently in this Redox; a boot that prints nothing at all
//! within [`SILENT_LIMIT`] is retried (at most [`SILENT_RETRIES`] times).
//! The Redox kernel does not power off by itself, so QEMU is stopped after
//! the marker or the timeout.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{HarnessError, Outcome};

/// The marker of success.
pub const PASS: &str = "WASMD-SMOKE: PASS";
/// The marker of failure (a reason follows).
pub const FAIL: &str = "WASMD-SMOKE: FAIL";
/// Lines of the serial log shown with a failure.
const TAIL_LINES: usize = 40;
/// A boot whose serial log is still empty after this long is retried.
pub const SILENT_LIMIT: Duration = Duration::from_secs(30);
/// How often a silent boot is retried.
pub const SILENT_RETRIES: u32 = 2;
/// The prefix of the smoke test's per-check lines (kept in a passed
/// outcome).
pub const CHECK: &str = "wasmd-smoke: check";
/// The prefix of the smoke test's per-test lines of the wasi-testsuite
/// (kept in a passed outcome too).
pub const SUITE: &str = "wasi-suite:";

/// The smoke test's request to stop the other node of its cluster (see
/// [`boot`]): the `cluster` check prints it, followed by the node's name.
pub const STOP_NODE: &str = "wasmd-smoke: stop node ";

/// What to boot.
#[derive(Debug, Clone)]
pub struct BootConfig {
    /// The QEMU binary.
    pub qemu: PathBuf,
    /// The disk image (booted read-write; pass a copy).
    pub image: PathBuf,
    /// Where the serial console goes.
    pub serial: PathBuf,
    /// How long to wait for a marker.
    pub timeout: Duration,
    /// `kvm` or `tcg`; `None`: KVM when `/dev/kvm` exists, falling back
    /// to TCG when QEMU cannot use it.
    pub accel: Option<String>,
    /// An e1000 network adapter on QEMU's user-mode network (the host's
    /// loopback is `10.0.2.2` inside); without it, no network adapter.
    pub network: bool,
}

/// The full path of `program` (as given when it has a `/`, else searched
/// on `PATH`), if it exists.
pub fn find_program(program: &Path) -> Option<PathBuf> {
    if program.components().count() > 1 {
        return program.is_file().then(|| program.to_path_buf());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(program)).find(|p| p.is_file())
}

/// QEMU's arguments for `config` with an accelerator (`kvm` or `tcg`).
pub fn qemu_args(config: &BootConfig, accel: &str) -> Vec<String> {
    let cpu = if accel == "kvm" { "host" } else { "max" };
    vec![
        "-machine".into(),
        "q35".into(),
        "-accel".into(),
        accel.into(),
        "-cpu".into(),
        cpu.into(),
        "-smp".into(),
        "1".into(),
        "-m".into(),
        "1024".into(),
        "-vga".into(),
        "none".into(),
        "-nographic".into(),
        "-monitor".into(),
        "none".into(),
        "-serial".into(),
        format!("file:{}", config.serial.display()),
        "-drive".into(),
        format!("file={},format=raw,if=none,id=disk0", config.image.display()),
        "-device".into(),
        "nvme,drive=disk0,serial=WASMD".into(),
    ]
    .into_iter()
    .chain(network_args(config.network))
    .collect()
}

fn network_args(network: bool) -> Vec<String> {
    if network {
        ["-netdev", "user,id=n0", "-device", "e1000,netdev=n0"].map(String::from).to_vec()
    } else {
        ["-net", "none"].map(String::from).to_vec()
    }
}

/// A QEMU process, killed on drop.
struct Qemu(Child);

impl Drop for Qemu {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(config: &BootConfig, accel: &str) -> Result<Qemu, HarnessError> {
    let _ = std::fs::remove_file(&config.serial);
    let child = Command::new(&config.qemu)
        .args(qemu_args(config, accel))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(HarnessError::io(format!("starting {}", config.qemu.display())))?;
    Ok(Qemu(child))
}

/// Boots and waits for a marker; calls `stop_node` (once) when the serial
/// log asks for the other node to stop ([`STOP_NODE`]).
pub fn boot(config: &BootConfig, mut stop_node: Option<&mut dyn FnMut()>) -> Result<Outcome, HarnessError> {
    let started = Instant::now();
    let auto = config.accel.is_none();
    let mut accel = match config.accel.as_deref() {
        Some(accel) => accel,
        None if Path::new("/dev/kvm").exists() => "kvm",
        None => "tcg",
    };
    let mut qemu = start(config, accel)?;
    let mut this_boot = Instant::now();
    let mut retries = 0;
    loop {
        let log = std::fs::read(&config.serial).unwrap_or_default();
        let text = String::from_utf8_lossy(&log);
        if text.contains(STOP_NODE) {
            if let Some(stop) = stop_node.take() {
                stop();
            }
        }
        match scan(&text) {
            Some(Ok(())) => {
                let checks = text
                    .lines()
                    .filter_map(|l| l.find(CHECK).or_else(|| l.find(SUITE)).map(|at| l[at..].to_string()))
                    .collect();
                return Ok(Outcome::Passed { accel: accel.into(), after: started.elapsed(), checks });
            }
            Some(Err(reason)) => return Ok(Outcome::Failed { reason, tail: tail(&log) }),
            None => {}
        }
        if let Ok(Some(status)) = qemu.0.try_wait() {
            let mut stderr = String::new();
            if let Some(mut err) = qemu.0.stderr.take() {
                let _ = err.read_to_string(&mut stderr);
            }
            if auto && accel == "kvm" {
                // KVM did not work here (nested KVM can abort with
                // `failed to set MSR`, sometimes only after seconds): TCG
                // is slower but boots.
                accel = "tcg";
                qemu = start(config, accel)?;
                continue;
            }
            return Ok(Outcome::Failed {
                reason: format!("QEMU exited ({status}) before a marker: {}", stderr.trim()),
                tail: tail(&log),
            });
        }
        if log.is_empty() && this_boot.elapsed() > SILENT_LIMIT && retries < SILENT_RETRIES {
            retries += 1;
            drop(qemu);
            qemu = start(config, accel)?;
            this_boot = Instant::now();
            continue;
        }
        if started.elapsed() > config.timeout {
            return Ok(Outcome::Failed {
                reason: format!("no WASMD-SMOKE marker within {} s", config.timeout.as_secs()),
                tail: tail(&log),
            });
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The smoke test's verdict in a serial log: `Ok` for PASS, `Err(reason)`
/// for FAIL, `None` while neither has appeared.
pub fn scan(log: &str) -> Option<Result<(), String>> {
    for line in log.lines() {
        if line.contains(PASS) {
            return Some(Ok(()));
        }
        if let Some(at) = line.find(FAIL) {
            let reason = line[at + FAIL.len()..].trim();
            return Some(Err(format!("smoke test failed: {reason}")));
        }
    }
    None
}

/// The last lines of a log.
pub fn tail(log: &[u8]) -> String {
    let text = String::from_utf8_lossy(log);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(TAIL_LINES)..].join("\n")
}
