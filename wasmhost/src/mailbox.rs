//! Mailboxes: every process's queue of messages and notices (see
//! `wasmd_abi::mailbox` for the guest's view).
//!
//! A [`Mailbox`] is shared (`Arc`) by its process's record, its store and
//! every process handle naming it in other processes' tables. A sender's
//! `send` hostcall pushes straight into it ([`Mailbox::push`]) without the
//! manager; the owner's `receive` takes from it the same way
//! ([`Mailbox::take`]). Only waiting needs the manager: a receiver with
//! nothing to take parks and leaves a [`Waiter`] here (with its filter), a
//! sender facing a full mailbox parks and queues itself among its
//! senders. A push that matches the waiter, or a take that makes room for
//! a parked sender, hands that process's `(pid, token)` back to its
//! caller, which puts it on the manager's wake list ([`MailWakes`]); the
//! manager then delivers for the woken receiver (or retries the send) with
//! its store lent from its record. Notices ([`Mailbox::notify`]) come from
//! the manager itself and are never refused (their number is bounded by
//! the links and monitors that make them).
//!
//! Receivers spin briefly on [`Mailbox::seq`] (bumped by every push)
//! before they park, as `region_wait` does, so a round trip between guests
//! on two scheduler threads usually takes no lock of the manager.
//!
//! Payload buffers are recycled within a mailbox (a few spares), so a
//! steady exchange allocates nothing.
//!
//! What is queued counts against the receiver's owner in the daemon's
//! memory budget (each message its payload and [`MESSAGE_OVERHEAD`]): a
//! message the budget has no room for is refused as a full mailbox would
//! be; a notice is queued regardless (its links and monitors bound them).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use wasmd_abi::mailbox::{Header, MAILBOX_BYTES, MAILBOX_MESSAGES, MAX_FILTER, MAX_TRANSFER, NOTICE_BASE};
use wasmd_abi::{Errno, Rights};

use crate::process::lock;
use crate::Pid;

/// Bytes a queued message is counted as beyond its payload.
pub const MESSAGE_OVERHEAD: u64 = 128;

/// Spare payload buffers a mailbox keeps for reuse.
const SPARES: usize = 8;
/// Largest buffer kept as a spare.
const SPARE_MAX: usize = 4096;

/// Handles carried by one message: process handles, with their rights.
pub type Transfer = [Option<(Arc<Mailbox>, Rights)>; MAX_TRANSFER];

/// One queued message or notice.
#[derive(Debug, Clone, Default)]
pub struct Message {
    /// Its tag (notices: from `NOTICE_BASE` up).
    pub tag: u64,
    /// Its sender (for a notice, the process that ended).
    pub from: Pid,
    /// Its payload.
    pub data: Vec<u8>,
    /// Handles that come with it.
    pub handles: Transfer,
    /// Bytes of the memory budget it holds while queued.
    pub charged: u64,
}

impl Message {
    /// Number of handles it carries.
    pub fn handle_count(&self) -> usize {
        self.handles.iter().filter(|h| h.is_some()).count()
    }

    /// Its header as `receive` writes it.
    pub fn header(&self) -> Header {
        Header {
            tag: self.tag,
            from: self.from,
            len: self.data.len() as u32,
            handles: self.handle_count() as u32,
        }
    }

    fn is_notice(&self) -> bool {
        self.tag >= NOTICE_BASE
    }
}

/// The tags a `receive` accepts: any, or one of up to `MAX_FILTER`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Filter {
    tags: [u64; MAX_FILTER],
    n: u8,
}

impl Filter {
    /// Accepts every tag.
    pub const ANY: Filter = Filter { tags: [0; MAX_FILTER], n: 0 };

    /// Accepts the tags given (`Errno::TooBig` past `MAX_FILTER`; none
    /// given accepts every tag).
    pub fn of(tags: impl ExactSizeIterator<Item = u64>) -> Result<Filter, Errno> {
        if tags.len() > MAX_FILTER {
            return Err(Errno::TooBig);
        }
        let mut f = Filter::ANY;
        for (slot, tag) in f.tags.iter_mut().zip(tags) {
            *slot = tag;
            f.n += 1;
        }
        Ok(f)
    }

