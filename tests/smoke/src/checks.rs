//! The checks, one function each, in the order [`CHECKS`] runs them.
//! Each starts the guests it needs and stops them again, so it depends on
//! no other check.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use crate::{eventually, Check, Outcome, Setup, Tree};

/// Every check, in order.
pub const CHECKS: &[Check] = &[
    Check { name: "ls", limit: secs(60), run: ls },
    Check { name: "ps", limit: secs(60), run: ps },
    Check { name: "spawn", limit: secs(60), run: spawn },
    Check { name: "status-log-wait", limit: secs(60), run: status_log_wait },
    Check { name: "ctl", limit: secs(60), run: ctl },
    Check { name: "run-stream", limit: secs(60), run: run_stream },
    Check { name: "shm", limit: secs(60), run: shm },
    Check { name: "chan", limit: secs(60), run: chan },
    Check { name: "fevent", limit: secs(60), run: fevent },
    Check { name: "guest-scheme", limit: secs(300), run: guest_scheme },
    Check { name: "scheme-gone", limit: secs(90), run: scheme_gone },
    Check { name: "provider-death", limit: secs(60), run: provider_death },
    Check { name: "guest-file", limit: secs(60), run: guest_file },
    Check { name: "grant-links", limit: secs(60), run: grant_links },
    Check { name: "guest-tcp", limit: secs(60), run: guest_tcp },
    Check { name: "tcp-hang", limit: secs(60), run: tcp_hang },
    Check { name: "legacy-url", limit: secs(60), run: legacy_url },
    Check { name: "user-identity", limit: secs(60), run: user_identity },
    Check { name: "fairness", limit: secs(180), run: fairness },
];

const fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// How long to wait for something asynchronous (a guest's output, a
/// scheme to appear in the namespace).
const PATIENCE: Duration = Duration::from_secs(30);

fn text(bytes: Vec<u8>) -> String {
    String::from_utf8_lossy(&bytes).into_owned()
}

fn check(ok: bool, why: impl FnOnce() -> String) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(why())
    }
}

/// Entry names without a trailing `/`.
fn names(list: Vec<String>) -> Vec<String> {
    list.into_iter().map(|n| n.trim_end_matches('/').to_string()).collect()
}

fn kill(tree: &mut dyn Tree, pid: u32) -> Result<String, String> {
    tree.write(&format!("/scheme/wasm/{pid}/ctl"), b"kill")?;
    wait(tree, pid)
}

/// The status a process ended with (`PID/wait`).
fn wait(tree: &mut dyn Tree, pid: u32) -> Result<String, String> {
    Ok(text(tree.read(&format!("/scheme/wasm/{pid}/wait"))?).trim().to_string())
}

fn status(tree: &mut dyn Tree, pid: u32) -> Result<String, String> {
    Ok(text(tree.read(&format!("/scheme/wasm/{pid}/status"))?))
}

/// The value of `key: value` in a status.
fn field(status: &str, key: &str) -> Option<String> {
    status.lines().find_map(|l| l.strip_prefix(key)?.strip_prefix(": ").map(str::to_string))
}

/// Waits until the process's log has a line starting with `prefix`;
/// returns that line.
fn log_line(tree: &mut dyn Tree, pid: u32, prefix: &str) -> Result<String, String> {
    let mut found = None;
    eventually(&format!("a line `{prefix}...` in {pid}/log"), PATIENCE, || {
        let log = text(tree.read(&format!("/scheme/wasm/{pid}/log"))?);
        found = log.lines().find(|l| l.starts_with(prefix)).map(str::to_string);
        Ok(found.is_some())
    })?;
    Ok(found.unwrap_or_default())
}

fn ls(setup: &Setup) -> Outcome {
    (|| {
        let mut tree = setup.tree()?;
        let root = names(tree.list("/scheme/wasm")?);
        for expected in ["ps", "spawn", "run", "shm", "chan", "scheme"] {
            check(root.iter().any(|n| n == expected), || format!("/scheme/wasm lacks {expected}: {root:?}"))?;
        }
        check(tree.is_dir("/scheme/wasm")?, || "stat /scheme/wasm: not a directory".into())?;
        check(tree.is_dir("/scheme/wasm/run")?, || "stat /scheme/wasm/run: not a directory".into())?;
        check(!tree.is_dir("/scheme/wasm/ps")?, || "stat /scheme/wasm/ps: a directory".into())?;
        Ok(format!("{} entries", root.len()))
    })()
    .into()
}

