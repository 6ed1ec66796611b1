//! The reader and writer protocol over a host-side fake region whose
//! operations a test interleaves deterministically.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::rc::Rc;
use alloc::vec;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::time::Duration;

use crate::{
    Channel, ChannelError, ChannelOptions, ReaderKind, RingRegion, RoomWait, Start, SysResult, Wait,
    WriterKind,
};

/// Something another party does between two of a handle's operations.
type Hook = Box<dyn FnOnce()>;

/// How a wait whose value still matches ends.
enum WaitEnd {
    /// Woken without the value having changed: a stale notify meant for
    /// an earlier wait (futexes allow it; the protocol must tolerate it).
    Spurious,
    /// The region does not park: a wake-up is queued (the host's rings).
    Queued,
}

/// One handle onto shared bytes, single-threaded: every operation is
/// atomic. Waits whose value matches end as scripted; with nothing
/// scripted the caller would be parked for ever (no other party is left
/// to notify it), which panics.
#[derive(Clone)]
struct Fake {
    mem: Rc<RefCell<Vec<u8>>>,
    after_read2: Rc<RefCell<VecDeque<Option<Hook>>>>,
    waits: Rc<RefCell<VecDeque<WaitEnd>>>,
    /// Hands out views of `mem`, as a window would.
    mapped: bool,
    /// Calls that would be hostcalls through a window: loads, stores,
    /// reads, writes other than `write_plain`.
    calls: Rc<RefCell<u32>>,
}

impl Fake {
    fn new(mem: &Rc<RefCell<Vec<u8>>>) -> Fake {
        Fake {
            mem: mem.clone(),
            after_read2: Default::default(),
            waits: Default::default(),
            mapped: false,
            calls: Default::default(),
        }
    }

    fn mapped(mem: &Rc<RefCell<Vec<u8>>>) -> Fake {
        Fake { mapped: true, ..Fake::new(mem) }
    }

    fn count(&self) {
        *self.calls.borrow_mut() += 1;
    }

    fn get<const N: usize>(&self, offset: u64) -> [u8; N] {
        let at = offset as usize;
        self.mem.borrow()[at..at + N].try_into().unwrap()
    }

    fn put(&self, offset: u64, bytes: &[u8]) {
        let at = offset as usize;
        self.mem.borrow_mut()[at..at + bytes.len()].copy_from_slice(bytes);
    }
}

impl RingRegion for Fake {
    fn load_u32(&self, offset: u64) -> SysResult<u32> {
        Ok(u32::from_le_bytes(self.get(offset)))
    }
    fn store_u32(&self, offset: u64, value: u32) -> SysResult<()> {
        self.put(offset, &value.to_le_bytes());
        Ok(())
    }
    fn fetch_add_u32(&self, offset: u64, value: u32) -> SysResult<u32> {
        let old = self.load_u32(offset)?;
        self.store_u32(offset, old.wrapping_add(value))?;
        Ok(old)
    }
    fn load_u64(&self, offset: u64) -> SysResult<u64> {
        Ok(u64::from_le_bytes(self.get(offset)))
    }
    fn store_u64(&self, offset: u64, value: u64) -> SysResult<()> {
        self.put(offset, &value.to_le_bytes());
        Ok(())
    }
    fn compare_exchange_u64(
        &self,
        offset: u64,
        current: u64,
        new: u64,
    ) -> SysResult<core::result::Result<u64, u64>> {
        self.count();
        let old = self.load_u64(offset)?;
        if old != current {
            return Ok(Err(old));
        }
        self.store_u64(offset, new)?;
        Ok(Ok(old))
    }
    fn read(&self, offset: u64, buf: &mut [u8]) -> SysResult<()> {
        self.count();
        let at = offset as usize;
        buf.copy_from_slice(&self.mem.borrow()[at..at + buf.len()]);
        Ok(())
    }
    fn write(&self, offset: u64, data: &[u8]) -> SysResult<()> {
        self.put(offset, data);
        Ok(())
    }
    fn read2(&self, off_a: u64, a: &mut [u8], off_b: u64, b: &mut [u8]) -> SysResult<()> {
        self.count();
        a.copy_from_slice(&self.mem.borrow()[off_a as usize..off_a as usize + a.len()]);
        b.copy_from_slice(&self.mem.borrow()[off_b as usize..off_b as usize + b.len()]);
        let hook = self.after_read2.borrow_mut().pop_front().flatten();
        if let Some(hook) = hook {
            hook();
        }
        Ok(())
    }
    fn write2(&self, offset: u64, head: &[u8], body: &[u8]) -> SysResult<()> {
        self.count();
        self.put(offset, head);
        self.put(offset + head.len() as u64, body);
        Ok(())
    }
    fn wait(&self, offset: u64, expected: u32, timeout: Option<Duration>) -> SysResult<Wait> {
        if self.load_u32(offset)? != expected {
            return Ok(Wait::Changed);
        }
        match self.waits.borrow_mut().pop_front() {
            Some(WaitEnd::Spurious) => Ok(Wait::Woken),
            Some(WaitEnd::Queued) => Err(wasmd_abi::Errno::WouldBlock),
            None if timeout.is_some() => Ok(Wait::TimedOut),
            None => panic!(
                "parked on offset {offset} for a value ({expected}) no one will change again: a lost wake-up"
            ),
        }
    }
    fn notify(&self, _offset: u64, _count: u32) -> SysResult<u32> {
        Ok(0)
    }
    fn size(&self) -> SysResult<usize> {
        Ok(self.mem.borrow().len())
    }
    fn view(&self, offset: u64, len: usize) -> Option<&[u8]> {
        if !self.mapped {
            return None;
        }
        let mem = self.mem.borrow();
        let bytes = mem.get(offset as usize..offset as usize + len)?;
        // SAFETY: the vector is never resized, so its buffer lives as long
        // as `self.mem` (held by `self`); tests read views only while no
        // write to the same bytes happens (as the ring protocol does).
        Some(unsafe { core::slice::from_raw_parts(bytes.as_ptr(), len) })
    }
    fn write_plain(&self, offset: u64, data: &[u8]) -> SysResult<()> {
        self.put(offset, data);
        Ok(())
    }
}

