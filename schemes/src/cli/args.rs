//! Value parsers for the command line, and the checks that need more
//! than one argument. Each refuses an impossible value while the command
//! line is parsed, with the reason, so clap reports it as a usage error
//! (exit code 2) before anything starts.

use std::path::{Path, PathBuf};

use wasmd_abi::Caps;
use wasmhost::namespace::Grant;

/// The most 64 KiB pages a wasm32 memory can have (4 GiB).
pub const WASM32_MAX_PAGES: u32 = 65536;

/// The capability names, for messages and help: `stdio, time, …, all`.
pub fn capability_names() -> String {
    let names: Vec<&str> = Caps::NAMED.iter().map(|(n, _)| *n).collect();
    format!("{}, all", names.join(", "))
}

/// A comma-separated list of capabilities, as `cap=` in spawn specs takes
/// it (`stdio,time`, `all`; empty entries are skipped, an empty list is
/// no capability).
pub fn parse_caps(list: &str) -> Result<Caps, String> {
    list.split(',').filter(|name| !name.is_empty()).try_fold(Caps::NONE, |acc, name| {
        Caps::from_name(name)
            .map(|cap| acc.union(cap))
            .ok_or_else(|| format!("unknown capability `{name}` (known: {})", capability_names()))
    })
}

/// A path of a scheme as the client commands take it: `/scheme/NAME/…`
/// as given, or a Redox URL `NAME:REST` (`wasm:/run/x.wasm`, `wasm:ps`)
/// as the same path (`/scheme/wasm/run/x.wasm`, `/scheme/wasm/ps`).
pub fn parse_scheme_path(text: &str) -> Result<String, String> {
    if text.starts_with("/scheme/") || text == "/scheme" {
        return Ok(text.to_string());
    }
    match text.split_once(':') {
        Some((name, rest)) if !name.is_empty() && !name.contains('/') => {
            let rest = rest.trim_start_matches('/');
            Ok(if rest.is_empty() { format!("/scheme/{name}") } else { format!("/scheme/{name}/{rest}") })
        }
        _ => Err(format!(
            "`{text}` is not a path under /scheme nor a `scheme:` URL (e.g. /scheme/wasm/ps, wasm:/ps)"
        )),
    }
}

/// A namespace grant, `SCHEME:PREFIX[=ro|rw]`.
pub fn parse_grant(text: &str) -> Result<Grant, String> {
    wasmhost::namespace::parse_grant(text)
        .map_err(|_| format!("bad grant `{text}` (expected SCHEME:PREFIX[=ro|rw])"))
}

/// Fuel per time slice: at least 1 (a slice of no fuel would never run
/// a guest).
pub fn parse_slice_fuel(text: &str) -> Result<u64, String> {
    match text.parse::<u64>() {
        Ok(0) => Err("a time slice needs at least 1 unit of fuel".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(format!("`{text}` is not a number of fuel units: {e}")),
    }
}

/// Pages of linear memory: at most [`WASM32_MAX_PAGES`].
pub fn parse_mem_pages(text: &str) -> Result<u32, String> {
    let pages: u64 = text.parse().map_err(|e| format!("`{text}` is not a number of pages: {e}"))?;
    check_mem_pages(pages)
}

/// `pages` if a wasm32 memory can have that many.
pub fn check_mem_pages(pages: u64) -> Result<u32, String> {
    u32::try_from(pages).ok().filter(|p| *p <= WASM32_MAX_PAGES).ok_or_else(|| {
        format!("{pages} pages is more than a wasm32 memory can have ({WASM32_MAX_PAGES} pages of 64 KiB = 4 GiB)")
    })
}

/// A directory that exists (`--fs-root`).
pub fn parse_existing_dir(text: &str) -> Result<PathBuf, String> {
    let path = PathBuf::from(text);
    check_existing_dir(&path)?;
    Ok(path)
}

/// `Ok` if `path` is a directory; otherwise why not, naming it.
pub fn check_existing_dir(path: &Path) -> Result<(), String> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => Err(format!("`{}` is not a directory", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(format!("directory `{}` does not exist", path.display()))
        }
        Err(e) => Err(format!("cannot use directory `{}`: {e}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_take_comma_lists_like_spawn_specs() {
        assert_eq!(parse_caps("stdio,time"), Ok(Caps::STDIO.union(Caps::TIME)));
        assert_eq!(parse_caps("all"), Ok(Caps::ALL));
        assert_eq!(parse_caps("stdio,,time,"), Ok(Caps::STDIO.union(Caps::TIME)));
        assert_eq!(parse_caps(""), Ok(Caps::NONE));
        let err = parse_caps("stdio,root").unwrap_err();
        assert!(err.contains("unknown capability `root`") && err.contains("stdio, time"), "{err}");
    }

    #[test]
    fn impossible_numbers_are_refused_with_the_reason() {
        assert_eq!(parse_slice_fuel("1"), Ok(1));
        assert!(parse_slice_fuel("0").unwrap_err().contains("at least 1"));
        assert!(parse_slice_fuel("lots").unwrap_err().contains("not a number"));
        assert_eq!(parse_mem_pages("65536"), Ok(65536));
        assert_eq!(parse_mem_pages("0"), Ok(0));
        assert!(parse_mem_pages("65537").unwrap_err().contains("65536 pages"));
        assert!(parse_mem_pages("99999999999").unwrap_err().contains("wasm32"));
    }

    #[test]
    fn a_missing_directory_is_named() {
        let err = parse_existing_dir("/nonexistent/wasmd-root").unwrap_err();
        assert_eq!(err, "directory `/nonexistent/wasmd-root` does not exist");
        assert!(parse_existing_dir("/").is_ok());
        let file = std::env::current_exe().unwrap();
        assert!(parse_existing_dir(file.to_str().unwrap()).unwrap_err().contains("is not a directory"));
    }

    #[test]
    fn scheme_urls_are_paths_under_scheme() {
        assert_eq!(parse_scheme_path("/scheme/wasm/ps").as_deref(), Ok("/scheme/wasm/ps"));
        assert_eq!(parse_scheme_path("wasm:/run/a/b.wasm").as_deref(), Ok("/scheme/wasm/run/a/b.wasm"));
        assert_eq!(parse_scheme_path("wasm:ps").as_deref(), Ok("/scheme/wasm/ps"));
        assert_eq!(parse_scheme_path("wasm:").as_deref(), Ok("/scheme/wasm"));
        assert_eq!(parse_scheme_path("ramfs:/a").as_deref(), Ok("/scheme/ramfs/a"));
        for bad in ["ps", "/tmp/x", ":/x", "a/b:c"] {
            assert!(parse_scheme_path(bad).unwrap_err().contains("not a path under /scheme"), "{bad}");
        }
    }
}
