//! The log: `log` records to stderr as `wasmd[LEVEL]: MESSAGE`, at the
//! level `WASMD_LOG` names (`error`, `warn`, `info`, `debug`, `trace` or
//! `off`), else the caller's default (`wasmd daemon`: `info`; the other
//! commands: `warn`).

use log::{LevelFilter, Log, Metadata, Record};

struct StderrLogger;

impl Log for StderrLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record<'_>) {
        if self.enabled(record.metadata()) {
            eprintln!("wasmd[{}]: {}", record.level().as_str().to_lowercase(), record.args());
        }
    }

    fn flush(&self) {}
}

/// Installs the logger (once; later calls do nothing) at the level
/// `WASMD_LOG` names, else at `default`.
/// A value it does not know is said on stderr, and `default` used.
pub fn init(default: LevelFilter) {
    let asked = std::env::var("WASMD_LOG").ok();
    let (level, unknown) = level_of(asked.as_deref(), default);
    if log::set_logger(&StderrLogger).is_ok() {
        log::set_max_level(level);
    }
    if let Some(value) = unknown {
        eprintln!(
            "wasmd: WASMD_LOG=`{value}` is not a level (error, warn, info, debug, trace, off): logging at {}",
            default.as_str().to_lowercase()
        );
    }
}

/// The level `WASMD_LOG` asks for (`default` when unset), and the value
/// when it is not one.
fn level_of(asked: Option<&str>, default: LevelFilter) -> (LevelFilter, Option<&str>) {
    match asked.map(str::trim).filter(|v| !v.is_empty()) {
        None => (default, None),
        Some(v) => match v.parse::<LevelFilter>() {
            Ok(level) => (level, None),
            Err(_) => (default, Some(v)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_by_name_and_unknown_values_named() {
        assert_eq!(level_of(None, LevelFilter::Info), (LevelFilter::Info, None));
        assert_eq!(level_of(Some("debug"), LevelFilter::Info), (LevelFilter::Debug, None));
        assert_eq!(level_of(Some(" OFF "), LevelFilter::Info), (LevelFilter::Off, None));
        assert_eq!(level_of(Some("bogus"), LevelFilter::Warn), (LevelFilter::Warn, Some("bogus")));
        assert_eq!(level_of(Some(""), LevelFilter::Warn), (LevelFilter::Warn, None));
    }
}
