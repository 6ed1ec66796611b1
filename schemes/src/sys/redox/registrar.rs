//! The registrar thread: it names guest schemes in the namespace and
//! removes their names when they go away. Both go through the namespace
//! manager, which the serving thread must never wait on (see
//! `redox-notes.md`, "Verified inside a booted Redox").

use std::sync::mpsc;

use syscall::error::Error;

/// What the registrar thread does to the namespace.
enum NameChange {
    /// Name a scheme by its capability fd (closed afterwards).
    Register(String, usize),
    /// Remove a name.
    Remove(String),
}

/// A thread that names guest schemes in the namespace and removes their
/// names when they go away (both go through the namespace manager, which
/// the serving thread must never wait on). Changes are applied in order,
/// so a name removed and registered again by a new provider works.
pub struct Registrar {
    tx: mpsc::Sender<NameChange>,
}

impl Registrar {
    pub fn start() -> Self {
        let (tx, rx) = mpsc::channel::<NameChange>();
        let spawned = std::thread::Builder::new().name("wasmd-registrar".into()).spawn(move || {
            for change in rx {
                match change {
                    NameChange::Register(name, cap_fd) => {
                        let result = libredox::call::getns()
                            .and_then(|ns| libredox::call::register_scheme_to_ns(ns, &name, cap_fd));
                        match result {
                            Ok(()) => log::info!("guest scheme {name} registered"),
                            Err(e) => log::warn!("registering guest scheme {name}: {e}"),
                        }
                        let _ = libredox::call::close(cap_fd);
                    }
                    NameChange::Remove(name) => {
                        // The namespace manager removes a scheme when its
                        // bare `/scheme/NAME` is unlinked on the namespace.
                        let result = libredox::call::getns()
                            .map_err(|e| Error::new(e.errno()))
                            .and_then(|ns| syscall::unlinkat(ns, format!("/scheme/{name}"), 0));
                        match result {
                            Ok(_) => log::info!("guest scheme {name} removed"),
                            Err(e) => log::warn!("removing guest scheme {name}: {e}"),
                        }
                    }
                }
            }
        });
        if let Err(e) = spawned {
            log::error!("no registrar thread, guest schemes stay under /scheme/wasm/scheme: {e}");
        }
        Self { tx }
    }

    /// Asks the thread to register `name` for the scheme capability `cap_fd`
    /// (closed by the thread afterwards).
    pub fn register(&self, name: String, cap_fd: usize) {
        if let Err(mpsc::SendError(NameChange::Register(_, fd))) =
            self.tx.send(NameChange::Register(name, cap_fd))
        {
            let _ = libredox::call::close(fd);
        }
    }

    /// Asks the thread to remove `name` from the namespace.
    pub fn remove(&self, name: String) {
        let _ = self.tx.send(NameChange::Remove(name));
    }
}
