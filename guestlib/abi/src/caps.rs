//! Capabilities and handle rights.
//!
//! A process holds a capability set: a `u64` of the bits below. A hostcall
//! whose capability is missing returns `-EPERM` at call time (a module that
//! imports it still instantiates). A child receives a subset of its
//! parent's set, never more.
//!
//! Handles (regions, channels, files, ...) live in a per-process handle
//! table; each entry carries [`Rights`].

use serde::{Deserialize, Serialize};

/// A set of capabilities, one bit each.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Caps(pub u64);

impl Caps {
    /// Write to one's own stdout and stderr log.
    pub const STDIO: Caps = Caps(1 << 0);
    /// Read the monotonic and realtime clocks, and sleep.
    pub const TIME: Caps = Caps(1 << 1);
    /// Read random bytes from the OS.
    pub const RANDOM: Caps = Caps(1 << 2);
    /// Spawn child processes (from bytes, or modules by path).
    pub const SPAWN: Caps = Caps(1 << 3);
    /// Inspect and kill processes outside one's own tree.
    pub const PROC: Caps = Caps(1 << 4);
    /// Allocate, share and attach shared-memory regions.
    pub const SHARED_MEMORY: Caps = Caps(1 << 5);
    /// Register a scheme and serve its requests.
    pub const SCHEME_PROVIDE: Caps = Caps(1 << 6);

    /// No capability.
    pub const NONE: Caps = Caps(0);
    /// Every capability defined by this ABI version.
    pub const ALL: Caps = Caps((1 << 7) - 1);
    /// What `wasmd run` grants when no `--cap` is given.
    pub const DEFAULT: Caps =
        Caps(Self::STDIO.0 | Self::TIME.0 | Self::RANDOM.0 | Self::SPAWN.0 | Self::SHARED_MEMORY.0);

    /// Every named capability, in bit order, with its name as written on
    /// the command line and in spawn specs.
    pub const NAMED: [(&'static str, Caps); 7] = [
        ("stdio", Self::STDIO),
        ("time", Self::TIME),
        ("random", Self::RANDOM),
        ("spawn", Self::SPAWN),
        ("proc", Self::PROC),
        ("shm", Self::SHARED_MEMORY),
        ("scheme", Self::SCHEME_PROVIDE),
    ];

    /// True when every bit of `other` is in `self`.
    #[inline]
    pub const fn contains(self, other: Caps) -> bool {
        self.0 & other.0 == other.0
    }

    /// The union of two sets.
    #[inline]
    pub const fn union(self, other: Caps) -> Caps {
        Caps(self.0 | other.0)
    }

    /// Looks a capability up by its name (`"stdio"`, `"spawn"`, ...);
    /// `"all"` gives [`Caps::ALL`].
    pub fn from_name(name: &str) -> Option<Caps> {
        if name == "all" {
            return Some(Caps::ALL);
        }
        Self::NAMED.iter().find(|(n, _)| *n == name).map(|(_, c)| *c)
    }
}

impl core::fmt::Debug for Caps {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Display::fmt(self, f)
    }
}

/// Comma-separated names, `-` for the empty set.
impl core::fmt::Display for Caps {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let mut first = true;
        for (name, cap) in Self::NAMED {
            if self.contains(cap) {
                if !first {
                    f.write_str(",")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        let unknown = self.0 & !Self::ALL.0;
        if unknown != 0 {
            if !first {
                f.write_str(",")?;
            }
            write!(f, "{unknown:#x}")?;
            first = false;
        }
        if first {
            f.write_str("-")?;
        }
        Ok(())
    }
}

/// Rights carried by a handle-table entry.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Debug, Serialize, Deserialize)]
pub struct Rights(pub u32);

impl Rights {
    /// Read through the handle.
    pub const READ: Rights = Rights(1 << 0);
    /// Write through the handle.
    pub const WRITE: Rights = Rights(1 << 1);
    /// Share the object with another process.
    pub const SHARE: Rights = Rights(1 << 2);
    /// Pass the handle on to a child at spawn.
    pub const GRANT: Rights = Rights(1 << 3);
    /// All rights.
    pub const ALL: Rights = Rights(0xf);

    /// True when every bit of `other` is in `self`.
    #[inline]
    pub const fn contains(self, other: Rights) -> bool {
        self.0 & other.0 == other.0
    }

    /// The union of two sets of rights.
    #[inline]
    pub const fn union(self, other: Rights) -> Rights {
        Rights(self.0 | other.0)
    }
}
