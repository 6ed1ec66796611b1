//! Module loads for spawns through the tree: read and compiled on the
//! daemon's own worker threads (on Redox the thread serving the scheme
//! must never open a path), each load under a ticket; the results come
//! back on a channel and the frontend's waker is called.

use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};

use wasmhost::worker::{Completion, Waker, Workers};
use wasmhost::{LoadResult, ModuleCache, ModuleLoader, SpawnError};

/// Threads loading modules.
const THREADS: usize = 2;

/// Loads in flight and done.
pub struct Loads {
    workers: Workers<LoadResult>,
    done: Receiver<Completion<LoadResult>>,
    waker: Arc<Mutex<Option<Waker>>>,
    cache: ModuleCache,
    next_ticket: u64,
}

impl std::fmt::Debug for Loads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loads").field("next_ticket", &self.next_ticket).finish_non_exhaustive()
    }
}

impl Loads {
    /// Loads compiling into `cache` (the process manager's).
    pub fn new(cache: ModuleCache) -> Self {
        let (tx, done) = mpsc::channel();
        let waker: Arc<Mutex<Option<Waker>>> = Arc::default();
        // No I/O pool: one thread is the least `Workers` starts.
        let workers = Workers::start(THREADS, 1, tx, waker.clone());
        Self { workers, done, waker, cache, next_ticket: 1 }
    }

    /// The function called after each load (from its thread).
    pub fn set_waker(&self, waker: Waker) {
        *self.waker.lock().unwrap_or_else(|e| e.into_inner()) = Some(waker);
    }

    /// Starts loading and compiling `path` with `loader`; its result
    /// comes from [`Loads::take_done`] under the returned ticket.
    pub fn start(&mut self, loader: Arc<dyn ModuleLoader>, path: String) -> u64 {
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        let cache = self.cache.clone();
        self.workers.submit(0, ticket, move || {
            loader
                .load(None, &path)
                .map_err(Into::into)
                .and_then(|loaded| cache.compile(&loaded.bytes).map(|m| (m, loaded.path)))
        });
        ticket
    }

    /// Loads finished since the last call, by ticket (a load whose thread
    /// panicked is a refused module).
    pub fn take_done(&mut self) -> Vec<(u64, LoadResult)> {
        self.done
            .try_iter()
            .map(|c| {
                let result = c
                    .done
                    .unwrap_or_else(|| Err(SpawnError::InvalidModule("loading the module failed".into())));
                (c.token, result)
            })
            .collect()
    }
}
