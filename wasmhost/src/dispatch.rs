//! Dispatch: each syscall (the hostcalls that need the whole process
//! table, see [`crate::process`]) and each request of the embedder, to
//! the part that handles it. Process control (exit, sleep, kill, wait,
//! info) is handled here on the manager's core; spawn, regions, fs and
//! socket I/O and guest schemes go to their service, through a
//! [`Context`]. A syscall runs under the manager's lock for its
//! [`Caller`] (whose record stays in the table) and returns a
//! `SyscallOutcome`: resume now with a value, park, yield or exit.

use wasmd_abi::Errno;

use std::sync::Arc;

use wasmd_abi::msg;
use wasmd_abi::scheme::SchemeOp;
use wasmd_abi::{ExitStatus, ProcessInfo};

use crate::caller::Caller;
use crate::context::Context;
use crate::continuation::returning;
use crate::error::SpawnError;
use crate::guest_buf::GuestBuf;
use crate::guest_scheme::{Origin, Reply, SchemeEvent};
use crate::manager::SyscallOutcome;
use crate::manager::{info_of, ProcessManager};
use crate::module_cache::CompiledModule;
use crate::process::BlockOn;
use crate::scheduler::deadline_after;
use crate::services::spawn::SpawnOptions;
use crate::syscall::{NameOp, Syscall};
use crate::Pid;

impl ProcessManager {
    /// Spawns a process running `module`. It starts on a later [`Self::run`].
    ///
    /// A start function that traps, exits or exceeds the memory limit still
    /// gives a pid, of an already exited process; instantiation errors
    /// (bad import types) are errors.
    pub fn spawn(&mut self, module: Arc<CompiledModule>, opts: SpawnOptions) -> Result<Pid, SpawnError> {
        Context::new(self).spawn(module, opts)
    }

    /// Sends a request to the guest scheme `name` on behalf of the
    /// embedder; the reply comes from [`Self::take_scheme_replies`] under
    /// the returned tag (`Errno::NotFound`: no such scheme).
    pub fn scheme_request(&mut self, name: &str, op: SchemeOp<'_>) -> Result<u64, Errno> {
        self.schemes().submit(name, 0, op, Origin::External)
    }

    /// Replies to [`Self::scheme_request`]s, by tag.
    pub fn take_scheme_replies(&mut self) -> Vec<(u64, Reply)> {
        self.schemes().take_external()
    }

    /// Schemes registered and gone since the last call.
    pub fn take_scheme_events(&mut self) -> Vec<SchemeEvent> {
        self.schemes().take_events()
    }

    /// Serves the scheme `name` from the embedder (see
    /// [`crate::guest_scheme::SchemeTable::serve_embedded`]).
    pub fn serve_scheme(&mut self, name: &str) -> Result<(), Errno> {
        self.schemes().serve_embedded(name)
    }

    /// Guests' requests on the embedder's scheme `name` (postcard
    /// `SchemeRequest`s), to answer with [`Self::answer_scheme_request`].
    pub fn take_scheme_requests(&mut self, name: &str) -> Vec<Vec<u8>> {
        self.schemes().take_embedded(name)
    }

    /// Answers a request of [`Self::take_scheme_requests`] (a postcard
    /// `SchemeReply`); the guest that asked resumes.
    pub fn answer_scheme_request(&mut self, name: &str, reply: &[u8]) -> Result<(), Errno> {
        self.schemes().reply(name, reply)?;
        self.deliver_guest_replies();
        Ok(())
    }

    /// Names of the guest schemes.
    pub fn scheme_names(&self) -> Vec<String> {
        self.schemes().names()
    }

