//! Supervisors, in guest code on links and monitors (see
//! [`crate::mailbox`]): the host knows nothing of them.
//!
//! A [`Supervisor`] starts its children in order, linked to it, and traps
//! exits, so a child's end arrives as an exit notice. What follows depends
//! on the child's [`Restart`] type (permanent: always restarted;
//! transient: restarted after an abnormal end only; temporary: never, and
//! forgotten) and on the supervisor's [`Strategy`]: `OneForOne` restarts
//! the child alone, `OneForAll` stops every other child (in reverse start
//! order) and starts them all again in order, `RestForOne` does that for
//! the children started after it. More than `intensity` restarts within
//! `period` (OTP's defaults: 1 in 5 s) and the supervisor gives up: it
//! stops all its children and exits abnormally (code [`ESCALATED`]), so
//! its own supervisor decides.
//!
//! Stopping a child (at shutdown, for a strategy, or
//! [`Supervisor::terminate_child`]) unlinks it, sends it [`TAG_SHUTDOWN`]
//! (a child may end cleanly on it) and waits up to its `shutdown` time for
//! it to end, then kills it. Ended children are reaped. The supervisor
//! monitors a child while it stops it: it should hold no monitors of its
//! own (a down notice of another monitor taken meanwhile is dropped).
//! Children are started from module files (an
//! "entry" of the supervisor's own module is its own file with arguments
//! that pick the entry). The supervisor opens each child's module once (a
//! [`Module`] handle) and restarts the child from it after a crash, so a
//! restart costs only the new instance; [`Supervisor::restart_child`]
//! opens the file again (new code on disk takes effect there, or through
//! a hot reload, see [`crate::reload`]).
//!
//! A child may run on other nodes of a cluster ([`ChildSpec::nodes`]):
//! it is started on the first of them that accepts it, linked across the
//! network; when its node leaves the cluster its end arrives as
//! `noconnection` and the restart goes to the next node that accepts.
//!
//! ```ignore
//! let mut sup = Supervisor::new(Strategy::OneForOne).intensity(3, Duration::from_secs(5))
//!     .child(ChildSpec::new("kv", "kvstore.wasm").caps(Caps::ALL));
//! sup.start()?;
//! sup.run()
//! ```

use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;
use core::time::Duration;

use crate::error::{Error, Result};
use crate::mailbox::{self, Notice, ProcessRef, Received, TAG_DOWN, TAG_EXIT};
use crate::process::{self, Caps, Command, ExitStatus, Module, Pid};
use crate::time;

/// The tag a supervisor sends a child it stops: end now, cleanly.
/// (Tags from `0xffff_fffe_0000_0000` up to the host's notices are the
/// guest library's.)
pub const TAG_SHUTDOWN: u64 = 0xffff_fffe_0000_0001;

/// The exit code of a supervisor that gave up (too many restarts).
pub const ESCALATED: i32 = 70;

/// How a supervisor restarts its children.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Only the child that ended.
    OneForOne,
    /// Every child.
    OneForAll,
    /// The child that ended and those started after it.
    RestForOne,
}

/// When a child is restarted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restart {
    /// Always.
    Permanent,
    /// After an abnormal end only.
    Transient,
    /// Never (and its spec is forgotten).
    Temporary,
}

/// How to start a child.
#[derive(Debug, Clone)]
pub struct ChildSpec {
    /// Its id among the supervisor's children.
    pub id: String,
    /// Its module file.
    pub module: String,
    /// Its arguments (after the program name).
    pub args: Vec<String>,
    /// Its capabilities (`None`: the supervisor's).
    pub caps: Option<Caps>,
    /// Its memory limit in pages.
    pub max_pages: Option<u32>,
    /// Its fuel budget.
    pub fuel: Option<u64>,
    /// When it is restarted.
    pub restart: Restart,
    /// How long it may take to end when stopped before it is killed.
    pub shutdown: Duration,
    /// The cluster nodes it may run on, in order of preference (empty:
    /// this one). Each start takes the first that accepts it, so a child
    /// whose node left the cluster (its end is `noconnection`) is
    /// restarted on the next.
    pub nodes: Vec<String>,
}

