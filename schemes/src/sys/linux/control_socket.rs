//! Where the control socket is, and who may be at its two ends.
//!
//! The socket lives in a directory only its user can write: by default
//! `$XDG_RUNTIME_DIR/wasmd.sock`, else `/tmp/wasmd-UID/wasmd.sock` (the
//! directory made with mode 0700). The daemon refuses to serve in a
//! directory others could write to (unless it is sticky, like `/tmp`
//! itself), and the client refuses a daemon that runs as another user
//! than itself or root (`SO_PEERCRED`): another local user who creates the
//! socket first receives nothing.

use std::io::{Error, ErrorKind};
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use crate::sys::Config;

/// The calling process's user id.
pub fn uid() -> u32 {
    rustix::process::getuid().as_raw()
}

/// The default socket when `$XDG_RUNTIME_DIR` is not set.
fn fallback_socket() -> PathBuf {
    PathBuf::from(format!("/tmp/wasmd-{}", uid())).join("wasmd.sock")
}

/// Where the control socket is: `config.socket` (`--socket`), else
/// `$WASMD_SOCKET`, else `$XDG_RUNTIME_DIR/wasmd.sock`, else
/// `/tmp/wasmd-UID/wasmd.sock`.
pub fn path(config: &Config) -> PathBuf {
    if let Some(p) = &config.socket {
        return p.clone();
    }
    if let Some(p) = std::env::var_os("WASMD_SOCKET") {
        return PathBuf::from(p);
    }
    if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR") {
        return PathBuf::from(dir).join("wasmd.sock");
    }
    fallback_socket()
}

/// True when a daemon running as `peer` may serve a client running as
/// `me`: the same user, or root.
fn peer_allowed(peer: u32, me: u32) -> bool {
    peer == me || peer == 0
}

/// Why a directory of owner `owner` and mode `mode` is no place for the
/// socket of user `me`, if it is not.
fn unsafe_dir(owner: u32, mode: u32, me: u32) -> Option<String> {
    const STICKY: u32 = 0o1000;
    if owner != me && owner != 0 {
        return Some(format!("it belongs to user {owner}"));
    }
    if mode & 0o022 != 0 && mode & STICKY == 0 {
        return Some(format!("others may write to it (mode {:o})", mode & 0o7777));
    }
    None
}

/// The user at the other end of a connection: whom its requests act for.
pub fn peer(stream: &UnixStream) -> std::io::Result<wasmhost::Owner> {
    let cred = rustix::net::sockopt::socket_peercred(stream)?;
    Ok(wasmhost::Owner { uid: cred.uid.as_raw(), gid: cred.gid.as_raw() })
}

/// The client's check, once connected: the daemon is this user's or
/// root's.
pub fn check_daemon(stream: &UnixStream, path: &Path) -> std::io::Result<()> {
    let peer = rustix::net::sockopt::socket_peercred(stream)?.uid.as_raw();
    if peer_allowed(peer, uid()) {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::PermissionDenied,
            format!(
                "{} is served by user {peer}, not by you or root: refusing to talk to it",
                path.display()
            ),
        ))
    }
}

/// The daemon's check before it binds `path`: makes its private
/// directory if it is missing (only that one: a path whose parent is not
/// there either is a typo, refused), and refuses a directory others may
/// write to (unless sticky, as `/tmp`) or that another user owns.
pub fn prepare_dir(path: &Path) -> std::io::Result<()> {
    let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) else { return Ok(()) };
    if !dir.exists() {
        if dir.parent().is_some_and(|p| !p.as_os_str().is_empty() && !p.exists()) {
            return Err(Error::new(
                ErrorKind::NotFound,
                format!(
                    "no directory {} to make the socket's directory in",
                    dir.parent().unwrap_or(dir).display()
                ),
            ));
        }
        std::fs::DirBuilder::new().mode(0o700).create(dir)?;
    }
    let meta = std::fs::metadata(dir)?;
    match unsafe_dir(meta.uid(), meta.mode(), uid()) {
        Some(why) => Err(Error::new(
            ErrorKind::PermissionDenied,
            format!("will not serve a socket in {}: {why}", dir.display()),
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_user_or_root_may_serve_or_host_the_socket() {
        assert!(peer_allowed(1000, 1000));
        assert!(peer_allowed(0, 1000));
        assert!(!peer_allowed(1001, 1000));
        assert_eq!(unsafe_dir(1000, 0o40700, 1000), None);
        assert_eq!(unsafe_dir(0, 0o41777, 1000), None, "/tmp: sticky");
        assert!(unsafe_dir(1001, 0o40700, 1000).is_some());
        assert!(unsafe_dir(1000, 0o40777, 1000).is_some());
        assert!(unsafe_dir(1000, 0o40770, 1000).is_some());
    }

    #[test]
    fn the_daemon_makes_its_private_directory_and_refuses_an_open_one() {
        use std::os::unix::fs::PermissionsExt;
        let base = std::env::temp_dir().join(format!("wasmd-sockdir-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let typo = base.join("no/such/wasmd.sock");
        let err = prepare_dir(&typo).unwrap_err();
        assert!(err.to_string().contains("no directory"), "{err}");
        assert!(!base.exists(), "nothing made for a path whose parents are not there");
        std::fs::create_dir_all(&base).unwrap();
        let private = base.join("private/wasmd.sock");
        prepare_dir(&private).unwrap();
        let mode = std::fs::metadata(base.join("private")).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o700);
        let open = base.join("open");
        std::fs::create_dir_all(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = prepare_dir(&open.join("wasmd.sock")).unwrap_err();
        assert!(err.to_string().contains("others may write"), "{err}");
        let _ = std::fs::remove_dir_all(&base);
    }
}
