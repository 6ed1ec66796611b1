//! The `channel_ring` target: a channel ring with a hostile peer, checked
//! against a model of what a native reader must see.

use super::*;

// ---------------------------------------------------------------------
// channel_ring
// ---------------------------------------------------------------------

/// Anonymous, page-aligned memory standing in for OS shared memory: the
/// same contract as a mapping (a fixed address and length for its whole
/// life; written through the pointer, so its cells are atomics).
#[derive(Debug)]
pub struct HeapPages(Box<[Page]>);

/// One page of [`HeapPages`].
#[derive(Debug)]
#[repr(C, align(4096))]
pub struct Page([AtomicU64; 512]);

impl HeapPages {
    /// `pages` zeroed pages.
    pub fn new(pages: usize) -> Self {
        Self((0..pages.max(1)).map(|_| Page(std::array::from_fn(|_| AtomicU64::new(0)))).collect())
    }
}

impl SharedMemory for HeapPages {
    fn as_ptr(&self) -> *mut u8 {
        // The cells are atomics (interior mutability): writing through
        // this pointer is allowed while `self` lives.
        self.0.as_ptr() as *mut u8
    }
    fn len(&self) -> usize {
        self.0.len() * 4096
    }
    fn os_name(&self) -> String {
        "heap".into()
    }
}

/// A region over [`HeapPages`]. One region accounting serves every
/// input (each region gives its bytes back when it goes): a memory budget
/// made per input would leak with its user accounts (see the
/// `memory_budget_goes_with_its_accounts` regression test), and the
/// leak, not the ring, would fill the fuzzer's memory.
pub fn heap_region(pages: usize) -> Arc<Region> {
    static ACCOUNTING: std::sync::OnceLock<Arc<RegionAccounting>> = std::sync::OnceLock::new();
    let accounting = ACCOUNTING
        .get_or_init(|| {
            Arc::new(RegionAccounting::new(
                1 << 20,
                1 << 40,
                1 << 40,
                Arc::new(wasmhost::limits::MemoryBudget::new(1 << 40)),
            ))
        })
        .clone();
    let memory = HeapPages::new(pages);
    accounting.reserve(memory.len() as u64, 1, Owner::ROOT.uid).expect("room for a region");
    Arc::new(Region::new(1, 1, 1, Owner::ROOT, Box::new(memory), accounting))
}

/// What the model knows of one open channel file's reader.
#[derive(Debug, Default)]
pub(super) struct ReaderModel {
    /// Frames written before it joined (those may be gone).
    pub(super) floor: Option<usize>,
    /// Index of the last frame it read.
    pub(super) last: Option<usize>,
}

/// An open `chan/ID` file and its model.
#[derive(Debug)]
pub(super) struct OpenChan {
    pub(super) file: ChanFile,
    pub(super) can_read: bool,
    pub(super) model: ReaderModel,
}

