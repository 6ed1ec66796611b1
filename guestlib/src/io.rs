//! Standard output and error, and the `print!` family.
//!
//! Each `print!`/`println!` formats into one buffer and makes one `write`
//! hostcall, so lines from different processes never interleave mid-line.

use alloc::string::String;
use core::fmt::Write;

use crate::error::{check, Result};
use crate::sys;
use wasmd_abi::hostcall::{STDERR, STDOUT};

/// Which log stream to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

impl Stream {
    fn id(self) -> i32 {
        match self {
            Stream::Stdout => STDOUT,
            Stream::Stderr => STDERR,
        }
    }
}

/// Writes bytes to a stream; returns how many were written.
pub fn write(stream: Stream, bytes: &[u8]) -> Result<usize> {
    // SAFETY: the pointer and length describe a live slice.
    let ret = unsafe { sys::write(stream.id(), bytes.as_ptr(), bytes.len()) };
    check(ret).map(|n| n as usize)
}

/// Formats and writes in one hostcall. Used by the print macros.
#[doc(hidden)]
pub fn print_fmt(stream: Stream, args: core::fmt::Arguments<'_>, newline: bool) {
    let mut out = String::new();
    let _ = out.write_fmt(args);
    if newline {
        out.push('\n');
    }
    let _ = write(stream, out.as_bytes());
}

/// A fixed buffer that formats without allocating (for panics and OOM).
pub(crate) struct StackWriter<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> StackWriter<N> {
    pub(crate) const fn new() -> Self {
        Self { buf: [0; N], len: 0 }
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl<const N: usize> Write for StackWriter<N> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let room = N - self.len;
        let n = s.len().min(room);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

/// Prints to standard output.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => { $crate::io::print_fmt($crate::io::Stream::Stdout, format_args!($($arg)*), false) };
}

/// Prints to standard output, with a newline.
#[macro_export]
macro_rules! println {
    () => { $crate::io::print_fmt($crate::io::Stream::Stdout, format_args!(""), true) };
    ($($arg:tt)*) => { $crate::io::print_fmt($crate::io::Stream::Stdout, format_args!($($arg)*), true) };
}

/// Prints to standard error.
#[macro_export]
macro_rules! eprint {
    ($($arg:tt)*) => { $crate::io::print_fmt($crate::io::Stream::Stderr, format_args!($($arg)*), false) };
}

/// Prints to standard error, with a newline.
#[macro_export]
macro_rules! eprintln {
    () => { $crate::io::print_fmt($crate::io::Stream::Stderr, format_args!(""), true) };
    ($($arg:tt)*) => { $crate::io::print_fmt($crate::io::Stream::Stderr, format_args!($($arg)*), true) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stack_writer_truncates() {
        let mut w = StackWriter::<4>::new();
        write!(w, "hello").unwrap();
        assert_eq!(w.as_bytes(), b"hell");
    }
}
