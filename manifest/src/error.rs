//! The errors of reading and checking a manifest. Each one names the file and line it is about.

use std::path::PathBuf;

use crate::manifest::SectionKind;
use crate::plugin::OperatorKind;

/// Everything that can be wrong with a manifest.
///
/// Every variant but [`ManifestError::Io`] carries the manifest's `file` and the 1-based `line` the
/// error is about, and its message starts with `file:line: `. Where the error concerns one
/// `[[source]]`, `[[step]]` or `[[sink]]`, its id is in the variant too and in the message.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The manifest file could not be read.
    #[error("{}: cannot read the manifest: {source}", file.display())]
    Io {
        /// The manifest file.
        file: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },

    /// The text is not valid TOML, a value has the wrong type, or a required key is missing.
    #[error("{}:{line}: {message}", file.display())]
    Syntax {
        /// The manifest file.
        file: PathBuf,
        /// The line of the offending text (of the table header for a missing key).
        line: usize,
        /// What is wrong, naming the section it is in.
        message: String,
    },

    /// A key that the manifest does not know, which is most likely a typo.
    #[error("{}:{line}: {section}: unknown key \"{key}\"; the keys allowed here are: {}", file.display(), expected.join(", "))]
    UnknownKey {
        /// The manifest file.
        file: PathBuf,
        /// The line of the key.
        line: usize,
        /// Where the key is, e.g. `step "max"` or `top level`.
        section: String,
        /// The key, with its table as prefix when nested, e.g. `limits.cpu`.
        key: String,
        /// The keys that are allowed in that place.
        expected: &'static [&'static str],
    },

    /// A value of the right type that is still not acceptable: a bad size or duration, a zero count,
    /// an unknown format, an empty string.
    #[error("{}:{line}: {section}: bad value for \"{key}\": {message}", file.display())]
    InvalidValue {
        /// The manifest file.
        file: PathBuf,
        /// The line of the value.
        line: usize,
        /// Where the value is, e.g. `step "max"` or `top level`.
        section: String,
        /// The key of the value, with its table as prefix when nested, e.g. `limits.memory`.
        key: String,
        /// What is wrong with the value.
        message: String,
    },

    /// Two sources, steps or sinks share an id.
    #[error(
        "{}:{line}: {kind} \"{id}\": the id is already used on line {first_line}; ids must be unique across sources, steps and sinks",
        file.display()
    )]
    DuplicateId {
        /// The manifest file.
        file: PathBuf,
        /// The line of the second use.
        line: usize,
        /// What the second use is.
        kind: SectionKind,
        /// The id used twice.
        id: String,
        /// The line of the first use.
        first_line: usize,
    },

    /// A step or sink whose `input` is empty.
    #[error("{}:{line}: {kind} \"{id}\": the input is empty; set it to the id of a source or a step", file.display())]
    MissingInput {
        /// The manifest file.
        file: PathBuf,
        /// The line of the `input` key.
        line: usize,
        /// Whether this is a step or a sink.
        kind: SectionKind,
        /// The id of the step or sink.
        id: String,
    },

    /// A step or sink whose `input` is not the id of any source or step.
    #[error("{}:{line}: {kind} \"{id}\": unknown input \"{input}\"; no source or step has that id", file.display())]
    UnknownInput {
        /// The manifest file.
        file: PathBuf,
        /// The line of the step or sink.
        line: usize,
        /// Whether this is a step or a sink.
        kind: SectionKind,
        /// The id of the step or sink.
        id: String,
        /// The input as written.
        input: String,
    },

    /// A step or sink whose `input` is a sink, which produces nothing to read.
    #[error(
        "{}:{line}: {kind} \"{id}\": input \"{input}\" is a sink, which has no output; read from a source or a step instead",
        file.display()
    )]
    InputIsSink {
        /// The manifest file.
        file: PathBuf,
        /// The line of the step or sink.
        line: usize,
        /// Whether this is a step or a sink.
        kind: SectionKind,
        /// The id of the step or sink.
        id: String,
        /// The id of the sink named as input.
        input: String,
    },

    /// A step or sink with more than one input; that would be a join.
    #[error(
        "{}:{line}: {kind} \"{id}\": more than one input is given, but joins are not supported yet; give a single input",
        file.display()
    )]
    MultipleInputs {
        /// The manifest file.
        file: PathBuf,
        /// The line of the `input` key.
        line: usize,
        /// Whether this is a step or a sink.
        kind: SectionKind,
        /// The id of the step or sink.
        id: String,
    },

    /// Steps whose inputs go round in a circle, so no data can ever reach them.
    #[error(
        "{}:{line}: step \"{id}\": the steps form a cycle: {}; change one of their inputs so that data flows from a source to a sink",
        file.display(),
        path.join(" -> ")
    )]
    Cycle {
        /// The manifest file.
        file: PathBuf,
        /// The line of the first step of the cycle in the file.
        line: usize,
        /// The id of that step.
        id: String,
        /// The cycle in the direction data would flow, starting and ending with `id`.
        path: Vec<String>,
    },

    /// A manifest without any `[[sink]]`, whose result would go nowhere.
    #[error("{}:{line}: the manifest has no [[sink]]; add one so that the result is written somewhere", file.display())]
    NoSink {
        /// The manifest file.
        file: PathBuf,
        /// Always 1: the error is about the whole file.
        line: usize,
    },

    /// A sink without a `plugin`: a sink needs a format operator to turn records into bytes.
    #[error(
        "{}:{line}: sink \"{id}\": no plugin; a sink needs a format plugin that turns records into bytes, e.g. plugin = \"std:format-csv\"",
        file.display()
    )]
    SinkWithoutFormat {
        /// The manifest file.
        file: PathBuf,
        /// The line of the sink.
        line: usize,
        /// The id of the sink.
        id: String,
    },

    /// A sink that reads a source directly: its lines were never parsed into records.
    #[error(
        "{}:{line}: sink \"{id}\": input \"{input}\" is a source, but a sink writes records; add a parse step between them and use it as input",
        file.display()
    )]
    SinkReadsSource {
        /// The manifest file.
        file: PathBuf,
        /// The line of the sink.
        line: usize,
        /// The id of the sink.
        id: String,
        /// The id of the source.
        input: String,
    },

    /// The plugin of a step or sink cannot be found or loaded.
    #[error("{}:{line}: {kind} \"{id}\": plugin \"{plugin}\" cannot be used: {reason}", file.display())]
    PluginNotFound {
        /// The manifest file.
        file: PathBuf,
        /// The line of the step or sink.
        line: usize,
        /// Whether this is a step or a sink.
        kind: SectionKind,
        /// The id of the step or sink.
        id: String,
        /// The plugin as written.
        plugin: String,
        /// Why the catalog could not provide it.
        reason: String,
    },

    /// A plugin whose operator kind does not fit where it is used.
    #[error(
        "{}:{line}: {kind} \"{id}\": plugin \"{plugin}\" is {} {found} operator, but {expected}",
        file.display(),
        found.article()
    )]
    WrongKind {
        /// The manifest file.
        file: PathBuf,
        /// The line of the step or sink.
        line: usize,
        /// Whether this is a step or a sink.
        kind: SectionKind,
        /// The id of the step or sink.
        id: String,
        /// The plugin as written.
        plugin: String,
        /// The kind of operator the plugin exports.
        found: OperatorKind,
        /// In words: what this place needs, and what to do about it.
        expected: String,
    },

    /// The plugin's constructor rejected the `config` of a step or sink.
    #[error("{}:{line}: {kind} \"{id}\": plugin \"{plugin}\" rejected its config: {message}", file.display())]
    ConfigRejected {
        /// The manifest file.
        file: PathBuf,
        /// The line of the step or sink.
        line: usize,
        /// Whether this is a step or a sink.
        kind: SectionKind,
        /// The id of the step or sink.
        id: String,
        /// The plugin as written.
        plugin: String,
        /// What the plugin said.
        message: String,
    },
}
