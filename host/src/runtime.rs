//! The wasmtime engine, its epoch ticker, the linker and the plugin caches.

use crate::cache::{ComponentCache, compile, lookup};
use crate::pool::{MAX_TASK_SANDBOXES, SANDBOX_WAIT, SandboxPool, VALIDATION_SANDBOXES, pooling};
use crate::sandbox::{EPOCH_TICKS_PER_SECOND, SandboxMaker, SandboxState};
use crate::watch::bound_clock_waits;
use crate::{HostError, Meter, Plugin, PluginDigest};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wasmtime::component::Linker;
use wasmtime::{Config, Engine, InstanceAllocationStrategy};

/// How many bytes of compiled components a node's cache keeps by default (4 GiB).
pub const CACHE_MAX_BYTES: u64 = 4 << 30;

/// How a [`Runtime`] is set up.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Where compiled components are cached; `None` compiles in memory only.
    pub cache_dir: Option<PathBuf>,
    /// How many bytes of compiled components the cache keeps: past it, the least recently used
    /// are removed (a Python operator compiles to ~36 MB, so each version of one counts).
    pub cache_max_bytes: u64,
    /// How many operator instances may be alive at once: the node's sandboxes (see
    /// [`RuntimeConfig::for_slots`]; the default is that of one task slot).
    pub sandboxes: u32,
    /// The largest memory limit any step may ask for, in bytes.
    pub max_memory: u64,
    /// How long making an instance waits for a free sandbox before it fails.
    pub sandbox_wait: Duration,
    /// How the CPU time of operator calls is measured (the thread's CPU time unless a benchmark
    /// asks otherwise).
    pub meter: Meter,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            cache_dir: None,
            cache_max_bytes: CACHE_MAX_BYTES,
            sandboxes: 0,
            max_memory: 4 << 30,
            sandbox_wait: SANDBOX_WAIT,
            meter: Meter::default(),
        }
        .for_slots(1)
    }
}

impl RuntimeConfig {
    /// The sandboxes of a node that runs `slots` tasks at once and checks submitted jobs: each
    /// slot's task may hold [`MAX_TASK_SANDBOXES`] instances and validation has
    /// [`VALIDATION_SANDBOXES`] of its own, so that no job's tasks take another's room.
    pub fn for_slots(self, slots: u32) -> Self {
        Self {
            sandboxes: slots.saturating_mul(MAX_TASK_SANDBOXES).saturating_add(VALIDATION_SANDBOXES),
            ..self
        }
    }
}

/// One wasmtime engine shared by every task of a process.
pub struct Runtime {
    engine: Engine,
    linker: Linker<SandboxState>,
    cache: Option<ComponentCache>,
    loaded: Mutex<HashMap<PluginDigest, Arc<Plugin>>>,
    ticker: Arc<EpochTicker>,
    sandboxes: Arc<SandboxPool>,
    sandbox_wait: Duration,
    meter: Meter,
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

/// The WebAssembly features an operator may use, each chosen rather than left to wasmtime's
/// defaults. On: what compilers emit for ordinary code (SIMD, bulk memory, reference types,
/// multi-value, sign extension, non-trapping conversions, tail calls, extended constants), and
/// multi-memory, whose memories are held to the memory limit together like any component's.
/// Off: relaxed SIMD (its results may differ between machines), 64-bit memories, custom page
/// sizes, wide arithmetic, GC and stack switching; shared memory and threads, typed function
/// references, exceptions and the component model's async are not even built into the engine
/// (its cargo features). None is needed by the toolchains flicker supports, and each is more of
/// the engine exposed to untrusted code; an operator is one synchronous call at a time.
fn enable_features(wasm: &mut Config) {
    wasm.wasm_simd(true)
        .wasm_relaxed_simd(false)
        .wasm_multi_value(true)
        .wasm_multi_memory(true)
        .wasm_tail_call(true)
        .wasm_extended_const(true)
        .wasm_memory64(false)
        .wasm_custom_page_sizes(false)
        .wasm_wide_arithmetic(false)
        .wasm_gc(false)
        .wasm_stack_switching(false);
}

impl Runtime {
    /// Builds the engine (Cranelift, pooling allocator, epoch interruption, and fuel when it
    /// meters calls by fuel) and the WASI linker.
    pub fn new(config: RuntimeConfig) -> Result<Self, HostError> {
        let engine_error = |e: wasmtime::Error| HostError::Engine { message: format!("{e:#}") };
        let sandboxes = config.sandboxes.max(1);
        let mut wasm = Config::new();
        wasm.epoch_interruption(true)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pooling(sandboxes, config.max_memory)))
            .cranelift_opt_level(wasmtime::OptLevel::Speed)
            .consume_fuel(config.meter == Meter::Fuel);
        enable_features(&mut wasm);
        // For profiling operators with `perf`: `FLICKER_PERFMAP=1` makes wasmtime write the
        // names of the code it compiles to /tmp/perf-PID.map (docs/PERFORMANCE.md, "Profiling").
        if std::env::var_os("FLICKER_PERFMAP").is_some() {
            wasm.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        let engine = Engine::new(&wasm).map_err(engine_error)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(engine_error)?;
        bound_clock_waits(&mut linker).map_err(engine_error)?;
        let cache = config
            .cache_dir
            .map(|dir| ComponentCache::new(dir, &engine, config.cache_max_bytes))
            .transpose()?;
        let ticker = EpochTicker::start(engine.clone())
            .map_err(|e| HostError::Engine { message: format!("cannot start the epoch thread: {e}") })?;
        Ok(Self {
            engine,
            linker,
            cache,
            loaded: Mutex::default(),
            ticker: Arc::new(ticker),
            sandboxes: SandboxPool::new(sandboxes),
            sandbox_wait: config.sandbox_wait,
            meter: config.meter,
        })
    }

