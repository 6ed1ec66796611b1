//! Who a process acts for.

/// The user a process acts for: whoever spawned it through the daemon
/// (Redox: the caller's uid and gid; Linux: the client's socket peer), or
/// the owner of its parent. The embedder bounds what a process may do by
/// its owner; the manager only records and inherits it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Owner {
    /// User id.
    pub uid: u32,
    /// Group id.
    pub gid: u32,
}

impl Owner {
    /// The superuser.
    pub const ROOT: Owner = Owner { uid: 0, gid: 0 };

    /// True for the superuser.
    pub fn is_root(&self) -> bool {
        self.uid == 0
    }
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.uid, self.gid)
    }
}
