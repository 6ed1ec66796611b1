//! Mailboxes, links, monitors, supervisors and names inside Redox
//! (`actors`): the `actors` and `supervision` fixtures' scenarios, each
//! spawned through the CLI and waited for (every one must exit 0), and a
//! registered name seen in `/scheme/wasm/name/` until its process ends.
//! (On Linux the same scenarios are `tests/tests/actors.rs` and
//! `tests/tests/supervision.rs`.)

use std::time::Duration;

use super::check;
use super::cli::wasmd;
use crate::{eventually, Outcome, Setup};

/// Spawns `FIXTURE ARGS` and waits for it: its stdout, or why it failed.
fn scenario(setup: &Setup, fixture: &str, args: &[&str]) -> Result<String, String> {
    let module = setup.fixture(fixture);
    let mut words = vec!["spawn", "cap=stdio,time,spawn", module.as_str()];
    words.extend_from_slice(args);
    let (code, pid, err) = wasmd(&words)?;
    check(code == 0, || format!("spawn {fixture} {args:?}: exit {code}: {err}"))?;
    let pid = pid.trim().to_string();
    let (code, _, err) = wasmd(&["wait", &pid])?;
    let (_, log, _) = wasmd(&["log", &pid])?;
    check(code == 0, || format!("{fixture} {args:?} (pid {pid}) exited {code}: {err} {log}"))?;
    Ok(log)
}

pub(super) fn actors(setup: &Setup) -> Outcome {
    let mut tree = match setup.tree() {
        Ok(t) => t,
        Err(e) => return Outcome::Fail(e),
    };
    if tree.native().is_none() {
        return Outcome::Skip("on Linux: tests/tests/actors.rs and tests/tests/supervision.rs".into());
    }
    (|| {
        for mode in ["selective", "full", "transfer", "trap", "monitor"] {
            let log = scenario(setup, "actors", &[mode])?;
            check(log.contains("ok "), || format!("actors {mode}: {log}"))?;
        }
        for mode in
            ["one-for-one", "one-for-all", "rest-for-one", "restart-types", "escalation", "dynamic", "names"]
        {
            let log = scenario(setup, "supervision", &[mode])?;
            check(log.contains("ok "), || format!("supervision {mode}: {log}"))?;
        }
        let rtt = scenario(setup, "actors", &["rtt", "2000", "64"])?;
        let rtt = rtt.split_whitespace().find_map(|w| w.strip_prefix("rtt_ns=")).unwrap_or("?").to_string();
        // A name in the tree while its process lives.
        let module = setup.fixture("supervision");
        let (code, pid, err) = wasmd(&["spawn", "cap=stdio,time", &module, "named", "smoke-name"])?;
        check(code == 0, || format!("spawn named: {err}"))?;
        let pid = pid.trim().to_string();
        eventually("the name in /scheme/wasm/name", Duration::from_secs(20), || {
            let (_, listed, _) = wasmd(&["cat", "/scheme/wasm/name/smoke-name"])?;
            Ok(listed.trim() == pid)
        })?;
        wasmd(&["kill", &pid])?;
        eventually("the name gone with its process", Duration::from_secs(20), || {
            let (code, _, _) = wasmd(&["cat", "/scheme/wasm/name/smoke-name"])?;
            Ok(code != 0)
        })?;
        Ok(format!(
            "5 mailbox/link/monitor scenarios and 7 supervisor scenarios exited 0; a name came and went; \
             64 B mailbox round trip {rtt} ns (tcg)"
        ))
    })()
    .into()
}