fn ps(setup: &Setup) -> Outcome {
    (|| {
        let mut tree = setup.tree()?;
        let table = text(tree.read("/scheme/wasm/ps")?);
        let header = table.lines().next().unwrap_or("");
        check(header.contains("PID") && header.contains("STATE"), || format!("ps header: {header:?}"))?;
        Ok(String::new())
    })()
    .into()
}

fn spawn(setup: &Setup) -> Outcome {
    (|| {
        let mut tree = setup.tree()?;
        let pid = tree.spawn(&format!("cap=stdio,time {} sleep 600000", setup.example("worker")))?;
        let table = text(tree.read("/scheme/wasm/ps")?);
        let listed = table
            .lines()
            .any(|l| l.split_whitespace().next() == Some(&pid.to_string()) && l.contains("worker"));
        check(listed, || format!("pid {pid} (worker) is not in ps:\n{table}"))?;
        check(names(tree.list("/scheme/wasm")?).contains(&pid.to_string()), || {
            format!("no directory /scheme/wasm/{pid}")
        })?;
        let files = names(tree.list(&format!("/scheme/wasm/{pid}"))?);
        check(files == ["status", "log", "wait", "ctl"], || format!("/scheme/wasm/{pid} lists {files:?}"))?;
        let ended = kill(tree.as_mut(), pid)?;
        check(ended == "killed", || format!("{pid}/wait after kill reads {ended:?}"))?;
        Ok(format!("pid {pid}"))
    })()
    .into()
}

fn status_log_wait(setup: &Setup) -> Outcome {
    (|| {
        let mut tree = setup.tree()?;
        let pid = tree.spawn(&format!("cap=stdio {} count 1000", setup.example("worker")))?;
        let ended = wait(tree.as_mut(), pid)?;
        check(ended == "exited(0)", || format!("{pid}/wait reads {ended:?}"))?;
        let status = status(tree.as_mut(), pid)?;
        check(field(&status, "module").as_deref() == Some("worker"), || format!("{pid}/status: {status:?}"))?;
        check(field(&status, "state").as_deref() == Some("exited"), || format!("{pid}/status: {status:?}"))?;
        let log = text(tree.read(&format!("/scheme/wasm/{pid}/log"))?);
        check(log.contains("499500"), || format!("{pid}/log: {log:?}"))?;
        Ok(String::new())
    })()
    .into()
}

fn ctl(setup: &Setup) -> Outcome {
    (|| {
        let mut tree = setup.tree()?;
        let spec = format!("cap=stdio,time fuel=1000000000 {} sleep 600000", setup.example("worker"));
        let pid = tree.spawn(&spec)?;
        let ctl = format!("/scheme/wasm/{pid}/ctl");
        let state = |tree: &mut dyn Tree| -> Result<String, String> {
            Ok(field(&status(tree, pid)?, "state").unwrap_or_default())
        };
        tree.write(&ctl, b"suspend")?;
        let s = state(tree.as_mut())?;
        check(s == "suspended", || format!("state after suspend: {s}"))?;
        tree.write(&ctl, b"resume")?;
        let s = state(tree.as_mut())?;
        check(s != "suspended" && s != "exited", || format!("state after resume: {s}"))?;
        let limit = |tree: &mut dyn Tree| -> Result<String, String> {
            Ok(field(&status(tree, pid)?, "fuel_limit").unwrap_or_default())
        };
        let before: u64 = limit(tree.as_mut())?.parse().map_err(|_| "no fuel_limit in status".to_string())?;
        tree.write(&ctl, b"refuel 500")?;
        let after = limit(tree.as_mut())?;
        check(after == (before + 500).to_string(), || {
            format!("fuel_limit {before} became {after} after refuel 500")
        })?;
        check(tree.write(&ctl, b"dance").is_err(), || "an unknown ctl command was accepted".into())?;
        let ended = kill(tree.as_mut(), pid)?;
        check(ended == "killed", || format!("{pid}/wait after kill reads {ended:?}"))?;
        Ok(String::new())
    })()
    .into()
}

