//! Readiness for guest sockets, written once for both OSes: a thread
//! (started on first use) waits on the OS's readiness queue and calls
//! one-shot callbacks. A guest's send or receive that would block parks
//! the guest; the platform's `net_wait` ([`Poller::wait`]) registers a
//! callback that resumes it when its socket is ready (or failed).
//!
//! The OS part is a [`ReadinessQueue`]: epoll with one-shot registrations
//! on Linux (`sys::linux::hostio`), a Redox event queue whose
//! subscription is dropped after it fires on Redox (`sys::redox::poller`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use wasmhost::HostSocket;

/// What to call when a socket is ready.
pub type Ready = Box<dyn FnOnce() + Send>;
/// Callbacks by descriptor.
type Waiting = Arc<Mutex<HashMap<usize, Ready>>>;

/// The OS's readiness queue, as the poller uses it: one notice per
/// registration, by descriptor.
pub trait ReadinessQueue: Send + Sync + Sized + 'static {
    /// A new, empty queue.
    fn create() -> std::io::Result<Self>;

    /// Asks for one notice when `fd` is readable (or, with `writable`,
    /// writable).
    fn arm(&self, fd: usize, writable: bool) -> std::io::Result<()>;

    /// Waits for notices and appends the descriptors they are for to
    /// `ready`; each registration is spent once noticed.
    fn wait(&self, ready: &mut Vec<usize>) -> std::io::Result<()>;
}

/// The poller over the queue `Q`; its thread starts on first use.
pub struct Poller<Q> {
    inner: OnceLock<(Arc<Q>, Waiting)>,
}

impl<Q> Default for Poller<Q> {
    fn default() -> Self {
        Poller { inner: OnceLock::new() }
    }
}

impl<Q> std::fmt::Debug for Poller<Q> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Poller").finish_non_exhaustive()
    }
}

impl<Q: ReadinessQueue> Poller<Q> {
    fn start(&self) -> Option<&(Arc<Q>, Waiting)> {
        if self.inner.get().is_none() {
            let queue = Arc::new(Q::create().ok()?);
            let waiting: Waiting = Arc::default();
            let (thread_queue, thread_waiting) = (queue.clone(), waiting.clone());
            std::thread::Builder::new()
                .name("wasmd-poller".into())
                .spawn(move || {
                    let mut ready = Vec::with_capacity(64);
                    loop {
                        ready.clear();
                        if thread_queue.wait(&mut ready).is_err() {
                            continue;
                        }
                        for fd in &ready {
                            let call = thread_waiting.lock().unwrap_or_else(|e| e.into_inner()).remove(fd);
                            if let Some(call) = call {
                                call();
                            }
                        }
                    }
                })
                .ok()?;
            let _ = self.inner.set((queue, waiting));
        }
        self.inner.get()
    }

    /// Calls `ready` once `socket` is readable (or writable), or failed;
    /// at once if it cannot be watched.
    pub fn wait(&self, socket: &Arc<dyn HostSocket>, writable: bool, ready: Ready) {
        let Some((queue, waiting)) = self.start() else {
            ready();
            return;
        };
        let fd = socket.raw_fd() as usize;
        waiting.lock().unwrap_or_else(|e| e.into_inner()).insert(fd, ready);
        if queue.arm(fd, writable).is_err() {
            if let Some(ready) = waiting.lock().unwrap_or_else(|e| e.into_inner()).remove(&fd) {
                ready();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::sync::Condvar;
    use std::time::Duration;

    use wasmd_abi::Errno;

    use super::*;

    /// Armed descriptors, noticed as soon as they are armed; odd ones
    /// cannot be armed.
    #[derive(Default)]
    struct ArmedAtOnce {
        armed: Mutex<Vec<usize>>,
        changed: Condvar,
    }

    impl ReadinessQueue for ArmedAtOnce {
        fn create() -> std::io::Result<Self> {
            Ok(Self::default())
        }

        fn arm(&self, fd: usize, _writable: bool) -> std::io::Result<()> {
            if fd % 2 == 1 {
                return Err(std::io::ErrorKind::InvalidInput.into());
            }
            self.armed.lock().unwrap().push(fd);
            self.changed.notify_all();
            Ok(())
        }

        fn wait(&self, ready: &mut Vec<usize>) -> std::io::Result<()> {
            let mut armed = self.armed.lock().unwrap();
            while armed.is_empty() {
                armed = self.changed.wait(armed).unwrap();
            }
            ready.append(&mut armed);
            Ok(())
        }
    }

    #[derive(Debug)]
    struct Descriptor(i64);

    impl HostSocket for Descriptor {
        fn accept(&self) -> Result<Arc<dyn HostSocket>, Errno> {
            Err(Errno::InvalidArgument)
        }
        fn send(&self, _data: &[u8]) -> Result<usize, Errno> {
            Err(Errno::InvalidArgument)
        }
        fn recv(&self, _len: usize) -> Result<Vec<u8>, Errno> {
            Err(Errno::InvalidArgument)
        }
        fn local_addr(&self) -> String {
            String::new()
        }
        fn raw_fd(&self) -> i64 {
            self.0
        }
    }

    #[test]
    fn each_wait_is_called_back_once_and_one_that_cannot_be_watched_at_once() {
        let poller = Poller::<ArmedAtOnce>::default();
        let (tx, rx) = mpsc::channel();
        for fd in [4, 6, 7] {
            let tx = tx.clone();
            let socket: Arc<dyn HostSocket> = Arc::new(Descriptor(fd));
            poller.wait(&socket, fd == 6, Box::new(move || tx.send(fd).unwrap()));
        }
        let mut called: Vec<i64> =
            (0..3).map(|_| rx.recv_timeout(Duration::from_secs(10)).expect("a callback")).collect();
        called.sort();
        assert_eq!(called, [4, 6, 7]);
        assert!(rx.recv_timeout(Duration::from_millis(50)).is_err(), "a callback called twice");
    }
}
