//! Guest fs hostcalls: a guest using another guest's scheme in-process,
//! host files confined to a root (no escape by `..`, links or FIFOs),
//! namespace grants and access modes, and directory listings that stay
//! linear in their size.

mod common;

use common::{expect_fs_session, temp_dir, Harness};
use wasmd_abi::{Caps, ExitStatus};

fn provider_caps() -> Caps {
    Caps::DEFAULT.union(Caps::SCHEME_PROVIDE)
}

#[test]
fn a_guest_uses_a_guest_ramfs_in_process() {
    let mut h = Harness::new();
    let ramfs = h.guest_with("ramfs", &[], provider_caps(), &[]);
    h.pm.run(4);
    let client = h.guest_with("fs_client", &["ramfs:"], Caps::DEFAULT, &["ramfs:"]);
    h.run_until_exit(client, 20);
    expect_fs_session(&h, client);
    h.pm.kill(ramfs).unwrap();
}

#[test]
fn grants_are_enforced() {
    let mut h = Harness::new();
    let ramfs = h.guest_with("ramfs", &[], provider_caps(), &[]);
    h.pm.run(4);
    // No grant at all.
    let none = h.guest_with("fs_client", &["ramfs:", "ramfs:/x"], Caps::DEFAULT, &[]);
    h.run_until_exit(none, 20);
    let kv = h.kv(none);
    for key in ["mkdir", "write", "read", "readdir", "open:ramfs:/x"] {
        assert_eq!(kv[key], "err:13", "{key}");
    }
    // Read-only: reading is allowed (the file is missing), writing is not.
    let ro = h.guest_with(
        "fs_client",
        &["ramfs:", "ramfs:/nope", "ramfs:/../escape"],
        Caps::DEFAULT,
        &["ramfs:=ro"],
    );
    h.run_until_exit(ro, 20);
    let kv = h.kv(ro);
    assert_eq!(kv["mkdir"], "err:13");
    assert_eq!(kv["write"], "err:13");
    assert_eq!(kv["read"], "err:2");
    assert_eq!(kv["open:ramfs:/nope"], "err:2");
    assert_eq!(kv["open:ramfs:/../escape"], "err:13", "climbing above the root");
    // A grant for one prefix does not cover another, nor other schemes.
    let narrow = h.guest_with(
        "fs_client",
        &["ramfs:/a", "ramfs:/b/x", "file:/etc/passwd"],
        Caps::DEFAULT,
        &["ramfs:/a"],
    );
    h.run_until_exit(narrow, 20);
    let kv = h.kv(narrow);
    assert_eq!(kv["open:ramfs:/b/x"], "err:13");
    assert_eq!(kv["open:file:/etc/passwd"], "err:13");
    // Inside the grant: it reaches the provider, which has no /a.
    assert_eq!(kv["mkdir"], "err:2");
    h.pm.kill(ramfs).unwrap();
}

#[test]
fn host_files_stay_inside_the_root() {
    let root = temp_dir("fsroot");
    let outside = temp_dir("outside");
    std::fs::write(outside.join("secret"), b"s3cr3t").unwrap();
    std::os::unix::fs::symlink(&outside, root.join("escape")).unwrap();
    let mut h = Harness::with_fs_root(&root);
    let extra = ["file:/../secret", "file:/escape/secret", "file:/escape"];
    let mut args = vec!["file:/"];
    args.extend(extra);
    let pid = h.guest_with("fs_client", &args, Caps::DEFAULT, &["file:/"]);
    h.run_until_exit(pid, 20);
    expect_fs_session(&h, pid);
    let kv = h.kv(pid);
    assert_eq!(kv["open:file:/../secret"], "err:13", "`..` cannot leave the root");
    assert_eq!(kv["open:file:/escape/secret"], "err:13", "a symlink cannot leave the root");
    assert_eq!(kv["open:file:/escape"], "err:13");
    // The session cleaned up after itself, on the real disk.
    let left: Vec<_> = std::fs::read_dir(&root).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, vec![std::ffi::OsString::from("escape")]);
    // Without a root, `file:` is refused even with a grant.
    let mut h = Harness::new();
    let pid = h.guest_with("fs_client", &["file:/"], Caps::DEFAULT, &["file:/"]);
    h.run_until_exit(pid, 20);
    assert_eq!(h.kv(pid)["mkdir"], "err:13");
    let _ = std::fs::remove_dir_all(root);
    let _ = std::fs::remove_dir_all(outside);
}

#[test]
fn a_lying_provider_cannot_write_past_a_clients_buffer() {
    // Answers longer than the request, write counts above what was
    // written and absurd sizes are EIO; the client's memory and file
    // position stay as they were.
    let mut h = Harness::new();
    let faulty = h.guest_with("faulty_scheme", &[], provider_caps(), &[]);
    h.pm.run(4);
    let path = wasmd_tests::wat("liar_client");
    let client = h.spawn_file_ns(&path, &[], Caps::DEFAULT, wasmhost::Limits::default(), &["faulty:"]);
    h.run_until_exit(client, 20);
    assert_eq!(h.status(client), Some(ExitStatus::Exited(0)), "first failed check");
    h.pm.kill(faulty).unwrap();
}

