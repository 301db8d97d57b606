//! Compiled components cached on disk, keyed by the component's digest and the engine's
//! compatibility hash, so a component is compiled once per node and engine configuration.

use crate::pool::over_sandbox;
use crate::{HostError, PluginDigest};
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;
use wasmtime::Engine;
use wasmtime::component::Component;

/// A directory of precompiled components written by this node.
pub(crate) struct ComponentCache {
    dir: PathBuf,
    engine_hash: u64,
}

impl ComponentCache {
    pub(crate) fn new(dir: PathBuf, engine: &Engine) -> Result<Self, HostError> {
        std::fs::create_dir_all(&dir).map_err(|source| HostError::Cache { path: dir.clone(), source })?;
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Ok(Self { dir, engine_hash: hasher.finish() })
    }

    fn path(&self, digest: &PluginDigest) -> PathBuf {
        self.dir.join(format!("{}-{:016x}.cwasm", digest.to_hex(), self.engine_hash))
    }

    /// The compiled component: from the cache when present and loadable, else compiled and stored.
    pub(crate) fn load_or_compile(
        &self,
        engine: &Engine,
        digest: &PluginDigest,
        bytes: &[u8],
    ) -> Result<Component, HostError> {
        let path = self.path(digest);
        if path.exists() {
            // SAFETY: the cache directory only holds artifacts this node serialized itself with an
            // engine of the same compatibility hash (part of the file name).
            match unsafe { Component::deserialize_file(engine, &path) } {
                Ok(component) => {
                    lookup("disk");
                    return Ok(component);
                }
                Err(error) => {
                    tracing::warn!(path = %path.display(), %error, "recompiling an unreadable cached component")
                }
            }
        }
        let component = compile(engine, bytes)?;
        let serialized =
            component.serialize().map_err(|e| HostError::Compile { message: format!("{e:#}") })?;
        // A name no other writer uses, in this process or another; the rename publishes it whole.
        static WRITES: AtomicU64 = AtomicU64::new(0);
        let tmp = path.with_extension(format!(
            "tmp-{}-{}",
            std::process::id(),
            WRITES.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&tmp, serialized)
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(|source| HostError::Cache { path: path.clone(), source })?;
        Ok(component)
    }
}

/// Counts a component load by where its compiled code came from: `memory`, `disk` or `compiled`.
pub(crate) fn lookup(result: &'static str) {
    metrics::counter!(flicker_metrics::COMPONENT_CACHE_LOOKUPS, "result" => result).increment(1);
}

/// Compiles component bytes with Cranelift, timing it.
pub(crate) fn compile(engine: &Engine, bytes: &[u8]) -> Result<Component, HostError> {
    let started = Instant::now();
    let compiled = Component::new(engine, bytes);
    metrics::histogram!(flicker_metrics::OPERATOR_COMPILE).record(started.elapsed());
    lookup("compiled");
    compiled.map_err(|e| {
        let message = format!("{e:#}");
        if over_sandbox(&message) {
            HostError::OverSandbox { message }
        } else {
            HostError::Compile { message }
        }
    })
}
