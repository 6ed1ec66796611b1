//! Shell completions and man pages, generated from the clap definition
//! ([`super::Cli`]) so they never drift from the parser: `wasmd
//! completions SHELL` and `wasmd man` print them; [`install_docs`] writes
//! them where a package installs them (`cargo xtask gen-docs DIR`, which
//! the cookbook recipe runs on the build host, since the Redox binary
//! cannot run there).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::CommandFactory;
use clap_complete::Shell;

use super::Cli;

/// The command's name in completions and man pages.
const BIN: &str = "wasmd";

/// Writes the completion script for `shell`.
pub fn completions(shell: Shell, out: &mut dyn Write) {
    clap_complete::generate(shell, &mut Cli::command(), BIN, out);
}

/// Writes the man page of `wasmd` (roff).
pub fn man_page(out: &mut dyn Write) -> std::io::Result<()> {
    let mut page = Vec::new();
    clap_mangen::Man::new(Cli::command()).render(&mut page)?;
    out.write_all(&laid_out_extra(&page))
}

/// A page with its `EXTRA` section (the `--help` text after the options:
/// tables and lists laid out by hand) kept as written instead of filled
/// into paragraphs, which broke its lines mid-sentence.
fn laid_out_extra(page: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(page);
    let Some(start) = text.find(".SH EXTRA\n") else { return page.to_vec() };
    let body = start + ".SH EXTRA\n".len();
    let end = text[body..].find("\n.SH ").map_or(text.len(), |i| body + i + 1);
    format!("{}.nf\n{}.fi\n{}", &text[..body], &text[body..end], &text[end..]).into_bytes()
}

/// `wasmd completions SHELL`.
pub fn print_completions(shell: Shell) -> ExitCode {
    let mut out = std::io::stdout().lock();
    completions(shell, &mut out);
    match out.flush() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wasmd: cannot write the completions: {e}");
            ExitCode::from(1)
        }
    }
}

/// `wasmd man`.
pub fn print_man_page() -> ExitCode {
    let mut out = std::io::stdout().lock();
    match man_page(&mut out).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wasmd: cannot write the man page: {e}");
            ExitCode::from(1)
        }
    }
}

/// `wasmd man --out DIR`: `wasmd.1` and `wasmd-SUBCOMMAND.1` for each
/// subcommand, in `dir` (made if missing).
pub fn write_man_pages(dir: &Path) -> ExitCode {
    let written = std::fs::create_dir_all(dir).and_then(|()| generate_man_pages(dir));
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wasmd: cannot write the man pages into {}: {e}", dir.display());
            ExitCode::from(1)
        }
    }
}

/// Writes `wasmd.1` and one page per subcommand into `dir`.
fn generate_man_pages(dir: &Path) -> std::io::Result<()> {
    clap_mangen::generate_to(Cli::command(), dir)?;
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "1") {
            let page = std::fs::read(&path)?;
            std::fs::write(&path, laid_out_extra(&page))?;
        }
    }
    Ok(())
}

/// Where a package installs each shell's completions, below its root.
pub const COMPLETION_PATHS: [(Shell, &str); 3] = [
    (Shell::Bash, "usr/share/bash-completion/completions/wasmd"),
    (Shell::Zsh, "usr/share/zsh/site-functions/_wasmd"),
    (Shell::Fish, "usr/share/fish/vendor_completions.d/wasmd.fish"),
];

/// Where a package installs the man pages, below its root.
pub const MAN_DIR: &str = "usr/share/man/man1";

/// Writes the man pages and the bash, zsh and fish completions below
/// `root` as a package installs them ([`MAN_DIR`],
/// [`COMPLETION_PATHS`]); returns the files written.
pub fn install_docs(root: &Path) -> std::io::Result<Vec<PathBuf>> {
    let man_dir = root.join(MAN_DIR);
    std::fs::create_dir_all(&man_dir)?;
    generate_man_pages(&man_dir)?;
    let mut written: Vec<PathBuf> = std::fs::read_dir(&man_dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "1"))
        .collect();
    written.sort();
    for (shell, path) in COMPLETION_PATHS {
        let path = root.join(path);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut file = std::fs::File::create(&path)?;
        completions(shell, &mut file);
        file.flush()?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn install_docs_writes_the_pages_and_completions_where_a_package_has_them() {
        let root = std::env::temp_dir().join(format!("wasmd-docs-{}", std::process::id()));
        let written = install_docs(&root).unwrap();
        let relative: Vec<String> =
            written.iter().map(|p| p.strip_prefix(&root).unwrap().display().to_string()).collect();
        for expected in [
            "usr/share/man/man1/wasmd.1",
            "usr/share/man/man1/wasmd-daemon.1",
            "usr/share/man/man1/wasmd-wait.1",
            "usr/share/bash-completion/completions/wasmd",
            "usr/share/zsh/site-functions/_wasmd",
            "usr/share/fish/vendor_completions.d/wasmd.fish",
        ] {
            assert!(relative.iter().any(|r| r == expected), "{expected} not in {relative:?}");
        }
        let page = std::fs::read_to_string(root.join("usr/share/man/man1/wasmd.1")).unwrap();
        assert!(page.contains(".TH wasmd 1"), "{page}");
        let bash = std::fs::read_to_string(root.join(COMPLETION_PATHS[0].1)).unwrap();
        assert!(bash.contains("complete -F _wasmd"), "{bash}");
        assert!(page.contains(".SH EXTRA\n.nf\n"), "the installed page keeps the layout too");
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn the_extra_section_is_not_filled() {
        let page = b".SH OPTIONS\nx\n.SH EXTRA\nA:\n  b  c\n.SH VERSION\nv\n";
        assert_eq!(
            String::from_utf8(super::laid_out_extra(page)).unwrap(),
            ".SH OPTIONS\nx\n.SH EXTRA\n.nf\nA:\n  b  c\n.fi\n.SH VERSION\nv\n"
        );
        assert_eq!(super::laid_out_extra(b".SH NAME\nx\n"), b".SH NAME\nx\n");
    }
}