    /// True when a message of `tag` passes.
    pub fn accepts(&self, tag: u64) -> bool {
        self.n == 0 || self.tags[..self.n as usize].contains(&tag)
    }
}

/// The owner, parked in `receive`: its filter stays here while it waits.
#[derive(Debug, Clone, Copy)]
struct Waiter {
    token: u64,
    filter: Filter,
    /// A push it accepts has put it on the wake list.
    notified: bool,
}

/// A process to wake: its pid and the token of its wait.
pub type Wake = (Pid, u64);

/// Why a push was refused.
#[derive(Debug)]
pub enum Refused {
    /// The mailbox is full; the message comes back.
    Full(Message),
    /// The process has ended.
    Closed,
}

#[derive(Debug, Default)]
struct Queue {
    messages: VecDeque<Message>,
    /// Messages (notices aside) and their payload bytes.
    count: usize,
    bytes: usize,
    closed: bool,
    waiter: Option<Waiter>,
    senders: VecDeque<Wake>,
    spares: Vec<Vec<u8>>,
}

impl Queue {
    fn has_room(&self, len: usize) -> bool {
        self.count < MAILBOX_MESSAGES && self.bytes + len <= MAILBOX_BYTES
    }

    /// Queues `message`; the parked owner to wake, if it waits for it.
    fn queue(&mut self, message: Message) -> Option<Wake> {
        if !message.is_notice() {
            self.count += 1;
            self.bytes += message.data.len();
        }
        let wake = match &mut self.waiter {
            Some(w) if !w.notified && w.filter.accepts(message.tag) => {
                w.notified = true;
                Some((0, w.token))
            }
            _ => None,
        };
        self.messages.push_back(message);
        wake
    }
}

/// A process's mailbox (see module docs).
#[derive(Debug)]
pub struct Mailbox {
    pid: Pid,
    /// Bumped by every push (receivers spin on it).
    seq: AtomicU32,
    /// The owner traps exits (see `trap_exit`).
    trap_exit: AtomicBool,
    queue: Mutex<Queue>,
    /// The owner's part of the memory budget (none in unit tests).
    account: Option<Arc<crate::limits::Account>>,
}

impl Mailbox {
    /// The empty mailbox of `pid`, its messages counted against
    /// `account`.
    pub fn new(pid: Pid, account: Option<Arc<crate::limits::Account>>) -> Arc<Mailbox> {
        Arc::new(Mailbox {
            pid,
            seq: AtomicU32::new(0),
            trap_exit: AtomicBool::new(false),
            queue: Mutex::new(Queue::default()),
            account,
        })
    }

    /// Reserves a message's bytes from the budget (always, with `force`);
    /// false when there is no room.
    fn charge(&self, message: &mut Message, force: bool) -> bool {
        let bytes = message.data.len() as u64 + MESSAGE_OVERHEAD;
        let Some(account) = &self.account else { return true };
        if account.reserve(bytes) {
            message.charged = bytes;
            true
        } else if force {
            message.charged = account.reserve_up_to(bytes);
            true
        } else {
            false
        }
    }

    /// Gives a message's bytes back to the budget.
    fn discharge(&self, message: &Message) {
        if let Some(account) = &self.account {
            account.release(message.charged);
        }
    }

    /// Its process.
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// The push counter receivers spin on.
    pub fn seq(&self) -> &AtomicU32 {
        &self.seq
    }

    /// Whether its process traps exits.
    pub fn traps_exits(&self) -> bool {
        self.trap_exit.load(Ordering::Acquire)
    }

    /// Sets whether its process traps exits; returns the old setting.
    pub fn set_trap_exit(&self, on: bool) -> bool {
        self.trap_exit.swap(on, Ordering::AcqRel)
    }

