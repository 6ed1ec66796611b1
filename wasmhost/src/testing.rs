//! What unit tests of the manager share: a manager with no OS and no
//! module files.

use std::sync::Arc;

use wasmd_abi::Errno;

use crate::platform::{LoadError, LoadedModule, ModuleLoader, NoOutput, Platform};
use crate::{ManagerConfig, ProcessManager};

/// A platform with no randomness and no shared memory.
pub(crate) struct NoOs;

impl Platform for NoOs {
    fn random(&self, _buf: &mut [u8]) -> Result<(), Errno> {
        Err(Errno::NotSupported)
    }

    fn create_shared_memory(&self, _size: usize) -> Result<Box<dyn crate::region::SharedMemory>, Errno> {
        Err(Errno::NotSupported)
    }
}

/// A loader that finds no module.
pub(crate) struct NoFiles;

impl ModuleLoader for NoFiles {
    fn load(&self, _base: Option<&std::path::Path>, path: &str) -> Result<LoadedModule, LoadError> {
        Err(LoadError { path: path.into(), reason: "no files here".into(), errno: Errno::NotFound })
    }
}

/// A manager with the default configuration over [`NoOs`] and [`NoFiles`].
pub(crate) fn manager() -> ProcessManager {
    ProcessManager::new(ManagerConfig::default(), Arc::new(NoOs), Arc::new(NoFiles), Arc::new(NoOutput))
}
