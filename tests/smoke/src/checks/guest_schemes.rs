//! Guest-implemented schemes: used from many threads, removed when they
//! unregister, failed cleanly when their provider dies.

use std::time::{Duration, Instant};

use super::{check, kill, names, text, PATIENCE};
use crate::{eventually, Outcome, Setup, Tree};

/// Spawns a ramfs provider named `name` and waits until its own name
/// takes a file.
pub(super) fn ramfs(setup: &Setup, tree: &mut dyn Tree, name: &str) -> Result<u32, String> {
    let pid = tree.spawn(&format!("cap=stdio,scheme {} {name}", setup.example("ramfs")))?;
    eventually(&format!("/scheme/{name} to take a file"), PATIENCE, || {
        Ok(tree.write(&format!("/scheme/{name}/.probe"), b"x").is_ok())
    })?;
    tree.remove(&format!("/scheme/{name}/.probe"))?;
    Ok(pid)
}

pub(super) fn guest_scheme(setup: &Setup) -> Outcome {
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

pub(super) fn scheme_gone(setup: &Setup) -> Outcome {
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

pub(super) fn provider_death(setup: &Setup) -> Outcome {
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
