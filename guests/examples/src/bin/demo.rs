//! The demo: a parent that spawns a small tree of worker processes (one
//! of them spawns a worker of its own), each ending a different way,
//! while it and they run preemptively side by side, then waits for each
//! and prints how it ended and how long after its spawn it was reaped
//! (the children are reaped in order, so a child that ended early is
//! reaped no sooner than the ones before it). Then a pipeline:
//! a producer and a squarer, each its own process, connected by channels
//! in shared memory, with the demo consuming the end. Last, a scheme
//! implemented by a guest: the demo starts the RAM filesystem provider,
//! uses it through the ordinary fs hostcalls (`ramfs:` paths, allowed by
//! its namespace grant), stops it and shows that its paths then fail
//! cleanly. Run it with the `scheme` capability and a `ramfs:` grant
//! (`wasmd run --cap all --grant ramfs: demo.wasm`); without them that
//! part says what is missing and is skipped. At the end the demo becomes
//! a supervisor (`wasmd_guest::supervisor`): a worker that keeps
//! trapping is restarted each time while its sibling keeps running, and
//! both are shut down in reverse start order. Finally a hot reload: the
//! `counter` service (serving `counter:`, run with a `counter:` grant) is
//! replaced by `counter_v2` while it runs; it keeps its pid, its scheme
//! and its count of visits.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;
use core::time::Duration;
use wasmd_guest::abi::errno;
use wasmd_guest::channel::{Channel, ChannelError, ChannelOptions, ReaderKind, Start};
use wasmd_guest::process::{self, Caps, Command, Rights};
use wasmd_guest::{fs, println, time};

wasmd_guest::main!(main);

fn main() -> Result<(), wasmd_guest::Error> {
    println!("demo: I am pid {}; spawning workers", process::id());
    let stdio_time = Caps::STDIO.union(Caps::TIME);
    let worker = |args: &'static [&'static str]| {
        Command::path("worker.wasm").args(args.iter().copied()).caps(stdio_time)
    };
    let jobs: [(&str, Command<'_>); 8] = [
        ("sums numbers", worker(&["count", "2000000"])),
        ("exits with 7", worker(&["exit", "7"])),
        ("hits `unreachable`", worker(&["trap"])),
        ("spins on a fuel budget", worker(&["spin"]).fuel(3_000_000)),
        ("allocates past 32 pages", worker(&["grow"]).max_pages(32)),
        ("panics", worker(&["panic", "boom"])),
        ("sleeps 30 ms", worker(&["sleep", "30"])),
        (
            "spawns a worker of its own, which sleeps 30 ms",
            worker(&["parent", "sleep", "30"]).caps(stdio_time.union(Caps::SPAWN)),
        ),
    ];
    let mut children = Vec::new();
    for (what, cmd) in jobs.iter() {
        let spawned = time::monotonic()?;
        let pid = cmd.spawn()?;
        println!("demo: pid {pid} {what}");
        children.push((pid, *what, spawned));
    }
    let spawned = time::monotonic()?;
    let spinner = worker(&["spin"]).spawn()?;
    println!("demo: pid {spinner} spins forever until killed");
    time::sleep(Duration::from_millis(20))?;
    process::kill(spinner)?;
    children.push((spinner, "was killed", spawned));
    println!("demo: killed pid {spinner}; now reaping each child in turn (times counted from its spawn)");
    for (pid, what, spawned) in children {
        let status = process::wait(pid)?;
        let ms = (time::monotonic()? - spawned).as_millis();
        println!("demo: pid {pid} ({what}) -> {status}   [reaped {ms} ms after its spawn]");
    }
    println!("demo: all children reaped");
    pipeline().map_err(|e| match e {
        ChannelError::Sys(e) => e,
        _ => wasmd_guest::Error::Io,
    })?;
    guest_scheme()?;
    supervision()?;
    hot_reload()?;
    println!("demo: bye");
    Ok(())
}

/// produce (1..=N) -> square -> this process, over two channels.
fn pipeline() -> Result<(), ChannelError> {
    const N: u64 = 1000;
    let numbers = Channel::create(ChannelOptions::default())?;
    let squares = Channel::create(ChannelOptions::default())?;
    let mut input = squares.reader(ReaderKind::Strong, Start::Oldest)?;
    let rw = Rights::READ.union(Rights::WRITE);
    let (a, b) = (alloc::format!("{}", numbers.id()?), alloc::format!("{}", squares.id()?));
    let n = alloc::format!("{N}");
    let square = Command::path("pipeline.wasm")
        .args(["square", &a, &b])
        .grant(numbers.region(), rw)
        .grant(squares.region(), rw)
        .spawn()?;
    let produce =
        Command::path("pipeline.wasm").args(["produce", &a, &n]).grant(numbers.region(), rw).spawn()?;
    println!("demo: pipeline: pid {produce} produces 1..={N} -> pid {square} squares -> demo sums");
    let (mut frames, mut sum, mut writer) = (0u64, 0u64, 0);
    loop {
        match input.read() {
            Ok(frame) => {
                sum += u64::from_le_bytes(frame.payload.try_into().unwrap_or_default());
                frames += 1;
                writer = frame.writer;
            }
            Err(ChannelError::Closed) => break,
            Err(e) => return Err(e),
        }
    }
    println!("demo: pipeline: {frames} frames from writer {writer}, sum of squares = {sum}");
    println!("demo: pipeline: produce -> {}, square -> {}", process::wait(produce)?, process::wait(square)?);
    Ok(())
}