impl ChildSpec {
    /// A permanent child `id` running `module`, 1 s to shut down.
    pub fn new(id: &str, module: &str) -> ChildSpec {
        ChildSpec {
            id: id.into(),
            module: module.into(),
            args: Vec::new(),
            caps: None,
            max_pages: None,
            fuel: None,
            restart: Restart::Permanent,
            shutdown: Duration::from_secs(1),
            nodes: Vec::new(),
        }
    }

    /// Adds arguments.
    pub fn args<'a>(mut self, args: impl IntoIterator<Item = &'a str>) -> ChildSpec {
        self.args.extend(args.into_iter().map(String::from));
        self
    }

    /// Sets its capabilities.
    pub fn caps(mut self, caps: Caps) -> ChildSpec {
        self.caps = Some(caps);
        self
    }

    /// Sets its memory limit.
    pub fn max_pages(mut self, pages: u32) -> ChildSpec {
        self.max_pages = Some(pages);
        self
    }

    /// Sets its fuel budget.
    pub fn fuel(mut self, fuel: u64) -> ChildSpec {
        self.fuel = Some(fuel);
        self
    }

    /// Sets its restart type.
    pub fn restart(mut self, restart: Restart) -> ChildSpec {
        self.restart = restart;
        self
    }

    /// Runs it on the first of these cluster nodes that accepts it.
    pub fn nodes<'a>(mut self, nodes: impl IntoIterator<Item = &'a str>) -> ChildSpec {
        self.nodes = nodes.into_iter().map(String::from).collect();
        self
    }

    /// Sets its shutdown time.
    pub fn shutdown(mut self, time: Duration) -> ChildSpec {
        self.shutdown = time;
        self
    }

    /// Starts it, linked to the caller: from `module` when the supervisor
    /// holds it open, else from its file.
    fn start(&self, module: Option<&Module>) -> Result<Pid> {
        let command = match module {
            Some(module) => Command::module(module, &self.module),
            None => Command::path(&self.module),
        };
        let mut command = command.args(self.args.iter().map(String::as_str));
        if let Some(caps) = self.caps {
            command = command.caps(caps);
        }
        if let Some(pages) = self.max_pages {
            command = command.max_pages(pages);
        }
        if let Some(fuel) = self.fuel {
            command = command.fuel(fuel);
        }
        let mut refused = Error::NotFound;
        for node in &self.nodes {
            match command.clone().node(node).spawn_link() {
                Ok(pid) => return Ok(pid),
                Err(e) => refused = e,
            }
        }
        if self.nodes.is_empty() {
            command.spawn_link()
        } else {
            Err(refused)
        }
    }
}

#[derive(Debug)]
struct Child {
    spec: ChildSpec,
    pid: Option<Pid>,
    /// Its module, held open for restarts (`None` until its first start,
    /// or when it cannot be opened: then it starts from its file).
    module: Option<Module>,
}

/// What [`Supervisor::handle`] made of a message.
#[derive(Debug)]
pub enum Event {
    /// A child ended and was restarted (with the others its strategy
    /// restarts): its id and new pid.
    Restarted {
        /// The child.
        id: String,
        /// Its new pid.
        pid: Pid,
        /// How the old one ended.
        status: ExitStatus,
    },
    /// A child ended and is not restarted (transient after a normal end,
    /// temporary).
    Ended {
        /// The child.
        id: String,
        /// How it ended.
        status: ExitStatus,
    },
    /// Not about a child: the caller's to handle.
    Message(Received),
}

/// The supervisor gave up: too many restarts within the period, or its
/// parent ended. Its children are stopped; it should exit with
/// [`ESCALATED`] (what [`Supervisor::run`] does).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GaveUp;

/// A supervisor (see the module docs).
#[derive(Debug)]
pub struct Supervisor {
    strategy: Strategy,
    intensity: u32,
    period: Duration,
    children: Vec<Child>,
    restarts: VecDeque<Duration>,
    parent: Option<Pid>,
}

