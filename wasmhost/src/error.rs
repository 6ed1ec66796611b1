//! Errors of the process manager's API (spawning, control). Errors that a
//! guest sees are errno values (`wasmd_abi::errno`); each error here maps
//! to one with `errno()`. Traps that end a process are not errors here:
//! they become its `ExitStatus`.

use std::fmt;

use wasmd_abi::Errno;
use wasmi::errors::{ErrorKind, InstantiationError, LinkerError};
use wasmi::{ExternType, FuncType, ValType};

use crate::platform::LoadError;

/// A function type as WAT writes it: `(param i32 i32) (result i64)`;
/// `(func)` for one that takes and returns nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FuncSignature {
    /// Parameter types.
    pub params: Vec<ValType>,
    /// Result types.
    pub results: Vec<ValType>,
}

impl From<&FuncType> for FuncSignature {
    fn from(ty: &FuncType) -> Self {
        Self { params: ty.params().to_vec(), results: ty.results().to_vec() }
    }
}

/// The WAT name of a value type.
fn wat_name(ty: ValType) -> &'static str {
    match ty {
        ValType::I32 => "i32",
        ValType::I64 => "i64",
        ValType::F32 => "f32",
        ValType::F64 => "f64",
        ValType::V128 => "v128",
        ValType::FuncRef => "funcref",
        ValType::ExternRef => "externref",
    }
}

impl fmt::Display for FuncSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.params.is_empty() && self.results.is_empty() {
            return f.write_str("(func)");
        }
        let mut sep = "";
        for (keyword, types) in [("param", &self.params), ("result", &self.results)] {
            if types.is_empty() {
                continue;
            }
            write!(f, "{sep}({keyword}")?;
            for ty in types {
                write!(f, " {}", wat_name(*ty))?;
            }
            f.write_str(")")?;
            sep = " ";
        }
        Ok(())
    }
}

/// A hostcall imported with another type than wasmd defines it with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("import `{module}::{name}`: expected {expected}, the module declares {declared}")]
pub struct ImportMismatch {
    /// Import module name.
    pub module: String,
    /// Import field name.
    pub name: String,
    /// The hostcall's type.
    pub expected: FuncSignature,
    /// The type the module imports it with.
    pub declared: FuncSignature,
}

/// Why a process could not be spawned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpawnError {
    /// The bytes are not a valid wasm module (or WAT text).
    #[error("not a valid wasm module: {0}")]
    InvalidModule(String),
    /// The bytes have no wasm header and do not parse as WAT text either
    /// (the WAT parser's first line).
    #[error("not a valid wasm module: no wasm header, and not WAT text either ({0})")]
    NotWasm(String),
    /// The text parses as WAT, but the module it describes does not
    /// validate (the validator's message, with the offset in the binary
    /// the text encodes to).
    #[error("not a valid wasm module: the WAT text parses, but the module is invalid: {0}")]
    InvalidWat(String),
    /// The module imports something wasmd does not provide.
    #[error("module imports unknown function `{module}::{name}`")]
    UnknownImport {
        /// Import module name.
        module: String,
        /// Import field name.
        name: String,
    },
    /// The module imports a hostcall with another type than wasmd's.
    #[error("{0}")]
    ImportType(Box<ImportMismatch>),
    /// No exported `_start: () -> ()`.
    #[error("module has no exported `_start` function taking and returning nothing")]
    NoEntry,
    /// Instantiation failed (e.g. a hostcall imported with the wrong type).
    #[error("cannot instantiate module: {0}")]
    Instantiate(String),
    /// The module file could not be read.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// Capabilities or limits beyond the parent's.
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    /// The process table, the parent's children or the tree is full.
    #[error("too many processes")]
    TooManyProcesses,
    /// The daemon's memory budget is spent.
    #[error("the daemon's memory budget is spent")]
    OutOfMemory,
}

