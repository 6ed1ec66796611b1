//! Starting a process, in three steps so that the costly one runs
//! without the manager's lock: [`Context::reserve_start`] (under the
//! lock) reserves the pid and the process's place in its tree (see
//! [`crate::admission`]); [`Start::instantiate`] (anywhere) makes the
//! store, instantiates the module and runs its start function; and
//! [`Context::commit_start`] (under the lock again) admits the record
//! to the table. Every reservation is committed: a failed instantiation
//! gives its pid and place back there.
//!
//! A guest's spawn of a module that was instantiated once already need
//! not wait for the instance: [`Start::defer`] admits the record at once
//! with an [`Unborn`] instance, which the child's first turn makes on
//! whichever worker runs it ([`crate::turn::run_slice`]). The spawner's
//! worker then does only the bookkeeping, and the child's memory is
//! filled and given back on one core. What could fail only for the
//! module's sake (imports that do not resolve, no entry point, segments
//! that do not fit) failed at that first instantiation, so a deferred
//! one can end only as a process can: its start function's trap or
//! exit, its memory limit, or its owner's memory budget spent
//! meanwhile (then it ends trapped, "cannot start: …").

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use wasmd_abi::msg;
use wasmd_abi::ExitStatus;
use wasmi::errors::ErrorKind;
use wasmi::{Func, Store};

use super::SpawnOptions;
use crate::admission::Place;
use crate::context::Context;
use crate::error::SpawnError;
use crate::handles::HandleTable;
use crate::instantiate::Linkers;
use crate::limits::{Account, MemoryLimiter};
use crate::log::ProcessLog;
use crate::mailbox::Mailbox;
use crate::manager::{set_fuel, slice_for, trap_status, truncate};
use crate::module_cache::CompiledModule;
use crate::process::{HostEnv, Process, ProcessState, RegionHoldings, Resume, Sched};
use crate::syscall::Syscall;
use crate::Pid;

/// A process being started: its pid and place in its tree are reserved.
pub(crate) struct Start {
    place: Place,
    module: Arc<CompiledModule>,
    opts: SpawnOptions,
    linker: Arc<Linkers>,
    env: Arc<HostEnv>,
    log_capacity: usize,
    slice_fuel: u64,
}

/// A process admitted before its instance was made: what its first turn
/// needs to make it (its host state too: that is made on the worker that
/// runs it, not under the manager's lock).
#[derive(Debug)]
pub struct Unborn {
    module: Arc<CompiledModule>,
    linker: Arc<Linkers>,
    env: Arc<HostEnv>,
    pid: Pid,
    caps: wasmd_abi::Caps,
    limits: crate::limits::Limits,
    account: Arc<Account>,
    args: Vec<String>,
    namespace: Vec<crate::namespace::Grant>,
    environ: Vec<String>,
    stdin: Option<Arc<crate::stdin::StdinPipe>>,
    sockets: Vec<Arc<dyn crate::platform::HostSocket>>,
    preopens: Vec<crate::wasi::PreopenAlias>,
    log: Arc<Mutex<ProcessLog>>,
    regions: Arc<Mutex<RegionHoldings>>,
    mailbox: Arc<Mailbox>,
}

