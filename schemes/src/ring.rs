//! [`HostRing`]: a region as the channel code ([`wasmd_channel`]) sees
//! it from the daemon's side, accessed directly on the mapping. The
//! control tree's `chan/` files use it, and so do the cluster link's
//! bridges; the daemon never blocks on a ring, so a wait either is
//! refused (`Errno::WouldBlock`: the caller polls) or, on a
//! [`HostRing::watched_by`] ring, becomes a watch that calls back when a
//! writer or reader notifies.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use wasmd_abi::Errno;
use wasmd_channel::{ChannelError, RingRegion, SysResult, Wait};
use wasmhost::region::Region;
use wasmhost::{NativeWake, RegionWatcher};

/// Wakes guests parked on a region offset (the manager's futex table).
pub type Notify = wasmhost::RegionNotifier;

/// A region as the channel code sees it, accessed directly.
#[derive(Clone)]
pub struct HostRing {
    region: Arc<Region>,
    notify: Notify,
    /// How a wait is waited, for a ring of a thread that watches
    /// (`None`: waits are refused, `Errno::WouldBlock`).
    watch: Option<Arc<RingWatch>>,
}

/// A thread's one wait on a ring at a time: a watch queued in the
/// manager's wait queues ([`RegionWatcher`]) whose firing calls the
/// thread's callback.
struct RingWatch {
    watcher: RegionWatcher,
    /// The callback, wrapped to mark the watch gone first.
    wake: NativeWake,
    /// A watch is queued (or being queued).
    armed: Arc<AtomicBool>,
    /// The queued watch: its offset and id (stale once it fired).
    queued: Mutex<Option<(u64, u64)>>,
}

impl std::fmt::Debug for HostRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostRing").field("region", &self.region.id()).finish_non_exhaustive()
    }
}

impl HostRing {
    /// Wraps a region; `notify` wakes guests parked on it.
    pub fn new(region: Arc<Region>, notify: Notify) -> Self {
        Self { region, notify, watch: None }
    }

    /// This ring for a thread that cannot park: a channel's wait (a
    /// reader with nothing to read, flagged for its writers to wake)
    /// queues a watch that calls `wake` when a writer notifies, and
    /// returns `Errno::WouldBlock` at once. At most one watch is queued
    /// at a time; [`HostRing::unwatch`] removes it.
    pub fn watched_by(&self, watcher: RegionWatcher, wake: NativeWake) -> HostRing {
        let armed = Arc::new(AtomicBool::new(false));
        let unarm = armed.clone();
        let wake: NativeWake = Arc::new(move || {
            unarm.store(false, Ordering::SeqCst);
            wake();
        });
        let watch = RingWatch { watcher, wake, armed, queued: Mutex::new(None) };
        HostRing { region: self.region.clone(), notify: self.notify.clone(), watch: Some(Arc::new(watch)) }
    }

    /// The region.
    pub fn region(&self) -> &Arc<Region> {
        &self.region
    }

    /// Removes the watch queued, if any: the next wait queues one again.
    pub fn unwatch(&self) {
        let Some(w) = &self.watch else { return };
        if let Some((offset, id)) = w.queued.lock().unwrap_or_else(|e| e.into_inner()).take() {
            w.watcher.unwatch(&self.region, offset, id);
        }
        w.armed.store(false, Ordering::SeqCst);
    }
}

impl RingRegion for HostRing {
    fn load_u32(&self, offset: u64) -> SysResult<u32> {
        Ok(self.region.atomic_u32(offset)?.load(Ordering::SeqCst))
    }
    fn store_u32(&self, offset: u64, value: u32) -> SysResult<()> {
        self.region.atomic_u32(offset)?.store(value, Ordering::SeqCst);
        Ok(())
    }
    fn fetch_add_u32(&self, offset: u64, value: u32) -> SysResult<u32> {
        Ok(self.region.atomic_u32(offset)?.fetch_add(value, Ordering::SeqCst))
    }
    fn load_u64(&self, offset: u64) -> SysResult<u64> {
        Ok(self.region.atomic_u64(offset)?.load(Ordering::SeqCst))
    }
    fn store_u64(&self, offset: u64, value: u64) -> SysResult<()> {
        self.region.atomic_u64(offset)?.store(value, Ordering::SeqCst);
        Ok(())
    }
    fn compare_exchange_u64(&self, offset: u64, current: u64, new: u64) -> SysResult<Result<u64, u64>> {
        let atomic = self.region.atomic_u64(offset)?;
        let order = Ordering::SeqCst;
        Ok(atomic.compare_exchange(current, new, order, order))
    }
    fn read(&self, offset: u64, buf: &mut [u8]) -> SysResult<()> {
        let range = self.region.range(offset, buf.len())?;
        self.region.read_at(range, buf);
        Ok(())
    }
    fn write(&self, offset: u64, data: &[u8]) -> SysResult<()> {
        let range = self.region.range(offset, data.len())?;
        self.region.write_at(range, data);
        Ok(())
    }
    fn write2(&self, offset: u64, head: &[u8], body: &[u8]) -> SysResult<()> {
        let range = self.region.range(offset, head.len() + body.len())?;
        self.region.write2_at(range, head, body);
        Ok(())
    }
    fn wait(&self, offset: u64, expected: u32, _timeout: Option<Duration>) -> SysResult<Wait> {
        // The daemon never blocks: a watched ring queues a watch instead.
        let Some(w) = &self.watch else { return Err(Errno::WouldBlock) };
        if w.armed.swap(true, Ordering::SeqCst) {
            // One is queued: the next notify fires it.
            return Err(Errno::WouldBlock);
        }
        match w.watcher.watch(&self.region, offset, expected, w.wake.clone()) {
            Some(id) => {
                *w.queued.lock().unwrap_or_else(|e| e.into_inner()) = Some((offset, id));
                Err(Errno::WouldBlock)
            }
            None => {
                w.armed.store(false, Ordering::SeqCst);
                Ok(Wait::Changed)
            }
        }
    }
    fn notify(&self, offset: u64, count: u32) -> SysResult<u32> {
        Ok((self.notify)(&self.region, offset, count))
    }
    fn size(&self) -> SysResult<usize> {
        Ok(self.region.len())
    }
}

/// The errno a local client gets for a channel error.
pub(crate) fn channel_errno(e: &ChannelError) -> Errno {
    match e {
        ChannelError::Sys(e) => *e,
        ChannelError::Closed | ChannelError::Aborted => Errno::BrokenPipe,
        ChannelError::TooLarge => Errno::MessageTooLong,
        ChannelError::WouldBlock => Errno::WouldBlock,
        ChannelError::NoReaderSlot => Errno::Busy,
        ChannelError::NotAChannel | ChannelError::UnsupportedVersion(_) => Errno::InvalidArgument,
    }
}
