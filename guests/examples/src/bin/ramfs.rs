//! A RAM filesystem served as a scheme (default name `ramfs`, or the
//! first argument): directories and files, positioned reads and writes,
//! create (`O_CREAT`, `O_EXCL`, `O_TRUNC`), `mkdir` (`O_CREAT |
//! O_DIRECTORY`), `getdents`, `ftruncate`, `unlink` (empty directories
//! only).
#![no_std]
#![no_main]

extern crate alloc;

use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use wasmd_guest::abi::errno::{EBADF, EEXIST, EINVAL, EISDIR, ENOENT, ENOTDIR, ENOTEMPTY};
use wasmd_guest::scheme::{flags, kind, mode, serve, Caller, Entry, SchemeProvider, Stat};
use wasmd_guest::{env, eprintln};

wasmd_guest::main!(main);

enum Node {
    Dir(BTreeMap<String, usize>),
    File(Vec<u8>),
}

struct RamFs {
    nodes: Vec<Option<Node>>,
    open: BTreeMap<u64, (usize, String)>,
    next_id: u64,
}

impl RamFs {
    fn new() -> Self {
        RamFs { nodes: alloc::vec![Some(Node::Dir(BTreeMap::new()))], open: BTreeMap::new(), next_id: 1 }
    }

    fn components(path: &str) -> Result<Vec<&str>, i32> {
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty() && *p != ".").collect();
        if parts.contains(&"..") {
            return Err(EINVAL);
        }
        Ok(parts)
    }

    /// The node index of `path`, or its parent and leaf name when missing.
    fn lookup(&self, path: &str) -> Result<Result<usize, (usize, String)>, i32> {
        let parts = Self::components(path)?;
        let mut at = 0;
        for (i, part) in parts.iter().enumerate() {
            let Some(Some(Node::Dir(entries))) = self.nodes.get(at) else { return Err(ENOTDIR) };
            match entries.get(*part) {
                Some(next) => at = *next,
                None if i + 1 == parts.len() => return Ok(Err((at, part.to_string()))),
                None => return Err(ENOENT),
            }
        }
        Ok(Ok(at))
    }

    fn node(&mut self, id: u64) -> Result<&mut Node, i32> {
        let (index, _) = self.open.get(&id).ok_or(EBADF)?;
        self.nodes.get_mut(*index).and_then(Option::as_mut).ok_or(EBADF)
    }
}

impl SchemeProvider for RamFs {
    fn open(&mut self, path: &str, open_flags: u32, _caller: Caller) -> Result<u64, i32> {
        let want_dir = open_flags & flags::O_DIRECTORY != 0;
        let index = match self.lookup(path)? {
            Ok(_) if open_flags & flags::O_CREAT != 0 && open_flags & flags::O_EXCL != 0 => {
                return Err(EEXIST)
            }
            Ok(index) => index,
            Err(_) if open_flags & flags::O_CREAT == 0 => return Err(ENOENT),
            Err((parent, name)) => {
                let node = if want_dir { Node::Dir(BTreeMap::new()) } else { Node::File(Vec::new()) };
                self.nodes.push(Some(node));
                let index = self.nodes.len() - 1;
                if let Some(Some(Node::Dir(entries))) = self.nodes.get_mut(parent) {
                    entries.insert(name, index);
                }
                index
            }
        };
        match self.nodes.get_mut(index).and_then(Option::as_mut) {
            Some(Node::Dir(_)) if open_flags & flags::O_ACCMODE & flags::O_WRONLY != 0 => return Err(EISDIR),
            Some(Node::File(_)) if want_dir => return Err(ENOTDIR),
            Some(Node::File(data)) if open_flags & flags::O_TRUNC != 0 => data.clear(),
            Some(_) => {}
            None => return Err(ENOENT),
        }
        let id = self.next_id;
        self.next_id += 1;
        self.open.insert(id, (index, path.trim_matches('/').to_string()));
        Ok(id)
    }

    fn read(&mut self, id: u64, offset: u64, len: usize) -> Result<Vec<u8>, i32> {
        match self.node(id)? {
            Node::File(data) => {
                let start = (offset as usize).min(data.len());
                Ok(data[start..(start + len).min(data.len())].to_vec())
            }
            Node::Dir(_) => Err(EISDIR),
        }
    }

    fn write(&mut self, id: u64, offset: u64, bytes: &[u8]) -> Result<usize, i32> {
        match self.node(id)? {
            Node::File(data) => {
                let start = offset as usize;
                if data.len() < start + bytes.len() {
                    data.resize(start + bytes.len(), 0);
                }
                data[start..start + bytes.len()].copy_from_slice(bytes);
                Ok(bytes.len())
            }
            Node::Dir(_) => Err(EISDIR),
        }
    }

    fn fstat(&mut self, id: u64) -> Result<Stat, i32> {
        let ino = self.open.get(&id).map(|(i, _)| *i as u64).unwrap_or(0);
        Ok(match self.node(id)? {
            Node::File(data) => {
                Stat { mode: mode::MODE_FILE | 0o644, size: data.len() as u64, ino, nlink: 1, mtime: 0 }
            }
            Node::Dir(entries) => {
                Stat { mode: mode::MODE_DIR | 0o755, size: entries.len() as u64, ino, nlink: 2, mtime: 0 }
            }
        })
    }

    fn fpath(&mut self, id: u64) -> Result<String, i32> {
        self.open.get(&id).map(|(_, p)| p.clone()).ok_or(EBADF)
    }

    fn getdents(&mut self, id: u64) -> Result<Vec<Entry>, i32> {
        let Node::Dir(entries) = self.node(id)? else { return Err(ENOTDIR) };
        let entries: Vec<(String, usize)> = entries.iter().map(|(n, i)| (n.clone(), *i)).collect();
        Ok(entries
            .into_iter()
            .map(|(name, index)| {
                let k = match self.nodes.get(index) {
                    Some(Some(Node::Dir(_))) => kind::DIRECTORY,
                    _ => kind::REGULAR,
                };
                Entry { name, kind: k }
            })
            .collect())
    }

    fn ftruncate(&mut self, id: u64, len: u64) -> Result<(), i32> {
        match self.node(id)? {
            Node::File(data) => {
                data.resize(len as usize, 0);
                Ok(())
            }
            Node::Dir(_) => Err(EISDIR),
        }
    }

    fn close(&mut self, id: u64) {
        self.open.remove(&id);
    }

    fn unlink(&mut self, path: &str, _flags: u32) -> Result<(), i32> {
        let index = self.lookup(path)?.map_err(|_| ENOENT)?;
        if index == 0 {
            return Err(EINVAL);
        }
        if matches!(self.nodes.get(index), Some(Some(Node::Dir(entries))) if !entries.is_empty()) {
            return Err(ENOTEMPTY);
        }
        let parts = Self::components(path)?;
        let parent_path = parts[..parts.len() - 1].join("/");
        let parent = self.lookup(&parent_path)?.map_err(|_| ENOENT)?;
        if let Some(Some(Node::Dir(entries))) = self.nodes.get_mut(parent) {
            entries.remove(parts[parts.len() - 1]);
        }
        self.nodes[index] = None;
        Ok(())
    }
}

fn main() -> i32 {
    let args = env::args();
    let name = args.get(1).map(|s| s.as_str()).unwrap_or("ramfs");
    let mut fs = RamFs::new();
    match serve(name, &mut fs) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("ramfs: {e}");
            1
        }
    }
}
