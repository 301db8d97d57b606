//! The flicker job manifest: a TOML file that describes one batch job.
//!
//! A job reads its input from `[[source]]`s, runs it through `[[step]]`s, each of which applies one
//! WebAssembly operator (a plugin) to the records of its `input`, and writes the result through
//! `[[sink]]`s, whose format operator turns records into bytes:
//!
//! ```toml
//! name = "max-temperature"
//!
//! [[source]]
//! id = "readings"
//! url = "file:///data/weather/"   # an object, a prefix or a glob
//! split_size = "64MiB"            # optional: bytes per task
//!
//! [[step]]
//! id = "parse"
//! input = "readings"              # a step that reads a source runs a parse operator
//! plugin = "std:parse-csv"        # a standard operator, or a path to a .wasm component
//! config = { delimiter = ";", schema = "station:string,temperature:f64" }
//!
//! [[step]]
//! id = "max"
//! input = "parse"
//! plugin = "std:max"
//! partitions = 4                  # optional
//! config = { field = "temperature" }
//! limits = { memory = "256MiB", call_timeout = "30s", output = "64MiB" }   # optional
//!
//! [[sink]]
//! id = "out"
//! input = "max"
//! url = "file:///data/out/max-temperature/"
//! plugin = "std:format-csv"       # a sink needs a format operator
//! ```
//!
//! Checking happens in two stages. [`Manifest::parse`] (or [`Manifest::load`]) checks what the text
//! alone can tell: syntax, types, unknown keys, sizes and durations, unique ids, inputs that exist,
//! no cycles, at least one sink. [`Manifest::validate_plugins`] then asks a [`PluginCatalog`] what
//! kind of operator each plugin is, whether it fits where it is used, and whether it accepts its
//! config.
//!
//! String values may hold `${name}` placeholders for job parameters, with defaults in a
//! `[params]` table: [`Manifest::parse`] fills in the defaults, [`resolve_params`] the values given
//! with `--param name=value` (see [`Param`]), writing out the text a run submits.
//!
//! The `[storage.s3]` and `[storage.gs]` tables tune the cloud stores' clients for one job. Their
//! settings are kept as written ([`StorageSetting`]): which keys a job may set is checked by the
//! storage crate when the job is prepared, and reported with [`Manifest::storage_error`].
//!
//! A manifest is held to caps on its size, its name's length, its number of tables and the size of
//! each config ([`MAX_MANIFEST_BYTES`], [`MAX_NAME_CHARS`], [`MAX_SECTIONS`], [`MAX_CONFIG_BYTES`]),
//! so that no submission makes a shared scheduler's journal or status list costly for everyone.
//!
//! Every [`ManifestError`] names the file, the line and, where there is one, the id of the source,
//! step or sink at fault, e.g. `jobs/max.toml:17: step "max": unknown input "by-statoin"; …`.
//!
//! ```
//! use std::path::Path;
//! use flicker_manifest::Manifest;
//!
//! let text = r#"
//! name = "copy"
//! [[source]]
//! id = "in"
//! url = "data/"
//! [[step]]
//! id = "parse"
//! input = "in"
//! plugin = "std:parse-csv"
//! [[sink]]
//! id = "out"
//! input = "parse"
//! url = "out/"
//! plugin = "std:format-csv"
//! "#;
//! let manifest = Manifest::parse(Path::new("jobs/copy.toml"), text)?;
//! assert_eq!(manifest.consumers("parse"), ["out"]);
//! assert_eq!(manifest.line_of("out"), Some(10));
//! # Ok::<(), flicker_manifest::ManifestError>(())
//! ```

mod decode;
mod duration;
mod error;
mod graph;
mod limits;
mod lines;
mod manifest;
mod params;
mod plugin;
mod row_types;
mod size;
mod suggest;

pub use duration::{DurationError, parse_duration};
pub use error::ManifestError;
/// The operator types the manifest shares with the host, re-exported from where they live.
pub use flicker_protocol::{LimitOverrides, OperatorKind};
pub use limits::{
    MAX_CONFIG_BYTES, MAX_MANIFEST_BYTES, MAX_NAME_CHARS, MAX_PARTITIONS, MAX_SECTIONS, ManifestLimit,
};
pub use manifest::{
    DEFAULT_PART_EXTENSION, Manifest, PART_EXTENSIONS, SectionKind, Sink, SinkMode, Source, SourceFormat,
    Step, StorageSetting, UNION,
};
pub use params::{Param, ParamError, resolve_params};
pub use plugin::PluginCatalog;
pub use row_types::RowTypes;
pub use size::{SizeError, parse_size};
