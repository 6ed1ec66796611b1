//! [`Rig`]: the control tree driven like a frontend drives it, and the
//! `spec_and_paths` target.

use super::*;

// ---------------------------------------------------------------------
// The control tree, driven like a frontend drives it
// ---------------------------------------------------------------------

/// A short description of a read's answer.
pub(super) trait Short {
    fn as_ref_short(&self) -> String;
}

impl Short for Poll<Vec<u8>> {
    fn as_ref_short(&self) -> String {
        match self {
            Poll::Ready(Ok(d)) => {
                format!("{} bytes {:?}", d.len(), String::from_utf8_lossy(&d[..d.len().min(48)]))
            }
            Poll::Ready(Err(e)) => format!("errno {e}"),
            Poll::Pending => "pending".into(),
        }
    }
}

/// A daemon, the files and requests a frontend would hold, and module
/// files on disk for `run/` and `spawn`.
pub struct Rig {
    /// The daemon.
    pub daemon: Daemon,
    pub(super) fds: Vec<u64>,
    pub(super) next_token: u64,
    /// Tokens answered `Pending`, not completed yet.
    pub(super) waiting: HashSet<u64>,
    pub(super) dir: PathBuf,
    pub(super) paths: Vec<String>,
    pub(super) specs: Vec<String>,
}

impl std::fmt::Debug for Rig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rig").field("fds", &self.fds).finish_non_exhaustive()
    }
}

pub(super) const FLAGS: &[u32] = &[
    0,
    flags::O_RDONLY,
    flags::O_WRONLY,
    flags::O_RDWR,
    flags::O_RDONLY | flags::O_DIRECTORY,
    flags::O_RDWR | flags::O_NONBLOCK,
    flags::O_RDONLY | flags::O_NONBLOCK,
    flags::O_WRONLY | flags::O_CREAT | flags::O_TRUNC,
    flags::O_RDWR | flags::O_CREAT,
    flags::O_STAT,
    flags::O_DIRECTORY,
];

pub(super) const OFFSETS: &[u64] = &[0, 1, 2, 7, 8, 128, 4096, 65536, 1 << 32, u64::MAX - 1, u64::MAX];
pub(super) const LENGTHS: &[usize] = &[0, 1, 7, 8, 9, 16, 24, 64, 4096, 1 << 20, (1 << 20) + 1, usize::MAX];

