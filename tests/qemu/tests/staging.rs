//! The staging tree: every file at its path, with its mode and content.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use wasmd_qemu::redox_build::Binaries;
use wasmd_qemu::stage;

fn temp(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wasmd-qemu-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Stand-ins for the Redox builds (their bytes are only copied).
pub fn fake_binaries(dir: &std::path::Path) -> Binaries {
    let wasmd = dir.join("wasmd.bin");
    let smoke = dir.join("wasmd-smoke.bin");
    std::fs::write(&wasmd, b"\x7fELF redox wasmd").unwrap();
    std::fs::write(&smoke, b"\x7fELF redox wasmd-smoke").unwrap();
    Binaries { wasmd, smoke }
}

#[test]
fn staging_writes_a_redox_root() {
    let dir = temp("stage");
    let inputs = stage::Inputs {
        binaries: fake_binaries(&dir),
        guests: PathBuf::from(wasmd_tests::GUESTS_DIR),
        wasi_guests: PathBuf::from(wasmd_tests::WASI_GUESTS_DIR),
        wasi_suite: None,
    };
    let out = dir.join("root");
    let files = stage::stage(&out, &inputs).unwrap();
    let mut expected = vec![
        ("usr/bin/wasmd".to_string(), 0o755),
        ("usr/bin/wasmd-smoke".to_string(), 0o755),
        ("usr/lib/init.d/20_wasmd.service".to_string(), 0o644),
        ("usr/lib/init.d/25_wasmd_smoke.service".to_string(), 0o644),
    ];
    for name in stage::EXAMPLES {
        expected.push((format!("usr/share/wasmd/{name}.wasm"), 0o644));
    }
    for name in stage::SMOKE_FIXTURES {
        expected.push((format!("usr/share/wasmd/smoke/{name}.wasm"), 0o644));
    }
    for name in ["wasi_hello", "wasi_fs", "wasi_time", "wasi_panic"] {
        expected.push((format!("usr/share/wasmd/smoke/wasi/{name}.wasm"), 0o644));
    }
    expected.sort();
    let mut staged: Vec<(String, u32)> = files.iter().map(|f| (f.path.clone(), f.mode)).collect();
    staged.sort();
    assert_eq!(staged, expected);
    for (path, mode) in &expected {
        let on_disk = out.join(path);
        let meta = std::fs::metadata(&on_disk).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, *mode, "{path}");
        let data = std::fs::read(&on_disk).unwrap();
        assert_eq!(&data, &files.iter().find(|f| &f.path == path).unwrap().data, "{path}");
    }
    assert_eq!(std::fs::read(out.join("usr/bin/wasmd")).unwrap(), b"\x7fELF redox wasmd");
    let hello = std::fs::read(out.join("usr/share/wasmd/hello.wasm")).unwrap();
    assert_eq!(&hello[..4], b"\0asm");
    // Nothing else is in the tree.
    let count = walk_count(&out);
    assert_eq!(count, expected.len());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_wasi_testsuite_tests_are_staged_by_name_with_their_specs() {
    let dir = temp("suite");
    let suite = dir.join("wasm32-wasip1");
    std::fs::create_dir_all(suite.join("fs-tests.dir")).unwrap();
    std::fs::write(suite.join("fs-tests.dir/.keep"), b"").unwrap();
    std::fs::write(suite.join("fs-tests.dir/left.cleanup"), b"").unwrap();
    for file in ["fd_readdir.wasm", "clock_time_get.wasm", "big_random_buf.wasm", "sched_yield.wasm"] {
        std::fs::write(suite.join(file), b"\0asm\x01\0\0\0").unwrap();
    }
    for spec in ["fd_readdir.json", "big_random_buf.json"] {
        std::fs::write(suite.join(spec), br#"{"root": "fs-tests.dir", "args": []}"#).unwrap();
    }
    assert_eq!(stage::suite_tests(&suite).unwrap(), ["clock_time_get", "fd_readdir"]);
    let inputs = stage::Inputs {
        binaries: fake_binaries(&dir),
        guests: PathBuf::from(wasmd_tests::GUESTS_DIR),
        wasi_guests: PathBuf::from(wasmd_tests::WASI_GUESTS_DIR),
        wasi_suite: Some(suite),
    };
    let files = stage::stage(&dir.join("root"), &inputs).unwrap();
    let mut staged: Vec<&str> =
        files.iter().filter_map(|f| f.path.strip_prefix("usr/share/wasmd/smoke/wasi-suite/")).collect();
    staged.sort();
    // The directory the specs name comes along (once), without the
    // suite's leftovers.
    assert_eq!(staged, ["clock_time_get.wasm", "fd_readdir.json", "fd_readdir.wasm", "fs-tests.dir/.keep"]);
    let _ = std::fs::remove_dir_all(&dir);
}

fn walk_count(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| if p.is_dir() { walk_count(&p) } else { 1 })
        .sum()
}

#[test]
fn the_units_start_wasmd_as_the_wasm_scheme_and_the_smoke_test_after_it() {
    let wasmd = stage::WASMD_UNIT;
    assert!(wasmd.contains("[unit]") && wasmd.contains("[service]"), "{wasmd}");
    assert!(wasmd.contains(r#"cmd = "wasmd""#), "{wasmd}");
    assert!(wasmd.contains(r#"type = { scheme = "wasm" }"#), "{wasmd}");
    assert!(wasmd.contains(r#"requires_weak = ["00_base.target"]"#), "{wasmd}");
    let smoke = stage::SMOKE_UNIT;
    assert!(smoke.contains(r#"cmd = "wasmd-smoke""#), "{smoke}");
    assert!(smoke.contains(r#"requires_weak = ["20_wasmd.service"]"#), "{smoke}");
    assert!(smoke.contains(r#"type = "oneshot""#), "{smoke}");
}

#[test]
fn missing_inputs_are_named() {
    let dir = temp("missing");
    let inputs = stage::Inputs {
        binaries: Binaries { wasmd: dir.join("nope"), smoke: dir.join("nope2") },
        guests: PathBuf::from(wasmd_tests::GUESTS_DIR),
        wasi_guests: PathBuf::from(wasmd_tests::WASI_GUESTS_DIR),
        wasi_suite: None,
    };
    let err = stage::stage(&dir.join("root"), &inputs).unwrap_err().to_string();
    assert!(err.contains("nope"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_recipe_and_the_config_fragment_install_what_the_harness_stages() {
    let root = wasmd_qemu::redox_build::workspace_root();
    let recipe = std::fs::read_to_string(root.join("recipes/wasmd/recipe.toml")).unwrap();
    for needed in [
        "--package wasmd",
        "--locked",
        "usr/bin/wasmd",
        "--package wasmd-examples",
        "--target wasm32-unknown-unknown",
        "-Zbuild-std=core,alloc",
        "usr/share/wasmd",
        "20_wasmd.service",
        "usr/lib/init.d/20_wasmd.service",
        "export CARGO_NET_OFFLINE=true",
        // Man pages and completions, generated on the build host.
        "--package xtask",
        "gen-docs \"${COOKBOOK_STAGE}\"",
    ] {
        assert!(recipe.contains(needed), "recipe.toml lacks {needed}");
    }
    // The build never reaches for the network: every cargo (the daemon,
    // the guests, the docs' generator) runs offline, nothing is installed.
    let script = &recipe[recipe.find("script = \"\"\"").unwrap()..];
    assert!(!script.contains("rustup"), "the build installs a toolchain:\n{script}");
    assert_eq!(script.matches("--offline").count(), 3, "{script}");
    // The examples the harness stages are the examples package's programs.
    let bins = std::fs::read_dir(root.join("guests/examples/src/bin")).unwrap();
    let mut names: Vec<String> =
        bins.map(|e| e.unwrap().path().file_stem().unwrap().to_string_lossy().into_owned()).collect();
    names.sort();
    let mut examples: Vec<&str> = stage::EXAMPLES.to_vec();
    examples.sort();
    assert_eq!(names, examples);
    // What the build compiles is fetched beforehand, the guests' standard
    // library crates included.
    let fetch = std::fs::read_to_string(root.join("recipes/wasmd/fetch-crates.sh")).unwrap();
    for needed in
        ["cargo fetch --locked --manifest-path Cargo.toml", "guests/Cargo.toml", "-Zbuild-std=core,alloc"]
    {
        assert!(fetch.contains(needed), "fetch-crates.sh lacks {needed}");
    }
    let config = std::fs::read_to_string(root.join("cookbook/wasmd.toml")).unwrap();
    assert!(config.contains("include = [\"minimal.toml\"]"), "{config}");
    assert!(config.contains("[packages]\nwasmd = {}"), "{config}");
    assert!(config.contains("path = \"/etc/login_schemes.toml\""), "{config}");
    let user = &config[config.find("[user_schemes.user]").unwrap()..];
    assert!(user.contains("\"wasm\""), "{user}");
}
