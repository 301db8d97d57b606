//! Finds and loads the plugin a manifest names: `std:<name>` from the components embedded in the
//! binary, anything else by the digest its submitter sent, from a [`ComponentSource`] (the
//! scheduler's plugin store, or an executor fetching from the scheduler).

use flicker_batch::{RowType, TypeMismatch};
use flicker_host::{Limits, Plugin, PluginDigest, Runtime, TypeCheckError};
use flicker_manifest::{OperatorKind, PluginCatalog};
use std::collections::HashMap;
use std::sync::Arc;

/// Where the bytes of a component come from, by digest.
pub trait ComponentSource: Send + Sync {
    /// The component with this digest, or why it cannot be had.
    fn fetch(&self, digest: &PluginDigest) -> Result<Vec<u8>, String>;
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

    /// The loaded plugin named `plugin`, or a message saying why there is none.
    pub fn load(&self, plugin: &str) -> Result<Arc<Plugin>, String> {
        if plugin.starts_with(flicker_plugins::STD_PREFIX) {
            let bytes = flicker_plugins::std_plugin(plugin).ok_or_else(|| {
                format!(
                    "there is no standard operator {plugin:?} (standard operators: {})",
                    flicker_plugins::std_names().collect::<Vec<_>>().join(", ")
                )
            })?;
            return self.runtime.load(bytes).map_err(|e| e.to_string());
        }
        let digest = match self.plugins.get(plugin) {
            Some(Ok(digest)) => *digest,
            Some(Err(reason)) => return Err(reason.clone()),
            None => return Err(format!("the submitter sent no component for {plugin:?}")),
        };
        if let Some(loaded) = self.runtime.get(&digest) {
            return Ok(loaded);
        }
        let bytes = self.source.fetch(&digest)?;
        let loaded = self.runtime.load(&bytes).map_err(|e| e.to_string())?;
        if loaded.digest() != digest {
            return Err(format!("the component received for {digest} has digest {}", loaded.digest()));
        }
        Ok(loaded)
    }
}

impl PluginCatalog for PluginResolver<'_> {
    fn kind_of(&self, plugin: &str) -> Result<OperatorKind, String> {
        self.load(plugin).map(|p| p.kind())
    }

    fn check_config(&self, plugin: &str, config: &[(String, String)]) -> Result<(), String> {
        let loaded = self.load(plugin)?;
        loaded.check_config(config, self.limits).map_err(|error| match error {
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
        input: Option<&RowType>,
    ) -> Result<Option<RowType>, TypeMismatch> {
        let loaded = self.load(plugin).map_err(|message| TypeMismatch::Other { message })?;
        loaded.output_type(config, input, self.limits).map_err(|error| match error {
            TypeCheckError::Mismatch(mismatch) => mismatch,
            call => TypeMismatch::Other { message: call.to_string() },
        })
    }
}

/// The digest of every plugin file `manifest` names (relative to `base_dir`), or why it cannot be
/// read; the component bytes of those that could be read, by digest. Run by the submitter: the
/// scheduler never reads the submitter's files.
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
        let path = base_dir.join(plugin);
        let found = match std::fs::read(&path) {
            Ok(bytes) => {
                let digest = PluginDigest::of(&bytes);
                components.insert(digest, bytes);
                Ok(digest)
            }
            Err(e) => Err(format!("cannot read {}: {e}", path.display())),
        };
        refs.insert(plugin.clone(), found);
    }
    (refs, components)
}