fn run_stream(setup: &Setup) -> Outcome {
    (|| {
        let mut tree = setup.tree()?;
        let started = Instant::now();
        let mut stream = tree.stream(&format!("/scheme/wasm/run{}", setup.fixture("ticker")))?;
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while !got.contains(&b'\n') {
            let n = stream.read(&mut buf).map_err(|e| format!("read run/: {e}"))?;
            check(n > 0, || format!("run/ ended before a line: {:?}", String::from_utf8_lossy(&got)))?;
            got.extend_from_slice(&buf[..n]);
        }
        let first = started.elapsed();
        // The guest still runs: the line came before it ended.
        let table = text(tree.read("/scheme/wasm/ps")?);
        let live = table.lines().any(|l| l.contains("ticker") && !l.contains("exited"));
        check(live, || format!("ticker is not running after its first line:\n{table}"))?;
        stream.read_to_end(&mut got).map_err(|e| format!("read run/: {e}"))?;
        let all = String::from_utf8_lossy(&got).into_owned();
        let lines: Vec<&str> = all.lines().collect();
        let expected: Vec<String> = (0..10).map(|i| format!("tick {i}")).collect();
        check(lines == expected, || format!("run/ streamed {all:?}"))?;
        Ok(format!(
            "first line after {} ms, end after {} ms",
            first.as_millis(),
            started.elapsed().as_millis()
        ))
    })()
    .into()
}

/// Starts the `chan_native` fixture: its pid and the ids it printed
/// (`shm`, `out`, `in`).
fn chan_native(setup: &Setup, tree: &mut dyn Tree) -> Result<(u32, [String; 3]), String> {
    let pid = tree.spawn(&format!("cap=stdio,time,shm {}", setup.fixture("chan_native")))?;
    let line = log_line(tree, pid, "shm=")?;
    let id = |key: &str| line.split(' ').find_map(|kv| kv.strip_prefix(key)).unwrap_or("").to_string();
    Ok((pid, [id("shm="), id("out="), id("in=")]))
}

/// Frames of a `chan/` file's bytes: (writer, payload).
fn frames(bytes: &[u8]) -> Result<Vec<(u32, String)>, String> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let word = |at: usize| rest.get(at..at + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
        let (Some(writer), Some(len)) = (word(0), word(4)) else {
            return Err(format!("torn frame {rest:?}"));
        };
        let payload = rest.get(8..8 + len as usize).ok_or_else(|| format!("short frame {rest:?}"))?;
        out.push((writer, String::from_utf8_lossy(payload).into_owned()));
        rest = &rest[8 + len as usize..];
    }
    Ok(out)
}

fn chan(setup: &Setup) -> Outcome {
    (|| {
        let mut tree = setup.tree()?;
        let (pid, [_, out, inbound]) = chan_native(setup, tree.as_mut())?;
        let listed = names(tree.list("/scheme/wasm/chan")?);
        check(listed.contains(&out) && listed.contains(&inbound), || format!("chan/ lists {listed:?}"))?;
        // Reading to the end: three frames, then the end of the stream.
        let got = frames(&tree.read(&format!("/scheme/wasm/chan/{out}"))?)?;
        let texts: Vec<&str> = got.iter().map(|(_, t)| t.as_str()).collect();
        check(texts == ["frame-0", "frame-1", "frame-2"], || format!("chan/{out} gave {got:?}"))?;
        check(got.iter().all(|(w, _)| *w == got[0].0), || format!("frames of one writer: {got:?}"))?;
        tree.send_frames(&format!("/scheme/wasm/chan/{inbound}"), &[b"native-1", b"native-22"])?;
        let first = log_line(tree.as_mut(), pid, "got ")?;
        check(first.ends_with(" 8 native-1"), || format!("the guest got {first:?}"))?;
        // The guest may still be on its way to the second frame (it runs
        // on a scheduler thread beside the daemon).
        let mut log = String::new();
        let second = eventually(&format!("the second frame in {pid}/log"), PATIENCE, || {
            log = text(tree.read(&format!("/scheme/wasm/{pid}/log"))?);
            Ok(log.contains(" 9 native-22"))
        });
        check(second.is_ok(), || format!("the guest's log: {log:?}"))?;
        kill(tree.as_mut(), pid)?;
        Ok(String::new())
    })()
    .into()
}

