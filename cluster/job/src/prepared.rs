//! A job ready to run: validated manifest, plan, loaded plugins, resolved locations and limits.

use crate::catalog::{ComponentSource, PluginRefs, PluginResolver};
use crate::error::JobError;
use flicker_host::{Limits, MAX_TASK_SANDBOXES, Plugin, Runtime};
use flicker_manifest::{
    LimitOverrides, Manifest, ManifestError, OperatorKind, RowTypes, SectionKind, SinkMode,
};
use flicker_protocol::task::{JobDefaults, JobDescriptor};
use flicker_scheduler_core::fuse::{Configured, fuse_parse_and_aggregate, fuse_parse_and_key_by};
use flicker_scheduler_core::plan::{AUTO_BROADCAST_BYTES, ChosenBroadcast, small_sides};
use flicker_scheduler_core::{JobPlan, StagePlan, plan};
use flicker_storage::{CommitMode, JobSetting, JobStoreOptions, Location, NodeStorage, StoreOptions};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// The sandbox limits `defaults` give every operator instance before a step's overrides.
pub fn default_limits(defaults: &JobDefaults) -> Limits {
    Limits {
        memory: defaults.memory_limit,
        call_timeout: Duration::from_millis(defaults.call_timeout_ms),
        output: defaults.output_limit,
        ..Limits::default()
    }
}

/// The largest limits a job may give its operators on a cluster (`--max-memory-limit`,
/// `--max-call-timeout`, `--max-output-limit` of the scheduler and of `flicker run`): a job
/// cannot give itself all of an executor's memory or hold a slot for a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitMaxima {
    /// The largest memory limit of an operator instance, in bytes.
    pub memory: u64,
    /// The largest time limit of one operator call.
    pub call_timeout: Duration,
    /// The largest limit on what one call returns, in bytes.
    pub output: u64,
}

