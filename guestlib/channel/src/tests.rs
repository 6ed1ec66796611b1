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
    Channel, ChannelError, ChannelOptions, ReaderKind, RingRegion, Start, SysResult, Wait, WriterKind,
};

/// Something another party does between two of a handle's operations.
type Hook = Box<dyn FnOnce()>;

/// How a wait whose value still matches ends.
enum WaitEnd {
    /// Woken without the value having changed: a stale notify meant for
    /// an earlier wait (futexes allow it; the protocol must tolerate it).
    Spurious,
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
}

impl Fake {
    fn new(mem: &Rc<RefCell<Vec<u8>>>) -> Fake {
        Fake { mem: mem.clone(), after_read2: Default::default(), waits: Default::default() }
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
        let old = self.load_u64(offset)?;
        if old != current {
            return Ok(Err(old));
        }
        self.store_u64(offset, new)?;
        Ok(Ok(old))
    }
    fn read(&self, offset: u64, buf: &mut [u8]) -> SysResult<()> {
        let at = offset as usize;
        buf.copy_from_slice(&self.mem.borrow()[at..at + buf.len()]);
        Ok(())
    }
    fn write(&self, offset: u64, data: &[u8]) -> SysResult<()> {
        self.put(offset, data);
        Ok(())
    }
    fn read2(&self, off_a: u64, a: &mut [u8], off_b: u64, b: &mut [u8]) -> SysResult<()> {
        self.read(off_a, a)?;
        self.read(off_b, b)?;
        let hook = self.after_read2.borrow_mut().pop_front().flatten();
        if let Some(hook) = hook {
            hook();
        }
        Ok(())
    }
    fn write2(&self, offset: u64, head: &[u8], body: &[u8]) -> SysResult<()> {
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
}

/// A channel in fresh memory, and a second handle onto it for the reader
/// (whose operations the test interleaves with other parties').
fn channel() -> (Channel<Fake>, Fake, Channel<Fake>) {
    let opts = ChannelOptions { capacity: 65536, max_frame: 4096, ..ChannelOptions::default() };
    let mem = Rc::new(RefCell::new(vec![0u8; Channel::<Fake>::region_size(&opts)]));
    let chan = Channel::create_in(Fake::new(&mem), opts).unwrap();
    let hooked = Fake::new(&mem);
    let other = Channel::from_region(hooked.clone()).unwrap();
    (chan, hooked, other)
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
/// must see the end of the stream rather than park for ever.
#[test]
fn a_reader_woken_spuriously_does_not_miss_a_drain() {
    let (chan, hooked, other) = channel();
    let mut reader = other.reader(ReaderKind::Strong, Start::Oldest).unwrap();
    hooked.waits.borrow_mut().push_back(WaitEnd::Spurious);
    hooked.after_read2.borrow_mut().push_back(None);
    let c = chan.clone();
    hooked.after_read2.borrow_mut().push_back(Some(Box::new(move || c.drain().unwrap())));
    assert_eq!(reader.read().unwrap_err(), ChannelError::Closed);
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
