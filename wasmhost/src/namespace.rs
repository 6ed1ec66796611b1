//! Namespace grants: which paths a guest's fs and socket hostcalls may
//! reach.
//!
//! A grant names a scheme and a prefix, optionally read-only:
//! `SCHEME:PREFIX[=ro|rw]`, e.g. `file:/srv/data=ro`, `tcp:127.0.0.1:*`,
//! `udp:*`, `ramfs:` (all of `ramfs`). A guest path is `SCHEME:REST`
//! (`/scheme/SCHEME/REST` and plain `/REST`, meaning `file:/REST`, are
//! accepted too). A path is allowed when a grant of its scheme covers it:
//!
//! - file-like schemes: `REST`, normalised (`.` dropped, `..` resolved
//!   lexically; climbing above the root is refused), must equal the
//!   prefix or lie below it, component by component (`/srv/data` covers
//!   `/srv/data/x`, not `/srv/database`);
//! - `tcp` and `udp`: `HOST:PORT` must match the prefix's pattern, where
//!   `*` matches any host or any port (`*` alone matches everything).
//!
//! Writing (create, truncate, write access, unlink, mkdir, listen) needs a
//! read-write grant. No grant is `Errno::AccessDenied`. A child's grants must each be
//! covered by one of its parent's (`Errno::PermissionDenied` otherwise).
//!
//! The check is lexical; the OS resolves the path later. So [`check`]
//! gives a [`GrantedPath`]: the path with the directory of the grant that
//! allowed it (the widest one), and the platform resolves the path
//! *beneath that directory*, never letting a symbolic link (or anything
//! else) take it out of the grant — not merely out of the daemon's file
//! root.

use wasmd_abi::Errno;

/// One grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// Scheme name.
    pub scheme: String,
    /// Prefix (normalised for file-like schemes; a pattern for sockets).
    pub prefix: String,
    /// Read-write (else read-only).
    pub write: bool,
}

/// A parsed guest path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NsPath {
    /// Scheme name.
    pub scheme: String,
    /// The rest: a normalised path (`/a/b`) for file-like schemes, as
    /// given for sockets.
    pub rest: String,
}

/// A path a grant allowed, with the grant's directory: the platform must
/// resolve `path` beneath `beneath`. Only [`check`] makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantedPath {
    path: NsPath,
    beneath: String,
    dir_only: bool,
}

impl GrantedPath {
    /// The scheme.
    pub fn scheme(&self) -> &str {
        &self.path.scheme
    }

    /// The normalised path (file-like schemes) or `HOST:PORT` (sockets).
    pub fn rest(&self) -> &str {
        &self.path.rest
    }

    /// The granted directory the path lies in (`/` for a whole scheme):
    /// nothing may resolve outside it.
    pub fn beneath(&self) -> &str {
        &self.beneath
    }

    /// The same path, which must name a directory (it was given with a
    /// trailing `/`): the platform resolves it so.
    pub fn requiring_dir(mut self) -> GrantedPath {
        self.dir_only = true;
        self
    }

    /// True when the path must name a directory.
    pub fn dir_only(&self) -> bool {
        self.dir_only
    }

    /// The path below [`GrantedPath::beneath`], without a leading `/`
    /// (empty for the directory itself).
    pub fn below(&self) -> &str {
        self.path.rest.strip_prefix(self.beneath.as_str()).unwrap_or("").trim_start_matches('/')
    }
}

fn is_socket_scheme(scheme: &str) -> bool {
    scheme == "tcp" || scheme == "udp"
}

/// Normalises a path lexically; `None` if it climbs above the root.
pub fn normalise(path: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(format!("/{}", parts.join("/")))
}

/// Parses `SCHEME:REST`, `/scheme/SCHEME/REST` or `/REST`.
pub fn parse_path(path: &str) -> Result<NsPath, Errno> {
    let (scheme, rest) = if let Some(inner) = path.strip_prefix("/scheme/") {
        inner.split_once('/').map_or((inner, ""), |(s, r)| (s, r))
    } else if path.starts_with('/') {
        ("file", path)
    } else {
        path.split_once(':').ok_or(Errno::InvalidArgument)?
    };
    if scheme.is_empty() || scheme.contains('/') {
        return Err(Errno::InvalidArgument);
    }
    let rest = if is_socket_scheme(scheme) {
        rest.trim_start_matches('/').to_string()
    } else {
        normalise(rest).ok_or(Errno::AccessDenied)?
    };
    Ok(NsPath { scheme: scheme.to_string(), rest })
}

