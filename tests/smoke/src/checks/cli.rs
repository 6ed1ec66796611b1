//! The `wasmd` command line as a person uses it inside Redox (`cli`):
//! `spawn`, `ps`, `status`, `cat`, `kill` talk to the daemon through
//! `/scheme/wasm`'s files. (On Linux the same commands go through the
//! control socket and are tested by `schemes/tests/cli.rs`.)

use std::process::Command;

use super::check;
use crate::{Outcome, Setup};

/// Where the image puts the daemon's binary.
const WASMD: &str = "/usr/bin/wasmd";

/// Runs `wasmd ARGS`: its exit code, stdout and stderr.
pub(super) fn wasmd(args: &[&str]) -> Result<(i32, String, String), String> {
    let out = Command::new(WASMD).args(args).output().map_err(|e| format!("{WASMD} {args:?}: {e}"))?;
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    Ok((out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr)))
}

/// Runs `wasmd ARGS`, which must succeed; its stdout.
fn ok(args: &[&str]) -> Result<String, String> {
    let (code, out, err) = wasmd(args)?;
    check(code == 0, || format!("wasmd {args:?} exited {code}: {err}"))?;
    Ok(out)
}

pub(super) fn cli(setup: &Setup) -> Outcome {
    let mut tree = match setup.tree() {
        Ok(t) => t,
        Err(e) => return Outcome::Fail(e),
    };
    if tree.native().is_none() {
        return Outcome::Skip("on Linux the CLI is tested against the socket (schemes/tests/cli.rs)".into());
    }
    (|| {
        let worker = setup.example("worker");
        let pid = ok(&["spawn", "cap=stdio,time", &worker, "sleep", "600000"])?;
        let pid = pid.trim().to_string();
        check(pid.parse::<u32>().is_ok(), || format!("spawn printed {pid:?}"))?;
        let ps = ok(&["ps"])?;
        check(ps.lines().any(|l| l.split_whitespace().next() == Some(pid.as_str())), || format!("ps: {ps}"))?;
        let status = ok(&["status", &pid])?;
        check(status.contains("state:"), || format!("status: {status}"))?;
        ok(&["kill", &pid])?;
        let waited = ok(&["cat", &format!("/scheme/wasm/{pid}/wait")])?;
        check(waited.contains("killed"), || format!("{pid}/wait after kill: {waited:?}"))?;
        let (code, _, err) = wasmd(&["status", "4000000000"])?;
        check(code != 0 && !err.is_empty(), || format!("status of no process: exit {code}, stderr {err:?}"))?;
        // `cat` of run/ as `wasmd run`: the worker given no mode says so on
        // stderr and exits with 2.
        let (code, _, err) = wasmd(&["cat", &format!("/scheme/wasm/run{worker}")])?;
        check(code == 2 && err.contains("worker: unknown mode"), || {
            format!("cat of run/worker: exit {code}, stderr {err:?}")
        })?;
        // Reports: the daemon's counters, JSON, top.
        let stats = ok(&["stats"])?;
        check(stats.contains("processes_live: ") && stats.contains("scheduler_threads: "), || {
            format!("stats: {stats:?}")
        })?;
        let json = ok(&["ps", "--json", "--exited"])?;
        check(json.starts_with('[') && json.contains(&format!("\"pid\":{pid},")), || {
            format!("ps --json --exited: {json}")
        })?;
        let top = ok(&["top", "--rounds", "1", "--interval", "100"])?;
        check(top.lines().next().is_some_and(|l| l.ends_with("live processes")), || format!("top: {top:?}"))?;
        // The reason behind an errno, through the file's error/ID.
        let (code, _, err) = wasmd(&["spawn", "cap=stdio,flying", "/x.wasm"])?;
        check(code == 1 && err.contains("bad value for `cap`: `flying`"), || {
            format!("a refused spec: exit {code}, stderr {err:?}")
        })?;
        let (code, _, err) = wasmd(&["spawn", "mem=99999999", &worker])?;
        check(code == 1 && err.contains("at most 65536 pages"), || {
            format!("an impossible spec value: exit {code}, stderr {err:?}")
        })?;
        let (code, _, err) = wasmd(&["write", &format!("/scheme/wasm/{pid}/ctl"), "resume"])?;
        check(code == 1 && err.contains("has already ended"), || {
            format!("resume of an ended process: exit {code}, stderr {err:?}")
        })?;
        // A module that cannot be read: 127, as `wasmd run`.
        let (code, _, err) = wasmd(&["cat", &format!("/scheme/wasm/run{}", setup.fixture("missing"))])?;
        check(code == 127 && err.contains("missing"), || {
            format!("a missing module: exit {code}, stderr {err:?}")
        })?;
        Ok(format!(
            "spawn, ps, status, kill, cat of pid {pid}; an unknown pid is an error; cat of run/ gave the \
             guest's stderr and exit status; stats, ps --json, top; refusals gave their reasons ({})",
            err.trim()
        ))
    })()
    .into()
}
