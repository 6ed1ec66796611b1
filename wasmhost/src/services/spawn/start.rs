//! Starting a process, in three steps so that the costly one runs
//! without the manager's lock: [`Context::reserve_start`] (under the
//! lock) reserves the pid and the process's place in its tree (see
//! [`crate::admission`]); [`Start::instantiate`] (anywhere) makes the
//! store, instantiates the module and runs its start function; and
//! [`Context::commit_start`] (under the lock again) admits the record
//! to the table. Every reservation is committed: a failed instantiation
//! gives its pid and place back there.

use std::sync::{Arc, Mutex};

use wasmd_abi::msg;
use wasmd_abi::ExitStatus;
use wasmi::errors::ErrorKind;
use wasmi::Store;

use super::SpawnOptions;
use crate::admission::Place;
use crate::context::Context;
use crate::error::SpawnError;
use crate::handles::HandleTable;
use crate::limits::MemoryLimiter;
use crate::log::ProcessLog;
use crate::mailbox::Mailbox;
use crate::manager::{set_fuel, slice_for, trap_status};
use crate::module_cache::CompiledModule;
use crate::process::{HostEnv, Process, ProcessState, RegionHoldings, Resume, Sched};
use crate::syscall::Syscall;
use crate::Pid;

/// A process being started: its pid and place in its tree are reserved.
pub(crate) struct Start {
    place: Place,
    module: Arc<CompiledModule>,
    opts: SpawnOptions,
    linker: Arc<crate::instantiate::Linkers>,
    env: Arc<HostEnv>,
    log_capacity: usize,
    slice_fuel: u64,
}

/// A new instance: how it goes on, its store (none when its start
/// function ended it), the fuel its start burnt.
type Instance = (Sched, Option<Box<Store<ProcessState>>>, u64);

/// A started process, ready to be committed.
pub(crate) struct Started {
    start: Start,
    outcome: Result<Instance, SpawnError>,
    log: Arc<Mutex<ProcessLog>>,
    regions: Arc<Mutex<RegionHoldings>>,
    mailbox: Arc<Mailbox>,
}

impl Start {
    /// Makes the store, instantiates the module and runs its start
    /// function (with one slice of fuel). Needs no lock.
    pub(crate) fn instantiate(self) -> Started {
        let opts = &self.opts;
        let args: Vec<&str> = opts.args.iter().map(String::as_str).collect();
        let account = self.env.memory.account(opts.owner.uid);
        let log = Arc::new(Mutex::new(ProcessLog::with_budget(self.log_capacity, &account)));
        let regions = Arc::new(Mutex::new(RegionHoldings {
            pending_shares: Vec::new(),
            bytes: 0,
            max_bytes: opts.limits.max_region_bytes,
        }));
        let mailbox = Mailbox::new(self.place.pid, Some(account.clone()));
        let mut state = ProcessState {
            pid: self.place.pid,
            caps: opts.caps,
            memory: None,
            instance: None,
            args: msg::encode(&args).into_boxed_slice(),
            log: log.clone(),
            env: self.env.clone(),
            limiter: MemoryLimiter::new(opts.limits.max_pages, account),
            syscall: None,
            handles: HandleTable::new(opts.limits.max_handles),
            regions: regions.clone(),
            namespace: opts.namespace.clone().into(),
            counters: Default::default(),
            wasi: crate::wasi::state::WasiState::new(opts.env.clone().into(), opts.preopens.clone()),
            stdin: opts.stdin.clone(),
            mailbox: mailbox.clone(),
        };
        for socket in &opts.sockets {
            let rights = wasmd_abi::Rights::READ.union(wasmd_abi::Rights::WRITE);
            if let Ok(handle) =
                state.handles.insert(crate::process::HandleObject::Socket(socket.clone()), rights)
            {
                state.wasi.preopen_socket(handle);
            }
        }
        // Boxed at once: a store is large, and it moves to its record.
        let mut store = Box::new(Store::new(&self.module.generation.engine, state));
        store.limiter(|s| &mut s.limiter);
        let given = slice_for(self.slice_fuel, &opts.limits, 0, 0);
        set_fuel(&mut store, given);
        let instantiated = self.linker.instantiate(&mut store, &self.module);
        let fuel_used = given - store.get_fuel().unwrap_or(0);
        let outcome = match instantiated {
            Ok(instance) => match instance.get_func(&*store, wasmd_abi::hostcall::ENTRY) {
                Some(entry) => {
                    store.data_mut().memory = instance.get_memory(&*store, wasmd_abi::hostcall::MEMORY);
                    store.data_mut().instance = Some(instance);
                    Ok((Sched::Ready(Resume::Start(entry)), Some(store), fuel_used))
                }
                None => Err(SpawnError::NoEntry),
            },
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::Linker(_) | ErrorKind::Instantiation(_) | ErrorKind::Memory(_)
                ) =>
            {
                if store.data().limiter.hit {
                    Ok((Sched::Exited(ExitStatus::MemoryLimit), None, fuel_used))
                } else if store.data().limiter.budget_hit {
                    Err(SpawnError::OutOfMemory)
                } else {
                    Err(SpawnError::instantiation(&e))
                }
            }
            Err(e) => {
                let status = match store.data_mut().syscall.take() {
                    Some(Syscall::Exit(code)) => ExitStatus::Exited(code),
                    _ => trap_status(&store, &e),
                };
                Ok((Sched::Exited(status), None, fuel_used))
            }
        };
        Started { start: self, outcome, log, regions, mailbox }
    }
}

impl Context<'_> {
    /// Reserves a pid and a place in `tree` (a new tree of its own when
    /// `None`) for a process running `module`.
    pub(crate) fn reserve_start(
        &mut self,
        module: Arc<CompiledModule>,
        opts: SpawnOptions,
        tree: Option<Pid>,
    ) -> Result<Start, SpawnError> {
        let place = self.reserve_place(tree)?;
        Ok(Start {
            place,
            linker: self.linker(&module.generation),
            module,
            opts,
            env: self.env().clone(),
            log_capacity: self.config().log_capacity,
            slice_fuel: self.config().slice_fuel,
        })
    }

    /// Admits a started process: queued to run, or kept as exited when
    /// its start function ended it. Instantiation errors (bad import
    /// types, no entry point) give the reservation back.
    pub(crate) fn commit_start(&mut self, started: Started) -> Result<Pid, SpawnError> {
        let Started { start, outcome, log, regions, mailbox } = started;
        let (place, opts, module) = (start.place, start.opts, start.module);
        let (sched, store, fuel_used) = match outcome {
            Ok(started) => started,
            Err(e) => {
                self.give_back(place);
                return Err(e);
            }
        };
        self.admit(Box::new(Process {
            pid: place.pid,
            parent: opts.parent,
            name: opts.name,
            module_hash: module.hash_prefix(),
            module: Some(module),
            module_path: opts.module_path,
            caps: opts.caps,
            limits: opts.limits,
            store,
            sched,
            fuel_used,
            exit_pages: 0,
            log,
            regions,
            stop: None,
            children: Default::default(),
            owner: opts.owner,
            tree: place.tree,
            stdin: opts.stdin,
            activity: Default::default(),
            mailbox,
            watches: Default::default(),
            names: Vec::new(),
            reload: None,
            reloads: 0,
            parks: 0,
        }));
        Ok(place.pid)
    }
}