impl Default for LimitMaxima {
    fn default() -> Self {
        Self { memory: 4 << 30, call_timeout: Duration::from_secs(3600), output: 1 << 30 }
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

impl Configured for Operator {
    fn plugin_ref(&self) -> &str {
        &self.plugin_ref
    }

    fn config(&self) -> &[(String, String)] {
        &self.config
    }

    fn add_config(&mut self, key: &str, value: String) {
        self.config.push((key.to_owned(), value));
    }
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
    /// Each sink's location, by id.
    pub sinks: HashMap<String, Location>,
    /// The defaults the job was planned with.
    pub defaults: JobDefaults,
    /// The type of each step's output rows, where its operator could say before the job ran.
    pub row_types: RowTypes,
    /// The joins planned broadcast because one side is small.
    pub broadcasts: Vec<ChosenBroadcast>,
}

impl PreparedJob {
    /// Validates `manifest` against its plugins (loading each once through `resolver`), plans it,
    /// and resolves its locations against `base_dir`, opening cloud stores with this node's
    /// `storage` settings overridden by the manifest's `[storage]`, which must hold no credential
    /// and nothing that chooses where requests go. Each location must be one the node's policy
    /// lets jobs reach ([`JobError::Refused`] names the line of its `url`); local ones are opened
    /// confined to the node's allowed roots. No task runs and nothing is read or written.
    /// The joins of `broadcasts` are planned broadcast and their operators built so. Planning is
    /// deterministic: the scheduler and every executor derive the same stages.
    pub fn prepare(
        manifest: Manifest,
        base_dir: &Path,
        resolver: &PluginResolver<'_>,
        defaults: JobDefaults,
        storage: &NodeStorage,
        broadcasts: &[ChosenBroadcast],
    ) -> Result<Self, JobError> {
        let job_storage = job_storage(&manifest, Some(&storage.options))?;
        let row_types = manifest.validate_plugins(resolver)?;

        let limits = default_limits(&defaults);
        let mut operators = HashMap::new();
        // A union has no operator: the planner runs the steps after it on each input's stages.
        let steps = manifest.steps.iter().filter(|s| !s.is_union());
        let steps = steps.map(|s| (&s.id, &s.plugin, &s.config, &s.limits));
        let sinks = manifest.sinks.iter().map(|s| (&s.id, &s.plugin, &s.config, &s.limits));
        for (id, plugin_ref, config, overrides) in steps.chain(sinks) {
            // validate_plugins loaded every plugin already: this only reads the runtime's cache.
            let plugin = resolver
                .load(plugin_ref)
                .map_err(|source| JobError::Plugin { plugin: plugin_ref.clone(), source })?;
            operators.insert(id.clone(), operator(plugin_ref, plugin, config, limits, overrides));
        }
        // A join the scheduler broadcasts is built as if its config said so.
        for (step, kept) in broadcasts {
            if let Some(join) = operators.get_mut(step) {
                join.add_config("broadcast", if *kept == 0 { "left" } else { "right" }.to_owned());
            }
        }
        let kinds = kinds(&operators);
        let mut plan = plan(&manifest, &|plugin| kinds[plugin], defaults.partitions.max(1), broadcasts)?;
        let folded = fuse_parse_and_key_by(&manifest, &mut plan, &mut operators);
        if !folded.is_empty() {
            tracing::debug!(?folded, "key-by steps fused into the parse-csv steps they follow");
        }
        let combined = fuse_parse_and_aggregate(&manifest, &mut plan, &mut operators);
        if !combined.is_empty() {
            tracing::debug!(?combined, "aggregates combined into the parse-csv steps they read");
        }

        let options = storage.options.overridden_by(&job_storage);
        let location = |what: String, url: &str, line: usize| {
            let location = Location::parse_with(url, base_dir, &options)
                .map_err(|source| JobError::Storage { what: what.clone(), source: Box::new(source) })?;
            storage.policy.admit(location).map_err(|source| JobError::Refused {
                file: manifest.file.clone(),
                line,
                what,
                source,
            })
        };
        let sources = manifest
            .sources
            .iter()
            .map(|s| {
                let loc = location(format!("source {:?}", s.id), &s.url, s.url_line)?;
                Ok((s.id.clone(), (loc, s.split_size)))
            })
            .collect::<Result<_, JobError>>()?;
        let sinks = manifest
            .sinks
            .iter()
            .map(|s| Ok((s.id.clone(), location(format!("sink {:?}", s.id), &s.url, s.url_line)?)))
            .collect::<Result<_, JobError>>()?;
        let broadcasts = broadcasts.to_vec();
        Ok(Self { manifest, plan, operators, sources, sinks, defaults, row_types, broadcasts })
    }

    /// Plans a job from its descriptor, with the joins `broadcasts` broadcast (the scheduler's
    /// choice, see [`small_sides`](Self::small_sides)), loading its plugins from `components`
    /// and opening stores with this node's `storage` settings: what every executor does on a
    /// job's first task.
    pub fn from_descriptor(
        descriptor: &JobDescriptor,
        broadcasts: &[ChosenBroadcast],
        runtime: &Runtime,
        components: &dyn ComponentSource,
        storage: &NodeStorage,
    ) -> Result<Self, JobError> {
        let refs: PluginRefs =
            descriptor.plugins.iter().map(|(name, digest)| (name.clone(), Ok(*digest))).collect();
        Self::from_submission(descriptor, broadcasts, &refs, runtime, components, storage)
    }

    /// [`from_descriptor`](Self::from_descriptor) with the plugin references of a submission,
    /// which may name files the submitter could not read: what the scheduler does on submission.
    pub fn from_submission(
        descriptor: &JobDescriptor,
        broadcasts: &[ChosenBroadcast],
        refs: &PluginRefs,
        runtime: &Runtime,
        components: &dyn ComponentSource,
        storage: &NodeStorage,
    ) -> Result<Self, JobError> {
        let manifest = Manifest::parse(Path::new(&descriptor.manifest_path), &descriptor.manifest)?;
        let resolver = PluginResolver::new(runtime, refs, components, default_limits(&descriptor.defaults));
        let base_dir = Path::new(&descriptor.base_dir);
        Self::prepare(manifest, base_dir, &resolver, descriptor.defaults, storage, broadcasts)
    }

    /// The joins to broadcast because one side is small: [`small_sides`] of the manifest with
    /// the bytes of each source (`source_bytes`) and [`AUTO_BROADCAST_BYTES`].
    pub fn small_sides(&self, source_bytes: &HashMap<String, u64>) -> Vec<ChosenBroadcast> {
        let kinds = kinds(&self.operators);
        let kind_of = |plugin: &str| kinds.get(plugin).copied().unwrap_or(OperatorKind::Map);
        small_sides(
            &self.manifest,
            &kind_of,
            &|source| source_bytes.get(source).copied(),
            AUTO_BROADCAST_BYTES,
        )
    }

    /// How sink `id` commits over an existing output: its manifest `mode`.
    pub fn commit_mode(&self, id: &str) -> CommitMode {
        match self.manifest.sinks.iter().find(|sink| sink.id == id).map(|sink| sink.mode) {
            Some(SinkMode::Overwrite) => CommitMode::Replace,
            Some(SinkMode::ErrorIfExists) | None => CommitMode::Refuse,
        }
    }

    /// The extension of sink `id`'s part files (see [`Sink::part_extension`]).
    ///
    /// [`Sink::part_extension`]: flicker_manifest::Sink::part_extension
    pub fn part_extension(&self, id: &str) -> &'static str {
        let sink = self.manifest.sinks.iter().find(|sink| sink.id == id);
        sink.map_or(flicker_manifest::DEFAULT_PART_EXTENSION, |sink| sink.part_extension())
    }

    /// Checks every step's and sink's limits (the job's defaults with its `limits`) against the
    /// cluster's `maxima`, the first one over naming its step, its line and the flag that sets
    /// the maximum; and that no stage's task holds more operator instances than a task may
    /// ([`MAX_TASK_SANDBOXES`]).
    pub fn check_limits(&self, maxima: &LimitMaxima) -> Result<(), ManifestError> {
        self.check_stage_sizes()?;
        let mib = |bytes: u64| format!("{:.1} MiB", bytes as f64 / f64::from(1u32 << 20));
        let steps = self.manifest.steps.iter().filter(|s| !s.is_union());
        let steps = steps.map(|s| ("step", &s.id, s.line, &s.limits));
        let sinks = self.manifest.sinks.iter().map(|s| ("sink", &s.id, s.line, &s.limits));
        for (kind, id, line, overrides) in steps.chain(sinks) {
            let limits = self.operators[id.as_str()].limits;
            // (over the maximum, key, set by the step, value, maximum, flag)
            let size = |value: u64, max: u64, key, set_here: Option<u64>, flag| {
                (value > max, key, set_here.is_some(), mib(value), mib(max), flag)
            };
            let time = (
                limits.call_timeout > maxima.call_timeout,
                "call_timeout",
                overrides.call_timeout.is_some(),
                format!("{:?}", limits.call_timeout),
                format!("{:?}", maxima.call_timeout),
                "--max-call-timeout",
            );
            let over = [
                size(limits.memory, maxima.memory, "memory", overrides.memory, "--max-memory-limit"),
                time,
                size(limits.output, maxima.output, "output", overrides.output, "--max-output-limit"),
            ];
            if let Some((_, key, set_here, value, max, flag)) = over.into_iter().find(|limit| limit.0) {
                let whose = if set_here { "" } else { "the job's default " };
                return Err(ManifestError::InvalidValue {
                    file: self.manifest.file.clone(),
                    line,
                    section: format!("{kind} {id:?}"),
                    key: format!("limits.{key}"),
                    message: format!("{whose}{value} is over this cluster's maximum of {max} ({flag})"),
                });
            }
        }
        Ok(())
    }

    /// Refuses a stage whose tasks would hold more operator instances than one task may: the
    /// executor's sandboxes are shared out by task slot.
    fn check_stage_sizes(&self) -> Result<(), ManifestError> {
        let max = MAX_TASK_SANDBOXES;
        for stage in &self.plan.stages {
            let operators: Vec<&str> = stage.operators().collect();
            let Some(over) = operators.get(max as usize) else { continue };
            let (kind, line) = match self.manifest.steps.iter().find(|s| s.id == *over) {
                Some(step) => (SectionKind::Step, step.line),
                None => {
                    let sink = self.manifest.sinks.iter().find(|s| s.id == *over);
                    (SectionKind::Sink, sink.map_or(1, |sink| sink.line))
                }
            };
            return Err(ManifestError::StageTooLong {
                file: self.manifest.file.clone(),
                line,
                kind,
                id: (*over).to_owned(),
                operators: operators.len(),
                max,
            });
        }
        Ok(())
    }

    /// The operator of step or sink `id`.
    pub fn operator(&self, id: &str) -> &Operator {
        &self.operators[id]
    }

    /// The operator memory one task of each stage holds: the sum of its instances' memory
    /// limits, in bytes, one entry per stage of [`plan`](Self::plan), in plan order.
    pub fn stage_memory(&self) -> Vec<u64> {
        let stage_memory = |stage: &StagePlan| {
            stage.operators().map(|id| self.operator(id).limits.memory).fold(0, u64::saturating_add)
        };
        self.plan.stages.iter().map(stage_memory).collect()
    }
}

/// The manifest's `[storage]` settings, checked: no credential, no setting only a node may make
/// (where requests go), only settings of the stores' clients, each with a value of its kind; and,
/// given the `node`'s own settings, that laid over them they still send requests to the node's
/// host. A refusal names the manifest's file and line. The submitter checks (without a node)
/// before sending the manifest, the scheduler and every executor again when preparing the job.
pub fn job_storage(
    manifest: &Manifest,
    node: Option<&StoreOptions>,
) -> Result<JobStoreOptions, ManifestError> {
    let settings = manifest.storage.iter().map(|setting| {
        (setting, JobSetting { scheme: &setting.scheme, key: &setting.key, value: &setting.value })
    });
    match node {
        Some(node) => JobStoreOptions::check_on(node, settings),
        None => JobStoreOptions::check(settings),
    }
    .map_err(|refused| manifest.storage_error(refused.setting, refused.reason))
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

/// The operator kind of each plugin reference of `operators` (a union has none).
fn kinds(operators: &HashMap<String, Operator>) -> HashMap<&str, OperatorKind> {
    operators.values().map(|o| (o.plugin_ref.as_str(), o.plugin.kind())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::ComponentError;
    use flicker_host::{PluginDigest, RuntimeConfig};
    use flicker_protocol::JobId;

    /// The jobs here use standard operators only.
    struct NoComponents;

    impl ComponentSource for NoComponents {
        fn fetch(&self, digest: &PluginDigest) -> Result<Vec<u8>, ComponentError> {
            let source = format!("no component {digest}").into();
            Err(ComponentError { digest: *digest, from: "nowhere", source })
        }
    }

    /// The reference job (`examples/max-temperature`), its max and its sink given memory limits
    /// of their own: parse (with the key-by fused into it) and the map side of max in the first
    /// stage, the reduce side of max and the sink in the second.
    fn reference_job() -> String {
        let job = include_str!("../../../examples/max-temperature/job.toml");
        let (max, sink) = ("config = { field = \"temperature\" }", "plugin = \"std:format-csv\"");
        let limited = job.replacen(max, &format!("{max}\nlimits = {{ memory = \"256MiB\" }}"), 1).replacen(
            sink,
            &format!("{sink}\nlimits = {{ memory = \"64MiB\" }}"),
            1,
        );
        assert_eq!(limited.matches("limits = ").count(), 2, "the example changed: {job}");
        limited
    }

    fn prepare(text: &str) -> PreparedJob {
        let descriptor = JobDescriptor {
            job: JobId("test".into()),
            manifest_path: "job.toml".into(),
            manifest: text.into(),
            base_dir: ".".into(),
            plugins: Vec::new(),
            defaults: JobDefaults::default(),
        };
        let runtime = Runtime::new(RuntimeConfig::default()).unwrap();
        let storage = NodeStorage::unrestricted(StoreOptions::default());
        PreparedJob::from_descriptor(&descriptor, &[], &runtime, &NoComponents, &storage).unwrap()
    }

    #[test]
    fn stage_memory_sums_the_memory_limits_of_the_operators_a_task_holds() {
        let job = prepare(&reference_job());
        let operators: Vec<Vec<&str>> = job.plan.stages.iter().map(|s| s.operators().collect()).collect();
        assert_eq!(operators, [vec!["parse", "max"], vec!["max", "out"]]);
        // parse has the job's default limit; max and out their own.
        let default = JobDefaults::default().memory_limit;
        assert_eq!(job.stage_memory(), [default + (256 << 20), (256 << 20) + (64 << 20)]);
    }
}
