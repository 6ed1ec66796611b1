//! The tree's directories. Each lists its entries, numbered: an entry's
//! `next` is the index of the one after it, so a `getdents` from
//! `offset` skips the first `offset` entries.
//!
//! | type | path | entries |
//! |---|---|---|
//! | [`Root`] | `` | `ps`, `ps.json`, `stats`, `spawn`, `run`, `shm`, `chan`, `scheme`, `name`, `node` (with a cluster), one per live pid |
//! | [`RunDir`] | `run/` | none (its paths are modules to run) |
//! | [`PidDir`] | `PID/` | `status`, `status.json`, `log`, `stdout`, `stderr`, `stdin`, `wait`, `ctl`, `links`, `monitors` |
//! | [`NameDir`] | `name/` | one per registered name (each file gives its pid) |
//! | [`SchemeDir`] | `scheme/` | one per guest-implemented scheme |
//! | [`ShmDir`] | `shm/` | `index`, one per region the caller may see |
//! | [`ChanDir`] | `chan/` | one per region the caller may see that holds a channel |

use wasmd_abi::scheme::{kind, mode, Stat};

use crate::control::file::{Answer, Context, ControlFile};
use crate::control::shared_memory::ChanFile;
use crate::control::Entry;

/// An entry of a tree directory (numbered by `getdents`).
fn entry(name: &str, kind: u8) -> Entry {
    Entry { name: name.into(), kind, next: 0 }
}

/// A directory of the tree: what it lists. Every directory is a
/// [`ControlFile`] through it.
pub(crate) trait Directory: std::fmt::Debug {
    /// All its entries, in order.
    fn entries(&self, cx: &Context<'_>) -> Vec<Entry>;
}

impl<D: Directory> ControlFile for D {
    fn stat(&mut self, cx: &mut Context<'_>) -> Answer<Stat> {
        cx.stat(mode::MODE_DIR | 0o755, 0)
    }

    fn is_dir(&self) -> bool {
        true
    }

    fn getdents(&mut self, cx: &mut Context<'_>, offset: u64) -> Answer<Vec<Entry>> {
        let all = self.entries(cx).into_iter().enumerate();
        let numbered = all.map(|(i, e)| Entry { next: i as u64 + 1, ..e });
        Answer::Ready(Ok(numbered.skip(offset as usize).collect()))
    }
}

/// The root, `/scheme/wasm`.
#[derive(Debug)]
pub(crate) struct Root;

impl Directory for Root {
    fn entries(&self, cx: &Context<'_>) -> Vec<Entry> {
        let mut v: Vec<Entry> =
            ["ps", "ps.json", "stats", "spawn"].iter().map(|n| entry(n, kind::REGULAR)).collect();
        v.extend(["run", "shm", "chan", "scheme", "name"].iter().map(|n| entry(n, kind::DIRECTORY)));
        if cx.cluster.is_some() {
            v.push(entry("node", kind::DIRECTORY));
        }
        let pm = cx.lock();
        for pid in pm.pids() {
            if pm.process(pid).is_some_and(|p| !p.is_exited()) {
                v.push(entry(&pid.to_string(), kind::DIRECTORY));
            }
        }
        v
    }
}

/// `run/`: empty; its paths name modules.
#[derive(Debug)]
pub(crate) struct RunDir;

impl Directory for RunDir {
    fn entries(&self, _cx: &Context<'_>) -> Vec<Entry> {
        Vec::new()
    }
}

/// `PID/`: a live process's files.
#[derive(Debug)]
pub(crate) struct PidDir;

impl Directory for PidDir {
    fn entries(&self, _cx: &Context<'_>) -> Vec<Entry> {
        crate::control::resolve::PID_FILES.iter().map(|n| entry(n, kind::REGULAR)).collect()
    }
}

/// `scheme/`: the guest-implemented schemes.
#[derive(Debug)]
pub(crate) struct SchemeDir;

impl Directory for SchemeDir {
    fn entries(&self, cx: &Context<'_>) -> Vec<Entry> {
        cx.lock().scheme_names().iter().map(|n| entry(n, kind::DIRECTORY)).collect()
    }
}

/// `name/`: the registered names (in a cluster, those of every node).
#[derive(Debug)]
pub(crate) struct NameDir;

impl Directory for NameDir {
    fn entries(&self, cx: &Context<'_>) -> Vec<Entry> {
        let pm = cx.lock();
        let mut names: Vec<String> = pm.names().into_iter().map(|(n, _)| n).collect();
        names.extend(pm.cluster_names().into_iter().map(|(n, _)| n));
        names.sort();
        names.iter().map(|n| entry(n, kind::REGULAR)).collect()
    }
}

/// `shm/`: `index` and the regions the caller may see.
#[derive(Debug)]
pub(crate) struct ShmDir;

impl Directory for ShmDir {
    fn entries(&self, cx: &Context<'_>) -> Vec<Entry> {
        std::iter::once(entry("index", kind::REGULAR))
            .chain(cx.visible_regions().iter().map(|r| entry(&r.id().to_string(), kind::REGULAR)))
            .collect()
    }
}

/// `chan/`: the regions the caller may see that hold a channel.
#[derive(Debug)]
pub(crate) struct ChanDir;

impl Directory for ChanDir {
    fn entries(&self, cx: &Context<'_>) -> Vec<Entry> {
        cx.visible_regions()
            .into_iter()
            .filter(|r| ChanFile::is_channel(cx.ring(r.clone())))
            .map(|r| entry(&r.id().to_string(), kind::CHAR_DEV))
            .collect()
    }
}
