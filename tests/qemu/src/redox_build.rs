//! Redox builds of `wasmd` and `wasmd-smoke`: given by path, or built
//! here with a Redox cross toolchain found on `PATH`
//! (`x86_64-unknown-redox-gcc`, as the Redox build system installs it;
//! relibc comes with it).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::HarnessError;

/// The Redox target.
pub const TARGET: &str = "x86_64-unknown-redox";
/// The cross linker looked for on `PATH`.
pub const LINKER: &str = "x86_64-unknown-redox-gcc";

/// The two Redox programs the image needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binaries {
    /// `wasmd`.
    pub wasmd: PathBuf,
    /// `wasmd-smoke`.
    pub smoke: PathBuf,
}

/// Where the Redox programs come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Already built.
    Given(Binaries),
    /// To be built with the cross toolchain (`workspace` is the wasmd
    /// repository).
    CrossBuild {
        /// The wasmd workspace root.
        workspace: PathBuf,
    },
    /// One path given, the other not: an error to report.
    Incomplete(String),
}

impl Source {
    /// `WASMD_REDOX_BIN` and `WASMD_SMOKE_REDOX_BIN` when both are set,
    /// else a cross build of this repository.
    pub fn from_env() -> Source {
        let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
        match (var("WASMD_REDOX_BIN"), var("WASMD_SMOKE_REDOX_BIN")) {
            (Some(wasmd), Some(smoke)) => Source::Given(Binaries { wasmd, smoke }),
            (None, None) => Source::CrossBuild { workspace: workspace_root() },
            (Some(_), None) => {
                Source::Incomplete("WASMD_REDOX_BIN is set but WASMD_SMOKE_REDOX_BIN is not".into())
            }
            (None, Some(_)) => {
                Source::Incomplete("WASMD_SMOKE_REDOX_BIN is set but WASMD_REDOX_BIN is not".into())
            }
        }
    }

    /// Why these binaries cannot be had, if they cannot.
    pub fn unavailable(&self) -> Option<String> {
        match self {
            Source::Given(b) => [&b.wasmd, &b.smoke]
                .iter()
                .find(|p| !p.is_file())
                .map(|p| format!("the Redox build {} does not exist", p.display())),
            Source::CrossBuild { .. } => crate::boot::find_program(Path::new(LINKER)).is_none().then(|| {
                format!(
                    "no Redox build of wasmd: set WASMD_REDOX_BIN and WASMD_SMOKE_REDOX_BIN, \
                     or put the Redox cross toolchain ({LINKER}) on PATH"
                )
            }),
            Source::Incomplete(why) => Some(why.clone()),
        }
    }

    /// The binaries, building them first if needed.
    pub fn resolve(&self) -> Result<Binaries, HarnessError> {
        match self {
            Source::Given(b) => Ok(b.clone()),
            Source::CrossBuild { workspace } => cross_build(workspace),
            Source::Incomplete(why) => Err(HarnessError::Tool(why.clone())),
        }
    }
}

/// Cargo's target directory for `workspace` (`CARGO_TARGET_DIR` if set).
pub fn target_dir(workspace: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| workspace.join("target"))
}

/// The wasmd repository (this crate lives in `tests/qemu`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `cargo build --release --target x86_64-unknown-redox -p wasmd -p
/// wasmd-smoke` with the cross linker. `redox-scheme` needs nightly
/// features; `RUSTC_BOOTSTRAP=1` enables them on a stable toolchain (the
/// cookbook itself uses nightly).
fn cross_build(workspace: &Path) -> Result<Binaries, HarnessError> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(workspace)
        .args(["build", "--release", "--locked", "--target", TARGET, "-p", "wasmd", "-p", "wasmd-smoke"])
        .env("RUSTC_BOOTSTRAP", "1")
        .env("CARGO_TARGET_X86_64_UNKNOWN_REDOX_LINKER", LINKER)
        .status()
        .map_err(HarnessError::io("running cargo"))?;
    if !status.success() {
        return Err(HarnessError::Tool(format!("the Redox build of wasmd failed ({status})")));
    }
    let dir = target_dir(workspace).join(TARGET).join("release");
    Ok(Binaries { wasmd: dir.join("wasmd"), smoke: dir.join("wasmd-smoke") })
}
