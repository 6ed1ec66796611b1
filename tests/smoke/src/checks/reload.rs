//! Hot reload inside Redox (`reload`): a guest serving a scheme in the
//! Redox namespace is reloaded with `wasmd reload` and keeps its pid, its
//! scheme (read by native `cat`-style reads of `/scheme/NAME`), its region
//! and its state; a reload of a sleeping process is refused with
//! `--no-wait` and waits for the sleep without it; a supervisor reloads
//! its linked child through the hostcall. (On Linux the same is
//! `tests/tests/reload.rs` and `schemes/tests/daemon_reload.rs`.)

use std::time::{Duration, Instant};

use super::check;
use super::cli::wasmd;
use crate::{eventually, Outcome, Setup};

/// The scheme's status line, read as any native program reads it.
fn query(name: &str) -> Result<String, String> {
    std::fs::read_to_string(format!("/scheme/{name}/x"))
        .map(|s| s.trim().to_string())
        .map_err(|e| format!("read /scheme/{name}/x: {e}"))
}

pub(super) fn reload(setup: &Setup) -> Outcome {
    let mut tree = match setup.tree() {
        Ok(t) => t,
        Err(e) => return Outcome::Fail(e),
    };
    if tree.native().is_none() {
        return Outcome::Skip("on Linux: tests/tests/reload.rs and schemes/tests/daemon_reload.rs".into());
    }
    (|| {
        let (v1, v2) = (setup.fixture("reload_v1"), setup.fixture("reload_v2"));
        let (code, pid, err) = wasmd(&["spawn", "cap=stdio,time,scheme,shm", &v1, "serve", "smoke-rl"])?;
        check(code == 0, || format!("spawn reload_v1: {err}"))?;
        let pid = pid.trim().to_string();
        eventually("the scheme in the Redox namespace", Duration::from_secs(20), || {
            Ok(query("smoke-rl").is_ok_and(|l| l == "v1 n=1 r=7"))
        })?;
        let started = Instant::now();
        let (code, _, err) = wasmd(&["reload", &pid, &v2])?;
        let took = started.elapsed();
        check(code == 0, || format!("wasmd reload {pid}: exit {code}: {err}"))?;
        let line = query("smoke-rl")?;
        check(line == "v2 n=2 r=7", || format!("after the reload /scheme/smoke-rl/x gave `{line}`"))?;
        let (_, status, _) = wasmd(&["status", &pid])?;
        check(status.contains("reloads: 1"), || format!("status after the reload: {status}"))?;
        let (code, _, err) = wasmd(&["reload", &pid, "/usr/share/wasmd/smoke/missing.wasm"])?;
        check(code != 0 && err.contains("missing.wasm"), || {
            format!("reload of a missing module: {code} {err}")
        })?;
        let line = query("smoke-rl")?;
        check(line == "v2 n=3 r=7", || format!("after a failed reload: `{line}`"))?;
        wasmd(&["kill", &pid])?;

        // Parked in sleep: refused with --no-wait, else waited for.
        let (code, sleeper, err) = wasmd(&["spawn", "cap=stdio,time", &v1, "sleep-then-receive", "2000"])?;
        check(code == 0, || format!("spawn sleeper: {err}"))?;
        let sleeper = sleeper.trim().to_string();
        eventually("the sleeper parks", Duration::from_secs(20), || {
            Ok(wasmd(&["status", &sleeper])?.1.contains("state: blocked"))
        })?;
        let (code, _, err) = wasmd(&["reload", "--no-wait", &sleeper, &v2])?;
        check(code != 0 && err.contains("parked in sleep"), || {
            format!("--no-wait while asleep: {code} {err}")
        })?;
        let (code, _, err) = wasmd(&["reload", &sleeper, &v2])?;
        check(code == 0, || format!("reload of the sleeper: {err}"))?;
        let (_, log, _) = wasmd(&["log", "--stdout", &sleeper])?;
        check(log.starts_with("v1 awake"), || format!("the sleep ended first: {log}"))?;
        wasmd(&["kill", &sleeper])?;

        // A supervisor reloading its linked child through the hostcall.
        let (code, sup, err) =
            wasmd(&["spawn", "cap=stdio,time,spawn,scheme,shm", "grant=sv:", &v1, "supervise-reload", &v2])?;
        check(code == 0, || format!("spawn supervise-reload: {err}"))?;
        let sup = sup.trim().to_string();
        let (code, _, err) = wasmd(&["wait", &sup])?;
        let (_, log, _) = wasmd(&["log", &sup])?;
        check(code == 0 && log.contains("ok supervise-reload"), || {
            format!("supervise-reload: {code} {err} {log}")
        })?;
        Ok(format!(
            "pid {pid} kept its scheme, region and state across `wasmd reload` ({} ms, CLI included); \
             --no-wait refused while asleep; a supervisor reloaded its linked child",
            took.as_millis()
        ))
    })()
    .into()
}