    /// Queues a message of `bytes` (copied into a recycled buffer when
    /// one is spare), under one lock: as [`Mailbox::push`].
    pub fn push_bytes(
        &self,
        tag: u64,
        from: Pid,
        bytes: &[u8],
        handles: Transfer,
    ) -> Result<Option<Wake>, Refused> {
        let mut q = lock(&self.queue);
        let mut data = if bytes.len() <= SPARE_MAX { q.spares.pop() } else { None }.unwrap_or_default();
        data.clear();
        data.extend_from_slice(bytes);
        self.push_locked(q, Message { tag, from, data, handles, charged: 0 })
    }

    /// Queues a message from a process: the parked owner to wake if it
    /// waits for it; refused when full or closed.
    pub fn push(&self, message: Message) -> Result<Option<Wake>, Refused> {
        self.push_locked(lock(&self.queue), message)
    }

    fn push_locked(
        &self,
        mut q: std::sync::MutexGuard<'_, Queue>,
        mut message: Message,
    ) -> Result<Option<Wake>, Refused> {
        if q.closed {
            return Err(Refused::Closed);
        }
        if !q.has_room(message.data.len()) || !self.charge(&mut message, false) {
            return Err(Refused::Full(message));
        }
        let wake = q.queue(message);
        drop(q);
        self.seq.fetch_add(1, Ordering::Release);
        Ok(wake.map(|(_, token)| (self.pid, token)))
    }

    /// Queues a message, or (when full) queues `sender` to be woken when
    /// there is room: as [`Mailbox::push`], atomically with the parking.
    pub fn push_or_park(&self, mut message: Message, sender: Wake) -> Result<Option<Wake>, Refused> {
        let mut q = lock(&self.queue);
        if q.closed {
            return Err(Refused::Closed);
        }
        if !q.has_room(message.data.len()) || !self.charge(&mut message, false) {
            q.senders.push_back(sender);
            return Err(Refused::Full(message));
        }
        let wake = q.queue(message);
        drop(q);
        self.seq.fetch_add(1, Ordering::Release);
        Ok(wake.map(|(_, token)| (self.pid, token)))
    }

    /// Queues a notice (never refused; dropped once closed). The parked
    /// owner to wake, if it waits for it.
    pub fn notify(&self, mut notice: Message) -> Option<Wake> {
        let mut q = lock(&self.queue);
        if q.closed {
            return None;
        }
        self.charge(&mut notice, true);
        let wake = q.queue(notice);
        drop(q);
        self.seq.fetch_add(1, Ordering::Release);
        wake.map(|(_, token)| (self.pid, token))
    }

    /// Takes the oldest message `filter` accepts if `deliver` takes it
    /// (it may refuse, leaving it queued). `Ok(None)` when none matches.
    /// With the message gone, a parked sender may have room: it is
    /// returned to be woken.
    pub fn take<R>(
        &self,
        filter: &Filter,
        deliver: impl FnOnce(&Message) -> Result<R, Errno>,
    ) -> Result<Option<(R, Option<Wake>)>, Errno> {
        let mut q = lock(&self.queue);
        self.take_locked(&mut q, filter, deliver)
    }

    /// As [`Mailbox::take`] for the owner parked under `token`, with the
    /// filter it parked with; its wait ends unless nothing matches (then
    /// it stays parked). `Ok(None)` too for a wait that is no longer.
    pub fn take_parked<R>(
        &self,
        token: u64,
        deliver: impl FnOnce(&Message) -> Result<R, Errno>,
    ) -> Result<Option<(R, Option<Wake>)>, Errno> {
        let mut q = lock(&self.queue);
        let Some(waiter) = q.waiter.filter(|w| w.token == token) else { return Ok(None) };
        let taken = self.take_locked(&mut q, &waiter.filter, deliver);
        match &taken {
            Ok(None) => q.waiter = Some(Waiter { notified: false, ..waiter }),
            _ => q.waiter = None,
        }
        taken
    }

