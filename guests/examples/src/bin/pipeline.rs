//! A pipeline stage, spawned by the demo with its channels granted:
//!
//! - `produce OUT N`: writes the numbers 1..=N (u64, little endian) to
//!   channel OUT, then closes it.
//! - `square IN OUT`: reads numbers from IN until its end, writes their
//!   squares to OUT, then closes it.
#![no_std]
#![no_main]

use wasmd_guest::channel::{Channel, ChannelError, ReaderKind, Start, WriterKind};
use wasmd_guest::env;

wasmd_guest::main!(main);

fn main() -> Result<(), ChannelError> {
    let args = env::args();
    let num = |i: usize| args.get(i).and_then(|a| a.parse::<u64>().ok()).unwrap_or(0);
    match args.get(1).map(|s| s.as_str()) {
        Some("produce") => {
            let mut out = Channel::attach(num(2))?.writer(WriterKind::Strong)?;
            for n in 1..=num(3) {
                out.write(&n.to_le_bytes())?;
            }
            out.close()
        }
        Some("square") => {
            let mut input = Channel::attach(num(2))?.reader(ReaderKind::Strong, Start::Oldest)?;
            let mut out = Channel::attach(num(3))?.writer(WriterKind::Strong)?;
            loop {
                let n = match input.read() {
                    Ok(frame) => u64::from_le_bytes(frame.payload.try_into().unwrap_or_default()),
                    Err(ChannelError::Closed) => break,
                    Err(e) => return Err(e),
                };
                out.write(&(n * n).to_le_bytes())?;
            }
            out.close()
        }
        _ => Err(ChannelError::Sys(wasmd_guest::Error::InvalidArgument)),
    }
}