/// How making an instance went.
pub(crate) enum Born {
    /// Ready to call its entry point.
    Ready(Box<Store<ProcessState>>, Func),
    /// Its start function ended it, or it hit its memory limit.
    Ended(ExitStatus),
    /// It cannot be made.
    Failed(SpawnError),
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
        let given = slice_for(self.slice_fuel, &self.opts.limits, 0, 0);
        let account = self.env.memory.account(self.opts.owner.uid);
        self.start_with(account, |unborn| match unborn.instantiate(given) {
            (Born::Ready(store, entry), used) => Ok((Sched::Ready(Resume::Start(entry)), Some(store), used)),
            (Born::Ended(status), used) => Ok((Sched::Exited(status), None, used)),
            (Born::Failed(e), _) => Err(e),
        })
    }

    /// Whether this start may be deferred to the child's first turn: its
    /// module was instantiated once (so only the process itself can make
    /// a later instantiation fail), and its owner's memory budget
    /// (`account`) holds the module's initial memories now.
    pub(crate) fn can_defer(&self, account: &Account) -> bool {
        self.module.instantiated.load(Ordering::Relaxed) && account.room() >= self.module.initial_bytes
    }

    /// Admits the process without an instance: its first turn makes it
    /// (see [`Start::can_defer`]). `account` is its owner's (a spawning
    /// guest has it at hand: its children act for its user).
    pub(crate) fn defer(self, account: Arc<Account>) -> Started {
        self.start_with(account, |unborn| Ok((Sched::Ready(Resume::Instantiate(Box::new(unborn))), None, 0)))
    }

    /// Started as `make` makes the instance of what [`Start::conceive`]
    /// gives.
    fn start_with(
        mut self,
        account: Arc<Account>,
        make: impl FnOnce(Unborn) -> Result<Instance, SpawnError>,
    ) -> Started {
        let unborn = self.conceive(account);
        let (log, regions, mailbox) = (unborn.log.clone(), unborn.regions.clone(), unborn.mailbox.clone());
        Started { outcome: make(unborn), start: self, log, regions, mailbox }
    }

    /// What its instance will be made of, with the parts its record
    /// shares (its log, regions and mailbox); the options only its host
    /// state needs move there.
    fn conceive(&mut self, account: Arc<Account>) -> Unborn {
        let opts = &mut self.opts;
        let log = Arc::new(Mutex::new(ProcessLog::with_budget(self.log_capacity, &account)));
        let regions = Arc::new(Mutex::new(RegionHoldings {
            pending_shares: Vec::new(),
            bytes: 0,
            max_bytes: opts.limits.max_region_bytes,
        }));
        let mailbox = Mailbox::new(self.place.pid, Some(account.clone()));
        Unborn {
            module: self.module.clone(),
            linker: self.linker.clone(),
            env: self.env.clone(),
            pid: self.place.pid,
            caps: opts.caps,
            limits: opts.limits,
            account,
            args: std::mem::take(&mut opts.args),
            namespace: std::mem::take(&mut opts.namespace),
            environ: std::mem::take(&mut opts.env),
            stdin: opts.stdin.clone(),
            sockets: std::mem::take(&mut opts.sockets),
            preopens: std::mem::take(&mut opts.preopens),
            log,
            regions,
            mailbox,
        }
    }
}

impl Unborn {
    /// Makes the store (with `fuel`), instantiates the module and runs
    /// its start function; also gives the fuel that burnt.
    pub(crate) fn instantiate(self, fuel: u64) -> (Born, u64) {
        let (module, linker, state) = self.into_state();
        // Boxed at once: a store is large, and it moves to its record.
        let mut store = Box::new(Store::new(&module.generation.engine, state));
        store.limiter(|s| &mut s.limiter);
        set_fuel(&mut store, fuel);
        let instantiated = linker.instantiate(&mut store, &module);
        let used = fuel - store.get_fuel().unwrap_or(0);
        let born = match instantiated {
            Ok(instance) => match instance.get_func(&*store, wasmd_abi::hostcall::ENTRY) {
                Some(entry) => {
                    module.instantiated.store(true, Ordering::Relaxed);
                    store.data_mut().memory = instance.get_memory(&*store, wasmd_abi::hostcall::MEMORY);
                    store.data_mut().instance = Some(instance);
                    Born::Ready(store, entry)
                }
                None => Born::Failed(SpawnError::NoEntry),
            },
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::Linker(_) | ErrorKind::Instantiation(_) | ErrorKind::Memory(_)
                ) =>
            {
                if store.data().limiter.hit {
                    Born::Ended(ExitStatus::MemoryLimit)
                } else if store.data().limiter.budget_hit {
                    Born::Failed(SpawnError::OutOfMemory)
                } else {
                    Born::Failed(SpawnError::instantiation(&e))
                }
            }
            Err(e) => Born::Ended(match store.data_mut().syscall.take() {
                Some(Syscall::Exit(code)) => ExitStatus::Exited(code),
                _ => trap_status(&store, &e),
            }),
        };
        (born, used)
    }

    /// Its module, its linkers and its host state.
    fn into_state(self) -> (Arc<CompiledModule>, Arc<Linkers>, ProcessState) {
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        let mut state = ProcessState {
            pid: self.pid,
            caps: self.caps,
            memory: None,
            instance: None,
            args: msg::encode(&args).into_boxed_slice(),
            log: self.log,
            env: self.env,
            limiter: MemoryLimiter::new(self.limits.max_pages, self.account),
            syscall: None,
            handles: HandleTable::new(self.limits.max_handles),
            regions: self.regions,
            namespace: self.namespace.into(),
            counters: Default::default(),
            wasi: crate::wasi::state::WasiState::new(self.environ.into(), self.preopens),
            stdin: self.stdin,
            mailbox: self.mailbox,
        };
        for socket in &self.sockets {
            let rights = wasmd_abi::Rights::READ.union(wasmd_abi::Rights::WRITE);
            if let Ok(handle) =
                state.handles.insert(crate::process::HandleObject::Socket(socket.clone()), rights)
            {
                state.wasi.preopen_socket(handle);
            }
        }
        (self.module, self.linker, state)
    }
}

impl Born {
    /// A deferred instantiation's failure, as the child's exit status.
    pub(crate) fn failure_status(e: &SpawnError) -> ExitStatus {
        ExitStatus::Trapped(truncate(format!("cannot start: {e}")))
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
