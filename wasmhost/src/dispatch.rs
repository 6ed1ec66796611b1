//! Syscalls: the hostcalls that need the whole process table (see
//! [`crate::process`]). Each handler runs under the manager's lock for
//! its [`Caller`] (whose record stays in the table) and returns a
//! `SyscallOutcome`: resume now with a value, park, yield or exit.

use std::time::{Duration, Instant};
use wasmd_abi::Errno;

use wasmd_abi::msg;
use wasmd_abi::{ExitStatus, ProcessInfo};

use crate::caller::Caller;
use crate::guest_buf::GuestBuf;
use crate::manager::SyscallOutcome;
use crate::manager::{info_of, ProcessManager};
use crate::process::BlockOn;
use crate::syscall::Syscall;
use crate::Pid;

/// A timeout standing for "never" (a century).
const FOREVER: Duration = Duration::from_secs(100 * 365 * 86400);

impl ProcessManager {
    /// Handles one syscall of `caller`.
    pub(crate) fn syscall(&mut self, caller: &mut Caller<'_>, call: Syscall) -> SyscallOutcome {
        let me = caller.pid();
        match call {
            Syscall::Exit(code) => SyscallOutcome::Exit(ExitStatus::Exited(code)),
            Syscall::Yield => SyscallOutcome::Yield,
            Syscall::Sleep(nanos) => {
                let now = Instant::now();
                // A deadline past what Instant can hold is "never".
                let deadline = now.checked_add(Duration::from_nanos(nanos)).unwrap_or(now + FOREVER);
                let token = self.sched.token();
                self.sched.add_timer(deadline, me, token);
                SyscallOutcome::Park(BlockOn::Sleep { token })
            }
            Syscall::Spawn(call) => self.sys_spawn(caller, call),
            Syscall::Io(req) => self.sys_io(caller, req),
            Syscall::SchemeWait { name, buf } => {
                self.schemes().park(&name, me);
                SyscallOutcome::Park(BlockOn::SchemeNext { name, buf })
            }
            Syscall::RegionAlloc { size } => match self.procs.get(me) {
                Some(proc) => self.sys_region_alloc(me, proc.tree, proc.owner, size),
                None => SyscallOutcome::error(Errno::NoSuchProcess),
            },
            Syscall::RegionShare { region, pid, rights } => self.sys_region_share(me, region, pid, rights),
            Syscall::FutexWait { region, offset, expected, timeout } => {
                let key = (region.id(), offset);
                let token = self.sched.token();
                {
                    let mut futex = self.futex();
                    let now = region.atomic_u32(offset).map(|w| w.load(std::sync::atomic::Ordering::SeqCst));
                    if now != Ok(expected) {
                        return SyscallOutcome::error(Errno::WouldBlock);
                    }
                    futex.wait(key, me, token);
                }
                if let Some(nanos) = timeout {
                    let now = Instant::now();
                    let deadline = now.checked_add(Duration::from_nanos(nanos)).unwrap_or(now + FOREVER);
                    self.sched.add_timer(deadline, me, token);
                }
                SyscallOutcome::Park(BlockOn::Futex { key, token })
            }
            Syscall::Wait { pid, buf } => self.sys_wait(caller, pid, buf),
            Syscall::Kill(pid) if pid == me => SyscallOutcome::Exit(ExitStatus::Killed),
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
            proc.children.iter().copied().find(exited)
        } else if !proc.children.contains(&pid) {
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
