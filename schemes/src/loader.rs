//! Reading module files for `spawn` by path.
//!
//! [`FsModuleLoader`] resolves a guest's path (relative paths against the
//! directory of the guest's own module) and only reads files inside the
//! module roots the operator allowed at start-up or in the directory of
//! the guest's own module — each guest's, not a list that one spawn widens
//! for every later guest. A path that leaves them (`..`, absolute paths
//! elsewhere) or has a symbolic link below its root is refused with
//! `Errno::AccessDenied`.
//! [`AnyPathLoader`] is the operator's own loader: any absolute path. Both
//! run on worker threads.
//!
//! Paths are resolved lexically ([`normalize`]), never with
//! `canonicalize`: on Redox that asks the scheme for the file's path
//! (`fpath`), and bootstrap's initfs answers a wrong one
//! (`/scheme/initfs/a/b` comes back as `/scheme/initfsa/b`).

use wasmd_abi::Errno;

use std::path::{Component, Path, PathBuf};

use wasmhost::{FileIdentity, LoadError, LoadedModule, ModuleLoader};

/// Largest module file read (64 MiB).
pub const MAX_MODULE_BYTES: u64 = 64 << 20;

/// Loads modules from a set of allowed directories.
#[derive(Debug, Default)]
pub struct FsModuleLoader {
    roots: Vec<PathBuf>,
}

