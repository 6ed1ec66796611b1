//! Turn every linear memory of a module into an import that wasmd supplies.
//!
//! wasmd backs each guest's linear memory with its own mmap'd arena, so it
//! must create the memories itself rather than let the interpreter allocate
//! them. Once per module, at load time, [`provide_memories`] rewrites the
//! binary so that the module defines no memory at all:
//!
//! * memory `i` of the module (imported memories first, in import order,
//!   then defined ones, in memory-section order) becomes the import
//!   (`"wasmd:memory"`, `"i"`) with exactly its declared type;
//! * original memory imports are replaced where they stand, defined
//!   memories are appended after all other imports and the memory section
//!   is dropped, so the memory index space is unchanged;
//! * every other section (code, data, exports, names, other custom
//!   sections, ...) is copied byte for byte, in place. Memories do not count
//!   in any other index space, so function, table, global and tag indices
//!   stay valid.
//!
//! Data flow: the loader passes the module bytes to [`provide_memories`],
//! compiles [`Provided::bytes`] (or the input itself when it is `None`: the
//! module has no memory), then for each [`MemoryDecl`] creates an
//! arena-backed memory of that type (honouring what an original import,
//! [`MemoryDecl::imported_from`], asked for) and defines it in the linker
//! under (`MODULE`, index) before instantiating.
//!
//! The input's sections are validated (wasmparser's default feature set,
//! a superset of what wasmi accepts) before it is rewritten, and every
//! failure is an error: hostile bytes never panic. Function bodies are
//! not: wasmi validates each one when it compiles the output, where they
//! are unchanged.

use core::ops::Range;

use wasm_encoder::reencode::{self, Reencode, RoundtripReencoder};
use wasm_encoder::{ImportSection, RawSection};
use wasmparser::{Encoding, ImportSectionReader, Parser, Payload, TypeRef, Validator};

/// Import module name under which wasmd supplies memories.
pub(crate) const MODULE: &str = "wasmd:memory";

/// One memory of the module, in memory index order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MemoryDecl {
    /// The type as declared (min, max, memory64, shared, page size).
    pub(crate) ty: wasmparser::MemoryType,
    /// (module, name) of the original import; `None` when the module defined it.
    pub(crate) imported_from: Option<(String, String)>,
}

/// The outcome of [`provide_memories`].
#[derive(Debug)]
pub(crate) struct Provided {
    /// The rewritten module; `None` when the module has no memory at all:
    /// use the input unchanged.
    pub(crate) bytes: Option<Vec<u8>>,
    /// Every memory of the module, index `i` imported as (`MODULE`, `"i"`).
    pub(crate) memories: Vec<MemoryDecl>,
}

/// Why a module could not be rewritten.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RewriteError {
    /// The bytes are not a valid core module (wasmparser's message).
    #[error("invalid WebAssembly module: {0}")]
    Invalid(#[from] wasmparser::BinaryReaderError),
    /// The bytes are a component, not a core module.
    #[error("WebAssembly components are not supported, only core modules")]
    Component,
    /// A non-memory import from [`MODULE`] would clash with the memories.
    #[error("the module imports {name:?} from {:?}, which is reserved for memories", MODULE)]
    ReservedImport { name: String },
    /// wasm-encoder could not re-encode an import (not expected once valid).
    #[error("re-encoding the module failed: {0}")]
    Encode(String),
}

impl From<reencode::Error> for RewriteError {
    fn from(err: reencode::Error) -> Self {
        match err {
            // The reencoder's Display drops the parser's message: keep it.
            reencode::Error::ParseError(err) => Self::Invalid(err),
            other => Self::Encode(other.to_string()),
        }
    }
}

/// Rewrites `wasm` so that all its memories are imports from [`MODULE`].
pub(crate) fn provide_memories(wasm: &[u8]) -> Result<Provided, RewriteError> {
    // A component header is rejected by name rather than as "invalid".
    if wasm.starts_with(b"\0asm") && wasm.get(6..8) == Some(&[1, 0][..]) {
        return Err(RewriteError::Component);
    }
    let memories = validate_and_collect(wasm)?;
    if memories.is_empty() {
        return Ok(Provided { bytes: None, memories });
    }
    let mut writer = Writer { wasm, memories: &memories, out: wasm_encoder::Module::new(), imports: false };
    for payload in Parser::new(0).parse_all(wasm) {
        let payload = payload?;
        match &payload {
            Payload::Version { .. } | Payload::CodeSectionEntry(_) => {}
            Payload::CustomSection(_) | Payload::TypeSection(_) => writer.copy(&payload)?,
            Payload::ImportSection(section) => writer.imports(Some(section.clone()))?,
            // Every memory is an import now: the memory section goes.
            Payload::MemorySection(_) => writer.imports(None)?,
            Payload::End(_) => writer.imports(None)?,
            _ => {
                // Any other section follows the import section.
                writer.imports(None)?;
                writer.copy(&payload)?;
            }
        }
    }
    Ok(Provided { bytes: Some(writer.out.finish()), memories })
}