    fn take_locked<R>(
        &self,
        q: &mut Queue,
        filter: &Filter,
        deliver: impl FnOnce(&Message) -> Result<R, Errno>,
    ) -> Result<Option<(R, Option<Wake>)>, Errno> {
        let Some(index) = q.messages.iter().position(|m| filter.accepts(m.tag)) else {
            return Ok(None);
        };
        let result = deliver(&q.messages[index])?;
        let Some(message) = q.messages.remove(index) else { return Ok(None) };
        let wake = self.release(q, message);
        Ok(Some((result, wake)))
    }

    /// Accounts for a message gone from the queue and recycles its buffer;
    /// a parked sender to wake, if any.
    fn release(&self, q: &mut Queue, message: Message) -> Option<Wake> {
        self.discharge(&message);
        if !message.is_notice() {
            q.count -= 1;
            q.bytes -= message.data.len();
        }
        if q.spares.len() < SPARES && message.data.capacity() <= SPARE_MAX {
            q.spares.push(message.data);
        }
        q.senders.pop_front()
    }

    /// Removes every queued message `pred` selects (a flushed monitor's
    /// notice); returns how many, and the parked senders that may now have
    /// room.
    pub fn remove_where(&self, pred: impl Fn(&Message) -> bool) -> (usize, Vec<Wake>) {
        let mut q = lock(&self.queue);
        let before = q.messages.len();
        let (gone, kept): (Vec<Message>, Vec<Message>) = q.messages.drain(..).partition(|m| pred(m));
        q.messages = kept.into();
        let mut wakes = Vec::new();
        for message in gone {
            wakes.extend(self.release(&mut q, message));
        }
        (before - q.messages.len(), wakes)
    }

    /// Parks the owner for a message `filter` accepts, unless one is
    /// queued already (false: take it instead).
    pub fn park_receiver(&self, token: u64, filter: Filter) -> bool {
        let mut q = lock(&self.queue);
        if q.messages.iter().any(|m| filter.accepts(m.tag)) {
            return false;
        }
        q.waiter = Some(Waiter { token, filter, notified: false });
        true
    }

    /// Forgets the owner's wait `token` (a timeout, a kill).
    pub fn unpark_receiver(&self, token: u64) {
        let mut q = lock(&self.queue);
        if q.waiter.is_some_and(|w| w.token == token) {
            q.waiter = None;
        }
    }

    /// Forgets a parked sender (it ended or gave up).
    pub fn unpark_sender(&self, sender: Wake) {
        lock(&self.queue).senders.retain(|s| *s != sender);
    }

    /// Its process ended: drops every message (and the handles they
    /// carry); returns the parked senders, to be told.
    pub fn close(&self) -> Vec<Wake> {
        let mut q = lock(&self.queue);
        q.closed = true;
        q.waiter = None;
        for message in q.messages.drain(..) {
            self.discharge(&message);
        }
        q.spares.clear();
        q.count = 0;
        q.bytes = 0;
        q.senders.drain(..).collect()
    }

    /// Messages queued now (notices included).
    pub fn len(&self) -> usize {
        lock(&self.queue).messages.len()
    }

    /// Notices queued now.
    pub fn notices(&self) -> usize {
        let q = lock(&self.queue);
        q.messages.len() - q.count
    }
}

/// Processes a push or a take made ready, for the manager to wake (see
/// module docs).
#[derive(Debug, Default)]
pub struct MailWakes {
    woken: Mutex<Vec<Wake>>,
    any: AtomicBool,
}

impl MailWakes {
    /// Adds one.
    pub fn add(&self, wake: Wake) {
        lock(&self.woken).push(wake);
        self.any.store(true, Ordering::Release);
    }

    /// True when some wait.
    pub fn any(&self) -> bool {
        self.any.load(Ordering::Acquire)
    }

