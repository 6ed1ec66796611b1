//! Users: a guest spawned by an ordinary user acts for them (the
//! `user-identity` check and what it runs as that user, [`as_user`]).

use super::{check, field, kill, status};
use crate::{Outcome, Setup, Tree};

/// The user the `user-identity` check acts as.
pub const USER: u32 = 1000;

pub(super) fn user_identity(setup: &Setup) -> Outcome {
    let mut tree = match setup.tree() {
        Ok(t) => t,
        Err(e) => return Outcome::Fail(e),
    };
    if tree.native().is_none() {
        return Outcome::Skip("the Linux socket serves only its own user (and root)".into());
    }
    (|| {
        let roots = tree.spawn(&format!("cap=stdio,time {} sleep 600000", setup.example("worker")))?;
        let args = vec!["--as-user".to_string(), setup.examples.clone(), roots.to_string()];
        let native = tree.native().ok_or("no native")?;
        let out = native.run_as_user(USER, &args)?;
        kill(tree.as_mut(), roots)?;
        let line = out.lines().find(|l| l.starts_with("USER-CHECK")).unwrap_or("").to_string();
        check(line.starts_with("USER-CHECK ok"), || format!("as user {USER}: {out:?}"))?;
        Ok(line.trim_start_matches("USER-CHECK ok ").to_string())
    })()
    .into()
}

/// What `wasmd-smoke --as-user EXAMPLES ROOT_PID` checks, run as an
/// ordinary user by the `user-identity` check: a guest spawned by this
/// user acts for them; capabilities beyond a user's and root's processes
/// are refused. The line printed starts `USER-CHECK ok` or
/// `USER-CHECK FAIL`.
pub fn as_user(tree: &mut dyn Tree, examples: &str, roots: u32) -> String {
    let result = (|| -> Result<String, String> {
        let worker = format!("{}/worker.wasm", examples.trim_end_matches('/'));
        let pid = tree.spawn(&format!("cap=stdio,time {worker} sleep 600000"))?;
        let status = status(tree, pid)?;
        let owner = field(&status, "owner").unwrap_or_default();
        check(owner.starts_with(&format!("{USER}:")), || format!("own guest's owner: {status:?}"))?;
        check(tree.spawn(&format!("cap=all {worker} count 1")).is_err(), || "cap=all was granted".into())?;
        let theirs = tree.read(&format!("/scheme/wasm/{roots}/status"));
        check(theirs.is_err(), || "root's process status was readable".into())?;
        let ctl = tree.write(&format!("/scheme/wasm/{roots}/ctl"), b"kill");
        check(ctl.is_err(), || "root's process could be killed".into())?;
        kill(tree, pid)?;
        Ok(format!("guest owned by {owner}; cap=all, root's status and ctl refused"))
    })();
    match result {
        Ok(detail) => format!("USER-CHECK ok {detail}"),
        Err(why) => format!("USER-CHECK FAIL {why}"),
    }
}
