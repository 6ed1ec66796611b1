//! Content-addressed module cache.
//!
//! A module's bytes are hashed (SHA-256); the first spawn compiles and
//! checks them, later spawns of the same bytes reuse the compiled
//! [`CompiledModule`]. Checking happens once, at compile time: every import
//! must be a known hostcall of module `"wasmd"`, `_start` must be an
//! exported `() -> ()` function. The cache is shared with worker threads
//! (compiling happens there) and bounded: beyond its capacity, entries no
//! live process uses are evicted.
//!
//! wasmi keeps compiled code in its engine for the engine's life. So
//! modules are compiled into engine *generations* ([`Generation`]): after
//! [`MODULES_PER_GENERATION`] compilations a new engine takes over, and an
//! old one — with all its code — is freed once no cached module and no
//! process of it is left (every [`CompiledModule`] and every store holds
//! its generation's engine). Compiled code is thus bounded by the modules
//! in use, not by every module ever spawned.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use sha2::{Digest, Sha256};
use wasmd_abi::hostcall;
use wasmi::errors::ErrorKind;
use wasmi::{Config, Engine, ExternType, Module};

use crate::error::SpawnError;
use crate::memory_import;

/// A module hash (SHA-256 of its bytes).
pub type ModuleHash = [u8; 32];

/// Compilations per engine generation.
pub const MODULES_PER_GENERATION: usize = 256;

/// One wasmi engine and the modules compiled into it.
#[derive(Debug)]
pub struct Generation {
    /// Its number (the first is 1).
    pub id: u64,
    /// The engine.
    pub engine: Engine,
}

/// A compiled, checked module.
#[derive(Debug)]
pub struct CompiledModule {
    /// SHA-256 of the bytes it was compiled from.
    pub hash: ModuleHash,
    /// The wasmi module.
    pub module: Module,
    /// The generation it was compiled into (kept alive by it).
    pub generation: Arc<Generation>,
    /// Bytes of the module it was compiled from (binary or WAT).
    pub size: usize,
    /// Types of its memories, in index order: wasmd provides them (see
    /// [`crate::instantiate`]).
    pub(crate) memories: Box<[crate::instantiate::MemorySpec]>,
    /// Bytes of its memories' initial pages, in all.
    pub(crate) initial_bytes: u64,
    /// Whether an instance of it was made once: its imports resolve, its
    /// segments fit and it has an entry point (see
    /// [`crate::services::spawn`]'s deferred starts).
    pub(crate) instantiated: std::sync::atomic::AtomicBool,
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

/// What the cache guards.
/// Module files remembered by path (the map starts over beyond).
const PATHS_KEPT: usize = 4096;

#[derive(Debug)]
struct Inner {
    modules: HashMap<ModuleHash, Arc<CompiledModule>>,
    /// The module each file held when last read, by resolved path.
    by_path: HashMap<std::path::PathBuf, (crate::platform::FileIdentity, ModuleHash)>,
    current: Arc<Generation>,
    compiled: usize,
    /// Every generation made, to count the live ones.
    made: Vec<Weak<Generation>>,
}

/// The cache. Cheap to clone (shared).
#[derive(Clone, Debug)]
pub struct ModuleCache {
    config: Config,
    inner: Arc<Mutex<Inner>>,
    capacity: usize,
}

impl ModuleCache {
    /// An empty cache making engines with `config`, keeping up to
    /// `capacity` modules that no process uses.
    pub fn new(config: Config, capacity: usize) -> Self {
        let first = Arc::new(Generation { id: 1, engine: Engine::new(&config) });
        let inner = Inner {
            modules: HashMap::new(),
            by_path: HashMap::new(),
            made: vec![Arc::downgrade(&first)],
            current: first,
            compiled: 0,
        };
        Self { config, inner: Arc::new(Mutex::new(inner)), capacity }
    }

    /// Generations whose engine is still alive (held by a module or a
    /// process), the current one included.
    pub fn live_generations(&self) -> usize {
        self.lock().made.iter().filter(|g| g.strong_count() > 0).count()
    }

    /// Hashes module bytes.
    pub fn hash(bytes: &[u8]) -> ModuleHash {
        Sha256::digest(bytes).into()
    }

