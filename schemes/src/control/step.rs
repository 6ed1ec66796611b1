//! Running guests and what becomes ready after they ran: finished module
//! loads become processes (or errors) told to their `spawn` or `run/`
//! file, guest-scheme replies and files that became ready complete the
//! pending requests (`pending.rs`), and watched files report readiness
//! changes (`fevent`).

use wasmd_abi::Errno;

use std::time::{Duration, Instant};

use super::file::Failure;
use super::{loads, Completion, Daemon};

impl Daemon {
    /// Runs guests for up to `turns` time slices, starts what finished
    /// loading, and completes pending requests that became ready.
    pub fn step(&mut self, turns: usize) {
        self.kernel.looked();
        if self.kernel.workers() == 0 {
            self.kernel.lock().run(turns);
        }
        self.settle();
    }

    /// As [`Daemon::step`], running guests only for time slices that start
    /// before `deadline`: what a frontend calls between two looks at its
    /// requests, so they wait at most about one slice past the deadline
    /// whatever the guests do.
    pub fn step_until(&mut self, deadline: Instant) {
        self.step_while(|| Instant::now() < deadline);
    }

    /// As [`Daemon::step`], running guests for as long as `go_on` (asked
    /// after each time slice) says so; a frontend that can tell cheaply
    /// whether a request waits stops at once when one does.
    pub fn step_while(&mut self, go_on: impl FnMut() -> bool) {
        self.kernel.looked();
        if self.kernel.workers() == 0 {
            self.kernel.lock().run_while(go_on);
        }
        self.settle();
    }

    /// After guests ran: starts what finished loading and completes
    /// pending requests that became ready.
    fn settle(&mut self) {
        if self.kernel.workers() > 0 {
            // Timers due by now, whichever clock noticed first (see
            // `idle_timeout`), and worker completions.
            self.kernel.lock().poll_events();
        }
        for (load, result) in self.loads.take_done() {
            let file = load.file;
            if let Some(of) = load.reload {
                let started = self.start_reload(of, &load.module, result);
                if let Some(open) = self.files.get_mut(&file) {
                    open.file.reload_started(started);
                }
                continue;
            }
            if load.spec.is_none() && !self.files.contains_key(&file) {
                // A `run/` file closed meanwhile (its client went away):
                // the process would be killed at once, so none is started.
                // (A `spawn` file's process starts anyway: `echo SPEC >
                // spawn` closes the file right after the write.)
                continue;
            }
            let spawned = result.map_err(|e| {
                let reason = naming(&load.module, &e);
                log::info!("spawn failed: {reason}");
                Failure::new(e.errno(), reason)
            });
            let spawned =
                spawned.and_then(|(module, path)| loads::spawn_loaded(&self.kernel, module, path, load));
            if let Some(open) = self.files.get_mut(&file) {
                open.file.loaded(spawned);
            }
        }
        self.route_scheme_replies();
        self.serve_cluster();
        self.retry_pending();
        self.answer_remote_completions();
        self.answer_guest_bridges();
        self.watch_readiness();
    }

    /// Asks for the reload a finished load was for.
    fn start_reload(
        &mut self,
        of: super::loads::ReloadOf,
        module: &str,
        loaded: wasmhost::LoadResult,
    ) -> Result<wasmhost::ReloadTicket, Failure> {
        let (compiled, path) = loaded.map_err(|e| {
            Failure::new(e.errno(), format!("cannot reload process {}: {}", of.pid, naming(module, &e)))
        })?;
        self.kernel
            .lock()
            .reload(of.pid, compiled, Some(path), of.wait)
            .map_err(|e| reload_failure(of.pid, &e))
    }

    /// Readiness of `id` (`EVENT_READ` when a read would not wait,
    /// `EVENT_WRITE` when a write would not: always, except for a full
    /// `Park` channel) and, from now on, changes to it through
    /// [`Daemon::take_events`].
    pub fn fevent(&mut self, id: u64) -> Result<u32, Errno> {
        let flags = self.readiness(id).ok_or(Errno::BadHandle)?;
        self.watched.insert(id, flags);
        Ok(flags)
    }

    /// Readiness changes since the last call: file id and flags.
    pub fn take_events(&mut self) -> Vec<(u64, u32)> {
        std::mem::take(&mut self.events)
    }

    fn watch_readiness(&mut self) {
        let ids: Vec<u64> = self.watched.keys().copied().collect();
        for id in ids {
            let Some(now) = self.readiness(id) else {
                self.watched.remove(&id);
                continue;
            };
            if let Some(was) = self.watched.insert(id, now) {
                // Report a flag when it comes on (edges, as `fevent` users
                // expect), with the whole current set.
                if now & !was != 0 {
                    self.events.push((id, now));
                }
            }
        }
    }

    /// `EVENT_READ` and `EVENT_WRITE` as they are now for `id` (`None`:
    /// no such file).
    fn readiness(&mut self, id: u64) -> Option<u32> {
        let (open, mut cx) = self.file_mut(id)?;
        Some(open.file.readiness(&mut cx))
    }

    /// Answers of deferred requests, in order.
    pub fn take_completions(&mut self) -> Vec<Completion> {
        std::mem::take(&mut self.completions)
    }

    /// Requests waiting for an answer.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Replies kept for requests still waited for (bounded by them).
    pub fn kept_replies(&self) -> usize {
        self.replies.len()
    }

    /// How long the frontend may sleep before the next [`Daemon::step`]
    /// (`None`: until an external event).
    pub fn idle_timeout(&self) -> Option<Duration> {
        let pm = self.kernel.lock();
        if self.kernel.workers() > 0 {
            // Scheduler threads run guests and wake the frontend when it
            // should look; the frontend also looks at the next timer (a
            // timer it finds due wakes a worker: a second clock where a
            // worker's timed sleep is coarse, as on Redox).
            return pm.next_deadline().map(|d| d.saturating_duration_since(Instant::now()));
        }
        if pm.queued() > 0 {
            return Some(Duration::ZERO);
        }
        pm.next_deadline().map(|d| d.saturating_duration_since(Instant::now()))
    }
}

/// Why loading `module` failed, naming the module unless the error
/// already does.
fn naming(module: &str, e: &wasmhost::SpawnError) -> String {
    let text = e.to_string();
    if text.contains(module) {
        text
    } else {
        format!("`{module}`: {text}")
    }
}

/// Why a reload of `pid` failed, for a person.
pub(crate) fn reload_failure(pid: wasmhost::Pid, e: &wasmhost::ReloadError) -> Failure {
    let tail = match e {
        wasmhost::ReloadError::NoSuchProcess | wasmhost::ReloadError::Ended => "",
        _ => "; it runs on as before",
    };
    Failure::new(e.errno(), format!("reload of process {pid} failed: {e}{tail}"))
}