impl Supervisor {
    /// A supervisor with OTP's default intensity (1 restart in 5 s).
    pub fn new(strategy: Strategy) -> Supervisor {
        Supervisor {
            strategy,
            intensity: 1,
            period: Duration::from_secs(5),
            children: Vec::new(),
            restarts: VecDeque::new(),
            parent: None,
        }
    }

    /// At most `restarts` restarts within `period`.
    pub fn intensity(mut self, restarts: u32, period: Duration) -> Supervisor {
        self.intensity = restarts;
        self.period = period;
        self
    }

    /// Adds a child to start (in the order added).
    pub fn child(mut self, spec: ChildSpec) -> Supervisor {
        self.children.push(Child { spec, pid: None, module: None });
        self
    }

    /// Traps exits and starts the children in order. A child that fails
    /// to start stops those already started. (A parent that started the
    /// supervisor linked — another supervisor does — ends it by ending:
    /// its exit notice makes the supervisor stop its children and give up.)
    pub fn start(&mut self) -> Result<()> {
        mailbox::trap_exit(true);
        let parent = process::info(0)?.parent;
        self.parent = (parent != 0).then_some(parent);
        for i in 0..self.children.len() {
            if let Err(e) = self.start_at(i) {
                self.shutdown();
                return Err(e);
            }
        }
        Ok(())
    }

    fn start_at(&mut self, i: usize) -> Result<Pid> {
        let child = &mut self.children[i];
        if child.module.is_none() {
            child.module = Module::open(&child.spec.module).ok();
        }
        let pid = child.spec.start(child.module.as_ref())?;
        self.children[i].pid = Some(pid);
        Ok(pid)
    }

    fn index_of_pid(&self, pid: Pid) -> Option<usize> {
        self.children.iter().position(|c| c.pid == Some(pid))
    }

    fn index_of(&self, id: &str) -> Result<usize> {
        self.children.iter().position(|c| c.spec.id == id).ok_or(Error::NotFound)
    }

    /// Handles one message from the mailbox: a child's end (restarting
    /// as its type and the strategy say), the parent's end (give up), or
    /// anything else (handed back).
    pub fn handle(&mut self, message: Received) -> core::result::Result<Event, GaveUp> {
        let Some(Notice::Exit { pid, status }) = message.notice().filter(|_| message.tag == TAG_EXIT) else {
            return Ok(Event::Message(message));
        };
        if Some(pid) == self.parent {
            self.shutdown();
            return Err(GaveUp);
        }
        let Some(i) = self.index_of_pid(pid) else { return Ok(Event::Message(message)) };
        self.children[i].pid = None;
        // Reaped, so a long-lived supervisor does not pile up ended children.
        let _ = process::wait(pid);
        let restart = match self.children[i].spec.restart {
            Restart::Permanent => true,
            Restart::Transient => mailbox::is_abnormal(&status),
            Restart::Temporary => false,
        };
        if !restart {
            let id = self.children[i].spec.id.clone();
            if self.children[i].spec.restart == Restart::Temporary {
                self.children.remove(i);
            }
            return Ok(Event::Ended { id, status });
        }
        if self.too_many_restarts() {
            self.shutdown();
            return Err(GaveUp);
        }
        let from = match self.strategy {
            Strategy::OneForOne => i,
            Strategy::OneForAll => 0,
            Strategy::RestForOne => i,
        };
        let to = match self.strategy {
            Strategy::OneForOne => i + 1,
            _ => self.children.len(),
        };
        // Stop the others this strategy restarts, in reverse start order.
        for j in (from..to).rev().filter(|j| *j != i) {
            let _ = self.stop_at(j);
        }
        let id = self.children[i].spec.id.clone();
        let mut new_pid = 0;
        for j in from..to {
            match self.start_at(j) {
                Ok(pid) if j == i => new_pid = pid,
                Ok(_) => {}
                Err(_) => {
                    // A child that cannot start: give up, as OTP does.
                    self.shutdown();
                    return Err(GaveUp);
                }
            }
        }
        Ok(Event::Restarted { id, pid: new_pid, status })
    }