    /// The module file `path` names (through `loader`: its checks, its
    /// resolution) and its resolved path. The file is read and hashed
    /// only when its identity changed since it was last loaded, or the
    /// module left the cache, or the loader cannot tell; otherwise a spawn
    /// by path costs one `stat`. Call it on a worker thread.
    pub fn load(
        &self,
        loader: &dyn crate::platform::ModuleLoader,
        base_dir: Option<&std::path::Path>,
        path: &str,
    ) -> Result<(Arc<CompiledModule>, std::path::PathBuf), SpawnError> {
        let identity = loader.identify(base_dir, path)?;
        if let Some((resolved, id)) = &identity {
            let known = self.lock().by_path.get(resolved).filter(|(i, _)| i == id).map(|(_, h)| *h);
            if let Some(module) = known.and_then(|h| self.get(&h)) {
                return Ok((module, resolved.clone()));
            }
        }
        // The identity was taken before the read: a file changed in
        // between is read again next time, never taken for the old one.
        let loaded = loader.load(base_dir, path)?;
        let module = self.compile(&loaded.bytes)?;
        if let Some((resolved, id)) = identity.filter(|(r, _)| *r == loaded.path) {
            let mut inner = self.lock();
            if inner.by_path.len() >= PATHS_KEPT {
                inner.by_path.clear();
            }
            inner.by_path.insert(resolved, (id, module.hash));
        }
        Ok((module, loaded.path))
    }

    /// The cached module for `hash`, if any.
    pub fn get(&self, hash: &ModuleHash) -> Option<Arc<CompiledModule>> {
        self.lock().modules.get(hash).cloned()
    }

