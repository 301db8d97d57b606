//! The manifest as plain data: a job's sources, steps and sinks, each with the line it was written on.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::ManifestError;
use crate::{decode, graph};
use flicker_protocol::LimitOverrides;

/// A parsed and checked job manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// The file the manifest was read from, as given; errors found later name it too.
    pub file: PathBuf,
    /// The job's name.
    pub name: String,
    /// How often a task may be attempted before the job fails, if the manifest says.
    pub max_attempts: Option<u32>,
    /// The job's rank among its tenant's jobs (`priority`), higher first, from -1000 to 1000, if
    /// the manifest says.
    pub priority: Option<i32>,
    /// The operator CPU time the whole job may use (`max_cpu`, a duration such as `"10m"`), if the
    /// manifest says.
    pub max_cpu: Option<Duration>,
    /// The `[storage]` settings of the cloud stores' clients, which override the nodes' own, in
    /// file order. Only their tables (`s3`, `gs`) and value types are checked here: whether a job
    /// may set a key is the storage crate's to say (see [`StorageSetting`]).
    pub storage: Vec<StorageSetting>,
    /// The `[[source]]` tables, in file order.
    pub sources: Vec<Source>,
    /// The `[[step]]` tables, in file order.
    pub steps: Vec<Step>,
    /// The `[[sink]]` tables, in file order.
    pub sinks: Vec<Sink>,
}

/// A `[[source]]`: where the job's input comes from.
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    /// The id that steps use as their `input`.
    pub id: String,
    /// An object, a prefix or a glob, kept as written (relative paths included).
    pub url: String,
    /// How the bytes of the objects are cut into records.
    pub format: SourceFormat,
    /// How many bytes one task reads, if the manifest says.
    pub split_size: Option<u64>,
    /// The line of the `[[source]]` header.
    pub line: usize,
    /// The line of its `url`, which a refusal of the location names.
    pub url_line: usize,
}

/// How a source's bytes are cut into records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SourceFormat {
    /// One record per line of text; a parse step makes fields of them.
    #[default]
    Lines,
}

/// A `[[step]]`: one operator applied to the records of its input.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// The id that later steps and sinks use as their `input`.
    pub id: String,
    /// The ids of the sources or steps this step reads, in order: one, but for a co-group step
    /// (a join reads its left input, then its right one).
    pub inputs: Vec<String>,
    /// `std:<name>` for a standard operator or a path to a `.wasm` component, kept as written.
    pub plugin: String,
    /// The operator's configuration, in the order written.
    pub config: Vec<(String, String)>,
    /// How many partitions the step's output is split into, if the manifest says.
    pub partitions: Option<u32>,
    /// Sandbox limits that replace the defaults for this step.
    pub limits: LimitOverrides,
    /// The line of the `[[step]]` header.
    pub line: usize,
}

/// A `[[sink]]`: a format operator whose bytes are written to a URL.
#[derive(Debug, Clone, PartialEq)]
pub struct Sink {
    /// The sink's id.
    pub id: String,
    /// The id of the step this sink writes out.
    pub input: String,
    /// Where the output goes, kept as written.
    pub url: String,
    /// The format operator, `std:<name>` or a path to a `.wasm` component.
    pub plugin: String,
    /// The operator's configuration, in the order written.
    pub config: Vec<(String, String)>,
    /// Sandbox limits that replace the defaults for this sink.
    pub limits: LimitOverrides,
    /// What to do when the location already holds a committed output.
    pub mode: SinkMode,
    /// The extension of its part files, if the manifest gives one (`extension`): always one of
    /// [`PART_EXTENSIONS`]. See [`Sink::part_extension`].
    pub extension: Option<&'static str>,
    /// Whether its output is one object (`single_file = true`), written by one task.
    pub single_file: bool,
    /// The line of the `[[sink]]` header.
    pub line: usize,
    /// The line of its `url`, which a refusal of the location names.
    pub url_line: usize,
}