impl SpawnError {
    /// The errno a guest receives for this error.
    pub fn errno(&self) -> Errno {
        match self {
            SpawnError::InvalidModule(_)
            | SpawnError::NotWasm(_)
            | SpawnError::InvalidWat(_)
            | SpawnError::UnknownImport { .. }
            | SpawnError::ImportType(_)
            | SpawnError::NoEntry
            | SpawnError::Instantiate(_) => Errno::BadModule,
            SpawnError::Load(e) => e.errno,
            SpawnError::PermissionDenied(_) => Errno::PermissionDenied,
            SpawnError::TooManyProcesses => Errno::WouldBlock,
            SpawnError::OutOfMemory => Errno::OutOfMemory,
        }
    }
}

impl SpawnError {
    /// The error of a failed instantiation: an import wasmd does not
    /// define or defines with another type named with its wasm types,
    /// anything else with wasmi's message.
    pub(crate) fn instantiation(e: &wasmi::Error) -> Self {
        match e.kind() {
            // wasmi's `expected` is the import's type as the module declares
            // it, `found`/`actual` the definition in wasmd's linker.
            ErrorKind::Linker(LinkerError::InvalidTypeDefinition {
                name,
                expected: ExternType::Func(declared),
                found: ExternType::Func(defined),
            })
            | ErrorKind::Instantiation(InstantiationError::FuncTypeMismatch {
                name,
                expected: declared,
                actual: defined,
            }) => SpawnError::ImportType(Box::new(ImportMismatch {
                module: name.module().to_string(),
                name: name.name().to_string(),
                expected: defined.into(),
                declared: declared.into(),
            })),
            ErrorKind::Linker(LinkerError::MissingDefinition { name, .. }) => {
                SpawnError::UnknownImport { module: name.module().to_string(), name: name.name().to_string() }
            }
            _ => SpawnError::Instantiate(e.to_string().lines().next().unwrap_or_default().trim().to_string()),
        }
    }
}

/// Errors of control operations on existing processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    /// No such process (or it already exited).
    #[error("no such process")]
    NoSuchProcess,
    /// The operation does not apply in the process's state.
    #[error("operation not valid in the process's state")]
    InvalidState,
}

impl ControlError {
    /// The errno for this error.
    pub fn errno(&self) -> Errno {
        match self {
            ControlError::NoSuchProcess => Errno::NoSuchProcess,
            ControlError::InvalidState => Errno::InvalidArgument,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmi::{Engine, Linker, Module, Store};

    #[test]
    fn signatures_print_as_wat() {
        let sig = |params: &[ValType], results: &[ValType]| FuncSignature {
            params: params.to_vec(),
            results: results.to_vec(),
        };
        use ValType::*;
        assert_eq!(sig(&[I32, I32, I32], &[I64]).to_string(), "(param i32 i32 i32) (result i64)");
        assert_eq!(sig(&[], &[F32]).to_string(), "(result f32)");
        assert_eq!(
            sig(&[F64, V128, FuncRef, ExternRef], &[]).to_string(),
            "(param f64 v128 funcref externref)"
        );
        assert_eq!(sig(&[], &[]).to_string(), "(func)");
    }

    /// Instantiates `wat` against a linker defining only `wasmd::write`
    /// as `(param i32 i32 i32) (result i64)`.
    fn instantiate(wat: &str) -> SpawnError {
        let engine = Engine::default();
        let module = Module::new(&engine, wat).unwrap();
        let mut linker = Linker::<()>::new(&engine);
        linker.func_wrap("wasmd", "write", |_: i32, _: i32, _: i32| -> i64 { 0 }).unwrap();
        let mut store = Store::new(&engine, ());
        let e = linker.instantiate_and_start(&mut store, &module).map(drop).unwrap_err();
        SpawnError::instantiation(&e)
    }

    #[test]
    fn an_import_of_the_wrong_type_is_named_with_wasm_types() {
        let err = instantiate(r#"(module (import "wasmd" "write" (func (param i32) (result i32))))"#);
        assert_eq!(
            err.to_string(),
            "import `wasmd::write`: expected (param i32 i32 i32) (result i64), \
             the module declares (param i32) (result i32)"
        );
        assert_eq!(err.errno(), Errno::BadModule);
    }

    #[test]
    fn an_import_nothing_defines_is_named() {
        let err = instantiate(r#"(module (import "wasmd" "nope" (func)))"#);
        assert_eq!(err, SpawnError::UnknownImport { module: "wasmd".into(), name: "nope".into() });
    }
}