impl Rig {
    /// A daemon with the harness guests chosen by the input: a fuzzed
    /// scheme provider (`fz`), a fuzzed channel (region 1), a spinner, a
    /// client of `fz:` (`with_client`).
    pub fn new(input: &mut Input<'_>, with_provider: bool, with_client: bool) -> Rig {
        let dir = scratch_dir("modules");
        let d = dir.display().to_string();
        for (name, text) in [("spin.wat", SPINNER), ("exit.wat", EXITER), ("client.wat", SCHEME_CLIENT)] {
            std::fs::write(dir.join(name), text).expect("a module file");
        }
        std::fs::write(dir.join("bad.wasm"), b"\0asm\x01\0\0\0\x05").expect("a module file");
        // Guests on the daemon's thread, or on one or two scheduler
        // threads beside the harness (as `wasmd daemon` runs them).
        let mut daemon = daemon(input.below(3));
        let choice = input.u8();
        let owner = if input.below(4) == 0 { Owner { uid: 1000, gid: 100 } } else { Owner::ROOT };
        let mut texts: Vec<(&str, String, Caps, Vec<&str>)> = Vec::new();
        if choice & 1 != 0 {
            texts.push(("chan", channel_guest(input), Caps::SHARED_MEMORY.union(Caps::TIME), vec![]));
        }
        if with_provider || choice & 2 != 0 {
            texts.push(("provider", provider_guest(input), Caps::SCHEME_PROVIDE, vec![]));
        }
        if choice & 4 != 0 {
            texts.push(("spin", SPINNER.to_string(), Caps::NONE, vec![]));
        }
        if with_client || choice & 8 != 0 {
            texts.push(("client", SCHEME_CLIENT.to_string(), Caps::NONE, vec!["fz:/"]));
        }
        for (name, text, caps, grants) in &texts {
            let mut pm = daemon.manager();
            let module = compile_own(&pm, text);
            let fuel = if *name == "spin" { Some(2_000_000) } else { None };
            pm.spawn(module, guest_opts(name, *caps, fuel, owner, grants)).expect("a harness guest spawns");
        }
        // Let the region and the scheme come into being.
        for _ in 0..3 {
            daemon.step(8);
            wait_a_moment(&mut daemon);
        }
        let paths = [
            "",
            "/",
            "ps",
            "spawn",
            "run",
            "run/",
            "shm",
            "shm/",
            "shm/index",
            "shm/1",
            "shm/2",
            "chan",
            "chan/1",
            "chan/2",
            "chan/x",
            "scheme",
            "scheme/",
            "scheme/fz",
            "scheme/fz/",
            "scheme/fz/a",
            "scheme/fz/d/e",
            "scheme/nope/x",
            "1",
            "1/",
            "1/status",
            "1/log",
            "1/wait",
            "1/ctl",
            "2",
            "2/status",
            "2/log",
            "2/wait",
            "2/ctl",
            "3/ctl",
            "3/wait",
            "4/status",
            "5/wait",
            "0",
            "1/nope",
            "ps/x",
            "./ps",
            "//ps//",
            "scheme/../ps",
            "18446744073709551616",
            "run/dev/null",
            "run/nonexistent.wasm",
        ]
        .iter()
        .map(|p| p.to_string())
        .chain(
            ["spin.wat", "exit.wat", "bad.wasm", "client.wat", "nope.wat"]
                .iter()
                .map(|m| format!("run{d}/{m}")),
        )
        .collect();
        let specs = [
            format!("{d}/exit.wat"),
            format!("cap=stdio {d}/exit.wat a b"),
            format!("cap=all fuel=100000 mem=2 {d}/spin.wat"),
            format!("cap=proc {d}/spin.wat"),
            format!("cap=stdio,time,random,spawn,shm,scheme fuel=5000 {d}/spin.wat"),
            format!("name=x grant=file:/tmp=ro handles=3 region-bytes=65536 {d}/exit.wat"),
            format!("grant=fz:/ cap=none {d}/client.wat"),
            format!("{d}/bad.wasm"),
            format!("{d}/nope.wat"),
            format!("\"{d}/exit.wat\" \"quoted arg\" \\"),
            "/nonexistent.wasm".to_string(),
            "relative.wasm".to_string(),
            "fuel=1".to_string(),
            "kill".to_string(),
            "suspend".to_string(),
            "resume".to_string(),
            "refuel 100".to_string(),
            "refuel 18446744073709551615".to_string(),
            "refuel x".to_string(),
            "kill now".to_string(),
        ]
        .to_vec();
        Rig { daemon, fds: Vec::new(), next_token: 1, waiting: HashSet::new(), dir, paths, specs }
    }

    pub(super) fn token(&mut self) -> u64 {
        self.next_token += 1;
        self.next_token
    }

    pub(super) fn path(&mut self, input: &mut Input<'_>) -> String {
        if input.below(5) == 0 {
            input.string(40)
        } else {
            let i = input.below(self.paths.len());
            self.paths[i].clone()
        }
    }

    pub(super) fn fd(&mut self, input: &mut Input<'_>) -> u64 {
        if self.fds.is_empty() || input.below(8) == 0 {
            input.pick(&[0, 1, 2, 99, u64::MAX])
        } else {
            self.fds[input.below(self.fds.len())]
        }
    }

    pub(super) fn caller(input: &mut Input<'_>) -> Caller {
        let uid = input.pick(&[0, 0, 1000, 1001, 65534, u32::MAX]);
        Caller { uid, gid: input.pick(&[0, 100, 1000]) }
    }

    pub(super) fn flags(input: &mut Input<'_>) -> u32 {
        if input.below(6) == 0 {
            input.u32()
        } else {
            input.pick(FLAGS)
        }
    }

    pub(super) fn data(&mut self, input: &mut Input<'_>) -> Vec<u8> {
        match input.below(3) {
            0 => input.bytes(64).to_vec(),
            1 => {
                let i = input.below(self.specs.len());
                self.specs[i].clone().into_bytes()
            }
            _ => {
                let mut v = input.bytes(16).to_vec();
                v.resize(input.pick(&[0, 1, 8, 100, 5000, 20000]), 0x5a);
                v
            }
        }
    }

