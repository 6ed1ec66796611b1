//! Golden bytes: every message type's encoding is pinned here, so a change
//! to the wire format is a deliberate, visible act.

use wasmd_abi::errno;
use wasmd_abi::msg::{self, EXIT_STATUS_MAX_LEN, TRAP_MESSAGE_MAX_LEN};
use wasmd_abi::{
    Caps, ExitStatus, Grant, ModuleSource, ProcessInfo, Rights, RunState, SpawnLimits, SpawnRequest,
};

fn roundtrip<'a, T>(value: &T, bytes: &'a [u8])
where
    T: serde::Serialize + serde::Deserialize<'a> + PartialEq + core::fmt::Debug,
{
    assert_eq!(msg::encode(value), bytes, "encoding of {value:?}");
    let back: T = msg::decode(bytes).expect("decodes");
    assert_eq!(&back, value);
}

#[test]
fn spawn_request_by_path() {
    let req = SpawnRequest {
        module: ModuleSource::Path("a.wasm"),
        args: vec!["a", "bc"],
        caps: Some(Caps(0b1001)),
        limits: SpawnLimits {
            max_pages: Some(2),
            fuel: None,
            max_handles: Some(300),
            max_region_bytes: Some(65536),
        },
        grants: vec![Grant { handle: 0x10000, rights: Rights(3) }],
        namespace: Some(vec!["file:/srv=ro"]),
    };
    #[rustfmt::skip]
    let bytes = [
        0x00, 0x06, b'a', b'.', b'w', b'a', b's', b'm', // module: Path("a.wasm")
        0x02, 0x01, b'a', 0x02, b'b', b'c',             // args
        0x01, 0x09,                                     // caps: Some(9)
        0x01, 0x02, 0x00, 0x01, 0xAC, 0x02,             // limits: pages, fuel, handles
        0x01, 0x80, 0x80, 0x04,                         //         region bytes
        0x01, 0x80, 0x80, 0x04, 0x03,                   // grants: [(0x10000, READ|WRITE)]
        0x01, 0x01, 0x0C,                               // namespace: Some(["file:/srv=ro"])
        b'f', b'i', b'l', b'e', b':', b'/', b's', b'r', b'v', b'=', b'r', b'o',
    ];
    roundtrip(&req, &bytes);
}

#[test]
fn spawn_request_from_bytes_inheriting() {
    let module = [0x00, b'a', b's', b'm'];
    let req = SpawnRequest {
        module: ModuleSource::Bytes(&module),
        args: vec![],
        caps: None,
        limits: SpawnLimits::default(),
        grants: vec![],
        namespace: None,
    };
    let bytes = [0x01, 0x04, 0x00, b'a', b's', b'm', 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00];
    roundtrip(&req, &bytes);
}

#[test]
fn spawn_request_from_a_module_handle() {
    let req = SpawnRequest {
        module: ModuleSource::Handle(0x10002),
        args: vec!["w"],
        caps: None,
        limits: SpawnLimits::default(),
        grants: vec![],
        namespace: None,
    };
    // Variant 2, the handle as a varint (0x10002 = 0x82 0x80 0x04), then
    // one argument "w" and the defaults.
    let bytes = [0x02, 0x82, 0x80, 0x04, 0x01, 0x01, b'w', 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00];
    roundtrip(&req, &bytes);
}

#[test]
fn exit_status_variants() {
    roundtrip(&ExitStatus::Exited(-3), &[0x00, 0x05]);
    roundtrip(&ExitStatus::Exited(101), &[0x00, 0xCA, 0x01]);
    roundtrip(&ExitStatus::Trapped("x".into()), &[0x01, 0x01, b'x']);
    roundtrip(&ExitStatus::Killed, &[0x02]);
    roundtrip(&ExitStatus::OutOfFuel, &[0x03]);
    roundtrip(&ExitStatus::MemoryLimit, &[0x04]);
    roundtrip(&ExitStatus::NoConnection, &[0x05]);
    roundtrip(&ExitStatus::NoProcess, &[0x06]);
}

#[test]
fn exit_status_max_len_holds() {
    let longest = ExitStatus::Trapped("m".repeat(TRAP_MESSAGE_MAX_LEN));
    assert!(msg::encode(&longest).len() <= EXIT_STATUS_MAX_LEN);
    let most_negative = ExitStatus::Exited(i32::MIN);
    assert!(msg::encode(&most_negative).len() <= EXIT_STATUS_MAX_LEN);
}

#[test]
fn process_info() {
    let mut info = ProcessInfo {
        pid: 7,
        parent: 1,
        state: RunState::Blocked,
        name: "hi".into(),
        module_hash: [1, 2, 3, 4, 5, 6, 7, 8],
        memory_pages: 1,
        fuel_used: 300,
        caps: Caps(3),
        status: None,
    };
    #[rustfmt::skip]
    let bytes = [
        0x07, 0x01, 0x02, 0x02, b'h', b'i',
        1, 2, 3, 4, 5, 6, 7, 8,
        0x01, 0xAC, 0x02, 0x03, 0x00,
    ];
    roundtrip(&info, &bytes);
    info.state = RunState::Exited;
    info.status = Some(ExitStatus::Exited(0));
    let mut bytes = bytes.to_vec();
    bytes[2] = 0x04;
    bytes.pop();
    bytes.extend_from_slice(&[0x01, 0x00, 0x00]);
    roundtrip(&info, &bytes);
}

