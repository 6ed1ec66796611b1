//! Who may do what through the control tree.
//!
//! Every open of the tree carries its caller ([`Caller`]): on Redox the
//! uid and gid the kernel gives the request (`CallerCtx`, also on opens
//! forwarded by the namespace manager), on Linux the peer credentials of
//! the client's socket. Root and the user the daemon runs as are
//! *privileged* and may do anything. Any other user:
//!
//! - spawns guests that act for them: the process's owner is the caller,
//!   children inherit it, `ps` and `PID/status` show it;
//! - may give their guests only the capabilities in
//!   [`Policy::user_caps`] (by default `stdio,time,random,spawn,shm,scheme`:
//!   not `proc`, which reaches other processes); asking for more is
//!   `Errno::PermissionDenied`;
//! - may spawn only a module file they may read, and give `file:` grants
//!   only for directories they may use (read and search; write too for
//!   `=rw`), judged by the owner, group and mode bits of the file and of
//!   the granted directory (no ACLs), when the module loads — on a worker
//!   thread, since on Redox the serving thread never touches paths;
//! - may open `PID/status`, `log`, `wait` and `ctl` of their own processes
//!   only, and `shm/ID` and `chan/ID` of regions their processes made
//!   (`Errno::AccessDenied` otherwise). The listings and `ps` show every process, with
//!   its owner.
//!
//! A file keeps the identity it was opened with: what is written to a
//! `spawn` or `ctl` file acts for whoever opened it.

use wasmd_abi::Errno;

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::Arc;

use wasmd_abi::Caps;
use wasmhost::namespace::Grant;
use wasmhost::{LoadError, LoadedModule, ModuleLoader, Owner, Platform};

/// Who asks: the identity a frontend took from the request.
pub type Caller = Owner;

/// What unprivileged users may do.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Users who may do anything: root and the daemon's own user.
    privileged: Vec<u32>,
    /// Capabilities other users' guests may hold.
    pub user_caps: Caps,
}

impl Policy {
    /// Root and `daemon_user` are privileged; others get the default
    /// capabilities and `scheme`.
    pub fn new(daemon_user: u32) -> Policy {
        Policy { privileged: vec![0, daemon_user], user_caps: Caps::DEFAULT.union(Caps::SCHEME_PROVIDE) }
    }

    /// True for root and the daemon's own user.
    pub fn is_privileged(&self, caller: Caller) -> bool {
        self.privileged.contains(&caller.uid)
    }

    /// True when `caller` may inspect and control what `owner` owns.
    pub fn may_control(&self, caller: Caller, owner: Owner) -> bool {
        self.is_privileged(caller) || caller.uid == owner.uid
    }

    /// `Errno::PermissionDenied` (with the reason) unless `caller` may give a guest `caps`.
    pub fn check_caps(&self, caller: Caller, caps: Caps) -> Result<(), String> {
        if self.is_privileged(caller) || self.user_caps.contains(caps) {
            return Ok(());
        }
        let extra: Vec<&str> = Caps::NAMED
            .iter()
            .filter(|(_, c)| caps.contains(*c) && !self.user_caps.contains(*c))
            .map(|(n, _)| *n)
            .collect();
        Err(format!("user {} may not give a guest {}", caller.uid, extra.join(",")))
    }
}

/// True when `who` may read (or, with `write`, write) a file of owner
/// `uid`, group `gid` and mode `mode`; for a directory, search is needed
/// too. Mode bits only.
pub fn may_access(who: Caller, uid: u32, gid: u32, mode: u32, write: bool, dir: bool) -> bool {
    if who.is_root() {
        return true;
    }
    let class = if who.uid == uid {
        (mode >> 6) & 7
    } else if who.gid == gid {
        (mode >> 3) & 7
    } else {
        mode & 7
    };
    let needed = 4 | if write { 2 } else { 0 } | if dir { 1 } else { 0 };
    class & needed == needed
}

