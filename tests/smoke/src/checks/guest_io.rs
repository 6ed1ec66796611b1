//! Guests' OS files and sockets: `file:` grants (links below a grant
//! refused), TCP, and handshakes that never complete holding no thread.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use super::{check, field, kill, secs, status, text, wait};
use crate::{Outcome, Setup};

pub(super) fn guest_file(setup: &Setup) -> Outcome {
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

pub(super) fn grant_links(setup: &Setup) -> Outcome {
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

pub(super) fn guest_tcp(setup: &Setup) -> Outcome {
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
pub(super) fn tcp_hang(setup: &Setup) -> Outcome {
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