    /// Counts a restart; true when it is one too many for the period.
    fn too_many_restarts(&mut self) -> bool {
        let now = time::monotonic().unwrap_or_default();
        self.restarts.push_back(now);
        while self.restarts.front().is_some_and(|t| now.saturating_sub(*t) > self.period) {
            self.restarts.pop_front();
        }
        self.restarts.len() > self.intensity as usize
    }

    /// Stops child `i` (see the module docs); its spec stays. How it
    /// ended, if it ran.
    fn stop_at(&mut self, i: usize) -> Option<ExitStatus> {
        let pid = self.children[i].pid.take()?;
        stop(pid, self.children[i].spec.shutdown)
    }

    /// Stops every child, in reverse start order.
    pub fn shutdown(&mut self) {
        for i in (0..self.children.len()).rev() {
            let _ = self.stop_at(i);
        }
    }

    /// Starts a new child at run time (after the others); its pid.
    pub fn start_child(&mut self, spec: ChildSpec) -> Result<Pid> {
        if self.children.iter().any(|c| c.spec.id == spec.id) {
            return Err(Error::Exists);
        }
        self.children.push(Child { spec, pid: None, module: None });
        let i = self.children.len() - 1;
        self.start_at(i).inspect_err(|_| {
            self.children.pop();
        })
    }

    /// Stops child `id`; its spec stays (see [`Self::restart_child`]).
    /// How it ended (`None`: it was not running).
    pub fn terminate_child(&mut self, id: &str) -> Result<Option<ExitStatus>> {
        let i = self.index_of(id)?;
        Ok(self.stop_at(i))
    }

    /// Starts a stopped child `id` again, from its module file as it is now;
    /// its pid (`Error::Busy` while it runs).
    pub fn restart_child(&mut self, id: &str) -> Result<Pid> {
        let i = self.index_of(id)?;
        if self.children[i].pid.is_some() {
            return Err(Error::Busy);
        }
        // From the file again: what it holds now.
        self.children[i].module = None;
        self.start_at(i)
    }

    /// Forgets a stopped child `id` (`Error::Busy` while it runs).
    pub fn delete_child(&mut self, id: &str) -> Result<()> {
        let i = self.index_of(id)?;
        if self.children[i].pid.is_some() {
            return Err(Error::Busy);
        }
        self.children.remove(i);
        Ok(())
    }

    /// Every child: its id, its pid while it runs, its restart type, in
    /// start order.
    pub fn which_children(&self) -> Vec<(String, Option<Pid>, Restart)> {
        self.children.iter().map(|c| (c.spec.id.clone(), c.pid, c.spec.restart)).collect()
    }

    /// Supervises until it gives up, then exits with [`ESCALATED`].
    /// Messages that are not about its children are dropped.
    pub fn run(mut self) -> ! {
        loop {
            let Ok(message) = mailbox::receive(&[], None) else { continue };
            if self.handle(message).is_err() {
                process::exit(ESCALATED);
            }
        }
    }
}

/// Stops `pid` (not linked any more): asks it to end, waits up to
/// `grace`, then kills it; returns how it ended once it has (and reaps
/// it).
fn stop(pid: Pid, grace: Duration) -> Option<ExitStatus> {
    let _ = mailbox::unlink(pid);
    let status = wait_down(pid, grace);
    let _ = process::wait(pid);
    status
}

/// Asks `pid` to end and waits for its down notice (see [`stop`]).
fn wait_down(pid: Pid, grace: Duration) -> Option<ExitStatus> {
    let Ok(reference) = mailbox::monitor(pid) else { return None };
    if let Ok(child) = ProcessRef::of(pid) {
        let _ = child.try_send(TAG_SHUTDOWN, &[]);
    }
    let mut killed = false;
    loop {
        let timeout = if killed { None } else { Some(grace) };
        match mailbox::receive(&[TAG_DOWN], timeout) {
            Ok(m) => match m.notice() {
                Some(Notice::Down { reference: r, status, .. }) if r == reference => return status,
                _ => {}
            },
            Err(Error::TimedOut) => {
                let _ = process::kill(pid);
                killed = true;
            }
            Err(_) => return None,
        }
    }
}
