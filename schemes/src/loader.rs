//! Reading module files for `spawn` by path.
//!
//! [`FsModuleLoader`] resolves a guest's path (relative paths against the
//! directory of the guest's own module) and only reads files inside its
//! module roots: the directories the operator allowed (at start-up, and
//! the directories of modules the operator spawned through the control
//! tree). A path that leaves them (`..`, absolute paths elsewhere,
//! symlinks pointing out) is refused with `EACCES`. [`AnyPathLoader`] is
//! the operator's own loader: any absolute path. Both run on worker
//! threads.

use std::path::{Path, PathBuf};
use std::sync::RwLock;

use wasmd_abi::errno::{EACCES, EIO, ENOENT};
use wasmhost::{LoadError, LoadedModule, ModuleLoader};

/// Largest module file read (64 MiB).
pub const MAX_MODULE_BYTES: u64 = 64 << 20;

/// Loads modules from a set of allowed directories.
#[derive(Debug, Default)]
pub struct FsModuleLoader {
    roots: RwLock<Vec<PathBuf>>,
}

impl FsModuleLoader {
    /// A loader allowing files under `roots` (canonicalized now; roots
    /// that do not exist are dropped).
    pub fn new(roots: impl IntoIterator<Item = PathBuf>) -> Self {
        Self { roots: RwLock::new(roots.into_iter().filter_map(|r| r.canonicalize().ok()).collect()) }
    }

    /// The allowed roots.
    pub fn roots(&self) -> Vec<PathBuf> {
        self.roots.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Allows one more directory (already canonical).
    pub fn allow(&self, dir: PathBuf) {
        let mut roots = self.roots.write().unwrap_or_else(|e| e.into_inner());
        if !roots.iter().any(|r| dir.starts_with(r)) {
            roots.push(dir);
        }
    }
}

/// Reads and size-checks a resolved module file.
fn read_module(requested: &str, resolved: PathBuf) -> Result<LoadedModule, LoadError> {
    let fail = |reason: String, errno: i32| LoadError { path: requested.to_string(), reason, errno };
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

/// The operator's loader: any absolute path.
#[derive(Debug, Default)]
pub struct AnyPathLoader;

impl ModuleLoader for AnyPathLoader {
    fn load(&self, _base_dir: Option<&Path>, path: &str) -> Result<LoadedModule, LoadError> {
        let fail = |reason: String, errno: i32| LoadError { path: path.to_string(), reason, errno };
        if !path.starts_with('/') {
            return Err(fail("not an absolute path".into(), EACCES));
        }
        let resolved = Path::new(path).canonicalize().map_err(|e| fail(e.to_string(), ENOENT))?;
        read_module(path, resolved)
    }
}

impl ModuleLoader for FsModuleLoader {
    fn load(&self, base_dir: Option<&Path>, path: &str) -> Result<LoadedModule, LoadError> {
        let fail = |reason: String, errno: i32| LoadError { path: path.to_string(), reason, errno };
        let requested = Path::new(path);
        let roots = self.roots();
        let joined = match base_dir {
            Some(base) if requested.is_relative() => base.join(requested),
            None if requested.is_relative() => match roots.first() {
                Some(root) => root.join(requested),
                None => requested.to_path_buf(),
            },
            _ => requested.to_path_buf(),
        };
        let resolved = joined.canonicalize().map_err(|e| fail(e.to_string(), ENOENT))?;
        if !roots.iter().any(|root| resolved.starts_with(root)) {
            return Err(fail("outside the allowed module directories".into(), EACCES));
        }
        read_module(path, resolved)
    }
}
