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
//! | `fuel` | total fuel budget (at least 1) | unlimited |
//! | `mem` (or `mem-pages`) | most 64 KiB memory pages (at most 65536) | 4096 |
//! | `handles` (or `max-handles`) | most live handles (at most 65535) | 1024 |
//! | `region-bytes` (or `max-region-bytes`) | most bytes of regions held (at most 4 GiB) | 256 MiB |
//! | `grant` | a namespace grant, `SCHEME:PREFIX[=ro|rw]` (repeatable) | none |
//! | `name` | display name | the file stem |
//! | `stdin` | `pipe`: its standard input is what is written to `PID/stdin` (until that file is closed); `none`: end of file | `none` |
//! | `preopen` | `NAME=SCHEME:PREFIX`: a WASI program sees the grant `SCHEME:PREFIX` (one of `grant=`) as its preopened directory `NAME`, e.g. `preopen=/=file:/srv/box` (repeatable) | each grant under its own path |
//! | `node` | the node of the cluster to run on (see `crate::cluster`): the spec goes to that node, which spawns as for its remote identity, and the pid reads back as `NODE/PID` | this node |
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
    /// The node of the cluster to run on (`None`: this one).
    pub node: Option<String>,
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
    /// A value that can never work.
    #[error("bad value for `{0}`: `{1}` ({2})")]
    Impossible(String, String, &'static str),
    /// An option that takes one value given twice.
    #[error("`{0}` given twice (it takes one value; `cap`, `grant`, `env` and `preopen` add up)")]
    Repeated(String),
}

/// Most pages a wasm32 memory can have.
const MAX_PAGES: u32 = 65536;
/// Most region bytes a process may ever be given (the daemon's default
/// for all regions together).
const MAX_REGION_BYTES: u64 = 4 << 30;

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

/// The words of a spec line (as the daemon splits it).
pub fn split(line: &str) -> Result<Vec<String>, SpecError> {
    words(line.trim())
}

/// A spec line from its words, each quoted when it must be.
pub fn join(words: &[String]) -> String {
    let quoted: Vec<String> = words
        .iter()
        .map(|w| {
            if w.is_empty() || w.contains(|c: char| c.is_whitespace() || c == '"' || c == '\\') {
                format!("\"{}\"", w.replace('\\', "\\\\").replace('"', "\\\""))
            } else {
                w.clone()
            }
        })
        .collect();
    quoted.join(" ")
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
        node: None,
    };
    let mut caps: Option<Caps> = None;
    let mut seen: Vec<&'static str> = Vec::new();
    let mut once = |key: &'static str| {
        if seen.contains(&key) {
            return Err(SpecError::Repeated(key.into()));
        }
        seen.push(key);
        Ok(())
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
        // The names `wasmd run` gives its flags work too.
        let key = match key {
            "mem-pages" => "mem",
            "max-handles" => "handles",
            "max-region-bytes" => "region-bytes",
            key => key,
        };
        match key {
            "cap" => {
                // Repeated lists add up, as `--cap` does.
                let listed = value.split(',').filter(|c| !c.is_empty()).try_fold(Caps::NONE, |acc, c| {
                    Caps::from_name(c)
                        .map(|cap| acc.union(cap))
                        .ok_or_else(|| SpecError::BadValue(key.into(), c.into()))
                })?;
                caps = Some(caps.unwrap_or(Caps::NONE).union(listed));
            }
            "fuel" => {
                once("fuel")?;
                let fuel: u64 = number(key, value)?;
                if fuel == 0 {
                    return Err(SpecError::Impossible(key.into(), value.into(), "a process needs some fuel"));
                }
                spec.limits.fuel = Some(fuel);
            }
            "mem" => {
                once("mem")?;
                spec.limits.max_pages = number(key, value)?;
                if spec.limits.max_pages > MAX_PAGES {
                    return Err(SpecError::Impossible(
                        key.into(),
                        value.into(),
                        "at most 65536 pages, the wasm32 maximum",
                    ));
                }
            }
            "handles" => {
                once("handles")?;
                spec.limits.max_handles = number(key, value)?;
                if spec.limits.max_handles > wasmhost::MAX_HANDLES {
                    return Err(SpecError::Impossible(key.into(), value.into(), "at most 65535 handles"));
                }
            }
            "region-bytes" => {
                once("region-bytes")?;
                spec.limits.max_region_bytes = number(key, value)?;
                if spec.limits.max_region_bytes > MAX_REGION_BYTES {
                    return Err(SpecError::Impossible(key.into(), value.into(), "at most 4 GiB"));
                }
            }
            "grant" => {
                wasmhost::namespace::parse_grant(value)
                    .map_err(|_| SpecError::BadValue(key.into(), value.into()))?;
                spec.grants.push(value.to_string());
            }
            "node" => {
                once("node")?;
                crate::cluster::wire::check_node_name(value)
                    .map_err(|_| SpecError::BadValue(key.into(), value.into()))?;
                spec.node = Some(value.to_string());
            }
            "name" => {
                once("name")?;
                spec.name = Some(value.to_string());
            }
            "preopen" => spec.preopens.push(
                wasmhost::wasi::PreopenAlias::parse(value)
                    .map_err(|_| SpecError::BadValue(key.into(), value.into()))?,
            ),
            "stdin" => {
                once("stdin")?;
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
    spec.caps = caps.unwrap_or(Caps::DEFAULT);
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
    fn split_and_join_round_trip() {
        let words = split(r#"cap=stdio "a b" c\d "" "q\"x""#).unwrap();
        assert_eq!(words, ["cap=stdio", "a b", "c\\d", "", "q\"x"]);
        assert_eq!(split(&join(&words)).unwrap(), words);
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
    fn impossible_values_and_repeats_are_refused_and_caps_add_up() {
        let refused = |spec: &[u8]| parse(spec).unwrap_err().to_string();
        assert_eq!(
            refused(b"mem=99999999 /m.wasm"),
            "bad value for `mem`: `99999999` (at most 65536 pages, the wasm32 maximum)"
        );
        assert!(parse(b"mem=65536 /m.wasm").is_ok());
        assert!(refused(b"mem=65537 /m.wasm").contains("wasm32 maximum"));
        assert!(refused(b"fuel=0 /m.wasm").contains("needs some fuel"));
        assert!(refused(b"handles=70000 /m.wasm").contains("65535"));
        assert!(refused(b"region-bytes=99999999999999 /m.wasm").contains("4 GiB"));
        for repeated in
            ["fuel=5 fuel=6", "mem=1 mem=2", "name=a name=b", "stdin=pipe stdin=none", "handles=1 handles=1"]
        {
            let spec = format!("{repeated} /m.wasm");
            assert!(matches!(parse(spec.as_bytes()), Err(SpecError::Repeated(_))), "{repeated}");
        }
        assert_eq!(parse(b"cap=stdio cap=time /m.wasm").unwrap().caps, Caps::STDIO.union(Caps::TIME));
        let run_names = parse(b"mem-pages=3 max-handles=4 max-region-bytes=65536 /m.wasm").unwrap();
        assert_eq!((run_names.limits.max_pages, run_names.limits.max_handles), (3, 4));
        assert!(matches!(parse(b"mem=1 mem-pages=2 /m.wasm"), Err(SpecError::Repeated(_))));
        assert_eq!(parse(b"cap=stdio,time,stdio /m.wasm").unwrap().caps, Caps::STDIO.union(Caps::TIME));
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