    /// Handles one syscall of `caller`.
    pub(crate) fn syscall(&mut self, caller: &mut Caller<'_>, call: Syscall) -> SyscallOutcome {
        let me = caller.pid();
        match call {
            Syscall::Exit(code) => SyscallOutcome::Exit(ExitStatus::Exited(code)),
            Syscall::Yield => SyscallOutcome::Yield,
            Syscall::Sleep(nanos) => {
                let deadline = deadline_after(nanos);
                let token = self.sched.token();
                self.sched.add_timer(deadline, me, token);
                SyscallOutcome::Park(BlockOn::Sleep { token })
            }
            Syscall::Spawn(mut call) => match call.node.take() {
                Some(node) => self.sys_spawn_on(caller, node, call),
                None => Context::new(self).sys_spawn(caller, call),
            },
            Syscall::Io(req) => Context::new(self).sys_io(caller, req),
            Syscall::SchemeWait { name, buf } => Context::new(self).sys_scheme_wait(me, name, buf),
            Syscall::RegionAlloc { size } => match self.procs.get(me) {
                Some(proc) => {
                    let (tree, owner) = (proc.tree, proc.owner);
                    Context::new(self).sys_region_alloc(me, tree, owner, size)
                }
                None => SyscallOutcome::error(Errno::NoSuchProcess),
            },
            Syscall::RegionShare { region, pid, rights } => {
                Context::new(self).sys_region_share(me, region, pid, rights)
            }
            Syscall::FutexWait { region, offset, expected, timeout } => {
                Context::new(self).sys_region_wait(me, &region, offset, expected, timeout)
            }
            Syscall::Wait { pid, buf } => self.sys_wait(caller, pid, buf),
            Syscall::ModuleOpen(source) => Context::new(self).sys_module_open(caller, source),
            Syscall::Reload { pid, path, nowait } => Context::new(self).sys_reload(caller, pid, path, nowait),
            Syscall::ProcessHandle(pid) if crate::remote::is_remote(pid) => {
                self.sys_remote_process_handle(caller, pid)
            }
            Syscall::ProcessHandle(pid) => Context::new(self).sys_process_handle(caller, pid),
            Syscall::Bridge { region, node, chan } => self.sys_bridge(me, region, node, chan),
            Syscall::SendRemote { to, tag, data } => {
                returning(self.send_remote(me, to, tag, data).map(|()| 0))
            }
            Syscall::SendWait { to, message } => Context::new(self).sys_send_wait(me, to, message),
            Syscall::ReceiveWait { filter, buf, timeout } => {
                Context::new(self).sys_receive_wait(caller, filter, buf, timeout)
            }
            Syscall::Link(pid) => returning(self.link(me, pid).map(|()| 0)),
            Syscall::Unlink(pid) => {
                self.unlink(me, pid);
                SyscallOutcome::Return(0)
            }
            Syscall::Monitor(pid) => returning(self.monitor(me, pid).map(|r| r as i64)),
            Syscall::Demonitor(reference) => returning(self.demonitor(me, reference).map(|()| 0)),
            Syscall::Name(NameOp::Register, name) => returning(self.register_name(me, &name).map(|()| 0)),
            Syscall::Name(NameOp::Unregister, name) => returning(self.unregister_name(me, &name).map(|()| 0)),
            Syscall::Name(NameOp::Whereis, name) => returning(self.whereis_for(me, &name).map(i64::from)),
            Syscall::Name(NameOp::Lookup(out), name) => match self.whereis_for(me, &name) {
                Ok(pid) => {
                    if let Some(out) = out {
                        let _ = caller.write(out, &pid.to_le_bytes());
                    }
                    if crate::remote::is_remote(pid) {
                        // A name held on another node: a handle that sends there.
                        return self.sys_remote_process_handle(caller, pid);
                    }
                    Context::new(self).give_process_handle(caller, pid)
                }
                Err(e) => SyscallOutcome::error(e),
            },
            Syscall::Kill(pid) if pid == me => SyscallOutcome::Exit(ExitStatus::Killed),
            Syscall::Kill(pid) if crate::remote::is_remote(pid) => {
                returning(self.kill_remote(me, pid).map(|()| 0))
            }
            Syscall::Kill(pid) => {
                if !self.may_control(me, pid) {
                    return SyscallOutcome::error(if self.procs.contains(pid) {
                        Errno::PermissionDenied
                    } else {
                        Errno::NoSuchProcess
                    });
                }
                match self.kill(pid) {
                    Ok(()) => SyscallOutcome::Return(0),
                    Err(e) => SyscallOutcome::error(e.errno()),
                }
            }
            Syscall::Info { pid, buf } => {
                let info = if pid == 0 || pid == me {
                    let Some(proc) = self.procs.get(me) else {
                        return SyscallOutcome::error(Errno::NoSuchProcess);
                    };
                    // Its store is with the caller: its memory is read there.
                    ProcessInfo { memory_pages: caller.memory_pages(), ..info_of(proc) }
                } else if !self.may_control(me, pid) {
                    return SyscallOutcome::error(if self.procs.contains(pid) {
                        Errno::PermissionDenied
                    } else {
                        Errno::NoSuchProcess
                    });
                } else {
                    match self.info(pid) {
                        Some(info) => info,
                        None => return SyscallOutcome::error(Errno::NoSuchProcess),
                    }
                };
                // A sized reply: written only when it fits, its length
                // returned either way.
                let bytes = msg::encode(&info);
                let _ = caller.write(buf, &bytes);
                SyscallOutcome::Return(bytes.len() as i64)
            }
        }
    }

    fn sys_wait(&mut self, caller: &mut Caller<'_>, pid: Pid, buf: Option<GuestBuf>) -> SyscallOutcome {
        let me = caller.pid();
        let Some(proc) = self.procs.get(me) else { return SyscallOutcome::error(Errno::NoSuchProcess) };
        let exited = |c: &Pid| self.procs.get(*c).is_some_and(|p| p.is_exited());
        let exited_child = if pid == 0 {
            proc.children.first_ended()
        } else if !proc.children.contains(pid) {
            return SyscallOutcome::error(Errno::NotAChild);
        } else {
            Some(pid).filter(exited)
        };
        if let Some(child) = exited_child {
            return match self.reap(me, child) {
                Some(status) => {
                    if let Some(buf) = buf {
                        // Statuses are truncated to fit EXIT_STATUS_MAX_LEN.
                        let _ = caller.write(buf, &msg::encode(&status));
                    }
                    SyscallOutcome::Return(i64::from(child))
                }
                None => SyscallOutcome::error(Errno::NotAChild),
            };
        }
        if proc.children.is_empty() {
            return SyscallOutcome::error(Errno::NotAChild);
        }
        SyscallOutcome::Park(BlockOn::Child { pid, buf })
    }
}
