//! Reading module files for `spawn` by path.
//!
//! [`FsModuleLoader`] resolves a guest's path (relative paths against the
//! directory of the guest's own module) and only reads files inside its
//! module roots: the directories the operator allowed. A path that leaves
//! them (`..`, absolute paths elsewhere, symlinks pointing out) is refused
//! with `EACCES`. It runs on worker threads.

use std::path::{Path, PathBuf};

use wasmd_abi::errno::{EACCES, EIO, ENOENT};
use wasmhost::{LoadError, LoadedModule, ModuleLoader};

/// Largest module file read (64 MiB).
pub const MAX_MODULE_BYTES: u64 = 64 << 20;

/// Loads modules from a set of allowed directories.
#[derive(Debug, Clone, Default)]
pub struct FsModuleLoader {
    roots: Vec<PathBuf>,
}

impl FsModuleLoader {
    /// A loader allowing files under `roots` (canonicalized now; roots
    /// that do not exist are dropped).
    pub fn new(roots: impl IntoIterator<Item = PathBuf>) -> Self {
        Self { roots: roots.into_iter().filter_map(|r| r.canonicalize().ok()).collect() }
    }

    /// The allowed roots.
    pub fn roots(&self) -> &[PathBuf] {
        &self.roots
    }
}

impl ModuleLoader for FsModuleLoader {
    fn load(&self, base_dir: Option<&Path>, path: &str) -> Result<LoadedModule, LoadError> {
        let fail = |reason: String, errno: i32| LoadError { path: path.to_string(), reason, errno };
        let requested = Path::new(path);
        let joined = match base_dir {
            Some(base) if requested.is_relative() => base.join(requested),
            None if requested.is_relative() => match self.roots.first() {
                Some(root) => root.join(requested),
                None => requested.to_path_buf(),
            },
            _ => requested.to_path_buf(),
        };
        let resolved = joined.canonicalize().map_err(|e| fail(e.to_string(), ENOENT))?;
        if !self.roots.iter().any(|root| resolved.starts_with(root)) {
            return Err(fail("outside the allowed module directories".into(), EACCES));
        }
        let meta = std::fs::metadata(&resolved).map_err(|e| fail(e.to_string(), EIO))?;
        if !meta.is_file() {
            return Err(fail("not a file".into(), EACCES));
        }
        if meta.len() > MAX_MODULE_BYTES {
            return Err(fail(format!("larger than {MAX_MODULE_BYTES} bytes"), EACCES));
        }
        let bytes = std::fs::read(&resolved).map_err(|e| fail(e.to_string(), EIO))?;
        Ok(LoadedModule { bytes, path: resolved })
    }
}