fn shm(setup: &Setup) -> Outcome {
    (|| {
        let mut tree = setup.tree()?;
        let (pid, [shm, _, inbound]) = chan_native(setup, tree.as_mut())?;
        let index = text(tree.read("/scheme/wasm/shm/index")?);
        let line = index.lines().find(|l| l.split(' ').next() == Some(shm.as_str()));
        let size: usize =
            line.and_then(|l| l.split(' ').nth(1)?.parse().ok()).ok_or(format!("shm/index: {index:?}"))?;
        let path = format!("/scheme/wasm/shm/{shm}");
        let bytes = tree.read(&path)?;
        check(bytes.len() == size && bytes.starts_with(b"hello shm"), || {
            format!(
                "{path}: {} bytes starting {:?}",
                bytes.len(),
                String::from_utf8_lossy(&bytes[..16.min(bytes.len())])
            )
        })?;
        // The guest looks at the region once its channel work is done.
        tree.send_frames(&format!("/scheme/wasm/chan/{inbound}"), &[b"a", b"b"])?;
        let how = match tree.native() {
            Some(native) => {
                let mut map = native.map_shared(&path, 4096)?;
                let seen = map.read(0, 9);
                check(seen == b"hello shm", || format!("the mapping shows {seen:?}"))?;
                map.write(68, b"live");
                map.write(64, &7u32.to_le_bytes());
                "written through mmap"
            }
            None => {
                tree.write_at(&path, 68, b"live")?;
                tree.write_at(&path, 64, &7u32.to_le_bytes())?;
                "written through the file (no mmap here)"
            }
        };
        let seen = log_line(tree.as_mut(), pid, "shm ")?;
        check(seen == "shm word=7 text=live", || format!("the guest saw {seen:?}"))?;
        wait(tree.as_mut(), pid)?;
        Ok(format!("{size} bytes, {how}, seen by the guest"))
    })()
    .into()
}

fn fevent(setup: &Setup) -> Outcome {
    let mut tree = match setup.tree() {
        Ok(t) => t,
        Err(e) => return Outcome::Fail(e),
    };
    if tree.native().is_none() {
        return Outcome::Skip("event queues are a Redox program's (the Linux client has no fevent)".into());
    }
    (|| {
        let pid = tree.spawn(&format!("cap=stdio,time {} sleep 600000", setup.example("worker")))?;
        let mut killer = setup.tree()?;
        let mut kill_it = || killer.write(&format!("/scheme/wasm/{pid}/ctl"), b"kill");
        let native = tree.native().ok_or("no native")?;
        let wait_file = format!("/scheme/wasm/{pid}/wait");
        let (early, came) =
            native.readiness(&wait_file, Duration::from_millis(300), &mut kill_it, PATIENCE)?;
        check(!early, || format!("{wait_file} was readable while the process ran"))?;
        check(came, || format!("no readiness event on {wait_file} after the kill"))?;
        let ended = wait(tree.as_mut(), pid)?;
        check(ended == "killed", || format!("{pid}/wait reads {ended:?}"))?;
        Ok(String::new())
    })()
    .into()
}

/// Spawns a ramfs provider named `name` and waits until its own name
/// takes a file.
fn ramfs(setup: &Setup, tree: &mut dyn Tree, name: &str) -> Result<u32, String> {
    let pid = tree.spawn(&format!("cap=stdio,scheme {} {name}", setup.example("ramfs")))?;
    eventually(&format!("/scheme/{name} to take a file"), PATIENCE, || {
        Ok(tree.write(&format!("/scheme/{name}/.probe"), b"x").is_ok())
    })?;
    tree.remove(&format!("/scheme/{name}/.probe"))?;
    Ok(pid)
}

