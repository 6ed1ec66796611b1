//! Copies a staging tree into the RedoxFS inside a disk image, with the
//! `redoxfs` crate as a library: no FUSE, no root.
//!
//! [`redoxfs::FileSystem::open`] finds the filesystem inside a whole
//! `harddrive.img` (it scans for the header; the installer puts it after
//! the partition table and bootloader). Directories are created as needed
//! (mode 0755); a file that exists is replaced; symlinked directories on
//! the way (Redox images link `/bin` and `/usr/bin` one way or the other)
//! are followed.

use std::path::{Path, PathBuf};

use redoxfs::{DiskFile, FileSystem, Node, Transaction, TreePtr};

use crate::HarnessError;

/// Most symlinks followed while resolving one path.
const MAX_LINKS: usize = 16;

fn fs_err(what: impl Into<String>) -> impl FnOnce(syscall::Error) -> HarnessError {
    let what = what.into();
    move |e| HarnessError::RedoxFs { what, errno: e.errno }
}

/// Opens the RedoxFS in `image`.
pub fn open(image: &Path) -> Result<FileSystem<DiskFile>, HarnessError> {
    let disk = DiskFile::open(image).map_err(fs_err(format!("opening {}", image.display())))?;
    FileSystem::open(disk, None, None, true)
        .map_err(fs_err(format!("no RedoxFS found in {}", image.display())))
}

/// Copies every file below `tree` into the image at the same path, with
/// its permission bits; returns the image paths written.
pub fn inject(image: &Path, tree: &Path) -> Result<Vec<String>, HarnessError> {
    let files = walk(tree)?;
    let mut fs = open(image)?;
    let mut written = Vec::new();
    for (rel, host) in files {
        use std::os::unix::fs::PermissionsExt;
        let meta =
            std::fs::metadata(&host).map_err(HarnessError::io(format!("reading {}", host.display())))?;
        let data = std::fs::read(&host).map_err(HarnessError::io(format!("reading {}", host.display())))?;
        let mode = (meta.permissions().mode() & 0o7777) as u16;
        let path = rel.clone();
        fs.tx(|tx| write_file(tx, &path, mode, &data)).map_err(fs_err(format!("writing /{rel}")))?;
        written.push(format!("/{rel}"));
    }
    Ok(written)
}

/// Files below `root`: (path relative to it with `/`, host path), sorted.
fn walk(root: &Path) -> Result<Vec<(String, PathBuf)>, HarnessError> {
    let mut out = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let entries =
            std::fs::read_dir(&dir).map_err(HarnessError::io(format!("listing {}", dir.display())))?;
        for entry in entries {
            let path = entry.map_err(HarnessError::io(format!("listing {}", dir.display())))?.path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                let rel = path.strip_prefix(root).unwrap_or(&path);
                let rel: Vec<String> =
                    rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
                out.push((rel.join("/"), path));
            }
        }
    }
    out.sort();
    Ok(out)
}

fn now() -> (u64, u32) {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    (t.as_secs(), t.subsec_nanos())
}

/// Writes one file at `path` (relative, `/`-separated), replacing any.
fn write_file(tx: &mut Transaction<DiskFile>, path: &str, mode: u16, data: &[u8]) -> syscall::Result<()> {
    let (secs, nanos) = now();
    let (dirs, name) = path.rsplit_once('/').unwrap_or(("", path));
    let parent = resolve_dir(tx, dirs, true)?;
    if let Ok(old) = tx.find_node(parent, name) {
        if old.data().is_dir() {
            return Err(syscall::Error::new(syscall::EISDIR));
        }
        tx.remove_node(parent, name, Node::MODE_FILE)?;
    }
    let node = tx.create_node(parent, name, Node::MODE_FILE | (mode & Node::MODE_PERM), secs, nanos)?;
    let written = tx.write_node(node.ptr(), 0, data, secs, nanos)?;
    if written != data.len() {
        return Err(syscall::Error::new(syscall::EIO));
    }
    Ok(())
}

/// The directory at `path` (relative), following symlinks; missing
/// directories are created (0755) when `create`, else `ENOENT`.
fn resolve_dir(tx: &mut Transaction<DiskFile>, path: &str, create: bool) -> syscall::Result<TreePtr<Node>> {
    let (secs, nanos) = now();
    let mut links = 0;
    let mut pending: Vec<String> = components(path).into_iter().rev().collect();
    let mut stack: Vec<TreePtr<Node>> = vec![TreePtr::root()];
    while let Some(name) = pending.pop() {
        let here = *stack.last().unwrap_or(&TreePtr::root());
        if name == ".." {
            if stack.len() > 1 {
                stack.pop();
            }
            continue;
        }
        let node = match tx.find_node(here, &name) {
            Ok(node) => node,
            Err(e) if e.errno == syscall::ENOENT && create => {
                tx.create_node(here, &name, Node::MODE_DIR | 0o755, secs, nanos)?
            }
            Err(e) => return Err(e),
        };
        if node.data().is_symlink() {
            links += 1;
            if links > MAX_LINKS {
                return Err(syscall::Error::new(syscall::ELOOP));
            }
            let mut target = vec![0u8; node.data().size() as usize];
            let n = tx.read_node(node.ptr(), 0, &mut target, secs, nanos)?;
            let target = String::from_utf8_lossy(&target[..n]).into_owned();
            if target.starts_with('/') {
                stack.truncate(1);
            }
            pending.extend(components(&target).into_iter().rev());
            continue;
        }
        if !node.data().is_dir() {
            return Err(syscall::Error::new(syscall::ENOTDIR));
        }
        stack.push(node.ptr());
    }
    Ok(*stack.last().unwrap_or(&TreePtr::root()))
}

fn components(path: &str) -> Vec<String> {
    path.split('/').filter(|c| !c.is_empty() && *c != ".").map(str::to_string).collect()
}

/// A file read back from the image: its mode (type and permission bits)
/// and content; symlinked directories on the way are followed.
pub fn read_back(image: &Path, path: &str) -> Result<(u16, Vec<u8>), HarnessError> {
    let mut fs = open(image)?;
    fs.tx(|tx| {
        let path = path.trim_start_matches('/');
        let (dirs, name) = path.rsplit_once('/').unwrap_or(("", path));
        let parent = resolve_dir(tx, dirs, false)?;
        let node = tx.find_node(parent, name)?;
        let mut data = vec![0u8; node.data().size() as usize];
        let n = tx.read_node(node.ptr(), 0, &mut data, 0, 0)?;
        data.truncate(n);
        Ok((node.data().mode(), data))
    })
    .map_err(fs_err(format!("reading back {path}")))
}
