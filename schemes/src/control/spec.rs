//! Spawn specs: what is written to `/scheme/wasm/spawn`.
//!
//! Syntax (one line; words separated by spaces; a word may be double
//! quoted to contain spaces, with `\"` and `\\` inside quotes):
//!
//! ```text
//! [OPTION=VALUE]... MODULE [ARG]...
//! ```
//!
//! `MODULE` is an absolute path to a `.wasm` (or `.wat`) file. Options
//! come before it; everything after it is the guest's arguments (the
//! program name, the module's file stem, is added as the first).
//!
//! | option | value | default |
//! |---|---|---|
//! | `cap` | comma-separated capabilities (`stdio,time,random,spawn,proc,shm,scheme` or `all`) | `stdio,time,random,spawn,shm` |
//! | `fuel` | total fuel budget | unlimited |
//! | `mem` | most 64 KiB memory pages | 4096 |
//! | `handles` | most live handles | 1024 |
//! | `region-bytes` | most bytes of regions held | 256 MiB |
//! | `grant` | a namespace grant, `SCHEME:PREFIX[=ro|rw]` (repeatable) | none |
//! | `name` | display name | the file stem |
//! | `stdin` | `pipe`: its standard input is what is written to `PID/stdin` (until that file is closed); `none`: end of file | `none` |
//! | `preopen` | `NAME=SCHEME:PREFIX`: a WASI program sees the grant `SCHEME:PREFIX` (one of `grant=`) as its preopened directory `NAME`, e.g. `preopen=/=file:/srv/box` (repeatable) | each grant under its own path |
//! | `env` | an environment variable, `env=KEY=VALUE` (repeatable; what WASI programs see as `environ`) | none |
//!
//! Example: `cap=stdio,time fuel=5000000 /usr/share/wasmd/worker.wasm count 1000`

use std::path::PathBuf;

use wasmd_abi::Caps;
use wasmhost::Limits;

/// A parsed spawn spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpawnSpec {
    /// The module file (absolute).
    pub module: PathBuf,
    /// Arguments after the program name.
    pub args: Vec<String>,
    /// Capabilities.
    pub caps: Caps,
    /// Limits.
    pub limits: Limits,
    /// Namespace grants, as written (each checked by the parser).
    pub grants: Vec<String>,
    /// Display name, if given.
    pub name: Option<String>,
    /// Environment variables, `KEY=VALUE` each.
    pub env: Vec<String>,
    /// Its standard input is a pipe fed through `PID/stdin`.
    pub stdin_pipe: bool,
    /// Names of its WASI preopens other than their paths.
    pub preopens: Vec<wasmhost::wasi::PreopenAlias>,
}

/// Why a spec was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// Nothing but blanks.
    #[error("empty spawn spec")]
    Empty,
    /// Unbalanced quotes.
    #[error("unterminated quote")]
    Quote,
    /// Not valid UTF-8.
    #[error("spawn spec is not UTF-8")]
    Utf8,
    /// An option the parser does not know.
    #[error("unknown option `{0}`")]
    UnknownOption(String),
    /// A bad option value.
    #[error("bad value for `{0}`: `{1}`")]
    BadValue(String, String),
    /// The module is not an absolute path.
    #[error("module `{0}` is not an absolute path")]
    RelativeModule(String),
}

/// Splits a line into words, honouring double quotes.
fn words(line: &str) -> Result<Vec<String>, SpecError> {
    let mut out = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let Some(&first) = chars.peek() else { break };
        let mut word = String::new();
        if first == '"' {
            chars.next();
            loop {
                match chars.next() {
                    None => return Err(SpecError::Quote),
                    Some('"') => break,
                    Some('\\') => word.push(chars.next().ok_or(SpecError::Quote)?),
                    Some(c) => word.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                word.push(c);
                chars.next();
            }
        }
        out.push(word);
    }
    Ok(out)
}

fn number<T: std::str::FromStr>(key: &str, value: &str) -> Result<T, SpecError> {
    value.parse().map_err(|_| SpecError::BadValue(key.into(), value.into()))
}