fn guest_scheme(setup: &Setup) -> Outcome {
    const THREADS: usize = 8;
    const FILES: usize = 25;
    (|| {
        let mut tree = setup.tree()?;
        let provider = ramfs(setup, tree.as_mut(), "smokefs")?;
        let started = Instant::now();
        let workers: Vec<_> = (0..THREADS)
            .map(|t| {
                let setup = setup.clone();
                std::thread::spawn(move || -> Result<(), String> {
                    let mut tree = setup.tree()?;
                    for i in 0..FILES {
                        let path = format!("/scheme/smokefs/t{t}-{i}.txt");
                        let data = format!("thread {t} file {i} written by a native program");
                        tree.write(&path, data.as_bytes())?;
                        let back = tree.read(&path)?;
                        check(back == data.as_bytes(), || format!("{path} reads {:?}", text(back.clone())))?;
                        tree.truncate_and_sync(&path, 6)?;
                        let cut = tree.read(&path)?;
                        check(cut == b"thread", || {
                            format!("{path} after ftruncate 6: {:?}", text(cut.clone()))
                        })?;
                        if i % 2 == 1 {
                            tree.remove(&path)?;
                        }
                    }
                    Ok(())
                })
            })
            .collect();
        for w in workers {
            w.join().map_err(|_| "a client thread panicked".to_string())??;
        }
        let took = started.elapsed();
        let kept = THREADS * FILES.div_ceil(2);
        for dir in ["/scheme/smokefs", "/scheme/wasm/scheme/smokefs"] {
            let listed = tree.list(dir)?;
            check(listed.len() == kept, || format!("{dir} lists {} files, not {kept}", listed.len()))?;
        }
        check(tree.remove("/scheme/smokefs/t0-1.txt").is_err(), || {
            "a removed file was removed again".into()
        })?;
        kill(tree.as_mut(), provider)?;
        Ok(format!(
            "{THREADS} threads x {FILES} files (write, read, ftruncate, fsync, unlink) in {} ms",
            took.as_millis()
        ))
    })()
    .into()
}

fn scheme_gone(setup: &Setup) -> Outcome {
    (|| {
        let mut tree = setup.tree()?;
        let provider = ramfs(setup, tree.as_mut(), "gonefs")?;
        let in_namespace = |tree: &mut dyn Tree| -> Result<Option<bool>, String> {
            match tree.native() {
                Some(n) => Ok(Some(names(n.schemes()?).iter().any(|s| s == "gonefs"))),
                None => Ok(None),
            }
        };
        check(in_namespace(tree.as_mut())? != Some(false), || "gonefs is not in ls /scheme".into())?;
        kill(tree.as_mut(), provider)?;
        eventually("gonefs to leave /scheme/wasm/scheme", PATIENCE, || {
            Ok(!names(tree.list("/scheme/wasm/scheme")?).iter().any(|n| n == "gonefs"))
        })?;
        eventually("gonefs to leave the namespace", PATIENCE, || {
            Ok(in_namespace(tree.as_mut())? != Some(true))
        })?;
        check(tree.read("/scheme/gonefs/.probe").is_err(), || "/scheme/gonefs still answers".into())?;
        // The name can be taken again.
        let again = ramfs(setup, tree.as_mut(), "gonefs")?;
        kill(tree.as_mut(), again)?;
        Ok(String::new())
    })()
    .into()
}

fn provider_death(setup: &Setup) -> Outcome {
    (|| {
        let mut tree = setup.tree()?;
        let provider = tree.spawn(&format!("cap=stdio,scheme {} hangfs", setup.fixture("faulty_scheme")))?;
        eventually("/scheme/hangfs to answer", PATIENCE, || Ok(tree.read("/scheme/hangfs/fine").is_ok()))?;
        // A read the provider never answers, from another thread.
        let reader_setup = setup.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let result = reader_setup.tree().and_then(|mut t| t.read("/scheme/hangfs/hang"));
            let _ = tx.send(result);
        });
        std::thread::sleep(Duration::from_millis(500));
        check(rx.try_recv().is_err(), || "the hanging read was answered while the provider lived".into())?;
        kill(tree.as_mut(), provider)?;
        let result =
            rx.recv_timeout(PATIENCE).map_err(|_| "the pending read was never answered".to_string())?;
        check(result.is_err(), || format!("the pending read succeeded: {result:?}"))?;
        Ok(format!("pending read ended with: {}", result.unwrap_err()))
    })()
    .into()
}

