//! Readiness for guest sockets on Redox: a thread with an event queue,
//! calling one-shot callbacks (the subscription is dropped after it fires).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use event::{EventFlags, RawEventQueue};
use wasmhost::HostSocket;

type Ready = Box<dyn FnOnce() + Send>;
/// Callbacks by descriptor.
type Waiting = Arc<Mutex<HashMap<usize, Ready>>>;

/// The poller; its thread starts on first use.
#[derive(Default)]
pub struct Poller {
    inner: OnceLock<(Arc<RawEventQueue>, Waiting)>,
}

impl std::fmt::Debug for Poller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Poller").finish_non_exhaustive()
    }
}

impl Poller {
    fn start(&self) -> Option<&(Arc<RawEventQueue>, Waiting)> {
        if self.inner.get().is_none() {
            let queue = Arc::new(RawEventQueue::new().ok()?);
            let waiting: Waiting = Arc::default();
            let (q, w) = (queue.clone(), waiting.clone());
            std::thread::Builder::new()
                .name("wasmd-poller".into())
                .spawn(move || loop {
                    let Ok(event) = q.next_event() else { continue };
                    let fd = event.fd;
                    let _ = q.unsubscribe(fd);
                    let ready = w.lock().unwrap_or_else(|e| e.into_inner()).remove(&fd);
                    if let Some(ready) = ready {
                        ready();
                    }
                })
                .ok()?;
            let _ = self.inner.set((queue, waiting));
        }
        self.inner.get()
    }

    /// Calls `ready` once `socket` is readable (or writable).
    pub fn wait(&self, socket: &Arc<dyn HostSocket>, writable: bool, ready: Ready) {
        let Some((queue, waiting)) = self.start() else {
            ready();
            return;
        };
        let fd = socket.raw_fd() as usize;
        waiting.lock().unwrap_or_else(|e| e.into_inner()).insert(fd, ready);
        let flags = if writable { EventFlags::WRITE } else { EventFlags::READ };
        if queue.subscribe(fd, fd, flags).is_err() {
            if let Some(ready) = waiting.lock().unwrap_or_else(|e| e.into_inner()).remove(&fd) {
                ready();
            }
        }
    }
}