    /// Notes what a request answered: a pending one must complete later.
    pub(super) fn answered<T>(&mut self, token: u64, polled: &Poll<T>) {
        if matches!(polled, Poll::Pending) {
            assert!(self.waiting.insert(token), "token {token} pending twice");
        }
    }

    /// Takes the completions: each completes a pending request, once.
    /// Returns them (a frontend answers its requests with them).
    pub(super) fn collect(&mut self) -> Vec<wasmd::control::Completion> {
        let completions = self.daemon.take_completions();
        for done in &completions {
            trace!(
                "completed {} -> {:?}",
                done.token,
                done.result.as_ref().map(|o| format!("{o:?}").chars().take(80).collect::<String>())
            );
            assert!(
                self.waiting.remove(&done.token),
                "completion for token {} that is not pending (or completed twice): {:?}",
                done.token,
                done.result
            );
            if let Ok(Output::Data(d)) = &done.result {
                assert!(d.len() <= wasmd::control::MAX_READ);
            }
        }
        completions
    }

    /// One fuzzed frontend operation.
    pub fn op(&mut self, input: &mut Input<'_>) {
        match input.below(20) {
            0 | 1 => {
                let path = self.path(input);
                let (fl, caller) = (Self::flags(input), Self::caller(input));
                let opened = self.daemon.open(&path, fl, caller);
                trace!("open {path:?} {fl:#x} {caller:?} -> {opened:?}");
                if let Ok(fd) = opened {
                    assert!(!self.fds.contains(&fd), "fd {fd} handed out twice");
                    self.fds.push(fd);
                }
            }
            2 | 3 => {
                let (fd, offset, len, nonblock, token) =
                    (self.fd(input), input.pick(OFFSETS), input.pick(LENGTHS), input.bool(), self.token());
                let polled = self.daemon.read(fd, offset, len, nonblock, token);
                trace!("read {fd} at {offset} len {len} -> {:?}", polled.as_ref_short());
                if let Poll::Ready(Ok(d)) = &polled {
                    assert!(d.len() <= len.min(wasmd::control::MAX_READ), "read more than asked");
                }
                self.answered(token, &polled);
            }
            4 | 5 => {
                let (fd, offset, data, nonblock, token) =
                    (self.fd(input), input.pick(OFFSETS), self.data(input), input.bool(), self.token());
                let polled = self.daemon.write(fd, offset, &data, nonblock, token);
                trace!("write {fd} {:?} -> {polled:?}", String::from_utf8_lossy(&data[..data.len().min(48)]));
                if let Poll::Ready(Ok(n)) = &polled {
                    assert!(*n <= data.len(), "wrote more than given");
                }
                self.answered(token, &polled);
            }
            6 => {
                let (fd, token) = (self.fd(input), self.token());
                let polled = self.daemon.fstat(fd, token);
                self.answered(token, &polled);
            }
            7 => {
                let (fd, token) = (self.fd(input), self.token());
                let polled = self.daemon.fpath(fd, token);
                self.answered(token, &polled);
            }
            8 => {
                let (fd, offset, token) = (self.fd(input), input.pick(OFFSETS), self.token());
                let polled = self.daemon.getdents(fd, offset, token);
                self.answered(token, &polled);
            }
            9 => {
                let (fd, len, token) = (self.fd(input), input.pick(OFFSETS), self.token());
                let polled = self.daemon.ftruncate(fd, len, token);
                self.answered(token, &polled);
                let token = self.token();
                let polled = self.daemon.fsync(fd, token);
                self.answered(token, &polled);
            }
            10 => {
                let (path, fl, token) = (self.path(input), Self::flags(input), self.token());
                let polled = self.daemon.unlink(&path, fl, token);
                self.answered(token, &polled);
            }
            11 => {
                let fd = self.fd(input);
                self.fds.retain(|f| *f != fd);
                self.daemon.close(fd);
            }
            12 => {
                let token = if self.waiting.is_empty() || input.below(4) == 0 {
                    u64::from(input.u8())
                } else {
                    let mut all: Vec<u64> = self.waiting.iter().copied().collect();
                    all.sort_unstable();
                    all[input.below(all.len())]
                };
                let was_waiting = self.waiting.contains(&token);
                let cancelled = self.daemon.cancel(token);
                assert!(!cancelled || was_waiting, "cancelled token {token} that was not pending");
            }
            13 => {
                let fd = self.fd(input);
                let _ = self.daemon.fevent(fd);
                let _ = self.daemon.take_events();
            }
            14 | 15 => {
                let turns = 1 + input.below(16);
                self.daemon.step(turns);
            }
            16 => {
                wait_a_moment(&mut self.daemon);
                self.daemon.step(4);
            }
            17 => {
                let name = if input.bool() { "fz".to_string() } else { input.pick(SCHEME_NAMES).to_string() };
                let path = if input.bool() { input.pick(GUEST_PATHS).to_string() } else { input.string(16) };
                if input.bool() {
                    if let Ok(fd) = self.daemon.open_scheme(&name, &path, Self::flags(input)) {
                        self.fds.push(fd);
                    }
                } else {
                    let (fl, token) = (Self::flags(input), self.token());
                    let polled = self.daemon.unlink_scheme(&name, &path, fl, token);
                    self.answered(token, &polled);
                }
            }
            18 => {
                let (fd, offset, len) = (self.fd(input), input.pick(OFFSETS), input.pick(LENGTHS));
                let _ = self.daemon.mmap_address(fd, offset, len);
                let path = self.path(input);
                let at = self.daemon.path_at(fd, &path);
                if let Ok(fd) = self.daemon.open(&at, Self::flags(input), Caller::ROOT) {
                    self.fds.push(fd);
                }
            }
            _ => {
                let _ = self.daemon.idle_timeout();
                let _ = (self.daemon.kept_replies(), self.daemon.pending());
            }
        }
        self.collect();
    }

