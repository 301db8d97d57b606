//! Finds and loads the plugin a manifest names: `std:<name>` from the components embedded in the
//! binary, anything else as a path to a `.wasm` file (relative to the manifest's directory).

use flicker_host::{Limits, Plugin, Runtime};
use flicker_manifest::{OperatorKind, PluginCatalog};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Resolves and loads plugins for one manifest.
pub struct PluginResolver {
    runtime: Arc<Runtime>,
    base_dir: PathBuf,
    limits: Limits,
    loaded: Mutex<HashMap<String, Arc<Plugin>>>,
}

impl PluginResolver {
    /// A resolver for a manifest in `base_dir`; config checks run under `limits`.
    pub fn new(runtime: Arc<Runtime>, base_dir: PathBuf, limits: Limits) -> Self {
        Self { runtime, base_dir, limits, loaded: Mutex::default() }
    }

    /// The loaded plugin named `plugin`, or a message saying why there is none.
    pub fn load(&self, plugin: &str) -> Result<Arc<Plugin>, String> {
        if let Some(loaded) = self.lock().get(plugin) {
            return Ok(loaded.clone());
        }
        let loaded = if plugin.starts_with(flicker_plugins::STD_PREFIX) {
            let bytes = flicker_plugins::std_plugin(plugin).ok_or_else(|| {
                format!(
                    "there is no standard operator {plugin:?} (standard operators: {})",
                    flicker_plugins::std_names().collect::<Vec<_>>().join(", ")
                )
            })?;
            self.runtime.load(bytes)
        } else {
            let path = self.base_dir.join(plugin);
            let bytes = std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            self.runtime.load(&bytes)
        }
        .map_err(|e| e.to_string())?;
        self.lock().insert(plugin.to_owned(), loaded.clone());
        Ok(loaded)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Plugin>>> {
        self.loaded.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl PluginCatalog for PluginResolver {
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
}
