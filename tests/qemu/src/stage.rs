//! The staging tree: what wasmd adds to a Redox root, laid out as in the
//! image (`usr/bin`, `usr/share/wasmd`, `usr/lib/init.d`).
//!
//! Besides the example guests and the smoke test's own fixtures, the tree
//! holds WASI programs for the smoke test's `wasi` check
//! (`usr/share/wasmd/smoke/wasi`, built from `guests/wasi` for
//! `wasm32-wasip1`) and, when a checkout of WebAssembly/wasi-testsuite is
//! given, the suite's filesystem and clock tests with their JSON specs
//! (`usr/share/wasmd/smoke/wasi-suite`, for the `wasi-suite` check). The
//! suite is never part of this repository: it is read at staging time.

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
pub const SMOKE_FIXTURES: &[&str] = &[
    "ticker",
    "chan_native",
    "faulty_scheme",
    "fs_client",
    "net_peer",
    "actors",
    "supervision",
    "reload_v1",
    "reload_v2",
    "reload_plain",
    "regions",
    "chan_rtt",
];
/// The WASI programs (`guests/wasi`) the smoke test runs, staged under
/// `usr/share/wasmd/smoke/wasi`.
pub const SMOKE_WASI: &[&str] = &["wasi_hello", "wasi_fs", "wasi_time", "wasi_panic"];
/// Where the WASI programs go.
pub const SMOKE_WASI_DIR: &str = "usr/share/wasmd/smoke/wasi";
/// Where the wasi-testsuite's tests go.
pub const SUITE_DIR: &str = "usr/share/wasmd/smoke/wasi-suite";
/// The wasi-testsuite tests staged: those whose names start with one of
/// these (files, directories, paths, links, clocks).
pub const SUITE_PREFIXES: &[&str] = &[
    "file_",
    "fd_",
    "path_",
    "clock_",
    "directory_",
    "readlink",
    "symlink_",
    "dangling_",
    "nofollow_",
    "close_preopen",
    "overwrite_preopen",
    "interesting_paths",
    "remove_",
    "unlink_",
    "renumber",
    "truncation_",
    "fstflags_",
];

/// What goes into the tree.
#[derive(Debug, Clone)]
pub struct Inputs {
    /// The Redox builds of `wasmd` and `wasmd-smoke`.
    pub binaries: Binaries,
    /// The directory of the compiled guests (`NAME.wasm`).
    pub guests: PathBuf,
    /// The directory of the compiled WASI guests (`NAME.wasm`).
    pub wasi_guests: PathBuf,
    /// A wasi-testsuite directory of compiled tests (`NAME.wasm` with
    /// `NAME.json`, e.g. `tests/rust/testsuite/wasm32-wasip1` of its
    /// `prod/testsuite-base` branch), if the suite is to be staged.
    pub wasi_suite: Option<PathBuf>,
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
    for name in SMOKE_WASI {
        let data = read(&inputs.wasi_guests.join(format!("{name}.wasm")))?;
        files.push(StagedFile { path: format!("{SMOKE_WASI_DIR}/{name}.wasm"), mode: 0o644, data });
    }
    if let Some(suite) = &inputs.wasi_suite {
        let mut roots = std::collections::BTreeSet::new();
        for name in suite_tests(suite)? {
            if let Ok(spec) = std::fs::read_to_string(suite.join(format!("{name}.json"))) {
                roots.extend(spec_root(&spec));
            }
            let data = read(&suite.join(format!("{name}.wasm")))?;
            files.push(StagedFile { path: format!("{SUITE_DIR}/{name}.wasm"), mode: 0o644, data });
            let spec = suite.join(format!("{name}.json"));
            if spec.is_file() {
                files.push(StagedFile {
                    path: format!("{SUITE_DIR}/{name}.json"),
                    mode: 0o644,
                    data: read(&spec)?,
                });
            }
        }
        // The directories the tests run in (`root` of their specs), as
        // the suite has them: copied afresh for each test inside Redox.
        for root in roots {
            stage_tree(&suite.join(&root), &format!("{SUITE_DIR}/{root}"), &mut files)?;
        }
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

/// The `root` directory a test's JSON spec names, if it is a plain name
/// (no `/` or `..`).
fn spec_root(json: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(json).ok()?;
    let root = value["root"].as_str()?;
    (!root.is_empty() && !root.contains('/') && root != "..").then(|| root.to_string())
}

/// Stages the regular files under `dir` (recursively; links and the
/// suite's leftover `*.cleanup` files are not) at `to`.
fn stage_tree(dir: &Path, to: &str, files: &mut Vec<StagedFile>) -> Result<(), HarnessError> {
    let entries = std::fs::read_dir(dir).map_err(HarnessError::io(format!("listing {}", dir.display())))?;
    for entry in entries {
        let entry = entry.map_err(HarnessError::io(format!("listing {}", dir.display())))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let kind =
            entry.file_type().map_err(HarnessError::io(format!("reading {}", entry.path().display())))?;
        if name.ends_with(".cleanup") {
            continue;
        }
        if kind.is_dir() {
            stage_tree(&entry.path(), &format!("{to}/{name}"), files)?;
        } else if kind.is_file() {
            let path = entry.path();
            let data =
                std::fs::read(&path).map_err(HarnessError::io(format!("reading {}", path.display())))?;
            files.push(StagedFile { path: format!("{to}/{name}"), mode: 0o644, data });
        }
    }
    Ok(())
}

/// The names of the tests in a wasi-testsuite directory (`NAME.wasm`)
/// that start with one of [`SUITE_PREFIXES`], sorted.
pub fn suite_tests(suite: &Path) -> Result<Vec<String>, HarnessError> {
    let entries = std::fs::read_dir(suite)
        .map_err(HarnessError::io(format!("listing the wasi-testsuite {}", suite.display())))?;
    let mut names = Vec::new();
    for entry in entries {
        let path = entry.map_err(HarnessError::io(format!("listing {}", suite.display())))?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_suffix(".wasm"))
        else {
            continue;
        };
        if SUITE_PREFIXES.iter().any(|prefix| name.starts_with(prefix)) {
            names.push(name.to_string());
        }
    }
    names.sort();
    Ok(names)
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