fn guest_file(setup: &Setup) -> Outcome {
    (|| {
        let mut tree = setup.tree()?;
        let scratch = format!("{}/files", setup.scratch.trim_end_matches('/'));
        let outside = format!("{}/outside", setup.scratch.trim_end_matches('/'));
        let host = |guest: &str| setup.file_root.join(guest.trim_start_matches('/'));
        for dir in [&scratch, &outside] {
            std::fs::create_dir_all(host(dir)).map_err(|e| format!("mkdir {}: {e}", host(dir).display()))?;
        }
        std::fs::write(host(&format!("{scratch}/native.txt")), b"from native")
            .and_then(|()| std::fs::write(host(&format!("{outside}/secret.txt")), b"no"))
            .map_err(|e| format!("writing the native files: {e}"))?;
        let spec = format!(
            "cap=stdio grant=file:{scratch}=rw {} file:{scratch} file:{scratch}/native.txt file:{outside}/secret.txt",
            setup.fixture("fs_client")
        );
        let pid = tree.spawn(&spec)?;
        let ended = wait(tree.as_mut(), pid)?;
        check(ended == "exited(0)", || format!("fs_client ended {ended:?}"))?;
        let log = text(tree.read(&format!("/scheme/wasm/{pid}/log"))?);
        let expect = [
            "mkdir=ok".to_string(),
            "write=ok".to_string(),
            "read=ok:\"hello, world\"".to_string(),
            "unlink=ok".to_string(),
            "rmdir=ok".to_string(),
            format!("open:file:{scratch}/native.txt=ok"),
            format!("open:file:{outside}/secret.txt=err:13"),
        ];
        for line in &expect {
            check(log.lines().any(|l| l.starts_with(line.as_str())), || format!("no `{line}` in {log:?}"))?;
        }
        check(!host(&format!("{scratch}/dir")).exists(), || "the guest's directory is still there".into())?;
        Ok(String::new())
    })()
    .into()
}

fn grant_links(setup: &Setup) -> Outcome {
    (|| {
        let mut tree = setup.tree()?;
        let scratch = setup.scratch.trim_end_matches('/');
        let (jail, tenant) = (format!("{scratch}/jail"), format!("{scratch}/tenant"));
        let host = |guest: &str| setup.file_root.join(guest.trim_start_matches('/'));
        let _ = std::fs::remove_dir_all(host(&jail));
        for dir in [&jail, &tenant] {
            std::fs::create_dir_all(host(dir)).map_err(|e| format!("mkdir {}: {e}", host(dir).display()))?;
        }
        std::fs::write(host(&format!("{tenant}/victim.txt")), b"another tenant's")
            .map_err(|e| format!("writing the victim file: {e}"))?;
        std::os::unix::fs::symlink("..", host(&format!("{jail}/up")))
            .map_err(|e| format!("making the link {jail}/up -> ..: {e}"))?;
        let spec = format!(
            "cap=stdio grant=file:{jail}=rw {} file:{jail}/up/tenant file:{jail}/up/tenant/victim.txt \
             rm:file:{jail}/up/tenant/victim.txt",
            setup.fixture("fs_client")
        );
        let pid = tree.spawn(&spec)?;
        wait(tree.as_mut(), pid)?;
        let log = text(tree.read(&format!("/scheme/wasm/{pid}/log"))?);
        let mut expect: Vec<String> = ["mkdir", "write", "read", "readdir", "unlink", "rmdir"]
            .iter()
            .map(|k| format!("{k}=err:13"))
            .collect();
        expect.push(format!("open:file:{jail}/up/tenant/victim.txt=err:13"));
        expect.push(format!("rm:file:{jail}/up/tenant/victim.txt=err:13"));
        for line in &expect {
            check(log.lines().any(|l| l == line), || format!("no `{line}` in {log:?}"))?;
        }
        let victim = std::fs::read(host(&format!("{tenant}/victim.txt"))).map_err(|e| e.to_string())?;
        check(victim == b"another tenant's", || "the other tenant's file changed".into())?;
        check(!host(&format!("{tenant}/dir")).exists(), || {
            "the guest made a directory outside its grant".into()
        })?;
        Ok(format!("a link {jail}/up -> .. leads nowhere"))
    })()
    .into()
}