#[test]
fn run_states() {
    for (i, s) in
        [RunState::Ready, RunState::Running, RunState::Blocked, RunState::Suspended, RunState::Exited]
            .into_iter()
            .enumerate()
    {
        roundtrip(&s, &[i as u8]);
    }
}

#[test]
fn args_list() {
    roundtrip(&vec!["x", "yz"], &[0x02, 0x01, b'x', 0x02, b'y', b'z']);
}

#[test]
fn trailing_bytes_are_rejected() {
    assert!(msg::decode::<ExitStatus>(&[0x02, 0x00]).is_err());
    assert!(msg::decode::<ExitStatus>(&[0x09]).is_err());
    assert!(msg::decode::<SpawnRequest>(&[0x00, 0x50]).is_err());
}

#[test]
fn errno_values_are_redox_values() {
    use syscall::error as r;
    let pairs = [
        (errno::EPERM, r::EPERM),
        (errno::ENOENT, r::ENOENT),
        (errno::ESRCH, r::ESRCH),
        (errno::EINTR, r::EINTR),
        (errno::EIO, r::EIO),
        (errno::E2BIG, r::E2BIG),
        (errno::ENOEXEC, r::ENOEXEC),
        (errno::EBADF, r::EBADF),
        (errno::ECHILD, r::ECHILD),
        (errno::EAGAIN, r::EAGAIN),
        (errno::ENOMEM, r::ENOMEM),
        (errno::EACCES, r::EACCES),
        (errno::EFAULT, r::EFAULT),
        (errno::EBUSY, r::EBUSY),
        (errno::EEXIST, r::EEXIST),
        (errno::ENODEV, r::ENODEV),
        (errno::ENOTDIR, r::ENOTDIR),
        (errno::EISDIR, r::EISDIR),
        (errno::EINVAL, r::EINVAL),
        (errno::EMFILE, r::EMFILE),
        (errno::ENOSPC, r::ENOSPC),
        (errno::ESPIPE, r::ESPIPE),
        (errno::EPIPE, r::EPIPE),
        (errno::ERANGE, r::ERANGE),
        (errno::ENAMETOOLONG, r::ENAMETOOLONG),
        (errno::ENOSYS, r::ENOSYS),
        (errno::ENOTEMPTY, r::ENOTEMPTY),
        (errno::EWOULDBLOCK, r::EWOULDBLOCK),
        (errno::EMSGSIZE, r::EMSGSIZE),
        (errno::EOPNOTSUPP, r::EOPNOTSUPP),
        (errno::EADDRINUSE, r::EADDRINUSE),
        (errno::ECONNRESET, r::ECONNRESET),
        (errno::ENOTCONN, r::ENOTCONN),
        (errno::ETIMEDOUT, r::ETIMEDOUT),
        (errno::ECONNREFUSED, r::ECONNREFUSED),
        (errno::ECANCELED, r::ECANCELED),
    ];
    for (ours, redox) in pairs {
        assert_eq!(ours, redox, "{}", errno::describe(ours));
    }
}

#[test]
fn caps_names() {
    assert_eq!(Caps::from_name("spawn"), Some(Caps::SPAWN));
    assert_eq!(Caps::from_name("all"), Some(Caps::ALL));
    assert_eq!(Caps::from_name("root"), None);
    assert_eq!(Caps::STDIO.union(Caps::TIME).to_string(), "stdio,time");
    assert_eq!(Caps::NONE.to_string(), "-");
    assert!(Caps::ALL.contains(Caps::DEFAULT));
}

#[test]
fn mailbox_header_bytes() {
    use wasmd_abi::mailbox::{Header, HEADER_LEN, TAG_DOWN};
    let header = Header { tag: 0x0102_0304_0506_0708, from: 9, len: 0x100, handles: 2 };
    #[rustfmt::skip]
    let bytes: [u8; HEADER_LEN] = [
        0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01, // tag
        0x09, 0x00, 0x00, 0x00,                         // from
        0x00, 0x01, 0x00, 0x00,                         // len
        0x02, 0x00, 0x00, 0x00,                         // handles
        0x00, 0x00, 0x00, 0x00,                         // reserved
    ];
    assert_eq!(header.to_bytes(), bytes);
    assert_eq!(Header::from_bytes(&bytes), Some(header));
    assert_eq!(Header::from_bytes(&bytes[..23]), None);
    assert_eq!(header.total_len(), 24 + 2 * 8 + 0x100);
    assert!(!header.is_notice());
    assert!(Header { tag: TAG_DOWN, ..header }.is_notice());
    assert_eq!(TAG_DOWN, 0xffff_ffff_0000_0002);
    assert_eq!(wasmd_abi::mailbox::TAG_EXIT, 0xffff_ffff_0000_0001);
}

#[test]
fn down_notice_payload() {
    use wasmd_abi::mailbox::Down;
    roundtrip(&Down { reference: 300, status: Some(ExitStatus::Exited(3)) }, &[0xAC, 0x02, 0x01, 0x00, 0x06]);
    roundtrip(&Down { reference: 1, status: None }, &[0x01, 0x00]);
    roundtrip(&Down { reference: 2, status: Some(ExitStatus::Killed) }, &[0x02, 0x01, 0x02]);
}