    /// Takes them all.
    pub fn take(&self) -> Vec<Wake> {
        if !self.any() {
            return Vec::new();
        }
        let mut woken = lock(&self.woken);
        self.any.store(false, Ordering::Release);
        std::mem::take(&mut *woken)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(tag: u64, from: Pid, data: &[u8]) -> Message {
        Message { tag, from, data: data.to_vec(), handles: Default::default(), charged: 0 }
    }

    fn take_tag(mb: &Mailbox, filter: &Filter) -> Option<u64> {
        mb.take(filter, |m| Ok(m.tag)).unwrap().map(|(tag, _)| tag)
    }

    #[test]
    fn selective_take_is_fifo_among_matches() {
        let mb = Mailbox::new(7, None);
        for tag in [1, 2, 1, 3] {
            mb.push(msg(tag, 9, &[tag as u8])).unwrap();
        }
        let only3 = Filter::of([3u64, 9].into_iter()).unwrap();
        assert_eq!(take_tag(&mb, &only3), Some(3));
        assert_eq!(take_tag(&mb, &only3), None);
        let two_or_one = Filter::of([2u64, 1].into_iter()).unwrap();
        assert_eq!(take_tag(&mb, &two_or_one), Some(1), "oldest match first, whatever the filter order");
        assert_eq!(take_tag(&mb, &Filter::ANY), Some(2));
        assert_eq!(take_tag(&mb, &Filter::ANY), Some(1));
        assert_eq!(mb.len(), 0);
        assert_eq!(Filter::of([0u64; MAX_FILTER + 1].into_iter()), Err(Errno::TooBig));
    }

    #[test]
    fn a_refused_delivery_leaves_the_message() {
        let mb = Mailbox::new(1, None);
        mb.push(msg(5, 2, b"abc")).unwrap();
        assert_eq!(
            mb.take(&Filter::ANY, |_| Err::<(), _>(Errno::OutOfRange)).unwrap_err(),
            Errno::OutOfRange
        );
        assert_eq!(mb.len(), 1);
        assert_eq!(take_tag(&mb, &Filter::ANY), Some(5));
    }

    #[test]
    fn full_mailboxes_refuse_or_park_and_a_take_wakes_one_sender() {
        let mb = Mailbox::new(1, None);
        for _ in 0..MAILBOX_MESSAGES {
            mb.push(msg(1, 2, b"x")).unwrap();
        }
        assert!(matches!(mb.push(msg(1, 2, b"y")), Err(Refused::Full(m)) if m.data == b"y"));
        assert!(matches!(mb.push_or_park(msg(1, 3, b"z"), (3, 30)), Err(Refused::Full(_))));
        assert!(matches!(mb.push_or_park(msg(1, 4, b"z"), (4, 40)), Err(Refused::Full(_))));
        mb.unpark_sender((3, 30));
        // Notices are never refused.
        assert_eq!(mb.notify(msg(wasmd_abi::mailbox::TAG_DOWN, 8, b"")), None);
        assert_eq!(mb.notices(), 1);
        let (_, wake) = mb.take(&Filter::ANY, |_| Ok(())).unwrap().unwrap();
        assert_eq!(wake, Some((4, 40)));
        mb.push(msg(1, 4, b"z")).unwrap();
        assert!(mb.push(msg(1, 4, b"z")).is_err());
        // Bytes bound too.
        let big = Mailbox::new(2, None);
        let chunk = vec![0u8; wasmd_abi::mailbox::MAX_MESSAGE_LEN];
        for _ in 0..MAILBOX_BYTES / chunk.len() {
            big.push(msg(1, 2, &chunk)).unwrap();
        }
        assert!(matches!(big.push(msg(1, 2, b"1")), Err(Refused::Full(_))));
    }

    #[test]
    fn a_parked_receiver_is_woken_only_by_what_it_accepts() {
        let mb = Mailbox::new(6, None);
        mb.push(msg(1, 2, b"")).unwrap();
        let want2 = Filter::of([2u64].into_iter()).unwrap();
        assert!(!mb.park_receiver(10, Filter::ANY), "a match is queued: no parking");
        assert!(mb.park_receiver(10, want2));
        assert_eq!(mb.push(msg(1, 2, b"")).unwrap(), None);
        assert_eq!(mb.push(msg(2, 2, b"")).unwrap(), Some((6, 10)));
        assert_eq!(mb.push(msg(2, 2, b"")).unwrap(), None, "woken once");
        assert_eq!(mb.take_parked(99, |m| Ok(m.tag)).unwrap().map(|(t, _)| t), None, "another wait");
        assert_eq!(mb.take_parked(10, |m| Ok(m.tag)).unwrap().map(|(t, _)| t), Some(2), "its own filter");
        assert_eq!(mb.take_parked(10, |m| Ok(m.tag)).unwrap().map(|(t, _)| t), None, "the wait ended");
        assert!(mb.park_receiver(11, Filter::of([9u64].into_iter()).unwrap()));
        mb.unpark_receiver(11);
        assert_eq!(mb.push(msg(9, 2, b"")).unwrap(), None);
        assert_eq!(mb.seq().load(Ordering::Relaxed), 5);
    }

    #[test]
    fn closing_drops_messages_and_releases_senders() {
        let mb = Mailbox::new(1, None);
        let other = Mailbox::new(2, None);
        let mut handles: Transfer = Default::default();
        handles[0] = Some((other.clone(), Rights::ALL));
        mb.push(Message { tag: 1, from: 3, data: vec![], handles, charged: 0 }).unwrap();
        assert_eq!(Arc::strong_count(&other), 2);
        for _ in 1..MAILBOX_MESSAGES {
            mb.push(msg(1, 2, b"x")).unwrap();
        }
        let _ = mb.push_or_park(msg(1, 3, b"z"), (3, 30));
        assert_eq!(mb.close(), vec![(3, 30)]);
        assert_eq!(Arc::strong_count(&other), 1, "carried handles dropped");
        assert!(matches!(mb.push(msg(1, 2, b"")), Err(Refused::Closed)));
        assert_eq!(mb.notify(msg(wasmd_abi::mailbox::TAG_EXIT, 2, b"")), None);
    }

    #[test]
    fn queued_bytes_count_against_the_owner_and_come_back() {
        let budget = Arc::new(crate::limits::MemoryBudget::new(10_000));
        let account = budget.account(1000);
        let mb = Mailbox::new(1, Some(account.clone()));
        mb.push(msg(1, 2, &[0; 1000])).unwrap();
        assert_eq!(account.used(), 1000 + MESSAGE_OVERHEAD);
        let refused = mb.push(msg(1, 2, &[0; 9000]));
        assert!(matches!(refused, Err(Refused::Full(_))), "past the budget: refused as full");
        mb.notify(msg(wasmd_abi::mailbox::TAG_DOWN, 3, &[0; 10]));
        mb.take(&Filter::ANY, |_| Ok(())).unwrap().unwrap();
        assert_eq!(account.used(), 10 + MESSAGE_OVERHEAD, "the notice still counts");
        mb.push(msg(1, 2, &[0; 100])).unwrap();
        mb.close();
        assert_eq!(account.used(), 0, "all given back at the end");
    }

    #[test]
    fn removing_flushes_notices_and_recycles_buffers() {
        let mb = Mailbox::new(1, None);
        mb.push(msg(1, 2, b"keep")).unwrap();
        mb.notify(msg(wasmd_abi::mailbox::TAG_DOWN, 3, b"ref7"));
        let (n, _) = mb.remove_where(|m| m.data == b"ref7");
        assert_eq!(n, 1);
        assert_eq!(mb.len(), 1);
        let (_, _) = mb.take(&Filter::ANY, |_| Ok(())).unwrap().unwrap();
        let spares = lock(&mb.queue).spares.len();
        assert!(spares > 0);
        mb.push_bytes(3, 2, b"again", Default::default()).unwrap();
        assert_eq!(lock(&mb.queue).spares.len(), spares - 1, "a recycled buffer holds it");
        let (data, _) = mb.take(&Filter::ANY, |m| Ok(m.data.clone())).unwrap().unwrap();
        assert_eq!(data, b"again");
        assert_eq!(lock(&mb.queue).spares.len(), spares, "and went back");
    }
}