    /// The compiled module for `bytes` (binary or WAT), from the cache or
    /// compiled now. Compiling can take long: call it on a worker thread.
    pub fn compile(&self, bytes: &[u8]) -> Result<Arc<CompiledModule>, SpawnError> {
        let hash = Self::hash(bytes);
        if let Some(m) = self.get(&hash) {
            return Ok(m);
        }
        let generation = self.generation_for_one_more();
        let provided = provide_memories(bytes);
        let rewritten = match &provided {
            Ok(p) => p.bytes.as_deref().unwrap_or(bytes),
            // Compiled as it is, for wasmi's own words on what is wrong.
            Err(_) => bytes,
        };
        // wasmi's translator has assertions a hostile module can trip
        // (found by fuzzing); a panic there is a refused module, never a
        // dead worker thread.
        let translated = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            Module::new(&generation.engine, rewritten)
        }));
        let module = match translated {
            Ok(Ok(module)) => module,
            Ok(Err(e)) if provided.as_ref().is_ok_and(|p| p.bytes.is_some()) => {
                // wasmi's offsets are in the rewritten bytes: its words
                // on the input itself (refused again, as its bodies are).
                let original = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    Module::new(&generation.engine, bytes).err()
                }));
                return Err(invalid(bytes, &original.ok().flatten().unwrap_or(e)));
            }
            Ok(Err(e)) => return Err(invalid(bytes, &e)),
            Err(_) => return Err(SpawnError::InvalidModule("the module trips the compiler".into())),
        };
        let provided = provided.map_err(SpawnError::InvalidModule)?;
        check_memory_imports(&provided.memories)?;
        let memories = check_module(&module)?
            .iter()
            .zip(&provided.memories)
            .enumerate()
            .map(|(i, (ty, decl))| crate::instantiate::MemorySpec {
                ty: *ty,
                slot: i == 0
                    && !decl.ty.memory64
                    && !decl.ty.shared
                    && decl.ty.page_size_log2.is_none_or(|p| p == 16),
            })
            .collect::<Box<[_]>>();
        let initial_bytes = memories
            .iter()
            .zip(&provided.memories)
            .map(|(m, decl)| {
                m.ty.minimum().saturating_mul(1u64 << decl.ty.page_size_log2.unwrap_or(16).min(16))
            })
            .fold(0u64, u64::saturating_add);
        let size = bytes.len();
        let compiled = Arc::new(CompiledModule {
            hash,
            module,
            generation,
            size,
            memories,
            initial_bytes,
            instantiated: Default::default(),
        });
        let mut inner = self.lock();
        if inner.modules.len() >= self.capacity {
            inner.modules.retain(|_, m| Arc::strong_count(m) > 1);
        }
        Ok(inner.modules.entry(hash).or_insert(compiled).clone())
    }

    /// The generation to compile one more module into: the current one,
    /// or a new one when it is full (then cached modules of older
    /// generations that no process uses are dropped, so their engines can
    /// go).
    fn generation_for_one_more(&self) -> Arc<Generation> {
        let mut inner = self.lock();
        if inner.compiled >= MODULES_PER_GENERATION {
            let id = inner.current.id + 1;
            let next = Arc::new(Generation { id, engine: Engine::new(&self.config) });
            inner.made.retain(|g| g.strong_count() > 0);
            inner.made.push(Arc::downgrade(&next));
            inner.current = next;
            inner.compiled = 0;
            inner.modules.retain(|_, m| m.generation.id == id || Arc::strong_count(m) > 1);
        }
        inner.compiled += 1;
        inner.current.clone()
    }

    /// Number of cached modules.
    pub fn len(&self) -> usize {
        self.lock().modules.len()
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding this lock cannot leave the map inconsistent.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The module's bytes with its memories turned into imports wasmd
/// provides (binary or WAT in; a binary out when it had memories).
fn provide_memories(bytes: &[u8]) -> Result<memory_import::Provided, String> {
    let binary = if bytes.starts_with(b"\0asm") {
        std::borrow::Cow::Borrowed(bytes)
    } else {
        std::borrow::Cow::Owned(wat::parse_bytes(bytes).map_err(|e| e.to_string())?.into_owned())
    };
    let mut provided = memory_import::provide_memories(&binary).map_err(|e| e.to_string())?;
    if provided.bytes.is_none() && !bytes.starts_with(b"\0asm") {
        provided.bytes = Some(binary.into_owned());
    }
    Ok(provided)
}

/// A module may import its memory as `env.memory` (as C toolchains
/// name it) or `wasmd.memory`, and have up to
/// [`crate::instantiate::MEMORY_NAMES`] memories.
fn check_memory_imports(memories: &[memory_import::MemoryDecl]) -> Result<(), SpawnError> {
    if memories.len() > crate::instantiate::MEMORY_NAMES.len() {
        return Err(SpawnError::InvalidModule(format!(
            "{} memories; wasmd runs modules with up to {}",
            memories.len(),
            crate::instantiate::MEMORY_NAMES.len()
        )));
    }
    for (module, name) in memories.iter().filter_map(|m| m.imported_from.as_ref()) {
        if !matches!((module.as_str(), name.as_str()), ("env" | hostcall::MODULE, "memory")) {
            return Err(SpawnError::UnknownImport { module: module.clone(), name: name.clone() });
        }
    }
    Ok(())
}

/// Checks imports and the entry point once, at compile time: the types
/// of the memories wasmd provides, in index order.
fn check_module(module: &Module) -> Result<Box<[wasmi::MemoryType]>, SpawnError> {
    let mut memories = Vec::new();
    for import in module.imports() {
        let known = match import.ty() {
            ExternType::Func(_) => {
                (import.module() == hostcall::MODULE && hostcall::NAMES.contains(&import.name()))
                    || (import.module() == crate::wasi::names::MODULE
                        && crate::wasi::names::NAMES.contains(&import.name()))
            }
            ExternType::Memory(ty) => {
                let next = crate::instantiate::MEMORY_NAMES.get(memories.len());
                memories.push(*ty);
                import.module() == memory_import::MODULE && next == Some(&import.name())
            }
            _ => false,
        };
        if !known {
            return Err(SpawnError::UnknownImport {
                module: import.module().to_string(),
                name: import.name().to_string(),
            });
        }
    }
    match module.get_export(hostcall::ENTRY) {
        Some(ExternType::Func(f)) if f.params().is_empty() && f.results().is_empty() => Ok(memories.into()),
        _ => Err(SpawnError::NoEntry),
    }
}

/// A one-line description of why `bytes` did not compile: a binary that
/// is invalid, text that is not WAT, or WAT text whose module is invalid.
fn invalid(bytes: &[u8], e: &wasmi::Error) -> SpawnError {
    let msg = e.to_string();
    let first = msg.lines().next().unwrap_or_default().trim().to_string();
    if bytes.starts_with(b"\0asm") {
        SpawnError::InvalidModule(first)
    } else if bytes.is_empty() {
        SpawnError::InvalidModule("the file is empty".into())
    } else {
        match e.kind() {
            ErrorKind::Wat(_) => SpawnError::NotWasm(first),
            // The offset is in the binary the text was encoded to, not in
            // the text: say so.
            ErrorKind::Wasm(e) => SpawnError::InvalidWat(format!(
                "{} (at byte {:#x} of the binary the text encodes to)",
                e.message(),
                e.offset()
            )),
            _ => SpawnError::InvalidWat(first),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache() -> ModuleCache {
        ModuleCache::new(Config::default(), 4)
    }

    /// A loader of one file whose identity the test sets, counting reads.
    struct OneFile {
        identity: Mutex<Option<crate::platform::FileIdentity>>,
        reads: std::sync::atomic::AtomicUsize,
    }

    impl crate::platform::ModuleLoader for OneFile {
        fn load(
            &self,
            _: Option<&std::path::Path>,
            _: &str,
        ) -> Result<crate::platform::LoadedModule, crate::platform::LoadError> {
            self.reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let bytes = br#"(module (memory (export "memory") 1) (func (export "_start")))"#.to_vec();
            Ok(crate::platform::LoadedModule { bytes, path: "/m.wat".into() })
        }

        fn identify(
            &self,
            _: Option<&std::path::Path>,
            _: &str,
        ) -> Result<Option<(std::path::PathBuf, crate::platform::FileIdentity)>, crate::platform::LoadError>
        {
            Ok(self.identity.lock().unwrap().map(|i| ("/m.wat".into(), i)))
        }
    }

    #[test]
    fn a_file_is_read_again_only_when_its_identity_changed() {
        let id = |modified_ns| crate::platform::FileIdentity {
            device: 1,
            inode: 2,
            len: 3,
            modified_ns,
            changed_ns: 0,
        };
        let file = OneFile { identity: Mutex::new(Some(id(10))), reads: Default::default() };
        let reads = || file.reads.load(std::sync::atomic::Ordering::SeqCst);
        let cache = cache();
        let (first, path) = cache.load(&file, None, "m.wat").unwrap();
        assert_eq!((reads(), path.to_str()), (1, Some("/m.wat")));
        let (again, _) = cache.load(&file, None, "m.wat").unwrap();
        assert_eq!(reads(), 1, "same identity: not read");
        assert!(Arc::ptr_eq(&first, &again));
        *file.identity.lock().unwrap() = Some(id(11));
        cache.load(&file, None, "m.wat").unwrap();
        assert_eq!(reads(), 2, "changed: read again");
        *file.identity.lock().unwrap() = None;
        cache.load(&file, None, "m.wat").unwrap();
        cache.load(&file, None, "m.wat").unwrap();
        assert_eq!(reads(), 4, "a loader that cannot tell: read every time");
    }

    #[test]
    fn wat_that_does_not_validate_is_called_invalid_not_unparsable() {
        let wat = r#"(module (func (export "_start") (result i32) (i64.const 1)))"#;
        let err = cache().compile(wat.as_bytes()).unwrap_err();
        let SpawnError::InvalidWat(ref why) = err else { panic!("{err:?}") };
        assert!(why.contains("type mismatch"), "{why}");
        assert!(why.contains("at byte 0x"), "{why}");
        let msg = err.to_string();
        assert!(msg.contains("the WAT text parses, but the module is invalid: type mismatch"), "{msg}");
        assert!(!msg.contains("not WAT text"), "{msg}");
    }

    #[test]
    fn an_invalid_body_is_refused_at_its_offset_in_the_input() {
        // The memory moves to the import section in the rewrite, and the
        // body's offset with it; the error names the input's offset.
        let wasm =
            wat::parse_str(r#"(module (memory 1) (func (export "_start") (result i32) (i64.const 1)))"#)
                .expect("parses");
        let expected = wasmparser::Validator::new().validate_all(&wasm).err().expect("invalid").offset();
        let rewritten = provide_memories(&wasm).expect("sections are valid").bytes.expect("rewritten");
        let moved = wasmparser::Validator::new().validate_all(&rewritten).err().expect("invalid").offset();
        assert_ne!(moved, expected, "the rewrite moved the body");
        let err = cache().compile(&wasm).unwrap_err();
        let SpawnError::InvalidModule(ref why) = err else { panic!("{err:?}") };
        assert!(why.contains("type mismatch"), "{why}");
        assert!(
            why.contains(&format!("{expected:#x}")) || why.contains(&format!("{expected}")),
            "{why} (input offset {expected}, rewritten {moved})"
        );
    }

    #[test]
    fn text_that_is_not_wat_says_so() {
        let err = cache().compile(b"(module (func (i32.frobnicate)))").unwrap_err();
        assert!(matches!(err, SpawnError::NotWasm(_)), "{err:?}");
        assert!(err.to_string().contains("no wasm header, and not WAT text either"), "{err}");
        let err = cache().compile(b"these are not the bytes").unwrap_err();
        assert!(matches!(err, SpawnError::NotWasm(_)), "{err:?}");
    }
}
