//! How the serving loop lives with its own calls failing.
//!
//! The loop reads requests, waits on its event queue and arms its timer;
//! any of these may fail for a moment (an interrupted call, the kernel
//! short of memory). One failure is logged and the loop goes on; only a
//! long run of failures with no success between them — the daemon can no
//! longer serve anyone — ends it. A failed answer to one request is that
//! request's loss and never counts here. OS-neutral (tested on Linux).

use std::time::Duration;

/// Failures in a row after which the loop gives up.
pub const FAULTS_IN_A_ROW: u32 = 1000;

/// Pause after a failure, so a call failing at once each time does not
/// spin a core.
pub const PAUSE: Duration = Duration::from_millis(1);

/// Consecutive failures of the serving loop's own calls.
#[derive(Debug)]
pub struct Faults {
    row: u32,
    pause: Duration,
}

impl Default for Faults {
    fn default() -> Self {
        Self { row: 0, pause: PAUSE }
    }
}

impl Faults {
    /// A call of the loop succeeded: the run of failures is over.
    pub fn ok(&mut self) {
        self.row = 0;
    }

    /// `what` failed with `e`: logged (the first of a run, then at powers
    /// of two); `Err(e)` once [`FAULTS_IN_A_ROW`] failed in a row, else
    /// the loop pauses and goes on.
    pub fn failed(&mut self, what: &str, e: std::io::Error) -> std::io::Result<()> {
        self.row += 1;
        if self.row >= FAULTS_IN_A_ROW {
            log::error!("{what} failed {} times in a row, giving up: {e}", self.row);
            return Err(e);
        }
        if self.row.is_power_of_two() {
            log::warn!("{what} failed ({} in a row): {e}", self.row);
        }
        std::thread::sleep(self.pause);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_of_failures_ends_the_loop_and_a_success_resets_it() {
        let e = || std::io::Error::from_raw_os_error(12);
        let mut faults = Faults { row: 0, pause: Duration::ZERO };
        for _ in 0..FAULTS_IN_A_ROW - 2 {
            assert!(faults.failed("event wait", e()).is_ok());
        }
        faults.ok();
        for _ in 0..FAULTS_IN_A_ROW - 1 {
            assert!(faults.failed("event wait", e()).is_ok());
        }
        let end = faults.failed("event wait", e()).expect_err("gives up");
        assert_eq!(end.raw_os_error(), Some(12));
    }
}