    /// Closes every file, kills every guest and lets the daemon settle:
    /// nothing may be left waiting.
    pub fn finish(mut self) {
        for fd in std::mem::take(&mut self.fds) {
            self.daemon.close(fd);
        }
        self.collect();
        kill_all(&mut self.daemon.manager());
        for _ in 0..3 {
            self.daemon.step(4);
            self.collect();
        }
        // Spawns still loading finish and are killed too.
        for _ in 0..20 {
            if self.waiting.is_empty() && self.daemon.pending() == 0 {
                break;
            }
            wait_a_moment(&mut self.daemon);
            kill_all(&mut self.daemon.manager());
            self.daemon.step(4);
            self.collect();
        }
        assert!(self.waiting.is_empty(), "requests never completed: {:?}", self.waiting);
        assert_eq!(self.daemon.pending(), 0, "the daemon still holds requests");
        assert_eq!(self.daemon.kept_replies(), 0, "the daemon keeps replies nobody waits for");
        remove_scratch(&self.dir);
    }
}

// ---------------------------------------------------------------------
// spec_and_paths
// ---------------------------------------------------------------------

/// Spawn specs and grants/paths through their parsers; then (when the
/// first byte is odd) a daemon with fuzzed guests driven by a fuzzed
/// sequence of opens, reads, writes, ... on fuzzed paths.
pub fn spec_and_paths(data: &[u8]) {
    let mut input = Input::new(data);
    let mode = input.u8();
    let spec = input.bytes(200);
    if let Ok(s) = wasmd::control::spec::parse(spec) {
        assert!(s.module.is_absolute(), "spec module {:?} is not absolute", s.module);
        for g in &s.grants {
            assert!(wasmhost::namespace::parse_grant(g).is_ok(), "a spec grant that does not parse: {g}");
        }
    }
    let text = input.string(48);
    let _ = wasmhost::namespace::parse_grant(&text);
    if let Ok(p) = wasmhost::namespace::parse_path(&text) {
        let grants: Vec<_> = ["file:/", "file:/a=ro", "fz:/", "tcp:127.0.0.1:*"]
            .iter()
            .filter_map(|g| wasmhost::namespace::parse_grant(g).ok())
            .collect();
        if let Ok(granted) = wasmhost::namespace::check(&grants, &p, input.bool()) {
            assert!(granted.rest().starts_with(granted.beneath()) || granted.beneath() == "/");
        }
    }
    if mode & 1 == 0 {
        return;
    }
    let mut rig = Rig::new(&mut input, false, false);
    for _ in 0..48 {
        if input.is_empty() {
            break;
        }
        rig.op(&mut input);
    }
    rig.finish();
}