/// Parses a grant `SCHEME:PREFIX[=ro|rw]`.
pub fn parse_grant(text: &str) -> Result<Grant, Errno> {
    let (body, write) = match text.rsplit_once('=') {
        Some((b, "ro")) => (b, false),
        Some((b, "rw")) => (b, true),
        Some(_) => return Err(Errno::InvalidArgument),
        None => (text, true),
    };
    let (scheme, prefix) = body.split_once(':').ok_or(Errno::InvalidArgument)?;
    if scheme.is_empty() {
        return Err(Errno::InvalidArgument);
    }
    let prefix = if is_socket_scheme(scheme) {
        if prefix.is_empty() {
            "*".to_string()
        } else {
            prefix.to_string()
        }
    } else {
        normalise(prefix).ok_or(Errno::InvalidArgument)?
    };
    Ok(Grant { scheme: scheme.to_string(), prefix, write })
}

impl Grant {
    /// The grant as [`parse_grant`] reads it back: `SCHEME:PREFIX=rw|ro`.
    pub fn to_text(&self) -> String {
        format!("{}:{}={}", self.scheme, self.prefix, if self.write { "rw" } else { "ro" })
    }
}

/// `*` matches anything; otherwise equality.
fn part_matches(pattern: &str, value: &str) -> bool {
    pattern == "*" || pattern == value
}

/// True when the socket address `addr` (`HOST:PORT`) matches `pattern`.
fn addr_matches(pattern: &str, addr: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    match (pattern.rsplit_once(':'), addr.rsplit_once(':')) {
        (Some((ph, pp)), Some((ah, ap))) => part_matches(ph, ah) && part_matches(pp, ap),
        _ => false,
    }
}

impl Grant {
    /// True when this grant covers `path` (for writing, if `write`).
    pub fn covers(&self, path: &NsPath, write: bool) -> bool {
        if self.scheme != path.scheme || (write && !self.write) {
            return false;
        }
        if is_socket_scheme(&self.scheme) {
            return addr_matches(&self.prefix, &path.rest);
        }
        self.prefix == "/" || path.rest == self.prefix || path.rest.starts_with(&format!("{}/", self.prefix))
    }

    /// True when this grant is at most as wide as `other`.
    pub fn within(&self, other: &Grant) -> bool {
        let as_path = NsPath { scheme: self.scheme.clone(), rest: self.prefix.clone() };
        if is_socket_scheme(&self.scheme) {
            // A pattern is within another if the other matches anything it does.
            let (sh, sp) = self.prefix.rsplit_once(':').unwrap_or((&self.prefix, "*"));
            let (oh, op) = other.prefix.rsplit_once(':').unwrap_or((&other.prefix, "*"));
            let wider = |o: &str, s: &str| o == "*" || o == s;
            return other.scheme == self.scheme
                && (self.write <= other.write)
                && (other.prefix == "*" || (wider(oh, sh) && wider(op, sp)));
        }
        other.covers(&as_path, self.write)
    }
}

