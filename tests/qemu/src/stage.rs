//! The staging tree: what wasmd adds to a Redox root, laid out as in the
//! image (`usr/bin`, `usr/share/wasmd`, `usr/lib/init.d`).

use std::path::{Path, PathBuf};

use crate::redox_build::Binaries;
use crate::HarnessError;

/// The init unit that starts wasmd (the one the cookbook recipe installs).
pub const WASMD_UNIT: &str = include_str!("../../../recipes/wasmd/20_wasmd.service");
/// The oneshot unit that runs the smoke test after wasmd.
pub const SMOKE_UNIT: &str = include_str!("../25_wasmd_smoke.service");
/// The example guests staged under `usr/share/wasmd`.
pub const EXAMPLES: &[&str] = crate::guest_build::EXAMPLES;
/// The smoke test's own guests (test fixtures), staged under
/// `usr/share/wasmd/smoke`.
pub const SMOKE_FIXTURES: &[&str] = &["ticker", "chan_native", "faulty_scheme", "fs_client", "net_peer"];

/// What goes into the tree.
#[derive(Debug, Clone)]
pub struct Inputs {
    /// The Redox builds of `wasmd` and `wasmd-smoke`.
    pub binaries: Binaries,
    /// The directory of the compiled guests (`NAME.wasm`).
    pub guests: PathBuf,
}

/// One file of the tree: its path in the image (relative, `/`-separated),
/// its mode and its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedFile {
    /// Path below the root, e.g. `usr/bin/wasmd`.
    pub path: String,
    /// Permission bits.
    pub mode: u32,
    /// Content.
    pub data: Vec<u8>,
}

/// The files of the staging tree, in the order they are written.
pub fn files(inputs: &Inputs) -> Result<Vec<StagedFile>, HarnessError> {
    let read =
        |path: &Path| std::fs::read(path).map_err(HarnessError::io(format!("reading {}", path.display())));
    let mut files = vec![
        StagedFile { path: "usr/bin/wasmd".into(), mode: 0o755, data: read(&inputs.binaries.wasmd)? },
        StagedFile { path: "usr/bin/wasmd-smoke".into(), mode: 0o755, data: read(&inputs.binaries.smoke)? },
    ];
    for name in EXAMPLES {
        let data = read(&inputs.guests.join(format!("{name}.wasm")))?;
        files.push(StagedFile { path: format!("usr/share/wasmd/{name}.wasm"), mode: 0o644, data });
    }
    for name in SMOKE_FIXTURES {
        let data = read(&inputs.guests.join(format!("{name}.wasm")))?;
        files.push(StagedFile { path: format!("usr/share/wasmd/smoke/{name}.wasm"), mode: 0o644, data });
    }
    files.push(StagedFile {
        path: "usr/lib/init.d/20_wasmd.service".into(),
        mode: 0o644,
        data: WASMD_UNIT.as_bytes().to_vec(),
    });
    files.push(StagedFile {
        path: "usr/lib/init.d/25_wasmd_smoke.service".into(),
        mode: 0o644,
        data: SMOKE_UNIT.as_bytes().to_vec(),
    });
    Ok(files)
}

/// Writes the staging tree under `out` (created if needed); returns its
/// files.
pub fn stage(out: &Path, inputs: &Inputs) -> Result<Vec<StagedFile>, HarnessError> {
    use std::os::unix::fs::PermissionsExt;
    let files = files(inputs)?;
    for file in &files {
        let to = out.join(&file.path);
        if let Some(dir) = to.parent() {
            std::fs::create_dir_all(dir).map_err(HarnessError::io(format!("creating {}", dir.display())))?;
        }
        std::fs::write(&to, &file.data).map_err(HarnessError::io(format!("writing {}", to.display())))?;
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(file.mode))
            .map_err(HarnessError::io(format!("setting the mode of {}", to.display())))?;
    }
    Ok(files)
}
