//! `wasi_fs DIR [--read-only]`: the filesystem through a preopened
//! directory, as std's `std::fs` drives it (`path_open`, `fd_readdir`,
//! `path_rename`, ...). DIR is a preopen's path, such as `/` or `/data`.
//!
//! Without `--read-only`, in DIR: creates `work/` and `work/sub/`, writes
//! `work/a.txt`, reads it back, appends to it, checks its metadata, lists
//! `work/` (sorted), renames, copies and removes the files and removes the
//! directories, then leaves `kept.txt` (`written by wasi_fs`) for the
//! host to find. It prints `ok STEP` per step. Then it tries to leave the
//! preopen, each of which must fail (printing `escape refused: PATH:
//! ERROR`): `../` climbs to `/etc/passwd` and to `outside.txt` beside the
//! preopen's directory, the symlinks `escape_link` and `abs_link` (which a
//! test may plant pointing out of the preopen), and creating
//! `../outside_new.txt`.
//!
//! With `--read-only`, DIR is a read-only grant holding `readme.txt` and
//! `keep_dir/`: reading `readme.txt` must work (`ok read`) and every write
//! must fail (`refused STEP: ERROR`): creating a directory or a file,
//! writing to `readme.txt` (opened for writing or appending: the open or
//! the write may fail), renaming it, removing it and removing `keep_dir`.
//!
//! An error is printed as `Kind (errno N)`, N the WASI errno. Any step that
//! goes wrong prints `FAIL ...`; the exit code is 0 only if none did.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};

/// Counts failed steps; the exit code says whether there were any.
struct Steps {
    failed: u32,
}

impl Steps {
    /// Records the outcome of `step`: `ok STEP` or `FAIL STEP: why`.
    fn check(&mut self, step: &str, outcome: Result<(), String>) {
        match outcome {
            Ok(()) => println!("ok {step}"),
            Err(why) => {
                println!("FAIL {step}: {why}");
                self.failed += 1;
            }
        }
    }

    /// Records a write that must be refused: `refused STEP: ERROR`.
    fn refused<T>(&mut self, step: &str, result: io::Result<T>) {
        match result {
            Err(e) => println!("refused {step}: {}", describe(&e)),
            Ok(_) => {
                println!("FAIL {step} was allowed");
                self.failed += 1;
            }
        }
    }
}

/// `Kind (errno N)` for an error.
fn describe(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(errno) => format!("{:?} (errno {errno})", e.kind()),
        None => format!("{:?} ({e})", e.kind()),
    }
}

/// `rel` inside the preopen `dir`.
fn at(dir: &str, rel: &str) -> String {
    if dir.ends_with('/') {
        format!("{dir}{rel}")
    } else {
        format!("{dir}/{rel}")
    }
}

/// Fails with a message when `actual` differs from `expected`.
fn expect_eq<T: PartialEq + std::fmt::Debug>(what: &str, actual: T, expected: T) -> Result<(), String> {
    if actual == expected {
        Ok(())
    } else {
        Err(format!("{what}: {actual:?}, expected {expected:?}"))
    }
}

/// The contents of `path` as text.
fn read(path: &str) -> Result<String, String> {
    fs::read_to_string(path).map_err(|e| format!("reading {path}: {}", describe(&e)))
}

/// Adds the `io::Error` and what was being done to a failure.
fn doing<T>(what: &str, result: io::Result<T>) -> Result<T, String> {
    result.map_err(|e| format!("{what}: {}", describe(&e)))
}