/// Checks `path` against `grants`: the path with the directory of the
/// widest grant that covers it, or `Errno::AccessDenied`.
pub fn check(grants: &[Grant], path: &NsPath, write: bool) -> Result<GrantedPath, Errno> {
    let grant = grants
        .iter()
        .filter(|g| g.covers(path, write))
        .min_by_key(|g| g.prefix.len())
        .ok_or(Errno::AccessDenied)?;
    let beneath = if is_socket_scheme(&path.scheme) { "/".to_string() } else { grant.prefix.clone() };
    Ok(GrantedPath { path: path.clone(), beneath, dir_only: false })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(s: &str) -> Grant {
        parse_grant(s).unwrap()
    }

    #[test]
    fn a_grant_reads_back_from_its_text() {
        for text in ["file:/srv/data=ro", "file:/=rw", "tcp:127.0.0.1:*=rw", "ramfs:/=ro", "udp:*"] {
            let grant = g(text);
            assert_eq!(g(&grant.to_text()), grant, "{text}");
        }
        assert_eq!(g("file:/a/../b").to_text(), "file:/b=rw");
    }

    #[test]
    fn paths_parse_and_normalise() {
        assert_eq!(
            parse_path("file:/a/./b/../c").unwrap(),
            NsPath { scheme: "file".into(), rest: "/a/c".into() }
        );
        assert_eq!(parse_path("/srv/x").unwrap().scheme, "file");
        assert_eq!(
            parse_path("/scheme/ramfs/d/e").unwrap(),
            NsPath { scheme: "ramfs".into(), rest: "/d/e".into() }
        );
        assert_eq!(parse_path("tcp:127.0.0.1:80").unwrap().rest, "127.0.0.1:80");
        assert_eq!(parse_path("file:/../etc/passwd"), Err(Errno::AccessDenied));
        assert_eq!(parse_path("nocolon"), Err(Errno::InvalidArgument));
        assert_eq!(parse_path(":x"), Err(Errno::InvalidArgument));
    }

    #[test]
    fn grants_cover_by_component_and_access() {
        let data = g("file:/srv/data=ro");
        let p = |s: &str| parse_path(s).unwrap();
        assert!(data.covers(&p("file:/srv/data"), false));
        assert!(data.covers(&p("file:/srv/data/x/y"), false));
        assert!(!data.covers(&p("file:/srv/database"), false));
        assert!(!data.covers(&p("file:/srv/data/x"), true), "read-only");
        assert!(!data.covers(&p("file:/srv/data/../secret"), false));
        assert!(g("ramfs:").covers(&p("ramfs:/anything"), true));
        assert!(g("file:/").covers(&p("file:/etc"), true));
        let local = g("tcp:127.0.0.1:*");
        assert!(local.covers(&p("tcp:127.0.0.1:8080"), true));
        assert!(!local.covers(&p("tcp:10.0.0.1:8080"), true));
        assert!(g("udp:*").covers(&p("udp:1.2.3.4:53"), false));
        assert!(g("tcp:*:443").covers(&p("tcp:example.org:443"), false));
        assert_eq!(check(std::slice::from_ref(&data), &p("file:/tmp"), false), Err(Errno::AccessDenied));
        // The widest grant that allows the access is the one to resolve
        // beneath.
        let both = [g("file:/srv/data/x=ro"), data.clone(), g("file:/srv/data/x/y=rw")];
        let granted = check(&both, &p("file:/srv/data/x/y/z"), false).unwrap();
        assert_eq!((granted.beneath(), granted.below()), ("/srv/data", "x/y/z"));
        let granted = check(&both, &p("file:/srv/data/x/y/z"), true).unwrap();
        assert_eq!((granted.beneath(), granted.below()), ("/srv/data/x/y", "z"));
        assert_eq!(check(&both, &p("file:/srv/data/x/y"), true).unwrap().below(), "");
        assert_eq!(check(&[g("file:/")], &p("file:/etc/passwd"), false).unwrap().below(), "etc/passwd");
        assert_eq!(parse_grant("file:/x=maybe"), Err(Errno::InvalidArgument));
        assert_eq!(parse_grant("file:/.."), Err(Errno::InvalidArgument));
    }

    #[test]
    fn narrowing() {
        assert!(g("file:/srv/data/x=ro").within(&g("file:/srv/data")));
        assert!(!g("file:/srv=ro").within(&g("file:/srv/data")));
        assert!(!g("file:/srv/data").within(&g("file:/srv/data=ro")));
        assert!(g("tcp:127.0.0.1:80").within(&g("tcp:127.0.0.1:*")));
        assert!(!g("tcp:*").within(&g("tcp:127.0.0.1:*")));
        assert!(g("tcp:127.0.0.1:80").within(&g("tcp:*")));
        assert!(!g("ramfs:").within(&g("file:/")));
    }
}
