//! Injection into a RedoxFS image that the test makes itself with the
//! `redoxfs` crate, laid out like a Redox `harddrive.img` (the filesystem
//! after 2 MiB of other data, symlinked directories, existing files).

use std::path::{Path, PathBuf};

use redoxfs::{DiskFile, FileSystem, Node, TreePtr};

fn temp(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wasmd-qemu-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A 64 MiB image: 2 MiB of "bootloader" bytes, then a RedoxFS holding
/// `/usr/lib/init.d/00_base.target`, an old `/usr/bin/wasmd`, a real
/// `/share` directory with `/usr/share` linking to it, and `/bin` linking
/// to `usr/bin`.
fn make_image(path: &Path) {
    let disk = DiskFile::create(path, 64 * 1024 * 1024).unwrap();
    let reserved = vec![0xAB; 2 * 1024 * 1024];
    let mut fs = FileSystem::create_reserved(disk, None, &reserved, 0, 0).unwrap();
    fs.tx(|tx| {
        let dir = |tx: &mut redoxfs::Transaction<DiskFile>, parent, name| {
            tx.create_node(parent, name, Node::MODE_DIR | 0o755, 0, 0).map(|n| n.ptr())
        };
        let link = |tx: &mut redoxfs::Transaction<DiskFile>, parent, name, target: &str| {
            let n = tx.create_node(parent, name, Node::MODE_SYMLINK | 0o777, 0, 0)?;
            tx.write_node(n.ptr(), 0, target.as_bytes(), 0, 0).map(|_| ())
        };
        let usr = dir(tx, TreePtr::root(), "usr")?;
        let bin = dir(tx, usr, "bin")?;
        let old = tx.create_node(bin, "wasmd", Node::MODE_FILE | 0o700, 0, 0)?;
        tx.write_node(old.ptr(), 0, b"an old wasmd that is much longer than the new one", 0, 0)?;
        let lib = dir(tx, usr, "lib")?;
        let initd = dir(tx, lib, "init.d")?;
        let base = tx.create_node(initd, "00_base.target", Node::MODE_FILE | 0o644, 0, 0)?;
        tx.write_node(base.ptr(), 0, b"[unit]\ndescription = \"base\"\n", 0, 0)?;
        dir(tx, TreePtr::root(), "share")?;
        link(tx, usr, "share", "../share")?;
        link(tx, TreePtr::root(), "bin", "usr/bin")?;
        Ok(())
    })
    .unwrap();
}

fn tree(dir: &Path) -> Vec<(String, u32, Vec<u8>)> {
    use std::os::unix::fs::PermissionsExt;
    let files: Vec<(String, u32, Vec<u8>)> = vec![
        ("usr/bin/wasmd".into(), 0o755, b"\x7fELF new wasmd".to_vec()),
        ("usr/bin/wasmd-smoke".into(), 0o755, b"\x7fELF smoke".to_vec()),
        ("usr/share/wasmd/hello.wasm".into(), 0o644, std::fs::read(wasmd_tests::guest("hello")).unwrap()),
        ("usr/lib/init.d/20_wasmd.service".into(), 0o644, wasmd_qemu::stage::WASMD_UNIT.as_bytes().to_vec()),
    ];
    for (path, mode, data) in &files {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, data).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(*mode)).unwrap();
    }
    files
}

#[test]
fn every_file_lands_at_its_path_with_its_mode_and_content() {
    let dir = temp("inject");
    let image = dir.join("harddrive.img");
    make_image(&image);
    let files = tree(&dir.join("stage"));
    let written = wasmd_qemu::inject::inject(&image, &dir.join("stage")).unwrap();
    let mut expected: Vec<String> = files.iter().map(|(p, _, _)| format!("/{p}")).collect();
    expected.sort();
    assert_eq!(written, expected);
    for (path, mode, data) in &files {
        let (got_mode, got) = wasmd_qemu::inject::read_back(&image, path).unwrap();
        assert_eq!(got_mode & Node::MODE_TYPE, Node::MODE_FILE, "{path}");
        assert_eq!(u32::from(got_mode & Node::MODE_PERM), *mode, "{path}");
        assert_eq!(&got, data, "{path}");
    }
    // The old wasmd was replaced, not overwritten in place.
    let (_, wasmd) = wasmd_qemu::inject::read_back(&image, "usr/bin/wasmd").unwrap();
    assert_eq!(wasmd, b"\x7fELF new wasmd");
    // What was there stays.
    let (_, base) = wasmd_qemu::inject::read_back(&image, "usr/lib/init.d/00_base.target").unwrap();
    assert_eq!(base, b"[unit]\ndescription = \"base\"\n");
    // Symlinked directories were followed: the guest is in the real /share,
    // and /bin/wasmd is /usr/bin/wasmd.
    let (_, hello) = wasmd_qemu::inject::read_back(&image, "share/wasmd/hello.wasm").unwrap();
    assert_eq!(&hello[..4], b"\0asm");
    let (_, via_bin) = wasmd_qemu::inject::read_back(&image, "bin/wasmd").unwrap();
    assert_eq!(via_bin, b"\x7fELF new wasmd");
    // Injecting again is idempotent.
    wasmd_qemu::inject::inject(&image, &dir.join("stage")).unwrap();
    let (_, again) = wasmd_qemu::inject::read_back(&image, "usr/bin/wasmd-smoke").unwrap();
    assert_eq!(again, b"\x7fELF smoke");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_image_without_redoxfs_is_a_clear_error() {
    let dir = temp("nofs");
    let image = dir.join("blank.img");
    std::fs::write(&image, vec![0u8; 1024 * 1024]).unwrap();
    std::fs::create_dir_all(dir.join("stage")).unwrap();
    std::fs::write(dir.join("stage/x"), b"x").unwrap();
    let err = wasmd_qemu::inject::inject(&image, &dir.join("stage")).unwrap_err().to_string();
    assert!(err.contains("no RedoxFS found"), "{err}");
    let missing = wasmd_qemu::inject::read_back(&image, "x");
    assert!(missing.is_err());
    let _ = std::fs::remove_dir_all(&dir);
}
