//! The QEMU harness. The real boot needs a Redox image, QEMU and Redox
//! builds of wasmd, which CI does not have: it is an ignored test, run with
//! `REDOX_IMAGE=path/to/harddrive.img cargo test -p wasmd-qemu -- --ignored`
//! (and then fails, naming what is missing, rather than skipping). The
//! harness's own parts are tested here against the real QEMU with a boot
//! sector of ours.

use std::path::PathBuf;
use std::time::Duration;

use wasmd_qemu::{boot, harness, HarnessConfig, Outcome};

#[test]
#[ignore = "boots a real Redox under QEMU: needs REDOX_IMAGE (a Redox harddrive.img), qemu-system-x86_64 and \
            Redox builds of wasmd (WASMD_REDOX_BIN and WASMD_SMOKE_REDOX_BIN, or x86_64-unknown-redox-gcc \
            on PATH); run with -- --ignored"]
fn boots_redox_and_every_smoke_check_passes() {
    let config = HarnessConfig::from_env(
        PathBuf::from(wasmd_tests::GUESTS_DIR),
        PathBuf::from(wasmd_tests::WASI_GUESTS_DIR),
    );
    match harness(&config, &mut |line| eprintln!("{line}")).unwrap() {
        Outcome::Skipped(missing) => panic!("cannot boot Redox here: {}", missing.join("; ")),
        Outcome::Passed { accel, after, checks } => {
            for line in &checks {
                println!("{line}");
            }
            println!("PASS after {after:?} ({accel})");
            assert!(checks.len() >= 16, "every check reports: {checks:?}");
        }
        Outcome::Failed { reason, tail } => panic!("{reason}\n--- serial log (tail) ---\n{tail}"),
    }
}