/// The extensions a sink's part files may have (its `extension`): names of data formats only, so
/// that no job can write a part an executable or a configuration file's name.
pub const PART_EXTENSIONS: &[&str] = &["csv", "tsv", "jsonl", "json", "txt", "parquet", "avro", "orc"];

/// The extension of the parts of a sink without `extension` whose format operator is not a
/// standard one.
pub const DEFAULT_PART_EXTENSION: &str = "part";

/// The plugin of a step that concatenates its inputs, which must have the same rows: no
/// component, the planner runs the steps after it on each input's own stages (Spark's narrow
/// `union`).
pub const UNION: &str = "std:union";

impl Step {
    /// Whether the step is a [`UNION`].
    pub fn is_union(&self) -> bool {
        self.plugin == UNION
    }
}

impl Sink {
    /// The extension of its part files: its `extension` if the manifest gives one; else, for a
    /// standard format operator, its format's (`std:format-csv` → `csv`, `std:format-jsonl` →
    /// `jsonl`); else [`DEFAULT_PART_EXTENSION`]. Never taken from a plugin's file name.
    pub fn part_extension(&self) -> &'static str {
        let standard = match self.plugin.as_str() {
            "std:format-csv" => Some("csv"),
            "std:format-jsonl" => Some("jsonl"),
            _ => None,
        };
        self.extension.or(standard).unwrap_or(DEFAULT_PART_EXTENSION)
    }
}

/// What a sink does when its location already holds a committed output (a `_SUCCESS`), as
/// Spark's save modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SinkMode {
    /// `mode = "error"`, the default: the job is refused (or, if the output appeared while it
    /// ran, fails at commit) and the location keeps its output.
    #[default]
    ErrorIfExists,
    /// `mode = "overwrite"`: the job's output replaces the previous one when it commits.
    Overwrite,
}

/// One setting of a `[storage.s3]` or `[storage.gs]` table, as written.
///
/// The manifest keeps these as plain text: which keys a store has, which hold credentials and which
/// choose where requests go are object_store's to know, so `flicker_storage::JobStoreOptions::check`
/// checks them when the job is prepared, and a refused one is reported with
/// [`Manifest::storage_error`], naming this setting's line. `Debug` leaves the value out: a
/// manifest may hold a credential until that check refuses it.
#[derive(Clone, PartialEq, Eq)]
pub struct StorageSetting {
    /// The store's URL scheme, which names its table: `s3` or `gs` (in lowercase).
    pub scheme: String,
    /// The key as written, e.g. `region`.
    pub key: String,
    /// The value as text: a string as it is, an integer in decimal, a boolean as `true`/`false`.
    pub value: String,
    /// The line of the value.
    pub line: usize,
}

impl fmt::Debug for StorageSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StorageSetting")
            .field("scheme", &self.scheme)
            .field("key", &self.key)
            .field("line", &self.line)
            .finish_non_exhaustive()
    }
}

/// Which kind of table of the manifest something is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SectionKind {
    /// A `[[source]]`.
    Source,
    /// A `[[step]]`.
    Step,
    /// A `[[sink]]`.
    Sink,
}

impl fmt::Display for SectionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SectionKind::Source => "source",
            SectionKind::Step => "step",
            SectionKind::Sink => "sink",
        })
    }
}

/// A source, step or sink seen through what they have in common, for walking all of them in file order.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Node<'a> {
    pub(crate) kind: SectionKind,
    pub(crate) id: &'a str,
    pub(crate) line: usize,
    /// What a step or sink runs; `None` for a source.
    pub(crate) operator: Option<Operator<'a>>,
}

/// The operator part of a step or sink.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Operator<'a> {
    /// What it reads, in order (a sink reads one input).
    pub(crate) inputs: &'a [String],
    pub(crate) plugin: &'a str,
    pub(crate) config: &'a [(String, String)],
    /// The step's limit overrides.
    pub(crate) limits: &'a LimitOverrides,
}

