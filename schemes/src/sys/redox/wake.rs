//! What wakes the serving thread besides its sockets: the pipe worker
//! threads write to ([`WakePipe`]), and the monotonic timer
//! (`/scheme/time/4`, [`Timer`]) armed for the daemon's next deadline.
//! Both are opened before the loop starts (the serving thread never opens
//! a path once serving).

use std::fs::File;
use std::io::{PipeReader, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::sync::{Arc, Mutex};

use libredox::flag;

use super::lio;

/// The read end of the wake-up pipe (non-blocking).
pub struct WakePipe {
    rx: PipeReader,
}

impl WakePipe {
    /// Makes the pipe; the waker writes a byte to it (from any thread).
    pub fn new() -> std::io::Result<(WakePipe, wasmhost::worker::Waker)> {
        let (rx, tx) = std::io::pipe()?;
        let fd = rx.as_raw_fd() as usize;
        let flags = libredox::call::fcntl(fd, syscall::F_GETFL, 0).map_err(lio)?;
        libredox::call::fcntl(fd, syscall::F_SETFL, flags | syscall::O_NONBLOCK).map_err(lio)?;
        let tx = Mutex::new(tx);
        let waker: wasmhost::worker::Waker = Arc::new(move || {
            if let Ok(mut tx) = tx.lock() {
                let _ = tx.write(&[1]);
            }
        });
        Ok((WakePipe { rx }, waker))
    }

    /// Its descriptor, for the event queue.
    pub fn raw(&self) -> usize {
        self.rx.as_raw_fd() as usize
    }

    /// Reads every wake-up written so far.
    pub fn drain(&mut self) {
        let mut buf = [0u8; 64];
        while matches!(self.rx.read(&mut buf), Ok(n) if n > 0) {}
    }
}

/// The monotonic timer.
pub struct Timer {
    file: File,
}

impl Timer {
    /// Opens `/scheme/time/4` (non-blocking). Opens a path: before
    /// serving only.
    pub fn open() -> std::io::Result<Timer> {
        let file =
            File::options().read(true).write(true).custom_flags(flag::O_NONBLOCK).open("/scheme/time/4")?;
        Ok(Timer { file })
    }

    /// Its descriptor, for the event queue.
    pub fn raw(&self) -> usize {
        self.file.as_raw_fd() as usize
    }

    /// Writes an absolute monotonic deadline `after` from now.
    pub fn arm(&mut self, after: std::time::Duration) -> std::io::Result<()> {
        let mut now = [0u8; 16];
        self.file.read_exact(&mut now)?;
        let secs = i64::from_ne_bytes(now[..8].try_into().unwrap_or_default());
        let nanos = i32::from_ne_bytes(now[8..12].try_into().unwrap_or_default());
        let total = i128::from(secs) * 1_000_000_000 + i128::from(nanos) + after.as_nanos() as i128;
        let mut deadline = [0u8; 16];
        deadline[..8].copy_from_slice(&((total / 1_000_000_000) as i64).to_ne_bytes());
        deadline[8..12].copy_from_slice(&((total % 1_000_000_000) as i32).to_ne_bytes());
        self.file.write_all(&deadline)
    }
}
