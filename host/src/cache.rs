//! Compiled components cached on disk, keyed by the component's digest and the engine's
//! compatibility hash, so a component is compiled once per node and engine configuration.
//!
//! The cache is bounded: a load from it marks the file used (its modification time), and after
//! each new entry the least recently used entries go until the cache holds at most its bound.
//! Only files named as this cache names its entries are counted or removed.

use crate::pool::over_sandbox;
use crate::{HostError, PluginDigest};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime};
use wasmtime::Engine;
use wasmtime::component::Component;

/// A directory of precompiled components written by this node.
pub(crate) struct ComponentCache {
    dir: PathBuf,
    engine_hash: u64,
    /// The bytes of entries it keeps.
    max_bytes: u64,
}

impl ComponentCache {
    pub(crate) fn new(dir: PathBuf, engine: &Engine, max_bytes: u64) -> Result<Self, HostError> {
        std::fs::create_dir_all(&dir).map_err(|source| HostError::Cache { path: dir.clone(), source })?;
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Ok(Self { dir, engine_hash: hasher.finish(), max_bytes })
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
                    mark_used(&path);
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
        self.prune(&path);
        Ok(component)
    }

    /// Removes the least recently used entries, never `keep`, until the entries hold at most
    /// `max_bytes`. A file another process has mapped stays readable to it.
    fn prune(&self, keep: &Path) {
        let Ok(listing) = std::fs::read_dir(&self.dir) else { return };
        let mut entries: Vec<(SystemTime, u64, PathBuf)> = listing
            .filter_map(|entry| {
                let entry = entry.ok()?;
                if !is_entry_name(entry.file_name().to_str()?) {
                    return None;
                }
                let meta = entry.metadata().ok().filter(std::fs::Metadata::is_file)?;
                Some((meta.modified().ok()?, meta.len(), entry.path()))
            })
            .collect();
        let mut held: u64 = entries.iter().map(|(_, len, _)| len).sum();
        entries.sort();
        for (_, len, path) in entries {
            if held <= self.max_bytes {
                break;
            }
            if path != keep && std::fs::remove_file(&path).is_ok() {
                held -= len;
                tracing::info!(path = %path.display(), bytes = len, "removed a compiled component from the full cache");
            }
        }
    }
}

/// Marks a cache entry used now, so that it is removed after those used longer ago.
fn mark_used(path: &Path) {
    let marked =
        std::fs::File::options().write(true).open(path).and_then(|file| file.set_modified(SystemTime::now()));
    if let Err(error) = marked {
        tracing::debug!(path = %path.display(), %error, "could not mark a cached component used");
    }
}

/// Whether `name` is that of a cache entry: `<64 hex digits>-<16 hex digits>.cwasm`.
fn is_entry_name(name: &str) -> bool {
    let hex = |text: &str, len: usize| text.len() == len && text.bytes().all(|b| b.is_ascii_hexdigit());
    name.strip_suffix(".cwasm")
        .and_then(|stem| stem.split_once('-'))
        .is_some_and(|(digest, engine)| hex(digest, 64) && hex(engine, 16))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Runtime, RuntimeConfig};

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// With room for about two compiled components, loading a third removes the least recently
    /// used one (not the one loaded again since), and nothing else in the directory.
    #[test]
    fn a_full_cache_removes_its_least_recently_used_entries_only() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("notes.cwasm"), vec![0; 1 << 20]).unwrap();
        let plugins =
            ["std:max", "std:min", "std:count"].map(|name| flicker_plugins::std_plugin(name).unwrap());
        let runtime = |max| {
            let config = RuntimeConfig {
                cache_dir: Some(dir.path().to_owned()),
                cache_max_bytes: max,
                ..Default::default()
            };
            Runtime::new(config).unwrap()
        };
        // Each compiled std operator is about the same size: room for two and a half.
        runtime(u64::MAX).load(plugins[0]).unwrap();
        let one = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap())
            .find(|e| e.file_name() != "notes.cwasm")
            .unwrap()
            .metadata()
            .unwrap()
            .len();
        let max_entry = entries(dir.path()).into_iter().find(|name| name != "notes.cwasm").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        runtime(one * 5 / 2).load(plugins[1]).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        runtime(one * 5 / 2).load(plugins[0]).unwrap(); // std:max used again: now the newest
        std::thread::sleep(std::time::Duration::from_millis(20));
        runtime(one * 5 / 2).load(plugins[2]).unwrap();
        let names = entries(dir.path());
        assert_eq!(names.len(), 3, "{names:?}");
        assert!(names.contains(&"notes.cwasm".to_owned()), "not an entry's name: kept");
        assert!(names.contains(&max_entry), "used again, so kept: {names:?}");
    }

    #[test]
    fn only_names_of_entries_count_as_entries() {
        let digest = "a".repeat(64);
        assert!(is_entry_name(&format!("{digest}-0123456789abcdef.cwasm")));
        for name in
            ["x.cwasm", &format!("{digest}-0123456789abcdef.tmp-1-2"), &format!("{digest}.cwasm"), "..cwasm"]
        {
            assert!(!is_entry_name(name), "{name}");
        }
    }
}
