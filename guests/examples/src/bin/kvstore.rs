//! A key-value store served as a scheme (default name `kv`, or the first
//! argument). Each key is a file at the top level: write a value (the
//! open with `O_CREAT`, `O_TRUNC` replaces it), read it back, `unlink` to
//! delete, list the root directory to see every key. Keys are 1–255
//! bytes without `/`.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use wasmd_guest::abi::errno::{EBADF, EINVAL, EISDIR, ENOENT, ENOTDIR};
use wasmd_guest::scheme::{flags, kind, mode, serve, Caller, Entry, SchemeProvider, Stat};
use wasmd_guest::{env, eprintln};

wasmd_guest::main!(main);

#[derive(Default)]
struct Store {
    values: BTreeMap<String, Vec<u8>>,
    /// Open ids: `None` is the root directory.
    open: BTreeMap<u64, Option<String>>,
    next_id: u64,
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
        Ok(())
    }

    fn close(&mut self, id: u64) {
        self.open.remove(&id);
    }

    fn unlink(&mut self, path: &str, _flags: u32) -> Result<(), i32> {
        self.values.remove(path.trim_matches('/')).map(|_| ()).ok_or(ENOENT)
    }
}

fn main() -> i32 {
    let args = env::args();
    let name = args.get(1).map(|s| s.as_str()).unwrap_or("kv");
    let mut store = Store::default();
    match serve(name, &mut store) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("kvstore: {e}");
            1
        }
    }
}
