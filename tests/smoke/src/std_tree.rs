//! [`StdTree`]: the real files, through std — what any Redox program
//! does — and, inside Redox, the [`Native`] powers: `mmap` of `shm/`
//! files, event queues, the namespace listing and legacy URLs.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};

#[cfg(target_os = "redox")]
use crate::Native;
use crate::Tree;

/// The real files (inside Redox: `/scheme/wasm` itself).
#[derive(Debug, Default)]
pub struct StdTree;

fn open(path: &str, options: &OpenOptions) -> Result<File, String> {
    options.open(path).map_err(|e| format!("open {path}: {e}"))
}

impl Tree for StdTree {
    fn list(&mut self, path: &str) -> Result<Vec<String>, String> {
        let entries = std::fs::read_dir(path).map_err(|e| format!("ls {path}: {e}"))?;
        Ok(entries.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
    }

    fn is_dir(&mut self, path: &str) -> Result<bool, String> {
        Ok(std::fs::metadata(path).map_err(|e| format!("stat {path}: {e}"))?.is_dir())
    }

    fn read(&mut self, path: &str) -> Result<Vec<u8>, String> {
        std::fs::read(path).map_err(|e| format!("cat {path}: {e}"))
    }

    fn stream(&mut self, path: &str) -> Result<Box<dyn Read + Send>, String> {
        Ok(Box::new(open(path, OpenOptions::new().read(true))?))
    }

    fn write(&mut self, path: &str, data: &[u8]) -> Result<(), String> {
        let mut file = open(path, OpenOptions::new().write(true).create(true).truncate(true))?;
        file.write_all(data).map_err(|e| format!("write {path}: {e}"))
    }

    fn write_at(&mut self, path: &str, offset: u64, data: &[u8]) -> Result<(), String> {
        let mut file = open(path, OpenOptions::new().write(true))?;
        file.seek(SeekFrom::Start(offset)).map_err(|e| format!("seek {path}: {e}"))?;
        match file.write(data) {
            Ok(n) if n == data.len() => Ok(()),
            Ok(n) => Err(format!("write {path}: {n} of {} bytes", data.len())),
            Err(e) => Err(format!("write {path}: {e}")),
        }
    }

    fn send_frames(&mut self, path: &str, frames: &[&[u8]]) -> Result<(), String> {
        let mut file = open(path, OpenOptions::new().write(true))?;
        for frame in frames {
            match file.write(frame) {
                Ok(n) if n == frame.len() => {}
                Ok(n) => return Err(format!("write {path}: {n} of {} bytes", frame.len())),
                Err(e) => return Err(format!("write {path}: {e}")),
            }
        }
        Ok(())
    }

    fn truncate_and_sync(&mut self, path: &str, len: u64) -> Result<(), String> {
        let file = open(path, OpenOptions::new().read(true).write(true))?;
        file.set_len(len).map_err(|e| format!("ftruncate {path}: {e}"))?;
        file.sync_all().map_err(|e| format!("fsync {path}: {e}"))
    }

    fn remove(&mut self, path: &str) -> Result<(), String> {
        std::fs::remove_file(path).map_err(|e| format!("rm {path}: {e}"))
    }

    fn spawn(&mut self, spec: &str) -> Result<u32, String> {
        let mut file = open("/scheme/wasm/spawn", OpenOptions::new().read(true).write(true))?;
        file.write_all(spec.as_bytes()).map_err(|e| format!("write spawn spec: {e}"))?;
        let mut pid = String::new();
        file.read_to_string(&mut pid).map_err(|e| format!("read spawned pid: {e}"))?;
        pid.trim().parse().map_err(|_| format!("spawn answered {pid:?}, not a pid"))
    }

    fn exchange(&mut self, path: &str, data: &[u8]) -> Result<Vec<u8>, String> {
        let mut file = open(path, OpenOptions::new().read(true).write(true))?;
        file.write_all(data).map_err(|e| format!("write {path}: {e}"))?;
        let mut answer = Vec::new();
        file.read_to_end(&mut answer).map_err(|e| format!("read {path}: {e}"))?;
        Ok(answer)
    }

    #[cfg(target_os = "redox")]
    fn native(&mut self) -> Option<&mut dyn Native> {
        Some(self)
    }
}

#[cfg(target_os = "redox")]
mod redox {
    use std::os::fd::AsRawFd;
    use std::time::Duration;

