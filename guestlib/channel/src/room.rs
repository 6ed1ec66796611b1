//! Waiting for room without parking: [`RoomWait`].

use wasmd_abi::Errno;

use crate::layout::off;
use crate::{Channel, ChannelError, Result, RingRegion, Wait};

/// A wait for room in a full `Park` channel by a writer that must not be
/// held (the host's end of a bridge, which serves other channels from
/// the same thread): what [`crate::Writer::write`] does when the channel
/// is full, in two halves.
///
/// [`RoomWait::arm`] counts the caller among the channel's waiting
/// writers — so its readers bump and notify the space sequence as they
/// free room — and calls [`RingRegion::wait`] on that sequence: a region
/// whose wait returns [`Errno::WouldBlock`] at once queues a wake-up
/// there instead of parking. [`RoomWait::disarm`] takes the caller off
/// the count once its frames fit; it must be called before the wait is
/// dropped (the count is the channel's, in shared memory).
#[derive(Debug, Default)]
pub struct RoomWait {
    counted: bool,
}

impl RoomWait {
    /// A wait not armed.
    pub fn new() -> RoomWait {
        RoomWait::default()
    }

    /// Arms the wait on `channel`: `Ok(true)` when a wake-up is queued
    /// (the region calls back when room may have come), `Ok(false)` when
    /// the space sequence moved meanwhile or the wait returned: room may
    /// have come, try to write again now.
    pub fn arm<R: RingRegion>(&mut self, channel: &Channel<R>) -> Result<bool> {
        let r = channel.region();
        if !self.counted {
            r.fetch_add_u32(off::WAITING_WRITERS, 1)?;
            self.counted = true;
        }
        let seq = r.load_u32(off::SPACE_SEQ)?;
        match r.wait(off::SPACE_SEQ, seq, None) {
            Err(Errno::WouldBlock) => Ok(true),
            Ok(Wait::Changed | Wait::Woken | Wait::TimedOut) => Ok(false),
            Err(e) => Err(ChannelError::Sys(e)),
        }
    }

    /// True while counted among the channel's waiting writers.
    pub fn is_armed(&self) -> bool {
        self.counted
    }

    /// No longer waits: off the channel's count of waiting writers.
    pub fn disarm<R: RingRegion>(&mut self, channel: &Channel<R>) -> Result<()> {
        if core::mem::take(&mut self.counted) {
            channel.region().fetch_add_u32(off::WAITING_WRITERS, u32::MAX)?;
        }
        Ok(())
    }
}