impl Manifest {
    /// Reads the manifest at `path` and [parses](Manifest::parse) it.
    pub fn load(path: &Path) -> Result<Manifest, ManifestError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ManifestError::Io { file: path.to_path_buf(), source })?;
        Manifest::parse(path, &text)
    }

    /// Parses the manifest `text`, naming `file` in errors.
    ///
    /// Params are [resolved](crate::resolve_params) with their defaults: a placeholder whose param
    /// has no default is an error. Checks everything that needs no plugin: TOML syntax,
    /// placeholders, value types, unknown keys, sizes, durations and counts, then the job graph:
    /// unique ids, inputs that exist, no cycles, at least one sink. The first problem in file
    /// order is reported.
    pub fn parse(file: &Path, text: &str) -> Result<Manifest, ManifestError> {
        let manifest = decode::decode(file, text)?;
        graph::check(&manifest)?;
        Ok(manifest)
    }

    /// The error that reports `setting` of this manifest's `[storage]` as refused for `reason`,
    /// naming the file and the setting's line like every other bad value.
    pub fn storage_error(&self, setting: &StorageSetting, reason: impl fmt::Display) -> ManifestError {
        ManifestError::InvalidValue {
            file: self.file.clone(),
            line: setting.line,
            section: format!("storage.{}", setting.scheme),
            key: setting.key.clone(),
            message: reason.to_string(),
        }
    }

    /// The error that reports the first step or sink, in file order, whose plugin `unusable`
    /// gives a reason against (a file that cannot be read, or is no component); `None` if it
    /// gives none.
    pub fn plugin_error(&self, unusable: impl Fn(&str) -> Option<String>) -> Option<ManifestError> {
        self.nodes().into_iter().find_map(|node| {
            let plugin = node.operator?.plugin;
            Some(ManifestError::PluginNotFound {
                file: self.file.clone(),
                line: node.line,
                kind: node.kind,
                id: node.id.to_owned(),
                plugin: plugin.to_owned(),
                reason: unusable(plugin)?,
            })
        })
    }

    /// The line of the `[[source]]`, `[[step]]` or `[[sink]]` with this id.
    pub fn line_of(&self, id: &str) -> Option<usize> {
        self.nodes().into_iter().find(|node| node.id == id).map(|node| node.line)
    }

    /// The ids of the steps and sinks that read `id`, in file order.
    pub fn consumers(&self, id: &str) -> Vec<&str> {
        self.nodes()
            .into_iter()
            .filter(|node| {
                node.operator.is_some_and(|operator| operator.inputs.iter().any(|input| input == id))
            })
            .map(|node| node.id)
            .collect()
    }

    /// All sources, steps and sinks, in file order.
    pub(crate) fn nodes(&self) -> Vec<Node<'_>> {
        let sources = self.sources.iter().map(|source| Node {
            kind: SectionKind::Source,
            id: &source.id,
            line: source.line,
            operator: None,
        });
        let steps = self.steps.iter().map(|step| Node {
            kind: SectionKind::Step,
            id: &step.id,
            line: step.line,
            operator: Some(Operator {
                inputs: &step.inputs,
                plugin: &step.plugin,
                config: &step.config,
                limits: &step.limits,
            }),
        });
        let sinks = self.sinks.iter().map(|sink| Node {
            kind: SectionKind::Sink,
            id: &sink.id,
            line: sink.line,
            operator: Some(Operator {
                inputs: std::slice::from_ref(&sink.input),
                plugin: &sink.plugin,
                config: &sink.config,
                limits: &sink.limits,
            }),
        });
        let mut nodes: Vec<Node<'_>> = sources.chain(steps).chain(sinks).collect();
        nodes.sort_by_key(|node| node.line);
        nodes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the crate docs, with a key-by step between parse and max.
    const MAX_TEMPERATURE: &str = r#"name = "max-temperature"