    use super::*;
    use crate::Mapping;

    /// A shared mapping made with `mmap`.
    struct Shared {
        ptr: *mut u8,
        len: usize,
        _file: File,
    }

    // SAFETY: plain shared memory, owned by this value; accesses are
    // volatile and the other side synchronises through the bytes.
    unsafe impl Send for Shared {}

    impl Mapping for Shared {
        fn read(&self, offset: usize, len: usize) -> Vec<u8> {
            (offset..(offset + len).min(self.len))
                // SAFETY: inside the mapping, which lives as long as `self`.
                .map(|i| unsafe { self.ptr.add(i).read_volatile() })
                .collect()
        }

        fn write(&mut self, offset: usize, data: &[u8]) {
            for (i, b) in data.iter().enumerate().filter(|(i, _)| offset + i < self.len) {
                // SAFETY: inside the mapping, which lives as long as `self`.
                unsafe { self.ptr.add(offset + i).write_volatile(*b) }
            }
        }
    }

    impl Drop for Shared {
        fn drop(&mut self) {
            // SAFETY: mapped in `map_shared`, not used after this.
            let _ = unsafe { libredox::call::munmap(self.ptr.cast(), self.len) };
        }
    }

    impl Native for StdTree {
        fn map_shared(&mut self, path: &str, len: usize) -> Result<Box<dyn Mapping>, String> {
            let file = open(path, OpenOptions::new().read(true).write(true))?;
            let args = libredox::call::MmapArgs {
                addr: std::ptr::null_mut(),
                length: len,
                prot: libredox::flag::PROT_READ | libredox::flag::PROT_WRITE,
                flags: libredox::flag::MAP_SHARED,
                fd: file.as_raw_fd() as usize,
                offset: 0,
            };
            // SAFETY: a fresh shared mapping of the file, kept with it.
            let ptr = unsafe { libredox::call::mmap(args) }.map_err(|e| format!("mmap {path}: {e}"))?;
            Ok(Box::new(Shared { ptr: ptr.cast(), len, _file: file }))
        }

        fn readiness(
            &mut self,
            path: &str,
            quiet: Duration,
            between: &mut dyn FnMut() -> Result<(), String>,
            timeout: Duration,
        ) -> Result<(bool, bool), String> {
            let file = open(path, OpenOptions::new().read(true))?;
            let queue = event::RawEventQueue::new().map_err(|e| format!("event queue: {e}"))?;
            queue
                .subscribe(file.as_raw_fd() as usize, 1, event::EventFlags::READ)
                .map_err(|e| format!("subscribe {path}: {e}"))?;
            let (tx, rx) = std::sync::mpsc::channel();
            // The queue blocks; a thread waits on it (and is left behind
            // if no event ever comes).
            std::thread::spawn(move || {
                let _keep = file;
                if let Ok(event) = queue.next_event() {
                    let _ = tx.send(event.flags & event::EventFlags::READ.bits() != 0);
                }
            });
            let early = rx.recv_timeout(quiet).is_ok();
            between()?;
            let came = early || rx.recv_timeout(timeout).is_ok_and(|readable| readable);
            Ok((early, came))
        }

        fn schemes(&mut self) -> Result<Vec<String>, String> {
            self.list("/scheme")
        }

        fn read_url(&mut self, url: &str) -> Result<Vec<u8>, String> {
            std::fs::read(url).map_err(|e| format!("cat {url}: {e}"))
        }

        fn run_as_user(&mut self, uid: u32, args: &[String]) -> Result<String, String> {
            use std::os::unix::process::CommandExt;
            let exe = std::env::current_exe().map_err(|e| format!("own path: {e}"))?;
            // No /dev/null early in boot: stdin is inherited.
            let out = std::process::Command::new(exe)
                .args(args)
                .uid(uid)
                .gid(uid)
                .stdin(std::process::Stdio::inherit())
                .stderr(std::process::Stdio::inherit())
                .output()
                .map_err(|e| format!("running as user {uid}: {e}"))?;
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        }
    }
}