/// A scheme served by a guest, used through the fs hostcalls.
fn guest_scheme() -> Result<(), wasmd_guest::Error> {
    let provider = Command::path("ramfs.wasm").caps(Caps::STDIO.union(Caps::SCHEME_PROVIDE)).spawn();
    let ramfs = match provider {
        Ok(pid) => pid,
        Err(e) => {
            println!("demo: scheme: skipped, cannot start a provider ({e}): run with --cap all");
            return Ok(());
        }
    };
    // The provider registers `ramfs` on its first time slice.
    let mut listed = fs::read_dir("ramfs:/");
    for _ in 0..1000 {
        // Not registered yet: ENOENT on Linux, ENODEV on Redox.
        let missing = |e: &wasmd_guest::Error| matches!(e.errno(), errno::ENOENT | errno::ENODEV);
        if !listed.as_ref().is_err_and(missing) {
            break;
        }
        time::sleep(Duration::from_millis(1))?;
        listed = fs::read_dir("ramfs:/");
    }
    if let Err(e) = listed {
        println!("demo: scheme: skipped, ramfs: is not reachable ({e}): run with --grant ramfs:");
        process::kill(ramfs)?;
        process::wait(ramfs)?;
        return Ok(());
    }
    println!("demo: scheme: pid {ramfs} serves ramfs:, a RAM filesystem written in wasm");
    fs::create_dir("ramfs:/notes")?;
    fs::write("ramfs:/notes/hello.txt", b"hello from the demo")?;
    fs::write("ramfs:/notes/squares.txt", b"333833500")?;
    for (name, _) in fs::read_dir("ramfs:/notes")? {
        let data = fs::read(&alloc::format!("ramfs:/notes/{name}"))?;
        println!(
            "demo: scheme: ramfs:/notes/{name} ({} bytes): {}",
            data.len(),
            core::str::from_utf8(&data).unwrap_or("?")
        );
    }
    process::kill(ramfs)?;
    println!("demo: scheme: provider -> {}", process::wait(ramfs)?);
    match fs::read("ramfs:/notes/hello.txt") {
        Ok(_) => println!("demo: scheme: ramfs: still answers after its provider died"),
        Err(e) => println!("demo: scheme: after the provider is gone, ramfs: paths fail: {e}"),
    }
    Ok(())
}

/// A supervision tree surviving a crashing worker.
fn supervision() -> Result<(), wasmd_guest::Error> {
    use wasmd_guest::supervisor::{ChildSpec, Event, Strategy, Supervisor};
    let caps = Caps::STDIO.union(Caps::TIME);
    let quick = Duration::from_millis(20);
    let mut sup = Supervisor::new(Strategy::OneForOne)
        .intensity(5, Duration::from_secs(5))
        .child(ChildSpec::new("steady", "worker.wasm").args(["sleep", "60000"]).caps(caps).shutdown(quick))
        .child(ChildSpec::new("flaky", "worker.wasm").args(["trap-after", "20"]).caps(caps).shutdown(quick));
    sup.start()?;
    let pid = |sup: &Supervisor, id: &str| {
        sup.which_children().into_iter().find(|(i, _, _)| i == id).and_then(|(_, p, _)| p).unwrap_or(0)
    };
    let steady = pid(&sup, "steady");
    println!(
        "demo: supervision: pid {} supervises `steady` (pid {steady}) and `flaky` (pid {}, traps after 20 ms), one for one, at most 5 restarts in 5 s",
        process::id(),
        pid(&sup, "flaky")
    );
    let mut restarts = 0;
    while restarts < 3 {
        let message = wasmd_guest::mailbox::receive(&[], Some(Duration::from_secs(10)))?;
        match sup.handle(message) {
            Ok(Event::Restarted { id, pid: new, status }) => {
                restarts += 1;
                println!(
                    "demo: supervision: `{id}` ended ({status}); restarted as pid {new}; `steady` is still pid {}",
                    pid(&sup, "steady")
                );
            }
            Ok(_) => {}
            Err(_) => {
                println!("demo: supervision: the supervisor gave up");
                return Ok(());
            }
        }
    }
    sup.shutdown();
    println!("demo: supervision: shut down in reverse order; children now {:?}", sup.which_children());
    Ok(())
}

/// A running service reloaded with a new version, still serving its
/// scheme.
fn hot_reload() -> Result<(), wasmd_guest::Error> {
    let caps = Caps::STDIO.union(Caps::SCHEME_PROVIDE);
    let counter = match Command::path("counter.wasm").caps(caps).spawn() {
        Ok(pid) => pid,
        Err(e) => {
            println!("demo: reload: skipped, cannot start the counter service ({e}): run with --cap all");
            return Ok(());
        }
    };
    let visit = || fs::read("counter:").map(|b| alloc::string::String::from_utf8_lossy(&b).trim().into());
    let mut first: Result<alloc::string::String, _> = visit();
    for _ in 0..1000 {
        if first.is_ok() {
            break;
        }
        time::sleep(Duration::from_millis(1))?;
        first = visit();
    }
    let first = match first {
        Ok(line) => line,
        Err(e) => {
            println!("demo: reload: skipped, counter: is not reachable ({e}): run with --grant counter:");
            process::kill(counter)?;
            process::wait(counter)?;
            return Ok(());
        }
    };
    println!("demo: reload: pid {counter} serves counter:; a visit reads `{first}`");
    println!("demo: reload: a second visit reads `{}`", visit()?);
    wasmd_guest::reload::reload(counter, "counter_v2.wasm")?;
    println!("demo: reload: pid {counter} now runs counter_v2.wasm; a visit reads `{}`", visit()?);
    process::kill(counter)?;
    println!("demo: reload: pid {counter} -> {}", process::wait(counter)?);
    Ok(())
}