/// Loads the module of a spawn made through the tree: any absolute path
/// for a privileged caller; for another user, only a module file they may
/// read, and only when every `file:` grant of the spawn is a directory
/// they may use. Runs on a worker thread.
pub struct SpawnLoader {
    /// For whom, or `None` when privileged.
    pub user: Option<Caller>,
    /// The spawn's grants.
    pub grants: Vec<Grant>,
    /// Where `file:` paths live.
    pub platform: Arc<dyn Platform>,
}

impl std::fmt::Debug for SpawnLoader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpawnLoader").field("user", &self.user).field("grants", &self.grants).finish()
    }
}

impl ModuleLoader for SpawnLoader {
    fn load(&self, base_dir: Option<&Path>, path: &str) -> Result<LoadedModule, LoadError> {
        self.check(path)?;
        crate::loader::AnyPathLoader.load(base_dir, path)
    }

    fn identify(
        &self,
        base_dir: Option<&Path>,
        path: &str,
    ) -> Result<Option<(std::path::PathBuf, wasmhost::FileIdentity)>, LoadError> {
        // The same checks as a load: a cached module is no way around them.
        self.check(path)?;
        crate::loader::AnyPathLoader.identify(base_dir, path)
    }
}

impl SpawnLoader {
    /// What the caller may not do with `path` (and its grants), if
    /// anything.
    fn check(&self, path: &str) -> Result<(), LoadError> {
        let fail = |reason: String| LoadError { path: path.to_string(), reason, errno: Errno::AccessDenied };
        if let Some(user) = self.user {
            for grant in self.grants.iter().filter(|g| g.scheme == "file") {
                if !self.platform.user_may_use_dir(&grant.prefix, user, grant.write) {
                    let how = if grant.write { "write to" } else { "read" };
                    return Err(fail(format!("user {} may not {how} {}", user.uid, grant.prefix)));
                }
            }
            let meta = std::fs::metadata(crate::loader::normalize(Path::new(path))).map_err(|e| {
                LoadError { path: path.to_string(), reason: e.to_string(), errno: Errno::NotFound }
            })?;
            if !may_access(user, meta.uid(), meta.gid(), meta.mode(), false, false) {
                return Err(fail(format!("user {} may not read it", user.uid)));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: Caller = Caller { uid: 1000, gid: 100 };

    #[test]
    fn mode_bits_decide_by_owner_group_and_others() {
        assert!(may_access(ALICE, 1000, 0, 0o600, true, false));
        assert!(!may_access(ALICE, 1001, 0, 0o640, false, false));
        assert!(may_access(ALICE, 1001, 100, 0o640, false, false));
        assert!(!may_access(ALICE, 1001, 100, 0o640, true, false));
        assert!(may_access(ALICE, 0, 0, 0o755, false, true));
        assert!(!may_access(ALICE, 0, 0, 0o755, true, true));
        assert!(!may_access(ALICE, 0, 0, 0o744, false, true), "no search permission");
        assert!(may_access(Caller::ROOT, 1000, 1000, 0o000, true, true));
    }

    #[test]
    fn users_get_the_default_capabilities_root_anything() {
        let policy = Policy::new(4242);
        assert!(policy.is_privileged(Caller::ROOT));
        assert!(policy.is_privileged(Caller { uid: 4242, gid: 1 }));
        assert!(!policy.is_privileged(ALICE));
        assert_eq!(policy.check_caps(ALICE, Caps::DEFAULT), Ok(()));
        let err = policy.check_caps(ALICE, Caps::ALL).unwrap_err();
        assert!(err.contains("proc") && !err.contains("stdio"), "{err}");
        assert_eq!(policy.check_caps(Caller::ROOT, Caps::ALL), Ok(()));
        assert!(policy.may_control(ALICE, Owner { uid: 1000, gid: 5 }));
        assert!(!policy.may_control(ALICE, Owner { uid: 1001, gid: 100 }));
        assert!(policy.may_control(Caller::ROOT, ALICE));
    }
}
