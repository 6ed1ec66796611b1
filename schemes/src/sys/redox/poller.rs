//! The readiness queue behind [`crate::poller`] on Redox: an event queue
//! whose subscription is dropped once it fires (one notice per
//! registration).

use event::{EventFlags, RawEventQueue};

use crate::poller::ReadinessQueue;

/// A Redox event queue, subscriptions keyed by descriptor.
pub struct EventQueue {
    queue: RawEventQueue,
}

impl ReadinessQueue for EventQueue {
    fn create() -> std::io::Result<Self> {
        let queue = RawEventQueue::new().map_err(|e| std::io::Error::from_raw_os_error(e.errno()))?;
        Ok(EventQueue { queue })
    }

    fn arm(&self, fd: usize, writable: bool) -> std::io::Result<()> {
        let flags = if writable { EventFlags::WRITE } else { EventFlags::READ };
        self.queue.subscribe(fd, fd, flags).map_err(|e| std::io::Error::from_raw_os_error(e.errno()))
    }

    fn wait(&self, ready: &mut Vec<usize>) -> std::io::Result<()> {
        let event = self.queue.next_event().map_err(|e| std::io::Error::from_raw_os_error(e.errno()))?;
        let _ = self.queue.unsubscribe(event.fd);
        ready.push(event.fd);
        Ok(())
    }
}
