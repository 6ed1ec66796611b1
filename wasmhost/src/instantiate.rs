//! Making an instance whose memories wasmd provides.
//!
//! The module cache rewrites every module so that its memories are
//! imports (see [`crate::memory_import`]); [`Linkers::instantiate`]
//! supplies them: memory 0 over a [`crate::arena::Slot`] (kept by the
//! store's limiter, so it lives as long as the store and knows how far
//! the memory grew), other memories —
//! and memory 0 when there is no slot for it — on the heap. Each is
//! created with the type the module declared and counted by the store's
//! limiter like any memory.
//!
//! A wasmi linker resolves imports by name and holds host functions for
//! every store, but a memory belongs to one store: so each engine
//! generation keeps a template linker with the hostcalls and a few spare
//! copies of it, and an instantiation borrows one, defines its memories
//! in it (shadowing the previous ones) and gives it back.

use std::sync::Mutex;

use wasmi::{Engine, Extern, Instance, Linker, Memory, MemoryType, Store};

use crate::module_cache::CompiledModule;
use crate::process::ProcessState;

/// Import names of memories 0, 1, …: a module may have this many.
pub(crate) const MEMORY_NAMES: [&str; 8] = ["0", "1", "2", "3", "4", "5", "6", "7"];

/// A memory wasmd provides for a module.
#[derive(Clone, Copy, Debug)]
pub(crate) struct MemorySpec {
    /// The type the module declared.
    pub(crate) ty: MemoryType,
    /// Whether it may live in an arena slot: memory 0 of 64 KiB pages
    /// and 32-bit addresses.
    pub(crate) slot: bool,
}

/// The linkers of one engine generation.
#[derive(Debug)]
pub(crate) struct Linkers {
    template: Linker<ProcessState>,
    spare: Mutex<Vec<Linker<ProcessState>>>,
}

impl Linkers {
    /// Linkers with wasmd's hostcalls and WASI preview 1 for `engine`.
    pub(crate) fn new(engine: &Engine) -> Self {
        let mut linker = Linker::new(engine);
        // Defining a fixed set of distinct names on a fresh linker cannot fail.
        if let Err(e) = crate::hostcalls::define(&mut linker).and_then(|()| crate::wasi::define(&mut linker))
        {
            panic!("hostcall table is inconsistent: {e}");
        }
        linker.allow_shadowing(true);
        Self { template: linker, spare: Mutex::new(Vec::new()) }
    }

    /// Instantiates `module` in `store` with fresh memories and runs its
    /// start function.
    pub(crate) fn instantiate(
        &self,
        store: &mut Store<ProcessState>,
        module: &CompiledModule,
    ) -> Result<Instance, wasmi::Error> {
        let spare = self.spare.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let mut linker = spare.unwrap_or_else(|| self.template.clone());
        let instance = define_memories(&mut linker, store, &module.memories)
            .and_then(|()| linker.instantiate_and_start(&mut *store, &module.module));
        // The memories left defined in it are this store's: the next user
        // defines its own over them.
        self.spare.lock().unwrap_or_else(|e| e.into_inner()).push(linker);
        instance
    }
}

fn define_memories(
    linker: &mut Linker<ProcessState>,
    store: &mut Store<ProcessState>,
    memories: &[MemorySpec],
) -> Result<(), wasmi::Error> {
    for (spec, name) in memories.iter().zip(MEMORY_NAMES) {
        let memory = provide(store, *spec)?;
        linker.define(crate::memory_import::MODULE, name, Extern::Memory(memory))?;
    }
    Ok(())
}

/// A memory as `spec` says.
fn provide(store: &mut Store<ProcessState>, spec: MemorySpec) -> Result<Memory, wasmi::Error> {
    let MemorySpec { ty, slot } = spec;
    let state = store.data_mut();
    if let (true, Some(arena)) = (slot, state.env.arena.as_ref()) {
        let declared = ty.maximum().map_or(usize::MAX, |pages| (pages as usize).saturating_mul(1 << 16));
        if let Some(mut slot) = arena.slot(state.limiter.max_bytes().min(declared)) {
            if let Some(bytes) = slot.lend() {
                // The slot goes into the store's data before the memory is
                // made of it: it outlives the memory.
                state.limiter.slot = Some(slot);
                return Memory::new_static(&mut *store, ty, bytes);
            }
        }
    }
    Memory::new(&mut *store, ty)
}
