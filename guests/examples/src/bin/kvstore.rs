//! A key-value store served as a scheme (default name `kv`, or the first
//! argument). Each key is a file at the top level: write a value (the
//! open with `O_CREAT`, `O_TRUNC` replaces it), read it back, `unlink` to
//! delete, list the root directory to see every key. Keys are 1–255
//! bytes without `/`.
//!
//! `kvstore NAME DIR` keeps the store in the directory `DIR` (a path its
//! `file:` grant covers, e.g. `file:/srv/kv`): every key is loaded from it
//! at start, and every write or truncation of a value is written through
//! to `DIR/KEY` before it is answered (a removed key is removed there), so a restarted store — under a
//! supervisor — comes back with its data. It also registers its scheme
//! name in the name registry, so others find the process by it.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use wasmd_guest::abi::errno::{EBADF, EINVAL, EISDIR, ENOENT, ENOTDIR};
use wasmd_guest::scheme::{flags, kind, mode, serve, Caller, Entry, SchemeProvider, Stat};
use wasmd_guest::{env, eprintln, fs, mailbox};

wasmd_guest::main!(main);

#[derive(Default)]
struct Store {
    values: BTreeMap<String, Vec<u8>>,
    /// Open ids: `None` is the root directory.
    open: BTreeMap<u64, Option<String>>,
    next_id: u64,
    /// Where the values persist, if anywhere.
    dir: Option<String>,
}

impl Store {
    /// The store kept in `dir`, with every key found there.
    fn persistent(dir: &str) -> Store {
        let mut store = Store { dir: Some(dir.trim_end_matches('/').to_string()), ..Store::default() };
        if fs::read_dir(dir).is_err() {
            if let Err(e) = fs::create_dir(dir) {
                eprintln!("kvstore: cannot keep the store in {dir}: {e}");
            }
        }
        for (key, _) in fs::read_dir(dir).unwrap_or_default() {
            if let Ok(value) = fs::read(&store.path(&key)) {
                store.values.insert(key, value);
            }
        }
        store
    }

    fn path(&self, key: &str) -> String {
        alloc::format!("{}/{key}", self.dir.as_deref().unwrap_or(""))
    }

    /// Writes `key`'s value through to the directory (the whole value:
    /// this is a store of small values).
    fn persist(&self, key: &str) {
        if let (Some(_), Some(value)) = (&self.dir, self.values.get(key)) {
            if let Err(e) = fs::write(&self.path(key), value) {
                eprintln!("kvstore: cannot keep {key}: {e}");
            }
        }
    }
}

impl Store {
    fn key(&self, id: u64) -> Result<&String, i32> {
        self.open.get(&id).ok_or(EBADF)?.as_ref().ok_or(EISDIR)
    }
}

impl SchemeProvider for Store {
    fn open(&mut self, path: &str, open_flags: u32, _caller: Caller) -> Result<u64, i32> {
        let key = path.trim_matches('/');
        let entry = if key.is_empty() {
            None
        } else {
            if key.contains('/') || key.len() > 255 {
                return Err(EINVAL);
            }
            if open_flags & flags::O_DIRECTORY != 0 {
                return Err(ENOTDIR);
            }
            match self.values.get_mut(key) {
                Some(v) if open_flags & flags::O_TRUNC != 0 => v.clear(),
                Some(_) => {}
                None if open_flags & flags::O_CREAT != 0 => {
                    self.values.insert(key.to_string(), Vec::new());
                }
                None => return Err(ENOENT),
            }
            Some(key.to_string())
        };
        self.next_id += 1;
        self.open.insert(self.next_id, entry);
        Ok(self.next_id)
    }

    fn read(&mut self, id: u64, offset: u64, len: usize) -> Result<Vec<u8>, i32> {
        let key = self.key(id)?.clone();
        let value = self.values.get(&key).ok_or(ENOENT)?;
        let start = (offset as usize).min(value.len());
        Ok(value[start..(start + len).min(value.len())].to_vec())
    }

    fn write(&mut self, id: u64, offset: u64, data: &[u8]) -> Result<usize, i32> {
        let key = self.key(id)?.clone();
        let value = self.values.get_mut(&key).ok_or(ENOENT)?;
        let start = offset as usize;
        if value.len() < start + data.len() {
            value.resize(start + data.len(), 0);
        }
        value[start..start + data.len()].copy_from_slice(data);
        self.persist(&key);
        Ok(data.len())
    }

    fn fstat(&mut self, id: u64) -> Result<Stat, i32> {
        match self.open.get(&id).ok_or(EBADF)? {
            None => Ok(Stat {
                mode: mode::MODE_DIR | 0o755,
                size: self.values.len() as u64,
                ino: 0,
                nlink: 2,
                mtime: 0,
            }),
            Some(key) => {
                let size = self.values.get(key).map_or(0, |v| v.len() as u64);
                Ok(Stat { mode: mode::MODE_FILE | 0o644, size, ino: id, nlink: 1, mtime: 0 })
            }
        }
    }

    fn fpath(&mut self, id: u64) -> Result<String, i32> {
        Ok(self.open.get(&id).ok_or(EBADF)?.clone().unwrap_or_default())
    }

    fn getdents(&mut self, id: u64) -> Result<Vec<Entry>, i32> {
        match self.open.get(&id).ok_or(EBADF)? {
            None => Ok(self.values.keys().map(|k| Entry { name: k.clone(), kind: kind::REGULAR }).collect()),
            Some(_) => Err(ENOTDIR),
        }
    }

    fn ftruncate(&mut self, id: u64, len: u64) -> Result<(), i32> {
        let key = self.key(id)?.clone();
        self.values.get_mut(&key).ok_or(ENOENT)?.resize(len as usize, 0);
        self.persist(&key);
        Ok(())
    }

    fn close(&mut self, id: u64) {
        self.open.remove(&id);
    }

    fn unlink(&mut self, path: &str, _flags: u32) -> Result<(), i32> {
        let key = path.trim_matches('/');
        self.values.remove(key).ok_or(ENOENT)?;
        if self.dir.is_some() {
            let _ = fs::remove(&self.path(key));
        }
        Ok(())
    }
}

fn main() -> i32 {
    let args = env::args();
    let name = args.get(1).map(|s| s.as_str()).unwrap_or("kv");
    let mut store = match args.get(2) {
        Some(dir) => Store::persistent(dir),
        None => Store::default(),
    };
    // Found by name too (a restarted store has a new pid).
    let _ = mailbox::register(name);
    match serve(name, &mut store) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("kvstore: {e}");
            1
        }
    }
}