max_attempts = 3

[[source]]
id = "readings"
url = "file:///data/weather/"
format = "lines"
split_size = "64MiB"

[[step]]
id = "parse"
input = "readings"
plugin = "std:parse-csv"
config = { delimiter = ";", schema = "station:string,temperature:f64" }

[[step]]
id = "by-station"
input = "parse"
plugin = "std:key-by"
config = { field = "station" }

[[step]]
id = "max"
input = "by-station"
plugin = "std:max"
partitions = 4
config = { field = "temperature" }
limits = { memory = "256MiB", call_timeout = "30s", output = "64MiB" }

[[sink]]
id = "out"
input = "max"
url = "file:///data/out/max-temperature/"
plugin = "std:format-csv"
config = { }
"#;

    fn config(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(key, value)| (key.to_string(), value.to_string())).collect()
    }

    #[test]
    fn the_example_parses_into_the_expected_values() {
        let manifest = Manifest::parse(Path::new("jobs/max.toml"), MAX_TEMPERATURE).unwrap();
        let expected = Manifest {
            file: PathBuf::from("jobs/max.toml"),
            name: "max-temperature".into(),
            max_attempts: Some(3),
            priority: None,
            max_cpu: None,
            storage: Vec::new(),
            sources: vec![Source {
                id: "readings".into(),
                url: "file:///data/weather/".into(),
                format: SourceFormat::Lines,
                split_size: Some(67_108_864),
                line: 4,
                url_line: 6,
            }],
            steps: vec![
                Step {
                    id: "parse".into(),
                    inputs: vec!["readings".into()],
                    plugin: "std:parse-csv".into(),
                    config: config(&[("delimiter", ";"), ("schema", "station:string,temperature:f64")]),
                    partitions: None,
                    limits: LimitOverrides::default(),
                    line: 10,
                },
                Step {
                    id: "by-station".into(),
                    inputs: vec!["parse".into()],
                    plugin: "std:key-by".into(),
                    config: config(&[("field", "station")]),
                    partitions: None,
                    limits: LimitOverrides::default(),
                    line: 16,
                },
                Step {
                    id: "max".into(),
                    inputs: vec!["by-station".into()],
                    plugin: "std:max".into(),
                    config: config(&[("field", "temperature")]),
                    partitions: Some(4),
                    limits: LimitOverrides {
                        memory: Some(256 << 20),
                        call_timeout: Some(Duration::from_secs(30)),
                        output: Some(64 << 20),
                    },
                    line: 22,
                },
            ],
            sinks: vec![Sink {
                id: "out".into(),
                input: "max".into(),
                url: "file:///data/out/max-temperature/".into(),
                plugin: "std:format-csv".into(),
                config: Vec::new(),
                limits: LimitOverrides::default(),
                mode: SinkMode::ErrorIfExists,
                extension: None,
                single_file: false,
                line: 30,
                url_line: 33,
            }],
        };
        assert_eq!(manifest, expected);
    }

    #[test]
    fn part_extensions_come_from_the_manifest_or_a_standard_format_never_a_file_name() {
        let manifest = Manifest::parse(Path::new("jobs/max.toml"), MAX_TEMPERATURE).unwrap();
        let sink =
            |plugin: &str, extension| Sink { plugin: plugin.into(), extension, ..manifest.sinks[0].clone() };
        assert_eq!(sink("std:format-csv", None).part_extension(), "csv");
        assert_eq!(sink("std:format-jsonl", None).part_extension(), "jsonl");
        assert_eq!(sink("plugins/x.sh", None).part_extension(), "part");
        assert_eq!(sink("plugins/format-csv.wasm", None).part_extension(), "part");
        assert_eq!(sink("plugins/x.wasm", Some("parquet")).part_extension(), "parquet");
        assert_eq!(sink("std:format-csv", Some("tsv")).part_extension(), "tsv");
    }

    #[test]
    fn line_of_finds_every_kind_of_table() {
        let manifest = Manifest::parse(Path::new("jobs/max.toml"), MAX_TEMPERATURE).unwrap();
        assert_eq!(manifest.line_of("readings"), Some(4));
        assert_eq!(manifest.line_of("max"), Some(22));
        assert_eq!(manifest.line_of("out"), Some(30));
        assert_eq!(manifest.line_of("nope"), None);
    }

    #[test]
    fn consumers_lists_readers_in_file_order() {
        let text = MAX_TEMPERATURE.to_owned()
            + "\n[[sink]]\nid = \"raw\"\ninput = \"parse\"\nurl = \"file:///raw/\"\nplugin = \"std:format-csv\"\n";
        let manifest = Manifest::parse(Path::new("jobs/max.toml"), &text).unwrap();
        assert_eq!(manifest.consumers("readings"), ["parse"]);
        assert_eq!(manifest.consumers("parse"), ["by-station", "raw"]);
        assert_eq!(manifest.consumers("max"), ["out"]);
        assert!(manifest.consumers("out").is_empty());
    }

    #[test]
    fn a_refused_storage_setting_is_a_bad_value_at_its_line() {
        let manifest = Manifest::parse(Path::new("jobs/max.toml"), MAX_TEMPERATURE).unwrap();
        let setting = StorageSetting {
            scheme: "s3".into(),
            key: "endpoint".into(),
            value: "http://x".into(),
            line: 37,
        };
        let error = manifest.storage_error(&setting, "not for jobs");
        assert!(
            matches!(&error, ManifestError::InvalidValue { line: 37, section, key, .. } if section == "storage.s3" && key == "endpoint"),
            "{error:?}"
        );
        assert_eq!(
            error.to_string(),
            "jobs/max.toml:37: storage.s3: bad value for \"endpoint\": not for jobs"
        );
    }

    #[test]
    fn a_plugin_error_names_the_first_step_or_sink_whose_plugin_is_refused() {
        let manifest = Manifest::parse(Path::new("jobs/max.toml"), MAX_TEMPERATURE).unwrap();
        let refuse = |refused: &'static str| move |plugin: &str| (plugin == refused).then(|| "no".to_owned());
        let error = manifest.plugin_error(refuse("std:format-csv")).unwrap();
        assert_eq!(
            error.to_string(),
            "jobs/max.toml:30: sink \"out\": plugin \"std:format-csv\" cannot be used: no"
        );
        let error = manifest.plugin_error(|plugin| plugin.contains('m').then(|| plugin.to_owned())).unwrap();
        assert!(
            matches!(&error, ManifestError::PluginNotFound { line: 22, .. }),
            "the first in the file: {error}"
        );
        assert!(manifest.plugin_error(refuse("other.wasm")).is_none());
    }

    #[test]
    fn storage_settings_do_not_show_their_values() {
        let setting =
            StorageSetting { scheme: "s3".into(), key: "token".into(), value: "hunter2".into(), line: 3 };
        let shown = format!("{setting:?}");
        assert!(shown.contains("token") && !shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn load_reads_the_file() {
        let path = std::env::temp_dir().join(format!("flicker-manifest-load-{}.toml", std::process::id()));
        std::fs::write(&path, MAX_TEMPERATURE).unwrap();
        let loaded = Manifest::load(&path);
        std::fs::remove_file(&path).unwrap();
        assert_eq!(loaded.unwrap().file, path);
    }

    #[test]
    fn load_names_a_missing_file() {
        let error = Manifest::load(Path::new("jobs/does-not-exist.toml")).unwrap_err();
        assert!(matches!(error, ManifestError::Io { .. }));
        assert!(error.to_string().starts_with("jobs/does-not-exist.toml: "), "{error}");
    }
}