/// The daemon side of a channel (`chan/ID` files: the guest library's
/// ring code over the region) on a region a hostile peer writes too:
/// fuzzed initial contents (a fresh channel, a fuzzed header, or raw
/// bytes), then a fuzzed sequence of file opens, reads, writes, readiness
/// checks and hostile writes to the header, the ring and the frames.
/// While nobody hostile touched a fresh `Park` channel, frames must
/// arrive whole and in order, and none written after a reader joined may
/// be missed.
pub fn channel_ring(data: &[u8]) {
    let mut input = Input::new(data);
    let pages = 1 + input.below(4);
    let region = heap_region(pages);
    let size = region.len();
    let notify: RegionNotifier = Arc::new(|_: &Region, _: u64, _: u32| 0);
    let ring = || HostRing::new(region.clone(), notify.clone());
    let ring_max = {
        let room = (size - 128) as u32;
        1u32 << (31 - room.leading_zeros())
    };
    let mut clean = false;
    let mut park = false;
    match input.below(3) {
        0 => {
            let capacity = (ring_max >> input.below(4)).max(32);
            let block = (capacity >> input.below(5)).max(32);
            let drop_when_full = input.below(4) == 0;
            let h = channel_header(capacity, block, drop_when_full);
            region.write_at(region.range(0, h.len()).expect("header"), &h);
            clean = true;
            park = !drop_when_full;
        }
        1 => {
            let h = fuzzed_header(&mut input, ring_max);
            region.write_at(region.range(0, h.len()).expect("header"), &h);
            let noise = input.bytes(512);
            let at = 128 + input.below(size - 128 - noise.len().min(size - 128));
            if let Ok(r) = region.range(at as u64, noise.len()) {
                region.write_at(r, noise);
            }
        }
        _ => {
            let raw = input.bytes(1024);
            region.write_at(region.range(0, raw.len().min(size)).expect("raw"), raw);
        }
    }
    let mut files: Vec<Option<OpenChan>> = (0..3).map(|_| None).collect();
    let mut written: Vec<Vec<u8>> = Vec::new();
    for _ in 0..160 {
        if input.is_empty() {
            break;
        }
        let k = input.below(files.len());
        match input.below(12) {
            0 => {
                let (can_read, can_write) = match input.below(3) {
                    0 => (true, false),
                    1 => (false, true),
                    _ => (true, true),
                };
                files[k] = None;
                let opened = ChanFile::open(ring(), can_read, can_write);
                assert_eq!(opened.is_ok(), ChanFile::is_channel(ring()));
                if clean {
                    assert!(opened.is_ok(), "a fresh channel does not open");
                }
                trace!("chan {k} open r={can_read} w={can_write} -> {}", opened.is_ok());
                files[k] = opened.ok().map(|file| OpenChan { file, can_read, model: ReaderModel::default() });
            }
            1..=3 => {
                let len = input.pick(&[0usize, 7, 8, 12, 16, 24, 64, 256, 4096, 1 << 20]);
                let Some(f) = files[k].as_mut() else { continue };
                if f.can_read && f.model.floor.is_none() {
                    f.model.floor = Some(written.len());
                }
                let got = f.file.read(len);
                trace!("chan {k} read {len} -> {} (model: {})", got.as_ref_short(), clean && park);
                check_read(&got, len, f, &written, clean && park);
            }
            4..=6 => {
                let Some(f) = files[k].as_mut() else { continue };
                let mut payload = Vec::new();
                if clean {
                    payload.extend_from_slice(&(written.len() as u32).to_le_bytes());
                }
                payload.extend_from_slice(input.bytes(40));
                if input.below(8) == 0 {
                    payload.resize(input.pick(&[100, 1000, 2000, 4080, 5000]), 0x77);
                }
                let sent = f.file.write(&payload);
                trace!("chan {k} write {} bytes -> {sent:?} (frame {})", payload.len(), written.len());
                match sent {
                    Poll::Ready(Ok(n)) => {
                        assert_eq!(n, payload.len());
                        written.push(payload);
                    }
                    Poll::Ready(Err(e)) => {
                        if clean {
                            assert!(
                                e == Errno::MessageTooLong || e == Errno::BadHandle,
                                "write to a fresh channel failed: {e}"
                            );
                        }
                    }
                    Poll::Pending => assert!(!clean || park, "a Drop channel made a writer wait"),
                }
            }
            7 => {
                let Some(f) = files[k].as_mut() else { continue };
                if f.can_read && f.model.floor.is_none() {
                    f.model.floor = Some(written.len());
                }
                let ready = (f.file.readable(), f.file.writable());
                trace!("chan {k} readable, writable -> {ready:?}");
            }
            8 => {
                trace!("chan {k} closed");
                files[k] = None;
            }
            9 => {
                // A hostile write of raw bytes, mostly into the header.
                clean = false;
                let bytes = input.bytes(16);
                let at = if input.bool() { input.pick(HEADER_FIELDS) } else { input.below(size) as u64 };
                if let Ok(r) = region.range(at, bytes.len()) {
                    region.write_at(r, bytes);
                }
            }
            10 => {
                // A hostile frame published at a position near the tail,
                // with a marker for that lap and a length that may lie.
                clean = false;
                hostile_frame(&mut input, &region);
            }
            _ => {
                // Hostile tail word or reader slot.
                clean = false;
                let word = match input.below(4) {
                    0 => input.pick(BOUNDARIES) as u64,
                    1 => u64::from(input.u16()) | (u64::from(input.u8() % 4) << 62),
                    2 => input.u64(),
                    _ => u64::MAX,
                };
                let at = if input.bool() { 16 } else { 64 + 8 * input.below(8) as u64 };
                if let Ok(a) = region.atomic_u64(at) {
                    a.store(word, std::sync::atomic::Ordering::SeqCst);
                }
            }
        }
    }
}

