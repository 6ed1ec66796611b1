//! The readiness queue behind [`crate::poller`] on Redox: an event queue
//! whose subscription is dropped once it fires (one notice per
//! registration).

use event::{EventFlags, RawEventQueue};

use super::lio;
use crate::poller::ReadinessQueue;

/// A Redox event queue, subscriptions keyed by descriptor.
pub struct EventQueue {
    queue: RawEventQueue,
}

impl ReadinessQueue for EventQueue {
    fn create() -> std::io::Result<Self> {
        let queue = RawEventQueue::new().map_err(lio)?;
        Ok(EventQueue { queue })
    }

    fn arm(&self, fd: usize, writable: bool) -> std::io::Result<()> {
        let flags = if writable { EventFlags::WRITE } else { EventFlags::READ };
        self.queue.subscribe(fd, fd, flags).map_err(lio)
    }

    fn wait(&self, ready: &mut Vec<usize>) -> std::io::Result<()> {
        let event = self.queue.next_event().map_err(lio)?;
        let _ = self.queue.unsubscribe(event.fd);
        ready.push(event.fd);
        Ok(())
    }
}
