//! Regions and channels from a native program: `shm/` (with `mmap`
//! inside Redox), a region window shared with a native mapping,
//! `chan/` frames both ways, `fevent` readiness.

use std::time::Duration;

use super::{check, field, kill, log_line, names, text, wait, PATIENCE};
use crate::{eventually, Outcome, Setup, Tree};

/// Starts the `chan_native` fixture: its pid and the ids it printed
/// (`shm`, `out`, `in`), once it said its channels have windows (guest
/// channels move their payloads through windows wherever the OS maps
/// regions into guests, as Linux and Redox do).
pub(super) fn chan_native(setup: &Setup, tree: &mut dyn Tree) -> Result<(u32, [String; 3]), String> {
    let pid = tree.spawn(&format!("cap=stdio,time,shm {}", setup.fixture("chan_native")))?;
    let line = log_line(tree, pid, "shm=")?;
    let id = |key: &str| line.split(' ').find_map(|kv| kv.strip_prefix(key)).unwrap_or("").to_string();
    check(id("windowed=") == "true", || format!("the guest's channels have no windows: {line:?}"))?;
    Ok((pid, [id("shm="), id("out="), id("in=")]))
}

/// Frames of a `chan/` file's bytes: (writer, payload).
pub(super) fn frames(bytes: &[u8]) -> Result<Vec<(u32, String)>, String> {
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

pub(super) fn chan(setup: &Setup) -> Outcome {
    (|| {
        let mut tree = setup.tree()?;
        let (pid, [_, out, inbound]) = chan_native(setup, tree.as_mut())?;
        let listed = names(tree.list("/scheme/wasm/chan")?);
        check(listed.contains(&out) && listed.contains(&inbound), || format!("chan/ lists {listed:?}"))?;
        // Reading to the end: three frames (the last two written as one
        // batch), then the end of the stream.
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

pub(super) fn shm(setup: &Setup) -> Outcome {
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

/// A guest's region window and a native mapping of the same `shm/ID`:
/// the guest's plain stores are seen natively, a native store is seen by
/// the guest's plain loads — no region call copies anything.
pub(super) fn windows(setup: &Setup) -> Outcome {
    (|| {
        let mut tree = setup.tree()?;
        let pid = tree.spawn(&format!("cap=stdio,time,shm {} wlive", setup.fixture("regions")))?;
        let id = log_line(tree.as_mut(), pid, "id=")?;
        let path = format!("/scheme/wasm/shm/{}", id.trim_start_matches("id="));
        let how = match tree.native() {
            Some(native) => {
                let mut map = native.map_shared(&path, 8192)?;
                let seen = map.read(0, 16);
                check(seen == b"guest wrote this", || format!("the mapping shows {seen:?}"))?;
                map.write(4096, &0xbeefu32.to_le_bytes());
                "through mmap"
            }
            None => {
                let bytes = tree.read(&path)?;
                check(bytes.starts_with(b"guest wrote this"), || {
                    format!("{path} starts {:?}", String::from_utf8_lossy(&bytes[..16.min(bytes.len())]))
                })?;
                tree.write_at(&path, 4096, &0xbeefu32.to_le_bytes())?;
                "through the file (no mmap here)"
            }
        };
        let seen = log_line(tree.as_mut(), pid, "seen=")?;
        check(seen == "seen=48879", || format!("the guest saw {seen:?}"))?;
        wait(tree.as_mut(), pid)?;
        Ok(format!("a guest's window and a native program share {path} {how}, with no copy"))
    })()
    .into()
}

/// A parked guest gives its all-zero pages back (the daemon's
/// `memory_given_back_bytes` grows by most of the 4 pages it grew) and
/// then reads back exactly what it wrote.
pub(super) fn idle_trim(setup: &Setup) -> Outcome {
    (|| {
        let mut tree = setup.tree()?;
        let given_back = |tree: &mut dyn Tree| -> Result<u64, String> {
            let stats = text(tree.read("/scheme/wasm/stats")?);
            field(&stats, "memory_given_back_bytes")
                .and_then(|v| v.trim().parse().ok())
                .ok_or_else(|| format!("no memory_given_back_bytes in stats: {stats:?}"))
        };
        let before = given_back(tree.as_mut())?;
        let pid = tree.spawn(&format!("cap=stdio,time {} idle", setup.fixture("regions")))?;
        let line = log_line(tree.as_mut(), pid, "idle=")?;
        check(line == "idle=ok", || format!("after its sleep the guest found {line:?}"))?;
        let ended = wait(tree.as_mut(), pid)?;
        check(ended == "exited(0)", || format!("{pid}/wait reads {ended:?}"))?;
        let gained = given_back(tree.as_mut())?.saturating_sub(before);
        // The 4 grown pages less the 4 KiB pages written (more when other
        // guests were parked meanwhile).
        check(gained >= 4 * 65536 - 4 * 4096, || format!("memory_given_back_bytes grew by {gained} only"))?;
        Ok(format!("{} KiB given back while a guest slept; it read back what it wrote", gained / 1024))
    })()
    .into()
}

pub(super) fn fevent(setup: &Setup) -> Outcome {
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