/// Validates the module and lists its memories in index order.
fn validate_and_collect(wasm: &[u8]) -> Result<Vec<MemoryDecl>, RewriteError> {
    let mut validator = Validator::new();
    let mut imported = Vec::new();
    let mut defined = Vec::new();
    for payload in Parser::new(0).parse_all(wasm) {
        let payload = payload?;
        if let Payload::Version { encoding: Encoding::Component, .. } = payload {
            return Err(RewriteError::Component);
        }
        // Function bodies are left to wasmi, which validates every one
        // eagerly when it compiles the output (their indices and bytes
        // are unchanged): validating them here too made a compile 1.45
        // times bare wasmi's (`wasmd-bench --only compile`).
        validator.payload(&payload)?;
        match payload {
            Payload::ImportSection(section) => {
                for import in section.into_imports() {
                    let import = import?;
                    match import.ty {
                        TypeRef::Memory(ty) => imported.push(MemoryDecl {
                            ty,
                            imported_from: Some((import.module.to_owned(), import.name.to_owned())),
                        }),
                        _ if import.module == MODULE => {
                            return Err(RewriteError::ReservedImport { name: import.name.to_owned() });
                        }
                        _ => {}
                    }
                }
            }
            Payload::MemorySection(section) => {
                for ty in section {
                    defined.push(MemoryDecl { ty: ty?, imported_from: None });
                }
            }
            _ => {}
        }
    }
    imported.append(&mut defined);
    Ok(imported)
}

/// The output module under construction.
struct Writer<'a> {
    wasm: &'a [u8],
    memories: &'a [MemoryDecl],
    out: wasm_encoder::Module,
    /// Whether the import section has been written.
    imports: bool,
}

impl Writer<'_> {
    /// Copies a section unchanged.
    fn copy(&mut self, payload: &Payload<'_>) -> Result<(), RewriteError> {
        let (id, range) = payload.as_section().ok_or_else(|| encode_error("payload is not a section"))?;
        let data = slice(self.wasm, range).ok_or_else(|| encode_error("section outside the module"))?;
        self.out.section(&RawSection { id, data });
        Ok(())
    }

    /// Writes the import section, once: the original imports with memories
    /// replaced in place, then the defined memories.
    fn imports(&mut self, original: Option<ImportSectionReader<'_>>) -> Result<(), RewriteError> {
        if self.imports {
            return Ok(());
        }
        self.imports = true;
        let mut section = ImportSection::new();
        let mut reencoder = RoundtripReencoder;
        let mut next = 0;
        for import in original.into_iter().flat_map(ImportSectionReader::into_imports) {
            let import = import?;
            if let TypeRef::Memory(ty) = import.ty {
                section.import(MODULE, &next.to_string(), reencoder.memory_type(ty)?);
                next += 1;
            } else {
                section.import(import.module, import.name, reencoder.entity_type(import.ty)?);
            }
        }
        for (index, decl) in self.memories.iter().enumerate().skip(next) {
            section.import(MODULE, &index.to_string(), reencoder.memory_type(decl.ty)?);
        }
        self.out.section(&section);
        Ok(())
    }
}

fn slice(wasm: &[u8], range: Range<u64>) -> Option<&[u8]> {
    wasm.get(usize::try_from(range.start).ok()?..usize::try_from(range.end).ok()?)
}