    /// The plugin made of these component bytes: compiled (or taken from the disk cache) once per
    /// digest, then shared.
    pub fn load(&self, bytes: &[u8]) -> Result<Arc<Plugin>, HostError> {
        let digest = PluginDigest::of(bytes);
        if let Some(plugin) = self.loaded().get(&digest) {
            lookup("memory");
            return Ok(plugin.clone());
        }
        let component = match &self.cache {
            Some(cache) => cache.load_or_compile(&self.engine, &digest, bytes)?,
            None => compile(&self.engine, bytes)?,
        };
        let sandbox = SandboxMaker {
            engine: self.engine.clone(),
            ticker: self.ticker.clone(),
            pool: self.sandboxes.clone(),
            wait: self.sandbox_wait,
            meter: self.meter,
        };
        let plugin = Arc::new(Plugin::new(&self.linker, sandbox, digest, &component)?);
        self.loaded().insert(digest, plugin.clone());
        Ok(plugin)
    }

    /// The plugin with this digest, if this runtime has loaded it.
    pub fn get(&self, digest: &PluginDigest) -> Option<Arc<Plugin>> {
        self.loaded().get(digest).cloned()
    }

    /// Lets go of the plugin with this digest, which is freed once no one else holds it: a
    /// process that is done with a component bounds its memory so. Loading it again compiles it
    /// again (or takes it from the disk cache).
    pub fn forget(&self, digest: &PluginDigest) {
        self.loaded().remove(digest);
    }

    fn loaded(&self) -> std::sync::MutexGuard<'_, HashMap<PluginDigest, Arc<Plugin>>> {
        self.loaded.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Limits;

    #[test]
    fn loads_are_counted_by_where_the_component_came_from_and_compiles_and_instances_are_timed() {
        let path = flicker_plugins::guest_artifact("flicker-test-plugin");
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        let cache = tempfile::tempdir().unwrap();
        let config = RuntimeConfig { cache_dir: Some(cache.path().to_owned()), ..Default::default() };
        let samples = flicker_metrics::recorded(|| {
            let runtime = Runtime::new(config.clone()).unwrap();
            let plugin = runtime.load(&bytes).unwrap();
            runtime.load(&bytes).unwrap();
            plugin.map(&[("behave".into(), "echo".into())], Limits::default()).unwrap();
            // Another runtime of the same node finds it compiled on disk.
            Runtime::new(config).unwrap().load(&bytes).unwrap();
        })
        .unwrap();
        for lookups in [
            r#"flicker_component_cache_lookups_total{result="compiled"} 1"#,
            r#"flicker_component_cache_lookups_total{result="disk"} 1"#,
            r#"flicker_component_cache_lookups_total{result="memory"} 1"#,
            "flicker_operator_compile_seconds_count 1",
            "flicker_operator_instantiate_seconds_count 1",
        ] {
            assert!(samples.iter().any(|sample| sample == lookups), "{lookups} not in {samples:#?}");
        }
    }
}
