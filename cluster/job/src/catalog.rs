//! Finds and loads the plugin a manifest names: `std:<name>` from the components embedded in the
//! binary, anything else by the digest its submitter sent, from a [`ComponentSource`] (the
//! scheduler's plugin store, or an executor fetching from the scheduler).

use flicker_batch::{RowType, TypeMismatch};
use flicker_host::{HostError, Limits, Plugin, PluginDigest, Runtime, TypeCheckError, check_component};
use flicker_manifest::{LimitOverrides, OperatorKind, PluginCatalog};
use flicker_protocol::scheduler::MAX_COMPONENT;
use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

/// Where the bytes of a component come from, by digest.
pub trait ComponentSource: Send + Sync {
    /// The component with this digest, or why it cannot be had.
    fn fetch(&self, digest: &PluginDigest) -> Result<Vec<u8>, ComponentError>;
}

/// Why a [`ComponentSource`] could not hand out a component.
#[derive(Debug, thiserror::Error)]
#[error("cannot get component {digest} from {from}: {source}")]
pub struct ComponentError {
    /// The component.
    pub digest: PluginDigest,
    /// The source, in words: `the scheduler`, `the plugin store`.
    pub from: &'static str,
    /// Why.
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

/// Why the plugin a manifest names could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// A `std:` name that is no standard operator.
    #[error("there is no standard operator {name:?} (standard operators: {known})")]
    UnknownStandard {
        /// The name.
        name: String,
        /// The standard operators, comma-separated.
        known: String,
    },
    /// The submitter could not read the plugin's file.
    #[error("{reason}")]
    Unreadable {
        /// The submitter's reason.
        reason: String,
    },
    /// The submission named no component for the reference.
    #[error("the submitter sent no component for {plugin:?}")]
    NotSent {
        /// The plugin reference.
        plugin: String,
    },
    /// The component could not be had.
    #[error(transparent)]
    Fetch(#[from] ComponentError),
    /// The component does not load.
    #[error(transparent)]
    Load(#[from] HostError),
    /// The component received is not the one asked for.
    #[error("the component received for {expected} has digest {actual}")]
    DigestMismatch {
        /// The digest asked for.
        expected: PluginDigest,
        /// The digest of what came.
        actual: PluginDigest,
    },
}

/// What a submitter found for one plugin reference of its manifest.
pub type PluginRefs = HashMap<String, Result<PluginDigest, String>>;

/// Resolves and loads the plugins of one job.
pub struct PluginResolver<'a> {
    runtime: &'a Runtime,
    plugins: &'a PluginRefs,
    source: &'a dyn ComponentSource,
    limits: Limits,
}

impl<'a> PluginResolver<'a> {
    /// A resolver for a job whose plugin references point at `plugins`; components not loaded yet
    /// come from `source`; config checks run under `limits`.
    pub fn new(
        runtime: &'a Runtime,
        plugins: &'a PluginRefs,
        source: &'a dyn ComponentSource,
        limits: Limits,
    ) -> Self {
        Self { runtime, plugins, source, limits }
    }

    /// The loaded plugin named `plugin`, or why there is none.
    pub fn load(&self, plugin: &str) -> Result<Arc<Plugin>, PluginError> {
        if plugin.starts_with(flicker_plugins::STD_PREFIX) {
            let bytes = flicker_plugins::std_plugin(plugin).ok_or_else(|| PluginError::UnknownStandard {
                name: plugin.to_owned(),
                known: flicker_plugins::std_names().collect::<Vec<_>>().join(", "),
            })?;
            return Ok(self.runtime.load(bytes)?);
        }
        let digest = match self.plugins.get(plugin) {
            Some(Ok(digest)) => *digest,
            Some(Err(reason)) => return Err(PluginError::Unreadable { reason: reason.clone() }),
            None => return Err(PluginError::NotSent { plugin: plugin.to_owned() }),
        };
        if let Some(loaded) = self.runtime.get(&digest) {
            return Ok(loaded);
        }
        let bytes = self.source.fetch(&digest)?;
        let loaded = self.runtime.load(&bytes)?;
        if loaded.digest() != digest {
            return Err(PluginError::DigestMismatch { expected: digest, actual: loaded.digest() });
        }
        Ok(loaded)
    }
}

impl PluginCatalog for PluginResolver<'_> {
    fn kind_of(&self, plugin: &str) -> Result<OperatorKind, String> {
        self.load(plugin).map(|p| p.kind()).map_err(|error| error.to_string())
    }