#[test]
fn access_modes_hold_on_every_call_not_only_at_open() {
    let root = temp_dir("modes");
    let mut h = Harness::with_fs_root(&root);
    let ramfs = h.guest_with("ramfs", &[], provider_caps(), &[]);
    h.pm.run(4);
    let path = wasmd_tests::wat("access_modes");
    for (file, grant) in [("ramfs:/m.txt", "ramfs:"), ("file:/m.txt", "file:/=rw")] {
        let client = h.spawn_file_ns(&path, &[file], Caps::DEFAULT, wasmhost::Limits::default(), &[grant]);
        h.run_until_exit(client, 20);
        assert_eq!(h.status(client), Some(ExitStatus::Exited(0)), "{file}: first failed check");
    }
    h.pm.kill(ramfs).unwrap();
}

#[test]
fn symlinks_cannot_take_a_guest_out_of_its_grant() {
    // The daemon's file root holds two tenants' directories; the guest is
    // granted only `/sandbox`, where someone left links pointing out.
    let root = temp_dir("grant");
    std::fs::create_dir_all(root.join("sandbox")).unwrap();
    std::fs::create_dir_all(root.join("other")).unwrap();
    std::fs::write(root.join("other/victim.txt"), b"another tenant's").unwrap();
    std::os::unix::fs::symlink("..", root.join("sandbox/up")).unwrap();
    std::os::unix::fs::symlink("../other", root.join("sandbox/other")).unwrap();
    std::os::unix::fs::symlink("inside.txt", root.join("sandbox/alias")).unwrap();
    std::fs::write(root.join("sandbox/inside.txt"), b"mine").unwrap();
    let mut h = Harness::with_fs_root(&root);
    for base in ["file:/sandbox/up/other", "file:/sandbox/other"] {
        let args = [
            base,
            "file:/sandbox/up/other/victim.txt",
            "file:/sandbox/other/victim.txt",
            "file:/sandbox/alias",
            "rm:file:/sandbox/other/victim.txt",
            "rm:file:/sandbox/up/other/victim.txt",
        ];
        let pid = h.guest_with("fs_client", &args, Caps::DEFAULT, &["file:/sandbox=rw"]);
        h.run_until_exit(pid, 20);
        let kv = h.kv(pid);
        // Create, mkdir, read, list and delete through the links: refused.
        for key in ["mkdir", "write", "read", "readdir", "unlink", "rmdir"] {
            assert_eq!(kv[key], "err:13", "{base}: {key}");
        }
        for key in [
            "open:file:/sandbox/up/other/victim.txt",
            "open:file:/sandbox/other/victim.txt",
            "rm:file:/sandbox/other/victim.txt",
            "rm:file:/sandbox/up/other/victim.txt",
        ] {
            assert_eq!(kv[key], "err:13", "{base}: {key}");
        }
        // A link that stays inside the grant still works.
        assert_eq!(kv["open:file:/sandbox/alias"], "ok:()");
    }
    assert_eq!(std::fs::read(root.join("other/victim.txt")).unwrap(), b"another tenant's");
    assert!(!root.join("other/dir").exists());
    let _ = std::fs::remove_dir_all(root);
}

#[test]
fn a_fifo_in_the_sandbox_cannot_hold_up_io_or_spawns() {
    let root = temp_dir("fifo");
    let status = std::process::Command::new("mkfifo").arg(root.join("pipe")).status().unwrap();
    assert!(status.success());
    let mut h = Harness::with_fs_root(&root);
    // Several guests open the FIFO (no writer will ever come): refused at
    // once, so no I/O thread is held.
    let openers: Vec<u32> = (0..8)
        .map(|_| h.guest_with("fs_client", &["file:/", "file:/pipe"], Caps::DEFAULT, &["file:/"]))
        .collect();
    for pid in &openers {
        h.run_until_exit(*pid, 20);
        assert_eq!(h.kv(*pid)["open:file:/pipe"], "err:13");
    }
    // Spawns (module loading) and other guests' file I/O go on.
    let client = h.guest_with("fs_client", &["file:/"], Caps::DEFAULT, &["file:/"]);
    h.run_until_exit(client, 20);
    expect_fs_session(&h, client);
    let _ = std::fs::remove_dir_all(root);
}

#[test]
fn a_big_host_directory_lists_in_linear_time() {
    let root = temp_dir("bigdir");
    std::fs::create_dir_all(root.join("big")).unwrap();
    for i in 0..30_000 {
        std::fs::write(root.join(format!("big/f{i:05}")), b"").unwrap();
    }
    let mut h = Harness::with_fs_root(&root);
    let pid = h.guest_with("lister", &["file:/big"], Caps::DEFAULT, &["file:/=ro"]);
    // Quadratic paging took 7-17 s here; linear takes well under a second.
    h.run_until_exit(pid, 20);
    assert_eq!(h.status(pid), Some(ExitStatus::Exited(0)), "{}", h.stderr(pid));
    assert_eq!(h.stdout(pid).trim(), "count=30000 first=f00000 last=f29999");
    let _ = std::fs::remove_dir_all(root);
}

#[test]
fn a_big_guest_scheme_directory_lists_in_linear_time() {
    let mut h = Harness::new();
    let provider = h.guest_with("big_dir", &["60000"], provider_caps(), &[]);
    h.pm.run(4);
    let pid = h.guest_with("lister", &["big:"], Caps::DEFAULT, &["big:"]);
    h.run_until_exit(pid, 60);
    assert_eq!(h.status(pid), Some(ExitStatus::Exited(0)), "{}", h.stderr(pid));
    assert_eq!(h.stdout(pid).trim(), "count=60000 first=e00000 last=e59999");
    // The provider built its 60,000 entries once, not once per page of 64
    // (938 times: the 15-20 s stall).
    assert_eq!(h.stdout(provider).matches("listing taken").count(), 1, "{}", h.stdout(provider));
    h.pm.kill(provider).unwrap();
}
