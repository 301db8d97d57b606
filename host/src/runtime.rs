//! The wasmtime engine, its epoch ticker, the linker and the plugin caches.

use crate::cache::{ComponentCache, compile};
use crate::sandbox::{EPOCH_TICKS_PER_SECOND, SandboxState};
use crate::{HostError, Plugin, PluginDigest};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wasmtime::component::Linker;
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How a [`Runtime`] is set up.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Where compiled components are cached; `None` compiles in memory only.
    pub cache_dir: Option<PathBuf>,
    /// How many operator instances may be alive at once (the pooling allocator's size).
    pub max_instances: u32,
    /// The largest memory limit any step may ask for, in bytes.
    pub max_memory: u64,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self { cache_dir: None, max_instances: 128, max_memory: 4 << 30 }
    }
}

/// One wasmtime engine shared by every task of a process.
pub struct Runtime {
    engine: Engine,
    linker: Linker<SandboxState>,
    cache: Option<ComponentCache>,
    loaded: Mutex<HashMap<PluginDigest, Arc<Plugin>>>,
    ticker: Arc<EpochTicker>,
}

/// Keeps the engine's epoch advancing while anything that may run guest code is alive: the
/// runtime, every plugin and every operator instance hold it.
#[derive(Debug)]
pub(crate) struct EpochTicker {
    ticking: Arc<AtomicBool>,
}

impl EpochTicker {
    /// Advances `engine`'s epoch `EPOCH_TICKS_PER_SECOND` times a second until dropped.
    fn start(engine: Engine) -> std::io::Result<Self> {
        let ticking = Arc::new(AtomicBool::new(true));
        let period = Duration::from_millis(1000 / EPOCH_TICKS_PER_SECOND);
        let running = ticking.clone();
        std::thread::Builder::new().name("flicker-epoch".into()).spawn(move || {
            while running.load(Ordering::Relaxed) {
                std::thread::sleep(period);
                engine.increment_epoch();
            }
        })?;
        Ok(Self { ticking })
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.ticking.store(false, Ordering::Relaxed);
    }
}

impl Runtime {
    /// Builds the engine (Cranelift, pooling allocator, epoch interruption) and the WASI linker.
    pub fn new(config: RuntimeConfig) -> Result<Self, HostError> {
        let engine_error = |e: wasmtime::Error| HostError::Engine { message: format!("{e:#}") };
        let mut pool = PoolingAllocationConfig::default();
        let instances = config.max_instances.max(1);
        pool.total_component_instances(instances)
            .total_core_instances(instances.saturating_mul(8))
            .total_memories(instances.saturating_mul(2))
            .total_tables(instances.saturating_mul(4))
            .max_memory_size(usize::try_from(config.max_memory).unwrap_or(usize::MAX))
            // A freed instance's first 2 MiB of memory (all a small task touches) are reset with
            // a memset rather than `madvise`, whose TLB shoot-downs interrupted the other core
            // for every instance of a tiny task: 1,940-2,100 -> 2,300-2,500 tasks/s.
            .linear_memory_keep_resident(2 << 20)
            .table_keep_resident(64 << 10)
            // Where the kernel can tell (Linux 6.7+), only the pages the instance wrote are reset,
            // rather than all of the first 2 MiB.
            .pagemap_scan(Enabled::Auto);
        let mut wasm = Config::new();
        wasm.epoch_interruption(true)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
            .cranelift_opt_level(wasmtime::OptLevel::Speed);
        let engine = Engine::new(&wasm).map_err(engine_error)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(engine_error)?;
        let cache = config.cache_dir.map(|dir| ComponentCache::new(dir, &engine)).transpose()?;
        let ticker = EpochTicker::start(engine.clone())
            .map_err(|e| HostError::Engine { message: format!("cannot start the epoch thread: {e}") })?;
        Ok(Self { engine, linker, cache, loaded: Mutex::default(), ticker: Arc::new(ticker) })
    }

    /// The plugin made of these component bytes: compiled (or taken from the disk cache) once per
    /// digest, then shared.
    pub fn load(&self, bytes: &[u8]) -> Result<Arc<Plugin>, HostError> {
        let digest = PluginDigest::of(bytes);
        if let Some(plugin) = self.loaded().get(&digest) {
            return Ok(plugin.clone());
        }
        let component = match &self.cache {
            Some(cache) => cache.load_or_compile(&self.engine, &digest, bytes)?,
            None => compile(&self.engine, bytes)?,
        };
        let plugin =
            Arc::new(Plugin::new(&self.engine, &self.linker, self.ticker.clone(), digest, &component)?);
        self.loaded().insert(digest, plugin.clone());
        Ok(plugin)
    }

    /// The plugin with this digest, if this runtime has loaded it.
    pub fn get(&self, digest: &PluginDigest) -> Option<Arc<Plugin>> {
        self.loaded().get(digest).cloned()
    }

    fn loaded(&self) -> std::sync::MutexGuard<'_, HashMap<PluginDigest, Arc<Plugin>>> {
        self.loaded.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
