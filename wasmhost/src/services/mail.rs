//! Mail as a service: process handles, and the waits of `send` and
//! `receive` (see [`crate::mailbox`]; sends and receives that need no
//! wait never come here).
//!
//! A receiver with nothing to take parks on [`BlockOn::Receive`], its
//! filter left in its mailbox; a sender facing a full mailbox parks on
//! [`BlockOn::Send`] holding its message. Whoever makes either ready puts
//! it on the wake list; [`Context::wake_mail`] then delivers for the
//! receiver (its store lent from its record) or retries the send.

use wasmd_abi::{Errno, Rights};

use crate::caller::Caller;
use crate::context::{Context, SyscallOutcome};
use crate::continuation::returning;
use crate::guest_buf::GuestBuf;
use crate::hostcalls::mailbox::take_into;
use crate::mailbox::{Filter, Mailbox, Message, Refused, Wake};
use crate::process::{BlockOn, HandleObject};
use crate::scheduler::deadline_after;
use crate::Pid;
use std::sync::Arc;

/// Most wake-ups handled in one go (the rest wait for the next poll).
const WAKES_PER_POLL: usize = 4096;

impl Context<'_> {
    /// `process_handle(pid)`: a handle to `pid`'s mailbox, for the caller,
    /// its ancestors and descendants, or anyone with `PROC`.
    pub(crate) fn sys_process_handle(&mut self, caller: &mut Caller<'_>, pid: Pid) -> SyscallOutcome {
        let me = caller.pid();
        let pid = if pid == 0 { me } else { pid };
        if self.process(pid).is_none_or(|p| p.is_exited()) {
            return SyscallOutcome::error(Errno::NoSuchProcess);
        }
        let related = pid == me || self.is_ancestor(me, pid) || self.is_ancestor(pid, me);
        if !related && !self.process(me).is_some_and(|p| p.caps.contains(wasmd_abi::Caps::PROC)) {
            return SyscallOutcome::error(Errno::PermissionDenied);
        }
        self.give_process_handle(caller, pid)
    }

    /// A new handle to live process `pid`'s mailbox in the caller's table
    /// (whoever asked was allowed to have it).
    pub(crate) fn give_process_handle(&mut self, caller: &mut Caller<'_>, pid: Pid) -> SyscallOutcome {
        let Some(target) = self.process(pid).filter(|p| !p.is_exited()) else {
            return SyscallOutcome::error(Errno::NoSuchProcess);
        };
        let mailbox = target.mailbox.clone();
        returning(
            caller.state_mut().handles.insert(HandleObject::Process(mailbox), Rights::ALL).map(i64::from),
        )
    }

    /// `send` to a full mailbox: parks `me` until there is room (or the
    /// process is gone).
    pub(crate) fn sys_send_wait(
        &mut self,
        me: Pid,
        to: Arc<Mailbox>,
        mut message: Box<Message>,
    ) -> SyscallOutcome {
        let token = self.token();
        match to.push_or_park(std::mem::take(&mut *message), (me, token)) {
            Ok(wake) => {
                self.mail_wake(wake);
                SyscallOutcome::Return(0)
            }
            Err(Refused::Closed) => SyscallOutcome::error(Errno::NoSuchProcess),
            Err(Refused::Full(back)) => {
                *message = back;
                SyscallOutcome::Park(BlockOn::Send { token, to, message })
            }
        }
    }

    /// `receive` found nothing: parks the caller until a message `filter`
    /// accepts comes (or `timeout` ns pass).
    pub(crate) fn sys_receive_wait(
        &mut self,
        caller: &mut Caller<'_>,
        filter: Filter,
        buf: GuestBuf,
        timeout: Option<u64>,
    ) -> SyscallOutcome {
        let mailbox = caller.state().mailbox.clone();
        let token = self.token();
        loop {
            // A message may have come since the hostcall looked.
            match caller.with_memory(|mem, state| take_into(mem, state, &filter, buf)) {
                Some(Ok(Some(len))) => return SyscallOutcome::Return(len as i64),
                Some(Err(e)) => return SyscallOutcome::error(e),
                None => return SyscallOutcome::error(Errno::BadAddress),
                Some(Ok(None)) => {}
            }
            if mailbox.park_receiver(token, filter) {
                break;
            }
        }
        if let Some(nanos) = timeout {
            self.add_timer(deadline_after(nanos), caller.pid(), token);
        }
        SyscallOutcome::Park(BlockOn::Receive { token, buf })
    }

    /// Puts a process a push or a take made ready on the wake list.
    pub(crate) fn mail_wake(&self, wake: Option<Wake>) {
        if let Some(wake) = wake {
            self.env().mail.add(wake);
            self.env().kick();
        }
    }

    /// Wakes the receivers and senders mailboxes made ready.
    pub(crate) fn wake_mail(&mut self) {
        let mut handled = 0;
        while self.env().mail.any() && handled < WAKES_PER_POLL {
            for (pid, token) in self.env().mail.take() {
                handled += 1;
                match self.blocked_on(pid) {
                    Some(BlockOn::Receive { token: t, buf }) if *t == token => {
                        let buf = *buf;
                        self.finish_receive(pid, token, buf);
                    }
                    Some(BlockOn::Send { token: t, .. }) if *t == token => self.retry_send(pid, token),
                    _ => {}
                }
            }
        }
    }

    fn finish_receive(&mut self, pid: Pid, token: u64, buf: GuestBuf) {
        let taken = self.with_store(pid, |caller| {
            caller.with_memory(|mem, state| {
                let mailbox = state.mailbox.clone();
                mailbox.take_parked(token, |m| {
                    crate::hostcalls::mailbox::deliver(mem, &mut state.handles, buf, m)
                })
            })
        });
        match taken.flatten() {
            Some(Ok(Some((len, wake)))) => {
                self.mail_wake(wake);
                self.wake(pid, len as i64);
            }
            Some(Err(e)) => self.wake(pid, -i64::from(e.errno())),
            // Nothing it accepts (it stays parked), or no memory.
            _ => {}
        }
    }

    fn retry_send(&mut self, pid: Pid, token: u64) {
        let Some(BlockOn::Send { to, message, .. }) = self.blocked_on_mut(pid) else { return };
        let to = to.clone();
        match to.push_or_park(std::mem::take(&mut **message), (pid, token)) {
            Ok(wake) => {
                self.mail_wake(wake);
                self.wake(pid, 0);
            }
            Err(Refused::Closed) => self.wake(pid, -i64::from(Errno::NoSuchProcess.errno())),
            Err(Refused::Full(back)) => {
                if let Some(BlockOn::Send { message, .. }) = self.blocked_on_mut(pid) {
                    **message = back;
                }
            }
        }
    }
}