fn guest_tcp(setup: &Setup) -> Outcome {
    (|| {
        let listener =
            std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| format!("native listen: {e}"))?;
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        let server = std::thread::spawn(move || -> Result<(), String> {
            let (mut conn, _) = listener.accept().map_err(|e| format!("accept: {e}"))?;
            let mut got = [0u8; 64];
            let n = conn.read(&mut got).map_err(|e| format!("native read: {e}"))?;
            conn.write_all(&got[..n]).map_err(|e| format!("native write: {e}"))?;
            Ok(())
        });
        let mut tree = setup.tree()?;
        let spec = format!(
            "cap=stdio grant=tcp:127.0.0.1:* {} tcp-client 127.0.0.1:{port} hello-over-tcp",
            setup.fixture("net_peer")
        );
        let pid = tree.spawn(&spec)?;
        let ended = wait(tree.as_mut(), pid)?;
        let log = text(tree.read(&format!("/scheme/wasm/{pid}/log"))?);
        check(ended == "exited(0)" && log.contains("reply=hello-over-tcp"), || {
            format!("net_peer ended {ended:?} with {log:?}")
        })?;
        server.join().map_err(|_| "the native server panicked".to_string())??;
        Ok(format!("echoed by a native server on port {port}"))
    })()
    .into()
}

/// Guests whose TCP handshakes never complete hold no I/O thread: another
/// guest's file I/O goes on beside more of them than there are I/O threads.
fn tcp_hang(setup: &Setup) -> Outcome {
    let mut tree = match setup.tree() {
        Ok(t) => t,
        Err(e) => return Outcome::Fail(e),
    };
    if tree.native().is_none() {
        return Outcome::Skip(
            "127.0.0.2 answers on Linux; the test connects_that_never_complete_hold_no_thread covers it"
                .into(),
        );
    }
    (|| {
        // Redox's netstack owns only 127.0.0.1: a SYN to 127.0.0.2 is never
        // answered, so these handshakes hang.
        let spec = format!(
            "cap=stdio grant=tcp:127.0.0.2:* {} tcp-client 127.0.0.2:7 hello",
            setup.fixture("net_peer")
        );
        let connectors = (0..8).map(|_| tree.spawn(&spec)).collect::<Result<Vec<u32>, String>>()?;
        std::thread::sleep(Duration::from_millis(300));
        let scratch = format!("{}/hang", setup.scratch.trim_end_matches('/'));
        let host = setup.file_root.join(scratch.trim_start_matches('/'));
        std::fs::create_dir_all(&host).map_err(|e| format!("mkdir {}: {e}", host.display()))?;
        let started = Instant::now();
        let pid = tree.spawn(&format!(
            "cap=stdio grant=file:{scratch}=rw {} file:{scratch}",
            setup.fixture("fs_client")
        ))?;
        let ended = wait(tree.as_mut(), pid)?;
        let took = started.elapsed();
        check(ended == "exited(0)", || format!("fs_client beside hanging connects ended {ended:?}"))?;
        check(took < secs(8), || format!("fs_client beside hanging connects took {took:?}"))?;
        for &c in &connectors {
            let state = field(&status(tree.as_mut(), c)?, "state").unwrap_or_default();
            check(!state.starts_with("exited"), || format!("connector {c} ended: {state}"))?;
        }
        for c in connectors {
            kill(tree.as_mut(), c)?;
        }
        Ok(format!("file I/O beside 8 hanging connects took {} ms", took.as_millis()))
    })()
    .into()
}

fn legacy_url(setup: &Setup) -> Outcome {
    let mut tree = match setup.tree() {
        Ok(t) => t,
        Err(e) => return Outcome::Fail(e),
    };
    let Some(native) = tree.native() else {
        return Outcome::Skip("`wasm:` URLs are relibc's (the Linux client takes /scheme paths)".into());
    };
    (|| {
        for url in ["wasm:ps", "wasm:/ps"] {
            let table = text(native.read_url(url)?);
            check(table.starts_with("   PID"), || format!("cat {url}: {table:?}"))?;
        }
        Ok(String::new())
    })()
    .into()
}