fn encode_error(what: &str) -> RewriteError {
    RewriteError::Encode(what.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmi::{Engine, Instance, Linker, Memory, MemoryType, Module, Store};

    fn wat(text: &str) -> Vec<u8> {
        wat::parse_str(text).unwrap()
    }

    struct Run {
        store: Store<()>,
        instance: Instance,
        memories: Vec<Memory>,
    }

    impl Run {
        fn call(&mut self, name: &str) -> i32 {
            let func = self.instance.get_typed_func::<(), i32>(&self.store, name).unwrap();
            func.call(&mut self.store, ()).unwrap()
        }

        fn data(&self, memory: usize) -> &[u8] {
            self.memories[memory].data(&self.store)
        }
    }

    /// Checks the output's shape, then instantiates it with one host memory
    /// per declaration, as wasmd will.
    fn run(provided: &Provided, host: impl FnOnce(&mut Linker<()>)) -> Run {
        let bytes = provided.bytes.as_deref().unwrap();
        Validator::new().validate_all(bytes).unwrap();
        let mut memory_imports = Vec::new();
        for payload in Parser::new(0).parse_all(bytes) {
            match payload.unwrap() {
                Payload::MemorySection(_) => panic!("a memory section is left"),
                Payload::ImportSection(section) => {
                    for import in section.into_imports() {
                        let import = import.unwrap();
                        if let TypeRef::Memory(ty) = import.ty {
                            memory_imports.push((import.module.to_owned(), import.name.to_owned(), ty));
                        }
                    }
                }
                _ => {}
            }
        }
        let expected: Vec<_> = (provided.memories.iter().enumerate())
            .map(|(i, decl)| (MODULE.to_owned(), i.to_string(), decl.ty))
            .collect();
        assert_eq!(memory_imports, expected);

        let engine = Engine::default();
        let module = Module::new(&engine, bytes).unwrap();
        let mut store = Store::new(&engine, ());
        let mut linker = Linker::new(&engine);
        host(&mut linker);
        let mut memories = Vec::new();
        for (i, decl) in provided.memories.iter().enumerate() {
            let min = u32::try_from(decl.ty.initial).unwrap();
            let max = decl.ty.maximum.map(|max| u32::try_from(max).unwrap());
            let memory = Memory::new(&mut store, MemoryType::new(min, max)).unwrap();
            linker.define(MODULE, &i.to_string(), memory).unwrap();
            memories.push(memory);
        }
        let instance = linker.instantiate_and_start(&mut store, &module).unwrap();
        Run { store, instance, memories }
    }

    fn defined(initial: u64, maximum: Option<u64>) -> MemoryDecl {
        let ty =
            wasmparser::MemoryType { memory64: false, shared: false, initial, maximum, page_size_log2: None };
        MemoryDecl { ty, imported_from: None }
    }

    /// Section ids in order, custom sections by name.
    fn layout(bytes: &[u8]) -> Vec<String> {
        (Parser::new(0).parse_all(bytes))
            .filter_map(|payload| match payload.unwrap() {
                Payload::CustomSection(custom) => Some(custom.name().to_owned()),
                other => other.as_section().map(|(id, _)| id.to_string()),
            })
            .collect()
    }

    #[test]
    fn defined_memory_becomes_provided_import() {
        let input = wat(r#"(module
            (memory 1 4)
            (export "memory" (memory 0))
            (data (i32.const 8) "\2a\2b")
            (func (export "read") (result i32) (i32.load8_u (i32.const 9))))"#);
        let provided = provide_memories(&input).unwrap();
        assert_eq!(provided.memories, [defined(1, Some(4))]);
        let mut run = run(&provided, |_| {});
        assert_eq!(&run.data(0)[8..10], [0x2a, 0x2b]);
        assert_eq!(run.call("read"), 0x2b);
        let exported = run.instance.get_memory(&run.store, "memory").unwrap();
        assert_eq!(exported.data_ptr(&run.store), run.memories[0].data_ptr(&run.store));
    }

    #[test]
    fn imported_memory_is_replaced_in_place() {
        let input = wat(r#"(module
            (import "wasmd" "a" (func $a))
            (import "env" "memory" (memory 2))
            (import "wasmd" "b" (func $b (result i32)))
            (func (export "call_a") (result i32) (call $a) (i32.const 1))
            (func (export "call_b") (result i32) (call $b)))"#);
        let provided = provide_memories(&input).unwrap();
        let decl = &provided.memories[0];
        assert_eq!(decl.imported_from, Some(("env".to_owned(), "memory".to_owned())));
        assert_eq!((provided.memories.len(), decl.ty.initial, decl.ty.maximum), (1, 2, None));
        let mut run = run(&provided, |linker| {
            linker.func_wrap("wasmd", "a", || {}).unwrap();
            linker.func_wrap("wasmd", "b", || 42_i32).unwrap();
        });
        assert_eq!(run.call("call_b"), 42);
        assert_eq!(run.call("call_a"), 1);
        assert_eq!(run.data(0).len(), 2 * 65536);
    }

    #[test]
    fn module_without_memory_is_left_alone() {
        let input = wat(r#"(module (import "env" "f" (func)) (func (export "g")))"#);
        let provided = provide_memories(&input).unwrap();
        assert!(provided.bytes.is_none());
        assert!(provided.memories.is_empty());
    }

    #[test]
    fn multi_memory_data_goes_to_the_right_memory() {
        let input = wat(r#"(module
            (import "env" "mem" (memory 1))
            (memory 2 3)
            (data (memory 0) (i32.const 16) "\05")
            (data (memory 1) (i32.const 16) "\07")
            (func (export "read0") (result i32) (i32.load8_u 0 (i32.const 16)))
            (func (export "read1") (result i32) (i32.load8_u 1 (i32.const 16))))"#);
        let provided = provide_memories(&input).unwrap();
        assert_eq!(provided.memories[1], defined(2, Some(3)));
        assert_eq!(provided.memories[0].imported_from, Some(("env".to_owned(), "mem".to_owned())));
        let mut run = run(&provided, |_| {});
        assert_eq!((run.data(0)[16], run.data(1)[16]), (5, 7));
        assert_eq!((run.call("read0"), run.call("read1")), (5, 7));
        assert_eq!(run.data(1).len(), 2 * 65536);
    }

    #[test]
    fn import_section_is_created_in_place_and_custom_sections_kept() {
        let custom = |module: &mut wasm_encoder::Module, name: &str| {
            module.section(&wasm_encoder::CustomSection { name: name.into(), data: b"x"[..].into() });
        };
        let with_func = wat(r#"(module
            (memory 1)
            (data (i32.const 3) "\2a")
            (func (export "read") (result i32) (i32.load8_u (i32.const 3))))"#);
        let only_memory = wat("(module (memory 1))");
        // Ids: 1 type, 2 import, 3 function, 5 memory, 7 export, 10 code, 11 data.
        let cases = [
            (with_func, "first 1 after-1 2 3 after-3 after-5 7 after-7 10 after-10 11 after-11 last"),
            (only_memory, "first 2 after-5 last"),
        ];
        for (base, expected) in cases {
            // Custom sections before the first section, after each one, and last.
            let mut module = wasm_encoder::Module::new();
            custom(&mut module, "first");
            for payload in Parser::new(0).parse_all(&base) {
                if let Some((id, range)) = payload.unwrap().as_section() {
                    module.section(&RawSection { id, data: slice(&base, range).unwrap() });
                    custom(&mut module, &format!("after-{id}"));
                }
            }
            custom(&mut module, "last");
            let provided = provide_memories(&module.finish()).unwrap();
            assert_eq!(provided.memories, [defined(1, None)]);
            assert_eq!(layout(provided.bytes.as_deref().unwrap()).join(" "), expected);
            let mut run = run(&provided, |_| {});
            if expected.contains("10") {
                assert_eq!(run.call("read"), 0x2a);
            }
        }
    }

    #[test]
    fn start_function_and_passive_data_still_work() {
        let input = wat(r#"(module
            (memory 1)
            (global $g (mut i32) (i32.const 0))
            (data (i32.const 0) "\01\02")
            (data $passive "\0a\0b\0c")
            (func $start
                (memory.init $passive (i32.const 100) (i32.const 0) (i32.const 3))
                (data.drop $passive)
                (global.set $g (i32.load8_u (i32.const 101))))
            (start $start)
            (func (export "g") (result i32) (global.get $g)))"#);
        let provided = provide_memories(&input).unwrap();
        let output = provided.bytes.as_deref().unwrap();
        // 12 is the data count section, which memory.init needs.
        assert!(layout(output).iter().any(|s| s == "12"));
        assert!(layout(output).iter().any(|s| s == "name"));
        let mut run = run(&provided, |_| {});
        assert_eq!(&run.data(0)[..2], [1, 2]);
        assert_eq!(&run.data(0)[100..103], [10, 11, 12]);
        assert_eq!(run.call("g"), 11);
    }

    #[test]
    fn hostile_input_is_an_error() {
        let component = b"\0asm\x0d\0\x01\0";
        assert!(matches!(provide_memories(component), Err(RewriteError::Component)));
        for garbage in
            [&b""[..], b"hello world", b"\0asm", b"\0asm\x02\0\0\0", b"\0asm\x01\0\0\0\x05\xff\xff"]
        {
            assert!(matches!(provide_memories(garbage), Err(RewriteError::Invalid(_))), "{garbage:?}");
        }
        let reserved = wat(r#"(module (import "wasmd:memory" "0" (func)) (memory 1))"#);
        assert!(matches!(provide_memories(&reserved), Err(RewriteError::ReservedImport { .. })));
    }

    #[test]
    fn truncated_or_corrupted_input_never_panics() {
        let input = wat(r#"(module
            (import "env" "f" (func (param i32)))
            (import "env" "m" (memory 1))
            (memory 1 2)
            (data (memory 1) (i32.const 1) "abc")
            (func (export "f") (call 0 (i32.load8_u 1 (i32.const 2)))))"#);
        let check = |bytes: &[u8]| {
            // Either an error, or an output that is valid exactly when
            // the input is (bodies are left to wasmi's validation: the
            // rewrite must neither mend nor break them).
            if let Ok(Provided { bytes: Some(output), .. }) = provide_memories(bytes) {
                let valid = |b: &[u8]| Validator::new().validate_all(b).is_ok();
                assert_eq!(valid(&output), valid(bytes), "{bytes:?}");
            }
        };
        for len in 0..input.len() {
            check(&input[..len]);
        }
        for at in 0..input.len() {
            for flip in [0x01, 0x80, 0xff] {
                let mut corrupted = input.clone();
                corrupted[at] ^= flip;
                check(&corrupted);
            }
        }
    }
}
