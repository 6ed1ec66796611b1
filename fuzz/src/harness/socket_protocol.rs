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

/// What a `/scheme/...` path names (as the socket server maps it).
pub(super) fn target(path: &str) -> Option<(Option<&str>, &str)> {
    match path.strip_prefix("/scheme/wasm") {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => Some((None, rest)),
        _ => match path.strip_prefix("/scheme/").map(|p| p.split_once('/').unwrap_or((p, ""))) {
            Some((name, rest)) if !name.is_empty() => Some((Some(name), rest)),
            _ => None,
        },
    }
}

/// Serves decoded requests with a daemon as `sys::linux::server` does
/// (that code and the connection are private to the crate: this mirrors
/// its dispatch), with the bounds of one connection.
pub(super) fn serve_requests(msgs: &[ClientMsg], mode: u8) {
    let mut input = Input::new(&[]);
    let mut rig = Rig::new(&mut input, mode & 2 != 0, false);
    let caller = if mode & 4 != 0 { Caller { uid: 1000, gid: 100 } } else { Caller::ROOT };
    let mut fds: HashSet<u64> = HashSet::new();
    let mut answers: Vec<ServerMsg> = Vec::new();
    for m in msgs.iter().take(64) {
        let token = rig.token();
        let fd = match &m.request {
            Request::Open { .. } | Request::Unlink { .. } => None,
            Request::Read { fd, .. }
            | Request::Write { fd, .. }
            | Request::Fstat { fd }
            | Request::Fpath { fd }
            | Request::Getdents { fd, .. }
            | Request::Close { fd }
            | Request::Ftruncate { fd, .. }
            | Request::Fsync { fd } => Some(*fd),
        };
        if fd.is_some_and(|fd| !fds.contains(&fd)) {
            answers.push(ServerMsg { id: m.id, reply: WireReply::Error(EBADF) });
            continue;
        }
        if matches!(m.request, Request::Open { .. }) && fds.len() >= 1024 {
            answers.push(ServerMsg { id: m.id, reply: WireReply::Error(EMFILE) });
            continue;
        }
        if rig.waiting.len() >= 1024 {
            answers.push(ServerMsg { id: m.id, reply: WireReply::Error(EAGAIN) });
            continue;
        }
        let d = &mut rig.daemon;
        let polled = match m.request.clone() {
            Request::Open { path, flags } => {
                let opened = match target(&path) {
                    Some((None, rest)) => d.open(rest, flags, caller),
                    Some((Some(name), rest)) => d.open_scheme(name, rest, flags),
                    None => Err(ENOENT),
                };
                if let Ok(fd) = opened {
                    assert!(fds.insert(fd), "fd handed out twice");
                }
                Poll::Ready(opened.map(WireReply::Fd))
            }
            Request::Unlink { path, flags } => match target(&path) {
                Some((None, rest)) => d.unlink(rest, flags, token),
                Some((Some(name), rest)) => d.unlink_scheme(name, rest, flags, token),
                None => Poll::Ready(Err(ENOENT)),
            }
            .map_ok(|()| WireReply::Done),
            Request::Ftruncate { fd, len } => d.ftruncate(fd, len, token).map_ok(|()| WireReply::Done),
            Request::Fsync { fd } => d.fsync(fd, token).map_ok(|()| WireReply::Done),
            Request::Read { fd, offset, len, nonblock } => {
                d.read(fd, offset, len as usize, nonblock, token).map_ok(WireReply::Data)
            }
            Request::Write { fd, offset, data, nonblock } => {
                d.write(fd, offset, &data, nonblock, token).map_ok(|n| WireReply::Count(n as u64))
            }
            Request::Fstat { fd } => d.fstat(fd, token).map_ok(WireReply::Stat),
            Request::Fpath { fd } => d.fpath(fd, token).map_ok(WireReply::Path),
            Request::Getdents { fd, offset } => d
                .getdents(fd, offset, token)
                .map_ok(|v| WireReply::Entries(v.into_iter().map(|e| (e.name, e.kind, e.next)).collect())),
            Request::Close { fd } => {
                fds.remove(&fd);
                d.close(fd);
                Poll::Ready(Ok(WireReply::Done))
            }
        };
        rig.answered(token, &polled);
        if let Poll::Ready(result) = polled {
            answers.push(ServerMsg { id: m.id, reply: result.unwrap_or_else(WireReply::Error) });
        }
        rig.daemon.step(2);
        rig.collect();
    }
    // Every answer goes out as a frame the client decodes.
    for a in &answers {
        let framed = protocol::frame(a);
        assert_eq!(protocol::decode_frame::<ServerMsg>(&framed), Ok(Some((a.clone(), framed.len()))));
    }
    rig.fds = fds.into_iter().collect();
    rig.finish();
}