/// Parses a spawn spec.
pub fn parse(bytes: &[u8]) -> Result<SpawnSpec, SpecError> {
    let line = std::str::from_utf8(bytes).map_err(|_| SpecError::Utf8)?;
    let mut words = words(line.trim())?.into_iter();
    let mut spec = SpawnSpec {
        module: PathBuf::new(),
        args: Vec::new(),
        caps: Caps::DEFAULT,
        limits: Limits::default(),
        grants: Vec::new(),
        name: None,
        env: Vec::new(),
        stdin_pipe: false,
        preopens: Vec::new(),
    };
    loop {
        let Some(word) = words.next() else { return Err(SpecError::Empty) };
        let Some((key, value)) = word.split_once('=').filter(|_| !word.starts_with('/')) else {
            if !word.starts_with('/') {
                return Err(SpecError::RelativeModule(word));
            }
            spec.module = PathBuf::from(word);
            break;
        };
        match key {
            "cap" => {
                spec.caps = value.split(',').filter(|c| !c.is_empty()).try_fold(Caps::NONE, |acc, c| {
                    Caps::from_name(c)
                        .map(|cap| acc.union(cap))
                        .ok_or_else(|| SpecError::BadValue(key.into(), c.into()))
                })?;
            }
            "fuel" => spec.limits.fuel = Some(number(key, value)?),
            "mem" => spec.limits.max_pages = number(key, value)?,
            "handles" => spec.limits.max_handles = number(key, value)?,
            "region-bytes" => spec.limits.max_region_bytes = number(key, value)?,
            "grant" => {
                wasmhost::namespace::parse_grant(value)
                    .map_err(|_| SpecError::BadValue(key.into(), value.into()))?;
                spec.grants.push(value.to_string());
            }
            "name" => spec.name = Some(value.to_string()),
            "preopen" => spec.preopens.push(
                wasmhost::wasi::PreopenAlias::parse(value)
                    .map_err(|_| SpecError::BadValue(key.into(), value.into()))?,
            ),
            "stdin" => {
                spec.stdin_pipe = match value {
                    "pipe" => true,
                    "none" => false,
                    _ => return Err(SpecError::BadValue(key.into(), value.into())),
                }
            }
            "env" => {
                spec.env.push(env_pair(value).map_err(|_| SpecError::BadValue(key.into(), value.into()))?)
            }
            other => return Err(SpecError::UnknownOption(other.to_string())),
        }
    }
    spec.args = words.collect();
    // A preopen names one of the spec's grants; it grants nothing.
    let grants: Vec<_> =
        spec.grants.iter().filter_map(|g| wasmhost::namespace::parse_grant(g).ok()).collect();
    if let Some(alias) = spec.preopens.iter().find(|a| !grants.iter().any(|g| a.names(g))) {
        let value = format!("{}={}:{}", alias.name, alias.scheme, alias.prefix);
        return Err(SpecError::BadValue("preopen".into(), value));
    }
    Ok(spec)
}

/// An environment variable `KEY=VALUE` (a non-empty key without `=` or
/// NUL; a value without NUL), as given.
pub fn env_pair(text: &str) -> Result<String, String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() && !key.contains('\0') && !value.contains('\0') => {
            Ok(text.to_string())
        }
        _ => Err(format!("bad environment variable `{text}` (expected KEY=VALUE)")),
    }
}

