//! Callers: the process a syscall or a continuation acts for
//! ([`Caller`]: its pid and store; its record stays in the process
//! table).

use wasmi::Store;

use crate::guest_buf::{GuestBuf, TooLong};
use crate::process::ProcessState;
use crate::Pid;

/// The process a syscall or a continuation acts for: its pid and its
/// store. While the process runs, its turn holds the store; while a
/// continuation runs for a parked process, the store is lent from its
/// record. The record itself stays in the process table either way.
pub(crate) struct Caller<'a> {
    pid: Pid,
    store: &'a mut Store<ProcessState>,
}

impl<'a> Caller<'a> {
    /// The caller `store` belongs to.
    pub(crate) fn new(store: &'a mut Store<ProcessState>) -> Self {
        Self { pid: store.data().pid, store }
    }

    /// Its pid.
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// Its store data.
    pub fn state(&self) -> &ProcessState {
        self.store.data()
    }

    /// Its store data, to change it.
    pub fn state_mut(&mut self) -> &mut ProcessState {
        self.store.data_mut()
    }

    /// Its memory pages now.
    pub fn memory_pages(&self) -> u32 {
        crate::process::pages(self.store)
    }

    /// Runs `f` on its memory and store data together (`None` without a
    /// memory).
    pub fn with_memory<R>(&mut self, f: impl FnOnce(&mut [u8], &mut ProcessState) -> R) -> Option<R> {
        let memory = self.store.data().memory?;
        let (mem, state) = memory.data_and_store_mut(&mut *self.store);
        Some(f(mem, state))
    }

    /// Copies `bytes` into `buf` of its memory (see [`GuestBuf::fill`]);
    /// a process without memory has nothing to write into. The buffer was
    /// checked when the hostcall was decoded, and memory never shrinks.
    pub fn write(&mut self, buf: GuestBuf, bytes: &[u8]) -> Result<usize, TooLong> {
        let Some(memory) = self.store.data().memory else { return Ok(0) };
        buf.fill(memory.data_mut(&mut *self.store), bytes)
    }
}