/// A channel in fresh memory, and a second handle onto it for the reader
/// (whose operations the test interleaves with other parties').
fn channel() -> (Channel<Fake>, Fake, Channel<Fake>) {
    channel_with(Fake::new)
}

/// As [`channel`], each handle made by `fake`.
fn channel_with(fake: fn(&Rc<RefCell<Vec<u8>>>) -> Fake) -> (Channel<Fake>, Fake, Channel<Fake>) {
    let opts = ChannelOptions { capacity: 65536, max_frame: 4096, ..ChannelOptions::default() };
    let mem = Rc::new(RefCell::new(vec![0u8; Channel::<Fake>::region_size(&opts)]));
    let chan = Channel::create_in(fake(&mem), opts).unwrap();
    let hooked = fake(&mem);
    let other = Channel::from_region(hooked.clone()).unwrap();
    (chan, hooked, other)
}

/// A batch costs the writer one compare-and-swap and one publish, and
/// the reader one `region_read2` for all of it (once it knows the size of
/// batches: the first may take a second read), copied or (over a mapped
/// region, large frames) in place; then a lone frame is found as usual.
#[test]
fn a_batch_is_reserved_published_and_read_at_once() {
    let cases =
        [(Fake::new as fn(&_) -> Fake, 40usize), (Fake::mapped, 40), (Fake::new, 600), (Fake::mapped, 600)];
    for (fake, size) in cases {
        let (chan, hooked, other) = channel_with(fake);
        let mut writer = chan.writer(WriterKind::Strong).unwrap();
        let mut reader = other.reader(ReaderKind::Strong, Start::Oldest).unwrap();
        for round in 0..2u8 {
            let payloads: Vec<Vec<u8>> = (0..5u8).map(|i| vec![i + round * 5; size]).collect();
            let frames: Vec<&[u8]> = payloads.iter().map(Vec::as_slice).collect();
            let writes = *chan.region().calls.borrow();
            assert_eq!(writer.write_batch(&frames).unwrap(), 5);
            assert_eq!(*chan.region().calls.borrow() - writes, 2, "one CAS, one publish");
            let reads = *hooked.calls.borrow();
            for (i, expected) in payloads.iter().enumerate() {
                let frame = reader.read().unwrap();
                assert_eq!(frame.payload, expected.as_slice(), "frame {i}");
                assert_eq!(frame.writer, writer.id());
                let in_place = hooked.mapped && size >= 512;
                let ring = hooked.mem.borrow().as_ptr_range();
                assert_eq!(
                    ring.contains(&frame.payload.as_ptr()),
                    in_place,
                    "size {size}, mapped {}",
                    hooked.mapped
                );
            }
            let calls = *hooked.calls.borrow() - reads;
            let most = if round == 0 && !hooked.mapped { 2 } else { 1 };
            assert!(calls <= most, "round {round}, size {size}, mapped {}: {calls} reads", hooked.mapped);
        }
        writer.write(b"after").unwrap();
        assert_eq!(reader.read().unwrap().payload, b"after");
    }
}

