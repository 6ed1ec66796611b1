//! `wasi_echo_server FD`: accepts one connection on the listening socket
//! it was given as descriptor FD (`wasmd run --tcplisten`), reads until
//! the peer shuts its side down, answers the bytes uppercased, shuts its
//! own side down and prints `served N bytes`.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener};
use std::os::wasi::io::FromRawFd;

fn main() {
    let fd: i32 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(3);
    // SAFETY: the host preopened `fd` as a listening socket for this
    // program alone; nothing else owns it.
    let listener = unsafe { TcpListener::from_raw_fd(fd) };
    let (mut conn, _) = listener.accept().expect("accept");
    let mut got = Vec::new();
    conn.read_to_end(&mut got).expect("read");
    got.make_ascii_uppercase();
    conn.write_all(&got).expect("write");
    conn.shutdown(Shutdown::Write).expect("shutdown");
    println!("served {} bytes", got.len());
}
