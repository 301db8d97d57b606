//! A job ready to run: validated manifest, plan, loaded plugins, resolved locations and limits.

use crate::catalog::PluginResolver;
use crate::error::JobError;
use crate::fuse::fuse_parse_and_key_by;
use crate::plan::{JobPlan, plan};
use flicker_host::{Limits, Plugin, Runtime};
use flicker_manifest::{LimitOverrides, Manifest};
use flicker_storage::Location;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

/// Cluster-wide defaults that a manifest may override.
#[derive(Debug, Clone, Copy)]
pub struct JobDefaults {
    /// Sandbox limits of every operator instance.
    pub limits: Limits,
    /// Shuffle partitions of an aggregate without `partitions`.
    pub partitions: u32,
    /// The largest input split of a source without `split_size` (see [`split_size_for`]).
    pub split_size: u64,
}

impl Default for JobDefaults {
    fn default() -> Self {
        Self { limits: Limits::default(), partitions: 8, split_size: 64 << 20 }
    }
}

/// The operator a step or sink runs, with its config and limits.
pub struct Operator {
    /// The plugin reference as written in the manifest.
    pub plugin_ref: String,
    /// The loaded plugin.
    pub plugin: Arc<Plugin>,
    /// The step's config.
    pub config: Vec<(String, String)>,
    /// The step's limits (defaults with the manifest's overrides).
    pub limits: Limits,
}

/// A validated, planned job.
pub struct PreparedJob {
    /// The manifest.
    pub manifest: Manifest,
    /// Its stages.
    pub plan: JobPlan,
    /// The operator of every step and sink, by id.
    pub operators: HashMap<String, Operator>,
    /// Each source's location and its manifest `split_size`, by id.
    pub sources: HashMap<String, (Location, Option<u64>)>,
    /// The largest split when a source does not set `split_size`.
    pub max_split_size: u64,
    /// Each sink's location, by id.
    pub sinks: HashMap<String, Location>,
}

impl PreparedJob {
    /// Validates `manifest` against its plugins (loading each once), plans it, and resolves its
    /// locations. No task runs and nothing is read or written.
    pub fn prepare(
        manifest: Manifest,
        runtime: Arc<Runtime>,
        defaults: &JobDefaults,
    ) -> Result<Self, JobError> {
        let base_dir = manifest.file.parent().map(Path::to_path_buf).unwrap_or_default();
        let base_dir = if base_dir.as_os_str().is_empty() { std::path::PathBuf::from(".") } else { base_dir };
        let resolver = PluginResolver::new(runtime, base_dir.clone(), defaults.limits);
        manifest.validate_plugins(&resolver)?;

        let mut operators = HashMap::new();
        let steps = manifest.steps.iter().map(|s| (&s.id, &s.plugin, &s.config, &s.limits));
        let sinks = manifest.sinks.iter().map(|s| (&s.id, &s.plugin, &s.config, &s.limits));
        for (id, plugin_ref, config, overrides) in steps.chain(sinks) {
            // validate_plugins loaded every plugin already: this only reads the resolver's cache.
            let plugin = resolver
                .load(plugin_ref)
                .map_err(|reason| JobError::Runtime(flicker_host::HostError::Compile { message: reason }))?;
            operators.insert(id.clone(), operator(plugin_ref, plugin, config, defaults.limits, overrides));
        }
        let kinds: HashMap<&str, _> =
            operators.values().map(|o| (o.plugin_ref.as_str(), o.plugin.kind())).collect();
        let mut plan = plan(&manifest, &|plugin| kinds[plugin], defaults.partitions)?;
        let folded = fuse_parse_and_key_by(&manifest, &mut plan, &mut operators);
        if !folded.is_empty() {
            tracing::info!(?folded, "key-by steps fused into the parse-csv steps they follow");
        }

        let location = |what: String, url: &str| {
            Location::parse(url, &base_dir)
                .map_err(|source| JobError::Storage { what, source: Box::new(source) })
        };
        let sources = manifest
            .sources
            .iter()
            .map(|s| {
                let loc = location(format!("source {:?}", s.id), &s.url)?;
                Ok((s.id.clone(), (loc, s.split_size)))
            })
            .collect::<Result<_, JobError>>()?;
        let sinks = manifest
            .sinks
            .iter()
            .map(|s| Ok((s.id.clone(), location(format!("sink {:?}", s.id), &s.url)?)))
            .collect::<Result<_, JobError>>()?;
        Ok(Self { manifest, plan, operators, sources, sinks, max_split_size: defaults.split_size })
    }

    /// The operator of step or sink `id`.
    pub fn operator(&self, id: &str) -> &Operator {
        &self.operators[id]
    }
}

/// The split size of a source without `split_size`: small enough that every task slot gets about
/// four splits (so slots finish together), at least 1 MiB, at most `max` (Spark's
/// `maxPartitionBytes` rule).
pub fn split_size_for(total_bytes: u64, slots: usize, max: u64) -> u64 {
    let per_slot = total_bytes / (slots.max(1) as u64 * 4);
    per_slot.clamp(1 << 20, max.max(1 << 20))
}

fn operator(
    plugin_ref: &str,
    plugin: Arc<Plugin>,
    config: &[(String, String)],
    defaults: Limits,
    overrides: &LimitOverrides,
) -> Operator {
    Operator {
        plugin_ref: plugin_ref.to_owned(),
        plugin,
        config: config.to_vec(),
        limits: defaults.with(overrides),
    }
}

#[cfg(test)]
mod tests {
    use super::split_size_for;

    #[test]
    fn split_size_gives_each_slot_four_splits_within_bounds() {
        assert_eq!(split_size_for(160 << 20, 2, 64 << 20), 20 << 20);
        assert_eq!(split_size_for(100 << 30, 2, 64 << 20), 64 << 20);
        assert_eq!(split_size_for(3 << 10, 2, 64 << 20), 1 << 20);
        assert_eq!(split_size_for(0, 0, 0), 1 << 20);
    }
}
