// The counter service of the hot-reload demo, included by `counter` (version
// 1) and `counter_v2`, which set `VERSION`.
//
// It serves the scheme `counter` (or the name given as its argument):
// each open counts one visit, and reading the file gives
// `counter vVERSION: N visits`. The count is its state: exported with
// `wasmd_guest::state!`, so `wasmd reload PID counter_v2.wasm` carries
// it into the new version, which goes on serving the same scheme through
// the same handle.

use alloc::format;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicI32, AtomicU64, Ordering};

use wasmd_guest::abi::scheme::{SchemeOp, SchemeRequest, SchemeResult};
use wasmd_guest::scheme::Scheme;
use wasmd_guest::{env, println, reload, Error};

static VISITS: AtomicU64 = AtomicU64::new(0);
static SCHEME: AtomicI32 = AtomicI32::new(0);

wasmd_guest::main!(main);
wasmd_guest::state!(save);

/// The state for the next version: the visits and the scheme's handle.
fn save() -> Vec<u8> {
    let mut state = VISITS.load(Ordering::Relaxed).to_le_bytes().to_vec();
    state.extend_from_slice(&SCHEME.load(Ordering::Relaxed).to_le_bytes());
    state
}

fn main() -> Result<(), Error> {
    let args = env::args();
    let name = args.get(1).map(|s| s.as_str()).unwrap_or("counter");
    let scheme = match reload::restored() {
        Some(state) if state.len() == 12 => {
            let visits = u64::from_le_bytes(state[..8].try_into().unwrap_or([0; 8]));
            VISITS.store(visits, Ordering::Relaxed);
            println!("counter v{VERSION}: reloaded, {visits} visits so far, still serving {name}:");
            Scheme::from_handle(i32::from_le_bytes(state[8..].try_into().unwrap_or([0; 4])))
        }
        _ => {
            let scheme = Scheme::register(name)?;
            println!("counter v{VERSION}: serving {name}:");
            scheme
        }
    };
    SCHEME.store(scheme.handle(), Ordering::Relaxed);
    let mut buf = alloc::vec![0u8; 1024];
    loop {
        let bytes = scheme.next_request(&mut buf)?;
        let Ok(req) = wasmd_guest::abi::msg::decode::<SchemeRequest<'_>>(bytes) else { continue };
        let text;
        let result = match req.op {
            SchemeOp::Open { .. } => SchemeResult::Value(VISITS.fetch_add(1, Ordering::Relaxed) + 1),
            SchemeOp::Read { id, offset: 0, .. } => {
                text = format!("counter v{VERSION}: visit {id}\n");
                SchemeResult::Data(text.as_bytes())
            }
            SchemeOp::Read { .. } => SchemeResult::Data(&[]),
            SchemeOp::Close { .. } => continue,
            _ => SchemeResult::Error(wasmd_guest::abi::errno::ENOSYS),
        };
        scheme.reply(req.tag, result)?;
    }
}
