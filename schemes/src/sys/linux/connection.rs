//! One client of the control socket: its buffers, its [`Session`] (open
//! files, pending answers) and the bounds that keep one client's traffic
//! from exhausting the daemon.
//!
//! - Requests are parsed in place ([`Conn::next_request`] moves an offset;
//!   the consumed bytes are dropped once per batch), so a burst of many
//!   tiny frames costs linear time.
//! - At most [`MAX_OUT`] bytes of answers wait to be sent: past that the
//!   connection is not read (nor its buffered requests parsed) until the
//!   client takes its answers — a client that asks and never reads stalls
//!   only itself.
//! - At most [`super::session::MAX_FILES`] open files and
//!   [`super::session::MAX_IN_FLIGHT`] answers pending at once; beyond,
//!   `Errno::TooManyHandles` and `Errno::WouldBlock` (see [`Session`]).
//! - At most one frame plus one read's worth of unparsed input is kept.

use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;

use rustix::event::epoll::EventFlags;

use super::protocol::{self, BadFrame, ClientMsg, ServerMsg, MAX_FRAME};
use super::session::Session;
use crate::control::Caller;

/// Most bytes of answers queued for one client before it is not read.
pub const MAX_OUT: usize = 16 << 20;
/// Bytes read from the socket at a time.
const CHUNK: usize = 64 << 10;

/// One client.
#[derive(Debug)]
pub struct Conn {
    stream: UnixStream,
    /// Its requests: open files, answers it waits for.
    pub session: Session,
    inbuf: Vec<u8>,
    /// Bytes of `inbuf` already parsed.
    parsed: usize,
    outbuf: Vec<u8>,
    /// It hung up, failed or misbehaved: to be dropped.
    pub dead: bool,
    /// The epoll interest registered for it.
    pub registered: EventFlags,
}

impl Conn {
    /// A new client acting for `caller`, registered for reading.
    pub fn new(stream: UnixStream, caller: Caller) -> Conn {
        Conn {
            stream,
            session: Session::new(caller),
            inbuf: Vec::new(),
            parsed: 0,
            outbuf: Vec::new(),
            dead: false,
            registered: EventFlags::IN | EventFlags::RDHUP,
        }
    }

    /// The socket.
    pub fn stream(&self) -> &UnixStream {
        &self.stream
    }

    /// True while it may be read: its answers are not backed up and its
    /// unparsed input is less than a frame.
    fn may_read(&self) -> bool {
        self.outbuf.len() < MAX_OUT && self.inbuf.len() - self.parsed <= MAX_FRAME + 4
    }

    /// Reads what the socket has (while [`Conn::may_read`]).
    pub fn fill(&mut self) {
        let mut chunk = vec![0u8; CHUNK];
        while self.may_read() && !self.dead {
            match self.stream.read(&mut chunk) {
                Ok(0) => self.dead = true,
                Ok(n) => self.inbuf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => self.dead = true,
            }
        }
    }

    /// The next complete request, if any and if its answers are not backed
    /// up; a malformed frame ends the connection.
    pub fn next_request(&mut self) -> Option<ClientMsg> {
        if self.outbuf.len() >= MAX_OUT || self.dead {
            return None;
        }
        match protocol::decode_frame::<ClientMsg>(&self.inbuf[self.parsed..]) {
            Ok(Some((msg, used))) => {
                self.parsed += used;
                Some(msg)
            }
            Ok(None) => None,
            Err(BadFrame) => {
                log::warn!("client sent a malformed frame; dropping it");
                self.dead = true;
                None
            }
        }
    }

    /// Drops the parsed input (once per batch, not per frame).
    pub fn compact(&mut self) {
        self.inbuf.drain(..self.parsed);
        self.parsed = 0;
    }

    /// True when buffered requests wait to be parsed.
    pub fn has_input(&self) -> bool {
        self.parsed < self.inbuf.len()
    }

    /// Queues an answer.
    pub fn send(&mut self, msg: &ServerMsg) {
        self.outbuf.extend_from_slice(&protocol::frame(msg));
    }

    /// Writes queued answers; returns whether any bytes went out.
    pub fn flush(&mut self) -> bool {
        let mut wrote = false;
        while !self.outbuf.is_empty() && !self.dead {
            match self.stream.write(&self.outbuf) {
                Ok(0) => self.dead = true,
                Ok(n) => {
                    wrote = true;
                    self.outbuf.drain(..n);
                }
                // A slow reader: the rest waits for writability.
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => self.dead = true,
            }
        }
        wrote
    }

    /// The epoll interest it should have now: reading while it may be
    /// read, writing while answers wait.
    pub fn interest(&self) -> EventFlags {
        let mut flags = EventFlags::RDHUP;
        if self.may_read() {
            flags |= EventFlags::IN;
        }
        if !self.outbuf.is_empty() {
            flags |= EventFlags::OUT;
        }
        flags
    }
}

#[cfg(test)]
mod tests {
    use super::super::protocol::{Reply, Request};
    use super::*;

    fn pair() -> (Conn, UnixStream) {
        let (a, b) = UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        (Conn::new(a, Caller::ROOT), b)
    }

    #[test]
    fn many_tiny_frames_parse_in_one_pass() {
        let (mut conn, mut client) = pair();
        let msg = ClientMsg { id: 1, request: Request::Close { fd: 7 } };
        let one = protocol::frame(&msg);
        let burst: Vec<u8> = std::iter::repeat_n(one.as_slice(), 20_000).flatten().copied().collect();
        client.write_all(&burst).unwrap();
        let mut got = 0;
        loop {
            conn.fill();
            while let Some(m) = conn.next_request() {
                assert_eq!(m, msg);
                got += 1;
            }
            conn.compact();
            if got == 20_000 {
                break;
            }
        }
        assert!(!conn.has_input());
    }

    #[test]
    fn backed_up_answers_stop_reading_and_parsing() {
        let (mut conn, mut client) = pair();
        let msg = ClientMsg { id: 1, request: Request::Close { fd: 7 } };
        client.write_all(&protocol::frame(&msg)).unwrap();
        client.write_all(&protocol::frame(&msg)).unwrap();
        conn.fill();
        assert!(conn.next_request().is_some());
        // A reply bigger than the limit is queued (the client reads nothing).
        conn.send(&ServerMsg { id: 1, reply: Reply::Data(vec![0; MAX_OUT]) });
        assert!(conn.next_request().is_none(), "the second request waits");
        assert!(!conn.interest().contains(EventFlags::IN));
        assert!(conn.interest().contains(EventFlags::OUT));
        // The client takes its answer: the second request comes.
        let reader = std::thread::spawn(move || {
            let mut sink = vec![0u8; 1 << 20];
            let mut total = 0;
            while total < MAX_OUT {
                total += client.read(&mut sink).unwrap();
            }
        });
        while conn.interest().contains(EventFlags::OUT) {
            conn.flush();
        }
        reader.join().unwrap();
        assert!(conn.next_request().is_some());
    }

    #[test]
    fn garbage_ends_the_connection() {
        let (mut conn, mut client) = pair();
        client.write_all(&[3, 0, 0, 0, 0xff, 0xff, 0xff]).unwrap();
        conn.fill();
        assert!(conn.next_request().is_none());
        assert!(conn.dead);
    }
}
