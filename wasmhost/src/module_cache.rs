//! Content-addressed module cache.
//!
//! A module's bytes are hashed (SHA-256); the first spawn compiles and
//! checks them, later spawns of the same bytes reuse the compiled
//! [`CompiledModule`]. Checking happens once, at compile time: every import
//! must be a known hostcall of module `"wasmd"`, `_start` must be an
//! exported `() -> ()` function. The cache is shared with worker threads
//! (compiling happens there) and bounded: beyond its capacity, entries no
//! live process uses are evicted.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};
use wasmd_abi::hostcall;
use wasmi::{Engine, ExternType, Module};

use crate::error::SpawnError;

/// A module hash (SHA-256 of its bytes).
pub type ModuleHash = [u8; 32];

/// A compiled, checked module.
#[derive(Debug)]
pub struct CompiledModule {
    /// SHA-256 of the bytes it was compiled from.
    pub hash: ModuleHash,
    /// The wasmi module.
    pub module: Module,
}

impl CompiledModule {
    /// First 8 bytes of the hash.
    pub fn hash_prefix(&self) -> [u8; 8] {
        let mut p = [0; 8];
        p.copy_from_slice(&self.hash[..8]);
        p
    }

    /// The hash prefix as 16 hex digits.
    pub fn hash_hex(&self) -> String {
        self.hash_prefix().iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// The cache. Cheap to clone (shared).
#[derive(Clone, Debug)]
pub struct ModuleCache {
    engine: Engine,
    inner: Arc<Mutex<HashMap<ModuleHash, Arc<CompiledModule>>>>,
    capacity: usize,
}

impl ModuleCache {
    /// An empty cache for `engine`, keeping up to `capacity` modules that
    /// no process uses.
    pub fn new(engine: Engine, capacity: usize) -> Self {
        Self { engine, inner: Arc::default(), capacity }
    }

    /// Hashes module bytes.
    pub fn hash(bytes: &[u8]) -> ModuleHash {
        Sha256::digest(bytes).into()
    }

    /// The cached module for `hash`, if any.
    pub fn get(&self, hash: &ModuleHash) -> Option<Arc<CompiledModule>> {
        self.lock().get(hash).cloned()
    }

    /// The compiled module for `bytes` (binary or WAT), from the cache or
    /// compiled now. Compiling can take long: call it on a worker thread.
    pub fn compile(&self, bytes: &[u8]) -> Result<Arc<CompiledModule>, SpawnError> {
        let hash = Self::hash(bytes);
        if let Some(m) = self.get(&hash) {
            return Ok(m);
        }
        let module = Module::new(&self.engine, bytes).map_err(|e| invalid(bytes, &e))?;
        check_module(&module)?;
        let compiled = Arc::new(CompiledModule { hash, module });
        let mut map = self.lock();
        if map.len() >= self.capacity {
            map.retain(|_, m| Arc::strong_count(m) > 1);
        }
        Ok(map.entry(hash).or_insert(compiled).clone())
    }

    /// Number of cached modules.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ModuleHash, Arc<CompiledModule>>> {
        // A panic while holding this lock cannot leave the map inconsistent.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Checks imports and the entry point once, at compile time.
fn check_module(module: &Module) -> Result<(), SpawnError> {
    for import in module.imports() {
        let known = import.module() == hostcall::MODULE && hostcall::NAMES.contains(&import.name());
        if !known || !matches!(import.ty(), ExternType::Func(_)) {
            return Err(SpawnError::UnknownImport {
                module: import.module().to_string(),
                name: import.name().to_string(),
            });
        }
    }
    match module.get_export(hostcall::ENTRY) {
        Some(ExternType::Func(f)) if f.params().is_empty() && f.results().is_empty() => Ok(()),
        _ => Err(SpawnError::NoEntry),
    }
}

/// A one-line description of why `bytes` did not compile.
fn invalid(bytes: &[u8], e: &wasmi::Error) -> SpawnError {
    let msg = e.to_string();
    let first = msg.lines().next().unwrap_or_default().trim();
    if bytes.starts_with(b"\0asm") {
        SpawnError::InvalidModule(first.to_string())
    } else if bytes.is_empty() {
        SpawnError::InvalidModule("the file is empty".into())
    } else {
        SpawnError::InvalidModule(format!("no wasm header, and not WAT text either ({first})"))
    }
}