/// The user the `user-identity` check acts as.
pub const USER: u32 = 1000;

fn user_identity(setup: &Setup) -> Outcome {
    let mut tree = match setup.tree() {
        Ok(t) => t,
        Err(e) => return Outcome::Fail(e),
    };
    if tree.native().is_none() {
        return Outcome::Skip("the Linux socket serves only its own user (and root)".into());
    }
    (|| {
        let roots = tree.spawn(&format!("cap=stdio,time {} sleep 600000", setup.example("worker")))?;
        let args = vec!["--as-user".to_string(), setup.examples.clone(), roots.to_string()];
        let native = tree.native().ok_or("no native")?;
        let out = native.run_as_user(USER, &args)?;
        kill(tree.as_mut(), roots)?;
        let line = out.lines().find(|l| l.starts_with("USER-CHECK")).unwrap_or("").to_string();
        check(line.starts_with("USER-CHECK ok"), || format!("as user {USER}: {out:?}"))?;
        Ok(line.trim_start_matches("USER-CHECK ok ").to_string())
    })()
    .into()
}

/// What `wasmd-smoke --as-user EXAMPLES ROOT_PID` checks, run as an
/// ordinary user by the `user-identity` check: a guest spawned by this
/// user acts for them; capabilities beyond a user's and root's processes
/// are refused. The line printed starts `USER-CHECK ok` or
/// `USER-CHECK FAIL`.
pub fn as_user(tree: &mut dyn Tree, examples: &str, roots: u32) -> String {
    let result = (|| -> Result<String, String> {
        let worker = format!("{}/worker.wasm", examples.trim_end_matches('/'));
        let pid = tree.spawn(&format!("cap=stdio,time {worker} sleep 600000"))?;
        let status = status(tree, pid)?;
        let owner = field(&status, "owner").unwrap_or_default();
        check(owner.starts_with(&format!("{USER}:")), || format!("own guest's owner: {status:?}"))?;
        check(tree.spawn(&format!("cap=all {worker} count 1")).is_err(), || "cap=all was granted".into())?;
        let theirs = tree.read(&format!("/scheme/wasm/{roots}/status"));
        check(theirs.is_err(), || "root's process status was readable".into())?;
        let ctl = tree.write(&format!("/scheme/wasm/{roots}/ctl"), b"kill");
        check(ctl.is_err(), || "root's process could be killed".into())?;
        kill(tree, pid)?;
        Ok(format!("guest owned by {owner}; cap=all, root's status and ctl refused"))
    })();
    match result {
        Ok(detail) => format!("USER-CHECK ok {detail}"),
        Err(why) => format!("USER-CHECK FAIL {why}"),
    }
}

fn fairness(setup: &Setup) -> Outcome {
    const SPINNERS: usize = 20;
    const READS: usize = 30;
    (|| {
        let mut tree = setup.tree()?;
        let mut spinners = Vec::new();
        let result = (|| {
            for _ in 0..SPINNERS {
                spinners.push(tree.spawn(&format!("cap=stdio {} spin", setup.example("worker")))?);
            }
            let mut ms: Vec<f64> = Vec::new();
            for _ in 0..READS {
                let t = Instant::now();
                let table = text(tree.read("/scheme/wasm/ps")?);
                ms.push(t.elapsed().as_secs_f64() * 1e3);
                check(table.lines().count() > SPINNERS, || format!("ps: {table}"))?;
                std::thread::sleep(Duration::from_millis(20));
            }
            ms.sort_by(f64::total_cmp);
            let (p50, max) = (ms[ms.len() / 2], ms[ms.len() - 1]);
            // Fairness broken is hundreds of ms; the target is 20 ms under
            // emulation (the figure is the report, the bound a tripwire).
            check(p50 < 100.0, || format!("ps took {p50:.1} ms (p50) while {SPINNERS} guests spin"))?;
            Ok(format!(
                "open+read+close of ps while {SPINNERS} guests spin: p50 {p50:.1} ms, max {max:.1} ms ({READS} reads)"
            ))
        })();
        for pid in spinners {
            kill(tree.as_mut(), pid)?;
        }
        result
    })()
    .into()
}
