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
pub fn init(default: LevelFilter) {
    let level =
        std::env::var("WASMD_LOG").ok().and_then(|v| v.trim().parse::<LevelFilter>().ok()).unwrap_or(default);
    if log::set_logger(&StderrLogger).is_ok() {
        log::set_max_level(level);
    }
}