/// `path` made absolute (against the current directory) and normalised
/// without asking the file system: `.` components dropped, `..` taken
/// lexically (never above `/`).
pub fn normalize(path: &Path) -> PathBuf {
    let absolute = if path.is_relative() {
        std::env::current_dir().map(|cwd| cwd.join(path)).unwrap_or_else(|_| path.to_path_buf())
    } else {
        path.to_path_buf()
    };
    let mut out = PathBuf::from("/");
    for part in absolute.components() {
        match part {
            Component::Normal(name) => out.push(name),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

/// `Err` naming the first symbolic link on `path` below `root` (a link
/// could point out of the root).
fn no_link_below(root: &Path, path: &Path) -> Result<(), String> {
    let Ok(below) = path.strip_prefix(root) else {
        return Err("outside the allowed module directories".into());
    };
    let mut at = root.to_path_buf();
    for part in below.components() {
        at.push(part);
        if std::fs::symlink_metadata(&at).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(format!("{} is a symbolic link", at.display()));
        }
    }
    Ok(())
}

impl FsModuleLoader {
    /// A loader allowing files under `roots` (normalised now; roots that
    /// are not directories are dropped).
    pub fn new(roots: impl IntoIterator<Item = PathBuf>) -> Self {
        let roots = roots.into_iter().map(|r| normalize(&r)).filter(|r| r.is_dir()).collect();
        Self { roots }
    }

    /// The allowed roots.
    pub fn roots(&self) -> &[PathBuf] {
        &self.roots
    }
}

/// Checks a resolved module file (a regular file of at most
/// [`MAX_MODULE_BYTES`]); its metadata.
fn check_file(requested: &str, resolved: &Path) -> Result<std::fs::Metadata, LoadError> {
    let fail = |reason: String, errno: Errno| LoadError { path: requested.to_string(), reason, errno };
    let meta = std::fs::metadata(resolved).map_err(|e| {
        let errno = if e.kind() == std::io::ErrorKind::NotFound { Errno::NotFound } else { Errno::Io };
        fail(e.to_string(), errno)
    })?;
    if meta.is_dir() {
        return Err(fail("it is a directory, not a module file".into(), Errno::IsADirectory));
    }
    if !meta.is_file() {
        return Err(fail("it is not a regular file".into(), Errno::AccessDenied));
    }
    if meta.len() > MAX_MODULE_BYTES {
        return Err(fail(format!("larger than {MAX_MODULE_BYTES} bytes"), Errno::AccessDenied));
    }
    Ok(meta)
}

/// Reads and checks a resolved module file.
fn read_module(requested: &str, resolved: PathBuf) -> Result<LoadedModule, LoadError> {
    check_file(requested, &resolved)?;
    let bytes = std::fs::read(&resolved).map_err(|e| LoadError {
        path: requested.to_string(),
        reason: e.to_string(),
        errno: Errno::Io,
    })?;
    Ok(LoadedModule { bytes, path: resolved })
}

/// A checked module file's identity (see [`FileIdentity`]).
fn identify_file(requested: &str, resolved: PathBuf) -> Result<Option<(PathBuf, FileIdentity)>, LoadError> {
    use std::os::unix::fs::MetadataExt;
    let meta = check_file(requested, &resolved)?;
    let ns = |secs: i64, nanos: i64| i128::from(secs) * 1_000_000_000 + i128::from(nanos);
    let identity = FileIdentity {
        device: meta.dev(),
        inode: meta.ino(),
        len: meta.len(),
        modified_ns: ns(meta.mtime(), meta.mtime_nsec()),
        changed_ns: ns(meta.ctime(), meta.ctime_nsec()),
    };
    Ok(Some((resolved, identity)))
}

/// The operator's loader: any absolute path.
#[derive(Debug, Default)]
pub struct AnyPathLoader;

impl AnyPathLoader {
    fn resolve(path: &str) -> Result<PathBuf, LoadError> {
        if !path.starts_with('/') {
            let reason = "not an absolute path".into();
            return Err(LoadError { path: path.to_string(), reason, errno: Errno::AccessDenied });
        }
        Ok(normalize(Path::new(path)))
    }
}

impl ModuleLoader for AnyPathLoader {
    fn load(&self, _base_dir: Option<&Path>, path: &str) -> Result<LoadedModule, LoadError> {
        read_module(path, Self::resolve(path)?)
    }

    fn identify(
        &self,
        _base_dir: Option<&Path>,
        path: &str,
    ) -> Result<Option<(PathBuf, FileIdentity)>, LoadError> {
        identify_file(path, Self::resolve(path)?)
    }
}

impl ModuleLoader for FsModuleLoader {
    fn load(&self, base_dir: Option<&Path>, path: &str) -> Result<LoadedModule, LoadError> {
        read_module(path, self.resolve(base_dir, path)?)
    }

    fn identify(
        &self,
        base_dir: Option<&Path>,
        path: &str,
    ) -> Result<Option<(PathBuf, FileIdentity)>, LoadError> {
        identify_file(path, self.resolve(base_dir, path)?)
    }
}

impl FsModuleLoader {
    /// Resolves `path` within the roots (see the module docs).
    fn resolve(&self, base_dir: Option<&Path>, path: &str) -> Result<PathBuf, LoadError> {
        let fail = |reason: String, errno: Errno| LoadError { path: path.to_string(), reason, errno };
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
        let resolved = normalize(&joined);
        let own_dir = base_dir.map(normalize);
        let Some(root) = roots.iter().chain(own_dir.as_ref()).find(|root| resolved.starts_with(root)) else {
            return Err(fail("outside the allowed module directories".into(), Errno::AccessDenied));
        };
        no_link_below(root, &resolved).map_err(|why| fail(why, Errno::AccessDenied))?;
        Ok(resolved)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_normalised_without_the_file_system() {
        assert_eq!(
            normalize(Path::new("/scheme/initfs/a/./b.wasm")),
            PathBuf::from("/scheme/initfs/a/b.wasm")
        );
        assert_eq!(normalize(Path::new("/a/b/../../../c")), PathBuf::from("/c"));
        assert_eq!(normalize(Path::new("x.wasm")), std::env::current_dir().unwrap().join("x.wasm"));
    }

    #[test]
    fn roots_are_kept_and_links_below_them_refused() {
        let dir = std::env::temp_dir().join(format!("wasmd-loader-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("mods")).unwrap();
        std::fs::create_dir_all(dir.join("other")).unwrap();
        std::fs::write(dir.join("mods/a.wasm"), b"\0asm").unwrap();
        std::fs::write(dir.join("other/b.wasm"), b"\0asm").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(dir.join("other"), dir.join("mods/link")).unwrap();
        let loader = FsModuleLoader::new([dir.join("mods/../mods")]);
        assert_eq!(loader.roots(), [dir.join("mods")]);
        let loaded = loader.load(None, "a.wasm").unwrap();
        assert_eq!(loaded.path, dir.join("mods/a.wasm"));
        assert_eq!(
            loader.load(Some(&dir.join("mods")), "../other/b.wasm").unwrap_err().errno,
            Errno::AccessDenied
        );
        #[cfg(unix)]
        {
            let err = loader.load(None, "link/b.wasm").unwrap_err();
            assert_eq!(err.errno, Errno::AccessDenied);
            assert!(err.reason.contains("symbolic link"), "{}", err.reason);
        }
        assert_eq!(AnyPathLoader.load(None, "relative.wasm").unwrap_err().errno, Errno::AccessDenied);
        let dir_err = AnyPathLoader.load(None, &dir.join("mods").display().to_string()).unwrap_err();
        assert_eq!(dir_err.errno, Errno::IsADirectory);
        assert!(dir_err.to_string().ends_with("mods`: it is a directory, not a module file"), "{dir_err}");
        assert_eq!(
            AnyPathLoader.load(None, &format!("{}/other/../mods/a.wasm", dir.display())).unwrap().path,
            dir.join("mods/a.wasm")
        );
        // Identifying makes the same checks as loading, without reading;
        // a rewrite changes the identity.
        let (path, before) = loader.identify(None, "a.wasm").unwrap().unwrap();
        assert_eq!(path, dir.join("mods/a.wasm"));
        for refused in ["../other/b.wasm", "link/b.wasm"] {
            assert_eq!(loader.identify(None, refused).unwrap_err().errno, Errno::AccessDenied, "{refused}");
        }
        assert_eq!(AnyPathLoader.identify(None, "relative.wasm").unwrap_err().errno, Errno::AccessDenied);
        std::fs::write(dir.join("mods/a.wasm"), b"\0asm\x01\0\0\0").unwrap();
        let (_, after) = loader.identify(None, "a.wasm").unwrap().unwrap();
        assert_ne!(before, after, "rewritten");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