/// The words of a spec as a client sends them: a relative module path
/// (the first word that is not `key=value`) made absolute against `cwd`,
/// as a person giving `wasmd spawn hello.wasm` means.
pub fn with_absolute_module(words: &[String], cwd: &std::path::Path) -> Vec<String> {
    let mut out = words.to_vec();
    if let Some(module) = out.iter_mut().find(|w| w.starts_with('/') || !w.contains('=')) {
        // A word in the spec's own quotes, or a spec in one word with
        // spaces, is the daemon's to read.
        let plain = !module.is_empty() && !module.starts_with('"') && !module.contains(char::is_whitespace);
        if plain && !module.starts_with('/') {
            *module = crate::loader::normalize(&cwd.join(&*module)).to_string_lossy().into_owned();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_relative_module_is_made_absolute_and_nothing_else_changes() {
        let words = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let cwd = std::path::Path::new("/home/me/w");
        assert_eq!(
            with_absolute_module(&words(&["cap=stdio", "hello.wasm", "x.wasm"]), cwd),
            words(&["cap=stdio", "/home/me/w/hello.wasm", "x.wasm"])
        );
        assert_eq!(
            with_absolute_module(&words(&["../b/m.wasm", "a"]), cwd),
            words(&["/home/me/b/m.wasm", "a"])
        );
        assert_eq!(
            with_absolute_module(&words(&["/abs.wasm", "r.wasm"]), cwd),
            words(&["/abs.wasm", "r.wasm"])
        );
        assert_eq!(with_absolute_module(&words(&["fuel=9"]), cwd), words(&["fuel=9"]));
        for kept in [&[""][..], &["\"open"], &["fuel=1 rel.wasm"]] {
            assert_eq!(with_absolute_module(&words(kept), cwd), words(kept));
        }
    }

    #[test]
    fn full_spec() {
        let s = parse(b"cap=stdio,time fuel=500 mem=8 handles=3 region-bytes=65536 grant=file:/tmp=ro name=x /a/b.wasm one \"two three\" k=v\n").unwrap();
        assert_eq!(s.module, PathBuf::from("/a/b.wasm"));
        assert_eq!(s.args, ["one", "two three", "k=v"]);
        assert_eq!(s.caps, Caps::STDIO.union(Caps::TIME));
        assert_eq!(
            s.limits,
            Limits { max_pages: 8, fuel: Some(500), max_handles: 3, max_region_bytes: 65536 }
        );
        assert_eq!(s.grants, ["file:/tmp=ro"]);
        assert_eq!(s.name.as_deref(), Some("x"));
    }

    #[test]
    fn defaults_and_errors() {
        let s = parse(b"/m.wasm").unwrap();
        assert_eq!((s.caps, s.limits, s.args.len()), (Caps::DEFAULT, Limits::default(), 0));
        assert_eq!(parse(b"  "), Err(SpecError::Empty));
        assert_eq!(parse(b"fuel=1"), Err(SpecError::Empty));
        assert_eq!(parse(b"m.wasm"), Err(SpecError::RelativeModule("m.wasm".into())));
        assert_eq!(parse(b"fuel=lots /m.wasm"), Err(SpecError::BadValue("fuel".into(), "lots".into())));
        assert_eq!(parse(b"cap=root /m.wasm"), Err(SpecError::BadValue("cap".into(), "root".into())));
        assert_eq!(parse(b"colour=blue /m.wasm"), Err(SpecError::UnknownOption("colour".into())));
        assert_eq!(
            parse(b"grant=nocolon /m.wasm"),
            Err(SpecError::BadValue("grant".into(), "nocolon".into()))
        );
        assert_eq!(parse(b"/m.wasm \"open"), Err(SpecError::Quote));
        assert_eq!(parse(b"\xff /m.wasm"), Err(SpecError::Utf8));
        assert_eq!(parse(b"cap= /m.wasm").unwrap().caps, Caps::NONE);
    }

    #[test]
    fn a_preopen_names_one_of_the_grants() {
        let spec = parse(b"grant=file:/srv/box preopen=/=file:/srv/box /m.wasm").unwrap();
        assert_eq!(spec.preopens.len(), 1);
        assert_eq!(spec.preopens[0].name, "/");
        assert_eq!(
            parse(b"grant=file:/srv preopen=/=file:/srv/box /m.wasm"),
            Err(SpecError::BadValue("preopen".into(), "/=file:/srv/box".into()))
        );
        assert!(matches!(parse(b"preopen=nonsense /m.wasm"), Err(SpecError::BadValue(..))));
    }
}