fn read_write(dir: &str, steps: &mut Steps) {
    let work = at(dir, "work");
    let a = at(&work, "a.txt");
    let b = at(&work, "b.txt");
    let c = at(&work, "c.txt");
    let sub = at(&work, "sub");
    steps.check("create_dir", doing("create_dir", fs::create_dir(&work).and_then(|()| fs::create_dir(&sub))));
    steps.check("write", doing("write", fs::write(&a, "hello")));
    steps.check("read", read(&a).and_then(|text| expect_eq("contents", text.as_str(), "hello")));
    let append = || -> io::Result<()> {
        let mut file = OpenOptions::new().append(true).open(&a)?;
        file.write_all(b" world")
    };
    steps.check(
        "append",
        doing("append", append())
            .and_then(|()| read(&a))
            .and_then(|t| expect_eq("contents", t.as_str(), "hello world")),
    );
    let metadata = || -> Result<(), String> {
        let meta = doing("metadata", fs::metadata(&a))?;
        expect_eq("len", meta.len(), 11)?;
        expect_eq("is_file", meta.is_file(), true)?;
        expect_eq("work is_dir", doing("metadata", fs::metadata(&work))?.is_dir(), true)
    };
    steps.check("metadata", metadata());
    let listing = || -> Result<(), String> {
        let mut names = Vec::new();
        for entry in doing("read_dir", fs::read_dir(&work))? {
            names.push(doing("read_dir entry", entry)?.file_name().to_string_lossy().into_owned());
        }
        names.sort();
        expect_eq("names", names, vec!["a.txt".to_string(), "sub".to_string()])
    };
    steps.check("read_dir", listing());
    let rename = || -> Result<(), String> {
        doing("rename", fs::rename(&a, &b))?;
        expect_eq("old name exists", fs::metadata(&a).is_ok(), false)?;
        read(&b).and_then(|t| expect_eq("contents", t.as_str(), "hello world"))
    };
    steps.check("rename", rename());
    let copy = || -> Result<(), String> {
        expect_eq("copied bytes", doing("copy", fs::copy(&b, &c))?, 11)?;
        read(&c).and_then(|t| expect_eq("contents", t.as_str(), "hello world"))
    };
    steps.check("copy", copy());
    let remove_file = || -> Result<(), String> {
        doing("remove_file", fs::remove_file(&b).and_then(|()| fs::remove_file(&c)))?;
        expect_eq("removed file exists", fs::metadata(&b).is_ok() || fs::metadata(&c).is_ok(), false)
    };
    steps.check("remove_file", remove_file());
    let remove_dir = || -> Result<(), String> {
        doing("remove_dir", fs::remove_dir(&sub).and_then(|()| fs::remove_dir(&work)))?;
        expect_eq("removed directory exists", fs::metadata(&work).is_ok(), false)
    };
    steps.check("remove_dir", remove_dir());
    steps.check("keep", doing("keep", fs::write(at(dir, "kept.txt"), "written by wasi_fs\n")));

    for escape in [
        "../../../../../../../../etc/passwd",
        "../outside.txt",
        "escape_link/outside.txt",
        "abs_link/outside.txt",
    ] {
        let path = at(dir, escape);
        match File::open(&path).and_then(|mut f| f.read_to_end(&mut Vec::new())) {
            Err(e) => println!("escape refused: {path}: {}", describe(&e)),
            Ok(n) => {
                println!("FAIL escape allowed: {path} ({n} bytes read)");
                steps.failed += 1;
            }
        }
    }
    let path = at(dir, "../outside_new.txt");
    match File::create(&path) {
        Err(e) => println!("escape refused: {path}: {}", describe(&e)),
        Ok(_) => {
            println!("FAIL escape allowed: created {path}");
            steps.failed += 1;
        }
    }
}

fn read_only(dir: &str, steps: &mut Steps) {
    let readme = at(dir, "readme.txt");
    steps.check("read", read(&readme).map(|_| ()));
    steps.refused("create_dir", fs::create_dir(at(dir, "new_dir")));
    steps.refused("create_file", File::create(at(dir, "new.txt")));
    let write_to =
        |options: &mut OpenOptions| options.open(&readme).and_then(|mut file| file.write_all(b"x"));
    steps.refused("open_write", write_to(OpenOptions::new().write(true)));
    steps.refused("open_append", write_to(OpenOptions::new().append(true)));
    steps.refused("rename", fs::rename(&readme, at(dir, "moved.txt")));
    steps.refused("remove_file", fs::remove_file(&readme));
    steps.refused("remove_dir", fs::remove_dir(at(dir, "keep_dir")));
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (dir, read_only_mode) = match args.as_slice() {
        [_, dir] => (dir.as_str(), false),
        [_, dir, flag] if flag == "--read-only" => (dir.as_str(), true),
        _ => {
            eprintln!("usage: wasi_fs DIR [--read-only]");
            std::process::exit(2);
        }
    };
    let mut steps = Steps { failed: 0 };
    if read_only_mode {
        read_only(dir, &mut steps);
    } else {
        read_write(dir, &mut steps);
    }
    std::process::exit(if steps.failed == 0 { 0 } else { 1 });
}