#[test]
fn without_an_image_the_harness_skips_and_names_it() {
    let mut config = HarnessConfig::from_env(
        PathBuf::from(wasmd_tests::GUESTS_DIR),
        PathBuf::from(wasmd_tests::WASI_GUESTS_DIR),
    );
    config.image = None;
    config.qemu = PathBuf::from("/nonexistent/qemu-system-x86_64");
    match harness(&config, &mut |_| {}).unwrap() {
        Outcome::Skipped(missing) => {
            assert!(missing.iter().any(|m| m.contains("REDOX_IMAGE is not set")), "{missing:?}");
            assert!(missing.iter().any(|m| m.contains("/nonexistent/qemu-system-x86_64 is not installed")));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn markers_in_the_serial_log() {
    assert_eq!(boot::scan("booting\ninit: starting\n"), None);
    assert_eq!(boot::scan("x\nwasmd-smoke: ok spawn\nWASMD-SMOKE: PASS\n"), Some(Ok(())));
    assert_eq!(
        boot::scan("logd: WASMD-SMOKE: FAIL cat /scheme/wasm/ps: No such device\n"),
        Some(Err("smoke test failed: cat /scheme/wasm/ps: No such device".into()))
    );
    let long: String = (0..100).map(|i| format!("line {i}\n")).collect();
    let tail = boot::tail(long.as_bytes());
    assert!(tail.starts_with("line 60\n") && tail.ends_with("line 99"), "{tail}");
}

#[test]
fn qemu_runs_headless_with_the_serial_console_in_a_file() {
    let config = boot::BootConfig {
        qemu: "qemu-system-x86_64".into(),
        image: "/tmp/h.img".into(),
        serial: "/tmp/serial.log".into(),
        timeout: Duration::from_secs(1),
        accel: None,
        network: false,
    };
    let args = boot::qemu_args(&config, "tcg").join(" ");
    for needed in [
        "-vga none",
        "-nographic",
        "-serial file:/tmp/serial.log",
        "-accel tcg",
        "-cpu max",
        "-smp 1",
        "file=/tmp/h.img",
    ] {
        assert!(args.contains(needed), "{needed} missing from {args}");
    }
    assert!(boot::qemu_args(&config, "kvm").join(" ").contains("-accel kvm -cpu host"));
    assert!(args.ends_with("-net none"), "{args}");
    let networked = boot::BootConfig { network: true, ..config };
    let args = boot::qemu_args(&networked, "tcg").join(" ");
    assert!(args.ends_with("-netdev user,id=n0 -device e1000,netdev=n0"), "{args}");
}

/// A disk image whose boot sector prints `text` on the first serial port
/// and halts: enough to drive the real QEMU through [`boot::boot`].
fn serial_printer(path: &std::path::Path, text: &str) {
    // cli; xor ax,ax; mov ds,ax; mov si,0x7c16
    // next: lodsb; test al,al; jz done; mov dx,0x3f8; out dx,al; jmp next
    // done: hlt; jmp done
    let mut sector = vec![
        0xFA, 0x31, 0xC0, 0x8E, 0xD8, 0xBE, 0x16, 0x7C, 0xAC, 0x84, 0xC0, 0x74, 0x06, 0xBA, 0xF8, 0x03, 0xEE,
        0xEB, 0xF5, 0xF4, 0xEB, 0xFD,
    ];
    sector.extend_from_slice(text.as_bytes());
    sector.push(0);
    assert!(sector.len() <= 510);
    sector.resize(510, 0);
    sector.extend_from_slice(&[0x55, 0xAA]);
    sector.resize(1024 * 1024, 0);
    std::fs::write(path, sector).unwrap();
}

#[test]
fn the_real_qemu_boots_and_the_markers_decide() {
    if boot::find_program(std::path::Path::new("qemu-system-x86_64")).is_none() {
        println!("skipped: qemu-system-x86_64 is not installed");
        return;
    }
    let dir = std::env::temp_dir().join(format!("wasmd-qemu-boot-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // Boots `text`; the outcome and how often the node-stop hook ran.
    let boot_counting = |name: &str, text: &str, accel: Option<&str>, timeout: u64| {
        let image = dir.join(format!("{name}.img"));
        serial_printer(&image, text);
        let mut stops = 0;
        let config = boot::BootConfig {
            qemu: "qemu-system-x86_64".into(),
            image,
            serial: dir.join(format!("{name}.log")),
            timeout: Duration::from_secs(timeout),
            accel: accel.map(str::to_string),
            network: false,
        };
        let outcome = boot::boot(&config, Some(&mut || stops += 1)).unwrap();
        (outcome, stops)
    };
    let run = |name: &str, text: &str, accel: Option<&str>, timeout: u64| {
        let (outcome, stops) = boot_counting(name, text, accel, timeout);
        assert_eq!(stops, 0, "{name}: nothing asked for a node to stop");
        outcome
    };
    match run("pass-tcg", "booting\r\nWASMD-SMOKE: PASS\r\n", Some("tcg"), 60) {
        Outcome::Passed { accel, .. } => assert_eq!(accel, "tcg"),
        other => panic!("{other:?}"),
    }
    // The smoke test's request to stop the other node runs the hook, once.
    let (outcome, stops) =
        boot_counting("stop", "wasmd-smoke: stop node host\r\nWASMD-SMOKE: PASS\r\n", Some("tcg"), 60);
    assert!(matches!(outcome, Outcome::Passed { .. }), "{outcome:?}");
    assert_eq!(stops, 1);
    // Automatic choice: KVM when it works here, else TCG.
    assert!(matches!(run("pass-auto", "WASMD-SMOKE: PASS\r\n", None, 60), Outcome::Passed { .. }));
    match run("fail", "init: up\r\nWASMD-SMOKE: FAIL ls /scheme/wasm: No such device\r\n", Some("tcg"), 60) {
        Outcome::Failed { reason, tail } => {
            assert_eq!(reason, "smoke test failed: ls /scheme/wasm: No such device");
            assert!(tail.contains("init: up"), "{tail}");
        }
        other => panic!("{other:?}"),
    }
    match run("silent", "kernel: hello\r\n", Some("tcg"), 10) {
        Outcome::Failed { reason, tail } => {
            assert_eq!(reason, "no WASMD-SMOKE marker within 10 s");
            // The serial log so far comes with it (how far the boot got in
            // the time depends on the machine's load).
            assert!(tail.contains("SeaBIOS"), "{tail}");
        }
        other => panic!("{other:?}"),
    }
    let _ = std::fs::remove_dir_all(&dir);
}
