//! The `socket_protocol` target: the Linux control socket's framing and
//! requests.

use super::*;

// ---------------------------------------------------------------------
// socket_protocol
// ---------------------------------------------------------------------

/// The Linux socket protocol: frames decoded from arbitrary bytes,
/// re-encoded and decoded again, the same messages whatever the chunking
/// of the stream; with the first byte odd, the decoded requests are also
/// served by a daemon the way the socket server does.
pub fn socket_protocol(data: &[u8]) {
    let Some((&mode, data)) = data.split_first() else { return };
    let mut msgs = Vec::new();
    let mut rest = data;
    let mut bad = false;
    loop {
        match protocol::decode_frame::<ClientMsg>(rest) {
            Ok(Some((msg, used))) => {
                assert!((4..=rest.len()).contains(&used));
                let again = protocol::frame(&msg);
                assert_eq!(protocol::decode_frame::<ClientMsg>(&again), Ok(Some((msg.clone(), again.len()))));
                rest = &rest[used..];
                msgs.push(msg);
            }
            Ok(None) => break,
            Err(_) => {
                bad = true;
                break;
            }
        }
    }
    // The same stream arriving in pieces.
    let mut buf = Vec::new();
    let mut got = Vec::new();
    let mut pos = 0;
    let mut seed = u32::from(mode) | 1;
    let mut chunked_bad = false;
    'feed: while pos < data.len() {
        seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
        let n = (1 + (seed >> 16) as usize % 97).min(data.len() - pos);
        buf.extend_from_slice(&data[pos..pos + n]);
        pos += n;
        loop {
            match protocol::unframe::<ClientMsg>(&mut buf) {
                Ok(Some(m)) => got.push(m),
                Ok(None) => break,
                Err(_) => {
                    chunked_bad = true;
                    break 'feed;
                }
            }
        }
    }
    assert_eq!(got, msgs, "chunking changed the messages");
    assert_eq!(chunked_bad, bad, "chunking changed whether the stream is malformed");
    // The client's side: answers.
    if let Ok(Some((answer, _))) = protocol::decode_frame::<ServerMsg>(data) {
        let again = protocol::frame(&answer);
        assert_eq!(protocol::decode_frame::<ServerMsg>(&again), Ok(Some((answer, again.len()))));
    }
    if mode & 1 == 1 && !msgs.is_empty() {
        serve_requests(&msgs, mode);
    }
}

/// Serves decoded requests with a daemon through the socket server's own
/// per-client request handling ([`Session`], what `sys::linux::server`
/// runs for each request of a connection, with the same bounds), and
/// checks that no open file is handed out twice and that every answer
/// goes out as a frame the client decodes (answers given later included).
pub(super) fn serve_requests(msgs: &[ClientMsg], mode: u8) {
    let mut input = Input::new(&[]);
    let mut rig = Rig::new(&mut input, mode & 2 != 0, false);
    let caller = if mode & 4 != 0 { Caller { uid: 1000, gid: 100 } } else { Caller::ROOT };
    let mut session = Session::new(caller);
    let mut open: HashSet<u64> = HashSet::new();
    let mut answers: Vec<ServerMsg> = Vec::new();
    // Tokens of pending requests → their ids (as the server keeps them).
    let mut ids: HashMap<u64, u32> = HashMap::new();
    for m in msgs.iter().take(64) {
        let token = rig.token();
        let polled = session.handle(&mut rig.daemon, m.request.clone(), token);
        match (&m.request, &polled) {
            (_, Poll::Ready(Ok(WireReply::Fd(fd)))) => assert!(open.insert(*fd), "fd handed out twice"),
            (Request::Close { fd }, Poll::Ready(Ok(_))) => {
                open.remove(fd);
            }
            _ => {}
        }
        rig.answered(token, &polled);
        match polled {
            Poll::Ready(result) => answers
                .push(ServerMsg { id: m.id, reply: result.unwrap_or_else(|e| WireReply::Error(e.errno())) }),
            Poll::Pending => {
                ids.insert(token, m.id);
            }
        }
        rig.daemon.step(2);
        for done in rig.collect() {
            session.completed();
            let id = ids.remove(&done.token).expect("a completion answers a request of the session");
            answers.push(ServerMsg { id, reply: session::reply(done.result) });
        }
    }
    assert_eq!(&open, session.fds(), "the session's open files");
    // Every answer goes out as a frame the client decodes.
    for a in &answers {
        let framed = protocol::frame(a);
        assert_eq!(protocol::decode_frame::<ServerMsg>(&framed), Ok(Some((a.clone(), framed.len()))));
    }
    rig.fds = open.into_iter().collect();
    rig.finish();
}