    fn check_config(
        &self,
        plugin: &str,
        config: &[(String, String)],
        inputs: u32,
        limits: &LimitOverrides,
    ) -> Result<(), String> {
        let loaded = self.load(plugin).map_err(|error| error.to_string())?;
        loaded.check_config(config, inputs, self.limits.with(limits)).map_err(|error| match error {
            flicker_host::HostError::Create(flicker_host::CallError::Operator(
                flicker_host::OperatorError::InvalidConfig(message),
            )) => message,
            other => other.to_string(),
        })
    }

    fn output_type(
        &self,
        plugin: &str,
        config: &[(String, String)],
        limits: &LimitOverrides,
        inputs: &[RowType],
    ) -> Result<Option<RowType>, TypeMismatch> {
        let loaded = self.load(plugin).map_err(|error| TypeMismatch::Other { message: error.to_string() })?;
        loaded.output_type(config, inputs, self.limits.with(limits)).map_err(|error| match error {
            TypeCheckError::Mismatch(mismatch) => mismatch,
            call => TypeMismatch::Other { message: call.to_string() },
        })
    }
}

/// The digest of every plugin file `manifest` names (relative to `base_dir`), or why it cannot be
/// used (see [`read_component`]); the component bytes of those that can, by digest. Run by the
/// submitter: the scheduler never reads the submitter's files.
pub fn read_plugin_files(
    manifest: &flicker_manifest::Manifest,
    base_dir: &std::path::Path,
) -> (PluginRefs, HashMap<PluginDigest, Vec<u8>>) {
    let mut refs = PluginRefs::new();
    let mut components = HashMap::new();
    let plugin_refs =
        manifest.steps.iter().map(|s| &s.plugin).chain(manifest.sinks.iter().map(|s| &s.plugin));
    for plugin in plugin_refs {
        if plugin.starts_with(flicker_plugins::STD_PREFIX) || refs.contains_key(plugin) {
            continue;
        }
        let found = read_component(&base_dir.join(plugin)).map(|bytes| {
            let digest = PluginDigest::of(&bytes);
            components.insert(digest, bytes);
            digest
        });
        refs.insert(plugin.clone(), found);
    }
    (refs, components)
}

/// The bytes of the component file at `path`, or why it is not to be uploaded: it cannot be read,
/// it is larger than a scheduler accepts ([`MAX_COMPONENT`]), or it is no WebAssembly component
/// ([`check_component`]: validated, not compiled).
fn read_component(path: &Path) -> Result<Vec<u8>, String> {
    let unreadable = |e: std::io::Error| format!("cannot read {}: {e}", path.display());
    let file = File::open(path).map_err(unreadable)?;
    let size = file.metadata().map_err(unreadable)?.len();
    if size > MAX_COMPONENT {
        return Err(format!(
            "{} is {size} bytes, larger than the {} MiB a component may have",
            path.display(),
            MAX_COMPONENT >> 20
        ));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    // A file that grows while read is cut at the cap, and then fails the check.
    file.take(MAX_COMPONENT).read_to_end(&mut bytes).map_err(unreadable)?;
    check_component(&bytes).map_err(|error| format!("{}: {error}", path.display()))?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_component_within_the_cap_is_read_for_upload() {
        let dir = tempfile::tempdir().unwrap();
        let path = |name: &str| dir.path().join(name);
        // The preamble of a component, which alone is an empty component.
        std::fs::write(path("empty.wasm"), b"\0asm\x0d\0\x01\0").unwrap();
        assert_eq!(read_component(&path("empty.wasm")).unwrap(), b"\0asm\x0d\0\x01\0");
        std::fs::write(path("script.wasm"), b"#!/bin/sh\n").unwrap();
        let refused = read_component(&path("script.wasm")).unwrap_err();
        assert!(refused.contains("script.wasm: not a valid WebAssembly component"), "{refused}");
        // A sparse file: its size is known without writing 256 MiB.
        std::fs::File::create(path("huge.wasm")).unwrap().set_len(MAX_COMPONENT + 1).unwrap();
        let refused = read_component(&path("huge.wasm")).unwrap_err();
        assert!(refused.contains("huge.wasm is 268435457 bytes, larger than the 256 MiB"), "{refused}");
        let refused = read_component(&path("missing.wasm")).unwrap_err();
        assert!(refused.starts_with("cannot read"), "{refused}");
    }
}
