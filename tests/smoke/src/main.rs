//! `wasmd-smoke [GUEST_DIR]`: runs the smoke sequence against the live
//! `/scheme/wasm` (default guests: `/usr/share/wasmd`) and prints
//! `WASMD-SMOKE: PASS` or `WASMD-SMOKE: FAIL <reason>`; the exit code is 0
//! on success, 1 on failure. Started by an init unit in the QEMU harness,
//! its standard output reaches the serial console through the log daemon.

use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let guests = std::env::args().nth(1).unwrap_or_else(|| "/usr/share/wasmd".into());
    let result = wasmd_smoke::run(&mut wasmd_smoke::StdTree, &guests, &mut |step| {
        println!("wasmd-smoke: ok {step}");
    });
    let (line, code) = match result {
        Ok(()) => (wasmd_smoke::PASS.to_string(), ExitCode::SUCCESS),
        Err(reason) => (format!("{} {reason}", wasmd_smoke::FAIL), ExitCode::FAILURE),
    };
    println!("{line}");
    let _ = std::io::stdout().flush();
    // The kernel's debug console too, in case standard output is not the
    // serial console in this image.
    if let Ok(mut debug) = std::fs::OpenOptions::new().write(true).open("/scheme/debug") {
        let _ = writeln!(debug, "{line}");
    }
    code
}