/// The bytes of a batch, as the layout documents them: each frame's
/// marker (lap 1, length), writer id, `batch` (the bytes of the frames
/// after the head, on the head only) and payload, padded to 8 bytes.
#[test]
fn a_batch_has_the_documented_bytes() {
    let (chan, hooked, _) = channel();
    let mut writer = chan.writer(WriterKind::Strong).unwrap();
    assert_eq!(writer.write_batch(&[b"abc", b"0123456789"]).unwrap(), 2);
    let ring = crate::layout::HEADER as usize;
    let bytes = hooked.mem.borrow()[ring..ring + 24 + 32].to_vec();
    #[rustfmt::skip]
    let expected: [u8; 56] = [
        // Head at 0: marker (lap tag 1 << 32 | len 3), writer 1, batch 32.
        3, 0, 0, 0, 1, 0, 0, 0,   1, 0, 0, 0,   32, 0, 0, 0,
        b'a', b'b', b'c', 0, 0, 0, 0, 0,
        // At 24: marker (1 << 32 | 10), writer 1, batch 0.
        10, 0, 0, 0, 1, 0, 0, 0,  1, 0, 0, 0,   0, 0, 0, 0,
        b'0', b'1', b'2', b'3', b'4', b'5', b'6', b'7', b'8', b'9', 0, 0, 0, 0, 0, 0,
    ];
    assert_eq!(bytes, expected);
}

/// A batch head whose `batch` field claims more than was published (a
/// misbehaving writer) does not make the reader take the bytes after it
/// for frames: what follows must still carry this lap's marker.
#[test]
fn a_batch_field_claiming_too_much_is_not_believed() {
    let (chan, hooked, other) = channel();
    let mut writer = chan.writer(WriterKind::Strong).unwrap();
    let mut reader = other.reader(ReaderKind::Strong, Start::Oldest).unwrap();
    writer.write(b"head").unwrap();
    let head = crate::layout::HEADER;
    hooked.put(head + 12, &4000u32.to_le_bytes());
    // A stale frame after it, from a lap before.
    let stale = head + 24;
    hooked.put(stale, &(3u64).to_le_bytes());
    assert_eq!(reader.read().unwrap().payload, b"head");
    assert_eq!(reader.try_read().unwrap_err(), ChannelError::WouldBlock);
    writer.write(b"next").unwrap();
    assert_eq!(reader.read().unwrap().payload, b"next");
}

/// Batches fill each block and go on in the next; a `Drop` channel that
/// fills up drops the rest of a batch and says how many frames went.
#[test]
fn batches_span_blocks_and_full_drop_channels_drop_their_rest() {
    let opts = ChannelOptions { capacity: 4096, max_frame: 256, backpressure: crate::Backpressure::Drop };
    let mem = Rc::new(RefCell::new(vec![0u8; Channel::<Fake>::region_size(&opts)]));
    let chan = Channel::create_in(Fake::new(&mem), opts).unwrap();
    let mut writer = chan.writer(WriterKind::Strong).unwrap();
    let mut reader = chan.reader(ReaderKind::Strong, Start::Oldest).unwrap();
    let payloads: Vec<Vec<u8>> = (0..60u8).map(|i| vec![i; 100]).collect();
    let frames: Vec<&[u8]> = payloads.iter().map(Vec::as_slice).collect();
    // 116 bytes a frame, 1 KiB blocks: 8 a block, 32 in the ring.
    assert_eq!(writer.write_batch(&frames).unwrap(), 32);
    for expected in &payloads[..32] {
        assert_eq!(reader.read().unwrap().payload, expected.as_slice());
    }
    assert_eq!(reader.try_read().unwrap_err(), ChannelError::WouldBlock);
}

/// The reader parked with the "readers waiting" flag set; a stale notify
/// wakes it with nothing published; it reads the tail word (flag still
/// set, nothing reserved); before it loads `data_seq`, a writer reserves
/// (clearing the flag), publishes, bumps `data_seq` and notifies. The
/// reader must not park on the bumped value: no one would wake it.
#[test]
fn a_reader_woken_spuriously_does_not_miss_the_next_frame() {
    let (chan, hooked, other) = channel();
    let writer = Rc::new(RefCell::new(chan.writer(WriterKind::Strong).unwrap()));
    let mut reader = other.reader(ReaderKind::Strong, Start::Oldest).unwrap();
    hooked.waits.borrow_mut().push_back(WaitEnd::Spurious);
    hooked.after_read2.borrow_mut().push_back(None);
    let w = writer.clone();
    hooked.after_read2.borrow_mut().push_back(Some(Box::new(move || {
        w.borrow_mut().write(b"the frame it waits for").unwrap();
    })));
    let frame = reader.read().unwrap();
    assert_eq!(frame.payload, b"the frame it waits for");
    // Round trips go on, each frame found (no spurious wake-ups now).
    for i in 0..1000u32 {
        writer.borrow_mut().write(&i.to_le_bytes()).unwrap();
        assert_eq!(reader.read().unwrap().payload, i.to_le_bytes());
    }
}

