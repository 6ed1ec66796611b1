//! The `wasmd` command line: parse, run, exit (see [`wasmd::cli`]).

use std::process::ExitCode;

fn main() -> ExitCode {
    wasmd::cli::dispatch(wasmd::cli::Cli::parse_checked())
}
