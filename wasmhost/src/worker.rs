//! Worker threads for work that must not run on the scheduler thread:
//! reading module files (on Redox the serving thread must never open a
//! path), compiling modules (long for big modules) and making shared
//! memory run on the *system* pool; guests' file and socket operations,
//! which another program can make slow (a slow disk, a TCP peer that does
//! not answer), run on a separate *I/O* pool, so they never hold up a
//! spawn.
//!
//! A job is a closure; what it returns comes back to the manager as a
//! [`Completion`] on a channel, and the manager's waker is called so an
//! event loop sleeping elsewhere notices. The pools do not know what a
//! job's result means: the manager's results are continuations that
//! finish a parked process's wait (see the `continuation` module).

use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread;

use crate::Pid;

/// A finished job, addressed to the process that waits for it (0 when
/// the pool serves no process: the daemon's own module loads).
#[derive(Debug)]
pub struct Completion<T> {
    /// The waiting process, or 0 for the embedder.
    pub pid: Pid,
    /// The token of the wait.
    pub token: u64,
    /// What the job produced; `None` when it panicked (a bug).
    pub done: Option<T>,
}

type Job<T> = Box<dyn FnOnce() -> T + Send>;
/// A queued job: its process, its wait token and the work.
type Queued<T> = (Pid, u64, Job<T>);

/// Called after a completion is posted, from the worker thread.
pub type Waker = Arc<dyn Fn() + Send + Sync>;

/// Two small pools of worker threads (see the module docs), whose jobs
/// produce `T`.
pub struct Workers<T> {
    jobs: Sender<Queued<T>>,
    io_jobs: Sender<Queued<T>>,
    done: Sender<Completion<T>>,
    waker: Arc<Mutex<Option<Waker>>>,
}

impl<T> std::fmt::Debug for Workers<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workers").finish_non_exhaustive()
    }
}

impl<T: Send + 'static> Workers<T> {
    /// Starts `count` system threads and `io_count` I/O threads posting
    /// completions to `done` and calling `waker` after each.
    pub fn start(
        count: usize,
        io_count: usize,
        done: Sender<Completion<T>>,
        waker: Arc<Mutex<Option<Waker>>>,
    ) -> Self {
        let jobs = Self::pool("wasmd-worker", count, &done, &waker);
        let io_jobs = Self::pool("wasmd-io", io_count, &done, &waker);
        Self { jobs, io_jobs, done, waker }
    }

    fn pool(
        name: &str,
        count: usize,
        done: &Sender<Completion<T>>,
        waker: &Arc<Mutex<Option<Waker>>>,
    ) -> Sender<Queued<T>> {
        let (jobs, rx) = mpsc::channel::<Queued<T>>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..count.max(1) {
            let rx: Arc<Mutex<Receiver<Queued<T>>>> = rx.clone();
            let done = done.clone();
            let waker = waker.clone();
            let spawned = thread::Builder::new().name(format!("{name}-{i}")).spawn(move || loop {
                let next = rx.lock().unwrap_or_else(|e| e.into_inner()).recv();
                let Ok((pid, token, job)) = next else { return };
                // A panicking job (a bug) must not take the thread with it.
                let result = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)) {
                    Ok(result) => Some(result),
                    Err(_) => {
                        log::error!("a worker job for pid {pid} panicked");
                        None
                    }
                };
                if done.send(Completion { pid, token, done: result }).is_err() {
                    return;
                }
                if let Some(w) = waker.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
                    w();
                }
            });
            if let Err(e) = spawned {
                log::error!("cannot start worker thread: {e}");
            }
        }
        jobs
    }

    /// A callback, usable from any thread once, that posts `result` for
    /// `pid`'s wait `token` (socket readiness).
    pub fn notifier(&self, pid: Pid, token: u64, result: T) -> Box<dyn FnOnce() + Send> {
        let (done, waker) = (self.done.clone(), self.waker.clone());
        Box::new(move || {
            if done.send(Completion { pid, token, done: Some(result) }).is_ok() {
                if let Some(w) = waker.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
                    w();
                }
            }
        })
    }

    /// Queues a job for `pid` on the system pool.
    pub fn submit(&self, pid: Pid, token: u64, job: impl FnOnce() -> T + Send + 'static) {
        // The workers live as long as the manager; a send error means they
        // all died, and the waiting process then waits until killed.
        if self.jobs.send((pid, token, Box::new(job))).is_err() {
            log::error!("worker threads are gone; job for pid {pid} dropped");
        }
    }

    /// Queues a guest's file or socket operation on the I/O pool.
    pub fn submit_io(&self, pid: Pid, token: u64, job: impl FnOnce() -> T + Send + 'static) {
        if self.io_jobs.send((pid, token, Box::new(job))).is_err() {
            log::error!("I/O threads are gone; job for pid {pid} dropped");
        }
    }
}