/// The same interleaving with a drain instead of a frame: the reader
/// must see the end of the stream rather than park for ever (`poll`,
/// with nothing reserved, waits as `read` does).
#[test]
fn a_reader_woken_spuriously_does_not_miss_a_drain() {
    let reads: [fn(&mut crate::Reader<Fake>) -> ChannelError; 2] =
        [|r| r.read().unwrap_err(), |r| r.poll().unwrap_err()];
    for read in reads {
        let (chan, hooked, other) = channel();
        let mut reader = other.reader(ReaderKind::Strong, Start::Oldest).unwrap();
        hooked.waits.borrow_mut().push_back(WaitEnd::Spurious);
        hooked.after_read2.borrow_mut().push_back(None);
        let c = chan.clone();
        hooked.after_read2.borrow_mut().push_back(Some(Box::new(move || c.drain().unwrap())));
        assert_eq!(read(&mut reader), ChannelError::Closed);
        assert!(hooked.waits.borrow().is_empty(), "it waited");
    }
}

/// A writer that reserves between the reader's look at the tail and its
/// setting of the flag makes the flag's compare-and-swap fail: the reader
/// looks again and finds the frame.
#[test]
fn a_writer_reserving_between_the_readers_look_and_its_flag_makes_it_look_again() {
    let (chan, hooked, other) = channel();
    let mut writer = chan.writer(WriterKind::Strong).unwrap();
    let mut reader = other.reader(ReaderKind::Strong, Start::Oldest).unwrap();
    let w = Rc::new(RefCell::new(chan.writer(WriterKind::Weak).unwrap()));
    hooked.after_read2.borrow_mut().push_back(Some(Box::new(move || {
        w.borrow_mut().write(b"in between").unwrap();
    })));
    assert_eq!(reader.read().unwrap().payload, b"in between");
    writer.write(b"next").unwrap();
    assert_eq!(reader.read().unwrap().payload, b"next");
}

/// `poll` never waits for a writer mid-frame (one that reserved and did
/// not publish, maybe never will): `WouldBlock` at once, nothing waited
/// for (`read` would spin until that writer published).
#[test]
fn poll_does_not_wait_for_a_writer_mid_frame() {
    let (_chan, hooked, other) = channel();
    let mut reader = other.reader(ReaderKind::Strong, Start::Oldest).unwrap();
    let (tail, state) = crate::layout::split_tail(hooked.load_u64(crate::layout::off::TAIL).unwrap());
    hooked.store_u64(crate::layout::off::TAIL, crate::layout::tail_word(tail + 64, state)).unwrap();
    assert_eq!(reader.poll().unwrap_err(), ChannelError::WouldBlock);
    assert_eq!(reader.try_read().unwrap_err(), ChannelError::WouldBlock);
}

/// A writer that must not park waits for room in two halves: armed, it is
/// counted among the waiting writers (once, however often it arms), so
/// the reader that frees room bumps the space sequence for it; disarmed,
/// it is off the count.
#[test]
fn a_room_wait_is_counted_until_disarmed_and_room_freed_moves_the_space_sequence() {
    use crate::layout::off;
    let (chan, hooked, other) = channel();
    let mut writer = chan.writer(WriterKind::Strong).unwrap();
    let mut reader = other.reader(ReaderKind::Strong, Start::Oldest).unwrap();
    let frame = [7u8; 4000];
    let mut written = 0;
    while writer.try_write(&frame).is_ok() {
        written += 1;
    }
    assert_eq!(writer.try_write(&frame).unwrap_err(), ChannelError::WouldBlock);
    let mut room = RoomWait::new();
    for _ in 0..2 {
        chan.region().waits.borrow_mut().push_back(WaitEnd::Queued);
        assert_eq!(room.arm(&chan), Ok(true), "a wake-up is queued");
    }
    assert!(room.is_armed());
    assert_eq!(hooked.load_u32(off::WAITING_WRITERS).unwrap(), 1, "counted once");
    let seq = hooked.load_u32(off::SPACE_SEQ).unwrap();
    for _ in 0..written {
        assert_eq!(reader.read().unwrap().payload.len(), frame.len());
    }
    assert_eq!(reader.try_read().unwrap_err(), ChannelError::WouldBlock);
    assert!(hooked.load_u32(off::SPACE_SEQ).unwrap() > seq, "the freed room was told");
    assert!(writer.try_write(&frame).is_ok());
    room.disarm(&chan).unwrap();
    assert_eq!(hooked.load_u32(off::WAITING_WRITERS).unwrap(), 0);
    assert!(!room.is_armed());
}
