//! The errors of reading and checking a manifest. Each one names the file and line it is about.

use std::path::PathBuf;

use crate::limits::{Exceeded, ManifestLimit};
use crate::manifest::SectionKind;
use crate::params::NAME_RULE;
use flicker_protocol::OperatorKind;

/// Why an operator cannot take its input rows, with what it would need to know to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputMismatch {
    /// What its operator said.
    pub problem: flicker_batch::TypeMismatch,
    /// An input field whose name is close to a missing one's.
    pub suggestion: Option<String>,
    /// The input rows' fields, types and origins, in words.
    pub input: String,
}

impl std::fmt::Display for InputMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.problem)?;
        match &self.suggestion {
            Some(suggestion) => write!(f, "; did you mean `{suggestion}`?")?,
            None => f.write_str(".")?,
        }
        write!(f, " Its input rows have: {}", self.input)
    }
}

/// Everything that can be wrong with a manifest.
///
/// Every variant but [`ManifestError::Io`] and [`ManifestError::UnknownParam`] (which is about the
/// command line) carries the manifest's `file` and the 1-based `line` the error is about, and its
/// message starts with `file:line: `. Where the error concerns one
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
    /// a number out of its range (a `priority` above 1000), an unknown format, an empty string.
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

    /// A sink with more than one input.
    #[error(
        "{}:{line}: {kind} \"{id}\": more than one input is given, but a sink writes one input; combine them in a step first (e.g. \"std:join\")",
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

    /// A chain of steps fused into one stage whose tasks would hold more operator instances at
    /// once than one task may (each instance is a sandbox of the executor's bounded pool).
    #[error(
        "{}:{line}: {kind} \"{id}\": the steps fused into its stage run {operators} operators in each task, more than the {max} one task may hold; combine some of them into one operator",
        file.display()
    )]
    StageTooLong {
        /// The manifest file.
        file: PathBuf,
        /// The line of the step or sink that is one too many.
        line: usize,
        /// Whether this is a step or a sink.
        kind: SectionKind,
        /// The id of the step or sink.
        id: String,
        /// The operators a task of its stage would hold.
        operators: usize,
        /// The most a task may hold.
        max: u32,
    },

    /// A manifest, or a part of it, larger than flicker accepts (see [`ManifestLimit`]).
    #[error("{}:{line}: {section}: {}", file.display(), Exceeded::of(.limit, .size))]
    TooLarge {
        /// The manifest file.
        file: PathBuf,
        /// The line of the part too large (for the whole text, the line the cap falls on).
        line: usize,
        /// Where the part is, e.g. `step "max"` or `top level`.
        section: String,
        /// Which cap it passed.
        limit: ManifestLimit,
        /// Its size, in the cap's unit (bytes, characters, tables).
        size: usize,
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

    /// A `std:union` step is used where it cannot be, or its inputs' rows differ.
    #[error("{}:{line}: {kind} \"{id}\": std:union {problem}", file.display())]
    Union {
        /// The manifest file.
        file: PathBuf,
        /// The line of the step or sink.
        line: usize,
        /// Whether this is a step or a sink.
        kind: SectionKind,
        /// The id of the step or sink.
        id: String,
        /// What is wrong, in words that follow "std:union".
        problem: String,
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

    /// The operator of a step or sink cannot take the rows its input outputs: it reads a field
    /// they do not have, or one of a type it cannot take.
    #[error(
        "{}:{line}: {kind} \"{id}\": plugin \"{plugin}\" cannot take its input rows: {mismatch}",
        file.display()
    )]
    FieldMismatch {
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
        /// What is wrong, and what the input does have.
        mismatch: Box<InputMismatch>,
    },

    /// A `${name}` placeholder whose param has no value: no `--param name=...` sets it and
    /// `[params]` gives it no default.
    #[error(
        "{}:{line}: \"{key}\": param `{name}` is not set; add it to [params] or pass --param {name}=...",
        file.display()
    )]
    ParamNotSet {
        /// The manifest file.
        file: PathBuf,
        /// The line of the string that uses the param.
        line: usize,
        /// The key of that string, e.g. `url`.
        key: String,
        /// The param.
        name: String,
    },

    /// A `--param` naming a param that the manifest neither declares in `[params]` nor uses in a
    /// placeholder, most likely a typo.
    #[error(
        "{}: --param {name}: the manifest neither declares nor uses a param `{name}`; {}",
        file.display(),
        known_params(suggestion.as_deref(), known)
    )]
    UnknownParam {
        /// The manifest file.
        file: PathBuf,
        /// The param as given on the command line.
        name: String,
        /// A param of the manifest whose name is close to `name`.
        suggestion: Option<String>,
        /// The params the manifest declares or uses, sorted.
        known: Vec<String>,
    },

    /// A `${` in a string that does not start a placeholder: no `}` closes it, or what is between
    /// the braces is not a param name.
    #[error(
        "{}:{line}: \"{key}\": `{placeholder}` is not a param placeholder; write ${{name}}, where {}, or $${{ for a literal ${{",
        file.display(),
        NAME_RULE
    )]
    BadPlaceholder {
        /// The manifest file.
        file: PathBuf,
        /// The line of the string.
        line: usize,
        /// The key of the string, e.g. `url`.
        key: String,
        /// The text from the `${` on, up to its `}` if there is one, shortened when long.
        placeholder: String,
    },

    /// A key of `[params]` that is not a param name.
    #[error("{}:{line}: [params]: `{name}` is not a valid param name; {}", file.display(), NAME_RULE)]
    BadParamName {
        /// The manifest file.
        file: PathBuf,
        /// The line of the key.
        line: usize,
        /// The key as written.
        name: String,
    },

    /// A default in `[params]` that uses a placeholder: defaults are taken as written.
    #[error(
        "{}:{line}: [params]: the default of `{param}` uses ${{{name}}}, but a default cannot use params; write the value in full, or $${{ for a literal ${{",
        file.display()
    )]
    ParamInDefault {
        /// The manifest file.
        file: PathBuf,
        /// The line of the default.
        line: usize,
        /// The param whose default it is.
        param: String,
        /// The param its default uses.
        name: String,
    },
}

/// How an [`ManifestError::UnknownParam`] message suggests a param and lists those a manifest has.
fn known_params(suggestion: Option<&str>, known: &[String]) -> String {
    match suggestion {
        _ if known.is_empty() => {
            "it has no params: declare one under [params] and use it as ${name} in a string value".to_owned()
        }
        Some(suggestion) => format!("did you mean `{suggestion}`? its params are: {}", known.join(", ")),
        None => format!("its params are: {}", known.join(", ")),
    }
}