/// Writes a frame header (and some payload) at a position near the tail,
/// as a writer that lies about lengths or laps would.
pub(super) fn hostile_frame(input: &mut Input<'_>, region: &Region) {
    let load =
        |at: u64| region.atomic_u32(at).map(|a| a.load(std::sync::atomic::Ordering::SeqCst)).unwrap_or(0);
    let capacity = u64::from(load(12));
    if !capacity.is_power_of_two() || 128 + capacity > region.len() as u64 {
        return;
    }
    let tail = region.atomic_u64(16).map(|a| a.load(std::sync::atomic::Ordering::SeqCst)).unwrap_or(0)
        & ((1 << 61) - 1);
    let p = (tail + u64::from(input.u16()) * 8).saturating_sub(u64::from(input.u16()) * 8) & !7;
    let lap = ((p / capacity) as u32).wrapping_add(if input.below(4) == 0 { input.u8().into() } else { 1 });
    let len = match input.below(4) {
        0 => u32::MAX,
        1 => input.u32(),
        _ => u32::from(input.u8()),
    };
    let mut frame = ((u64::from(lap) << 32) | u64::from(len)).to_le_bytes().to_vec();
    frame.extend_from_slice(&input.u32().to_le_bytes());
    frame.extend_from_slice(&[0; 4]);
    frame.extend_from_slice(input.bytes(32));
    let at = 128 + (p & (capacity - 1));
    let n = frame.len().min((128 + capacity - at) as usize);
    if let Ok(r) = region.range(at, n) {
        region.write_at(r, &frame[..n]);
    }
    if input.bool() {
        if let Ok(a) = region.atomic_u64(16) {
            a.store(p + 16 + u64::from(len.min(4096)).div_ceil(8) * 8, std::sync::atomic::Ordering::SeqCst);
        }
    }
}

/// Checks one read of a channel file against the frames written.
pub(super) fn check_read(
    got: &Poll<Vec<u8>>,
    len: usize,
    f: &mut OpenChan,
    written: &[Vec<u8>],
    model: bool,
) {
    match got {
        Poll::Ready(Ok(frame)) if !frame.is_empty() => {
            assert!(f.can_read);
            assert!(frame.len() <= len, "a frame of {} bytes for a read of {len}", frame.len());
            assert!(frame.len() >= 8, "a frame without its header");
            let n = u32::from_le_bytes(frame[4..8].try_into().unwrap_or_default()) as usize;
            assert_eq!(n, frame.len() - 8, "the header's length is not the payload's");
            if !model {
                return;
            }
            let payload = &frame[8..];
            let index = u32::from_le_bytes(payload[..4].try_into().expect("an indexed payload")) as usize;
            assert!(index < written.len(), "frame {index} was never written");
            assert_eq!(payload, &written[index][..], "frame {index} arrived changed");
            let floor = f.model.floor.unwrap_or(0);
            if let Some(last) = f.model.last {
                assert!(index > last, "frame {index} after frame {last}: out of order or twice");
            }
            let limit = f.model.last.map_or(floor, |l| (l + 1).max(floor));
            assert!(
                index <= limit,
                "frames {limit}..{index} were skipped (the reader joined before {floor})"
            );
            f.model.last = Some(index);
        }
        Poll::Ready(Ok(_)) => assert!(!model, "end of stream on an open channel"),
        Poll::Ready(Err(e)) => {
            if model {
                assert!(
                    *e == Errno::MessageTooLong || (*e == Errno::BadHandle && !f.can_read),
                    "read of a fresh channel failed: {e}"
                );
            }
        }
        Poll::Pending => {
            if model {
                let floor = f.model.floor.unwrap_or(0);
                let next = f.model.last.map_or(floor, |l| (l + 1).max(floor));
                assert!(
                    next >= written.len(),
                    "nothing to read, but frames {next}..{} are unread",
                    written.len()
                );
            }
        }
    }
}
