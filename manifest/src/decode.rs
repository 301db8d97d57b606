//! Reading the TOML text into a [`Manifest`]: types, required and unknown keys, sizes, durations and
//! counts. Works on toml's spanned document so that every error can name the line of the key at fault.

use std::borrow::Cow;
use std::ops::{Range, RangeInclusive};
use std::path::Path;

use toml::Spanned;
use toml::de::{DeInteger, DeTable, DeValue};

use crate::duration::parse_duration;
use crate::error::ManifestError;
use crate::limits::{self, MAX_CONFIG_BYTES, MAX_NAME_CHARS, MAX_PARTITIONS, MAX_SECTIONS, ManifestLimit};
use crate::lines::LineIndex;
use crate::manifest::{
    Manifest, PART_EXTENSIONS, SectionKind, Sink, SinkMode, Source, SourceFormat, Step, StorageSetting,
};
use crate::params;
use crate::size::parse_size;
use flicker_protocol::LimitOverrides;

/// The keys allowed at the top level of a manifest.
const TOP_LEVEL_KEYS: &[&str] =
    &["name", "max_attempts", "priority", "max_cpu", "params", "storage", "source", "step", "sink"];
/// The lowest and highest `priority` a job may have.
const PRIORITIES: RangeInclusive<i32> = -1000..=1000;
/// The tables allowed in `[storage]`: one per cloud store, named by its URL scheme.
const STORAGE_KEYS: &[&str] = &["s3", "gs"];
/// The keys allowed in a `[[source]]`.
const SOURCE_KEYS: &[&str] = &["id", "url", "format", "split_size"];
/// The keys allowed in a `[[step]]`.
const STEP_KEYS: &[&str] = &["id", "input", "plugin", "config", "partitions", "limits"];
/// The keys allowed in a `[[sink]]`.
const SINK_KEYS: &[&str] =
    &["id", "input", "url", "plugin", "config", "limits", "mode", "extension", "single_file"];
/// The keys allowed in a `limits` table.
const LIMIT_KEYS: &[&str] = &["memory", "call_timeout", "output"];

/// The most inputs one step reads (a co-group's tasks hold a shuffle of each).
const MAX_INPUTS: usize = 16;

/// The longest piece of text that a syntax error quotes.
const MAX_QUOTED: usize = 40;

/// How the top level is named in errors.
pub(crate) const TOP_LEVEL: &str = "top level";

pub(crate) type Key<'i> = Spanned<Cow<'i, str>>;
pub(crate) type Value<'i> = Spanned<DeValue<'i>>;

/// Reads `text` into a manifest, its params resolved with their defaults; the graph is not checked
/// yet.
pub(crate) fn decode(file: &Path, text: &str) -> Result<Manifest, ManifestError> {
    let decoder = Decoder::new(file, text)?;
    let mut root = decoder.parse(text)?;
    params::resolve(&decoder, text, root.get_mut(), &[])?;
    decoder.document(root.get_ref())
}

/// A piece of the top level, to be read in file order.
enum Item<'t, 'i> {
    /// A top-level key and its value.
    Key(&'t Key<'i>, &'t Value<'i>),
    /// The `number`th (1-based) element of the `[[source]]`, `[[step]]` or `[[sink]]` array.
    Table { kind: SectionKind, number: usize, value: &'t Value<'i> },
}

impl Item<'_, '_> {
    fn start(&self) -> usize {
        match self {
            Item::Key(key, _) => key.span().start,
            Item::Table { value, .. } => value.span().start,
        }
    }
}

/// A `[[source]]`, `[[step]]` or `[[sink]]` whose id has been read.
struct Section<'t, 'i> {
    kind: SectionKind,
    id: String,
    /// How errors name it, e.g. `step "max"`.
    label: String,
    /// The line of its header.
    line: usize,
    /// Its keys, in file order.
    entries: Vec<(&'t Key<'i>, &'t Value<'i>)>,
}

/// Turns spanned TOML values into manifest values, or into errors that name the file and line.
pub(crate) struct Decoder<'a> {
    /// The manifest file, as errors name it.
    pub(crate) file: &'a Path,
    /// The lines of its text.
    pub(crate) lines: LineIndex,
}

impl<'a> Decoder<'a> {
    /// A decoder of `text`, read from `file`; a text above [`MAX_MANIFEST_BYTES`] is refused
    /// before it is read.
    pub(crate) fn new(file: &'a Path, text: &str) -> Result<Self, ManifestError> {
        limits::check_text(file, text)?;
        Ok(Decoder { file, lines: LineIndex::new(text) })
    }

    /// Parses `text` into toml's spanned document.
    pub(crate) fn parse<'i>(&self, text: &'i str) -> Result<Spanned<DeTable<'i>>, ManifestError> {
        DeTable::parse(text).map_err(|error| self.toml_error(text, &error))
    }
}

impl Decoder<'_> {
    fn document(&self, root: &DeTable<'_>) -> Result<Manifest, ManifestError> {
        let mut items = Vec::new();
        for (key, value) in root {
            let kind = match key.get_ref().as_ref() {
                "source" => Some(SectionKind::Source),
                "step" => Some(SectionKind::Step),
                "sink" => Some(SectionKind::Sink),
                _ => None,
            };
            match (kind, value.get_ref()) {
                (Some(kind), DeValue::Array(tables)) => {
                    items.extend(tables.iter().enumerate().map(|(at, value)| Item::Table {
                        kind,
                        number: at + 1,
                        value,
                    }))
                }
                _ => items.push(Item::Key(key, value)),
            }
        }
        items.sort_by_key(Item::start);

        let mut name = None;
        let mut max_attempts = None;
        let mut priority = None;
        let mut max_cpu = None;
        let mut storage = Vec::new();
        let (mut sources, mut steps, mut sinks) = (Vec::new(), Vec::new(), Vec::new());
        for item in items {
            match item {
                Item::Key(key, value) => match key.get_ref().as_ref() {
                    "name" => name = Some(self.name(value)?),
                    "max_attempts" => {
                        max_attempts = Some(self.positive_u32(TOP_LEVEL, "max_attempts", value, u32::MAX)?)
                    }
                    "priority" => priority = Some(self.priority(value)?),
                    "max_cpu" => max_cpu = Some(self.duration(TOP_LEVEL, "max_cpu", value)?),
                    "storage" => storage = self.storage(value)?,
                    // The defaults of the params, read (and checked) by `params::resolve`.
                    "params" => {}
                    section @ ("source" | "step" | "sink") => {
                        return Err(self.syntax(
                            value.span(),
                            format!(
                                "top level: \"{section}\" must be an array of tables; write each one under a [[{section}]] header"
                            ),
                        ));
                    }
                    other => return Err(self.unknown_key(key.span(), TOP_LEVEL, other, TOP_LEVEL_KEYS)),
                },
                Item::Table { kind, number, value } => {
                    if sources.len() + steps.len() + sinks.len() == MAX_SECTIONS {
                        let line = self.lines.line(value.span());
                        let section = format!("{kind} #{number}");
                        return Err(self.too_large(line, section, ManifestLimit::Sections, MAX_SECTIONS + 1));
                    }
                    let section = self.section(kind, number, value)?;
                    match kind {
                        SectionKind::Source => sources.push(self.source(section)?),
                        SectionKind::Step => steps.push(self.step(section)?),
                        SectionKind::Sink => sinks.push(self.sink(section)?),
                    }
                }
            }
        }
        let name = name.ok_or_else(|| ManifestError::Syntax {
            file: self.file.to_path_buf(),
            line: 1,
            message: "top level: missing required key \"name\", e.g. name = \"max-temperature\"".into(),
        })?;
        Ok(Manifest {
            file: self.file.to_path_buf(),
            name,
            max_attempts,
            priority,
            max_cpu,
            storage,
            sources,
            steps,
            sinks,
        })
    }

    /// Checks that `value` is a table and reads its id.
    fn section<'t, 'i>(
        &self,
        kind: SectionKind,
        number: usize,
        value: &'t Value<'i>,
    ) -> Result<Section<'t, 'i>, ManifestError> {
        let unnamed = format!("{kind} #{number}");
        let DeValue::Table(table) = value.get_ref() else {
            return Err(self.wrong_type(&unnamed, kind.to_string().as_str(), value, "a table"));
        };
        let Some(id) = table.get("id") else {
            return Err(self.syntax(value.span(), format!("{unnamed}: missing required key \"id\"")));
        };
        let id = self.non_empty_string(&unnamed, "id", id)?;
        let mut entries: Vec<_> = table.iter().collect();
        entries.sort_by_key(|(key, _)| key.span().start);
        Ok(Section {
            kind,
            label: format!("{kind} \"{id}\""),
            id,
            line: self.lines.line(value.span()),
            entries,
        })
    }

    fn source(&self, section: Section<'_, '_>) -> Result<Source, ManifestError> {
        let label = section.label.as_str();
        let mut url = None;
        let mut format = SourceFormat::Lines;
        let mut split_size = None;
        for &(key, value) in &section.entries {
            match key.get_ref().as_ref() {
                "id" => {}
                "url" => url = Some(self.url(label, value)?),
                "format" => format = self.source_format(label, value)?,
                "split_size" => split_size = Some(self.size(label, "split_size", value)?),
                other => return Err(self.unknown_key(key.span(), label, other, SOURCE_KEYS)),
            }
        }
        let (url, url_line) = self.required(&section, "url", url)?;
        Ok(Source { url, id: section.id, format, split_size, line: section.line, url_line })
    }

    fn step(&self, section: Section<'_, '_>) -> Result<Step, ManifestError> {
        let label = section.label.as_str();
        let (mut input, mut plugin, mut config, mut partitions, mut limits) =
            (None, None, Vec::new(), None, LimitOverrides::default());
        for &(key, value) in &section.entries {
            match key.get_ref().as_ref() {
                "id" => {}
                "input" => input = Some(self.inputs(&section, value)?),
                "plugin" => plugin = Some(self.non_empty_string(label, "plugin", value)?),
                "config" => config = self.config(label, value)?,
                "partitions" => {
                    partitions = Some(self.positive_u32(label, "partitions", value, MAX_PARTITIONS)?)
                }
                "limits" => limits = self.limits(label, value)?,
                other => return Err(self.unknown_key(key.span(), label, other, STEP_KEYS)),
            }
        }
        Ok(Step {
            inputs: self.required(&section, "input", input)?,
            plugin: self.required(&section, "plugin", plugin)?,
            id: section.id,
            config,
            partitions,
            limits,
            line: section.line,
        })
    }

    fn sink(&self, section: Section<'_, '_>) -> Result<Sink, ManifestError> {
        let label = section.label.as_str();
        let (mut input, mut url, mut plugin, mut config, mut limits, mut mode, mut extension) =
            (None, None, None, Vec::new(), LimitOverrides::default(), SinkMode::default(), None);
        let mut single_file = false;
        for &(key, value) in &section.entries {
            match key.get_ref().as_ref() {
                "id" => {}
                "input" => input = Some(self.input(&section, value)?),
                "url" => url = Some(self.url(label, value)?),
                "extension" => extension = Some(self.part_extension(label, value)?),
                "plugin" => plugin = Some(self.non_empty_string(label, "plugin", value)?),
                "config" => config = self.config(label, value)?,
                "limits" => limits = self.limits(label, value)?,
                "mode" => mode = self.sink_mode(label, value)?,
                "single_file" => match value.get_ref() {
                    DeValue::Boolean(flag) => single_file = *flag,
                    _ => return Err(self.wrong_type(label, "single_file", value, "true or false")),
                },
                other => return Err(self.unknown_key(key.span(), label, other, SINK_KEYS)),
            }
        }
        let input = self.required(&section, "input", input)?;
        let (url, url_line) = self.required(&section, "url", url)?;
        let Some(plugin) = plugin else {
            return Err(ManifestError::SinkWithoutFormat {
                file: self.file.to_path_buf(),
                line: section.line,
                id: section.id,
            });
        };
        Ok(Sink {
            id: section.id,
            input,
            url,
            plugin,
            config,
            limits,
            mode,
            extension,
            single_file,
            line: section.line,
            url_line,
        })
    }

    /// Reads `input`: one id, given as a string or as an array of exactly one string.
    /// Reads the `input` of a step: one id, or an array of ids (several for a co-group step such
    /// as a join, in the order the operator reads them).
    fn inputs(&self, section: &Section<'_, '_>, value: &Value<'_>) -> Result<Vec<String>, ManifestError> {
        let line = self.lines.line(value.span());
        let (kind, id) = (section.kind, section.id.clone());
        let inputs = match value.get_ref() {
            DeValue::String(input) => vec![input.as_ref()],
            DeValue::Array(inputs) => inputs
                .as_ref()
                .iter()
                .map(|input| match input.get_ref() {
                    DeValue::String(input) => Ok(input.as_ref()),
                    _ => Err(self.wrong_type(&section.label, "input", input, "a string")),
                })
                .collect::<Result<_, _>>()?,
            _ => {
                return Err(self.wrong_type(
                    &section.label,
                    "input",
                    value,
                    "the id of a source or step, or an array of them",
                ));
            }
        };
        if inputs.is_empty() || inputs.iter().any(|input| input.is_empty()) {
            return Err(ManifestError::MissingInput { file: self.file.to_path_buf(), line, kind, id });
        }
        if inputs.len() > MAX_INPUTS {
            return Err(self.invalid(
                &section.label,
                "input",
                value,
                format!("it names {} inputs; a step reads at most {MAX_INPUTS}", inputs.len()),
            ));
        }
        Ok(inputs.into_iter().map(str::to_owned).collect())
    }

    /// Reads the `input` of a sink: exactly one id.
    fn input(&self, section: &Section<'_, '_>, value: &Value<'_>) -> Result<String, ManifestError> {
        let mut inputs = self.inputs(section, value)?;
        if inputs.len() > 1 {
            let (kind, id) = (section.kind, section.id.clone());
            let line = self.lines.line(value.span());
            return Err(ManifestError::MultipleInputs { file: self.file.to_path_buf(), line, kind, id });
        }
        Ok(inputs.remove(0))
    }

    /// Reads a `config` table: its values as strings, in the order written; at most
    /// [`MAX_CONFIG_BYTES`] of keys and values.
    fn config(&self, label: &str, value: &Value<'_>) -> Result<Vec<(String, String)>, ManifestError> {
        let mut config = Vec::new();
        let mut size = 0;
        for (key, entry) in self.table_entries(label, "config", value)? {
            let text = self.scalar(label, &format!("config.{}", key.get_ref()), entry)?;
            size += key.get_ref().len() + text.len();
            config.push((key.get_ref().to_string(), text));
        }
        if size > MAX_CONFIG_BYTES {
            let line = self.lines.line(value.span());
            return Err(self.too_large(line, label.to_owned(), ManifestLimit::Config, size));
        }
        Ok(config)
    }

    /// Reads the job's `name`: not empty, at most [`MAX_NAME_CHARS`] characters.
    fn name(&self, value: &Value<'_>) -> Result<String, ManifestError> {
        let name = self.non_empty_string(TOP_LEVEL, "name", value)?;
        let chars = name.chars().count();
        if chars > MAX_NAME_CHARS {
            let line = self.lines.line(value.span());
            return Err(self.too_large(line, TOP_LEVEL.to_owned(), ManifestLimit::Name, chars));
        }
        Ok(name)
    }

    /// Reads a string, number or boolean as text; a number as written, an integer in decimal.
    pub(crate) fn scalar(&self, label: &str, key: &str, value: &Value<'_>) -> Result<String, ManifestError> {
        Ok(match value.get_ref() {
            DeValue::String(text) => text.to_string(),
            DeValue::Integer(integer) => self.integer(label, key, value, integer)?.to_string(),
            DeValue::Float(float) => float.as_str().to_owned(),
            DeValue::Boolean(flag) => flag.to_string(),
            _ => return Err(self.wrong_type(label, key, value, "a string, number or boolean")),
        })
    }

    /// Reads the `[storage]` table: the `[storage.s3]` and `[storage.gs]` settings of the stores'
    /// clients, as text. Their keys are checked when the job is prepared (see [`StorageSetting`]).
    fn storage(&self, value: &Value<'_>) -> Result<Vec<StorageSetting>, ManifestError> {
        let mut storage = Vec::new();
        for (table, settings) in self.table_entries(TOP_LEVEL, "storage", value)? {
            let Some(scheme) =
                STORAGE_KEYS.iter().find(|scheme| scheme.eq_ignore_ascii_case(table.get_ref()))
            else {
                let key = format!("storage.{}", table.get_ref());
                return Err(self.unknown_key(table.span(), TOP_LEVEL, &key, STORAGE_KEYS));
            };
            let label = format!("storage.{scheme}");
            for (key, value) in self.table_entries(TOP_LEVEL, &label, settings)? {
                let key = key.get_ref().as_ref();
                let text = match value.get_ref() {
                    DeValue::String(text) => text.to_string(),
                    DeValue::Integer(integer) => self.integer(&label, key, value, integer)?.to_string(),
                    DeValue::Boolean(flag) => flag.to_string(),
                    _ => return Err(self.wrong_type(&label, key, value, "a string, integer or boolean")),
                };
                storage.push(StorageSetting {
                    scheme: (*scheme).to_owned(),
                    key: key.to_owned(),
                    value: text,
                    line: self.lines.line(value.span()),
                });
            }
        }
        Ok(storage)
    }

    /// Reads a `limits` table.
    fn limits(&self, label: &str, value: &Value<'_>) -> Result<LimitOverrides, ManifestError> {
        let mut limits = LimitOverrides::default();
        for (key, value) in self.table_entries(label, "limits", value)? {
            match key.get_ref().as_ref() {
                "memory" => limits.memory = Some(self.size(label, "limits.memory", value)?),
                "call_timeout" => {
                    limits.call_timeout = Some(self.duration(label, "limits.call_timeout", value)?)
                }
                "output" => limits.output = Some(self.size(label, "limits.output", value)?),
                other => {
                    return Err(self.unknown_key(key.span(), label, &format!("limits.{other}"), LIMIT_KEYS));
                }
            }
        }
        Ok(limits)
    }

    /// The entries of a nested table, in file order.
    pub(crate) fn table_entries<'t, 'i>(
        &self,
        label: &str,
        key: &str,
        value: &'t Value<'i>,
    ) -> Result<Vec<(&'t Key<'i>, &'t Value<'i>)>, ManifestError> {
        let DeValue::Table(table) = value.get_ref() else {
            return Err(self.wrong_type(label, key, value, "a table"));
        };
        let mut entries: Vec<_> = table.iter().collect();
        entries.sort_by_key(|(key, _)| key.span().start);
        Ok(entries)
    }

    fn source_format(&self, label: &str, value: &Value<'_>) -> Result<SourceFormat, ManifestError> {
        match self.string(label, "format", value)? {
            "lines" => Ok(SourceFormat::Lines),
            other => Err(self.invalid(
                label,
                "format",
                value,
                format!(
                    "unknown format \"{other}\"; the only format is \"lines\", parse the lines in a step"
                ),
            )),
        }
    }

    /// Reads a `url` and the line of its value.
    fn url(&self, label: &str, value: &Value<'_>) -> Result<(String, usize), ManifestError> {
        Ok((self.non_empty_string(label, "url", value)?, self.lines.line(value.span())))
    }

    /// Reads a sink's `extension`: one of [`PART_EXTENSIONS`], so that no part gets the name of
    /// an executable or a configuration file.
    fn part_extension(&self, label: &str, value: &Value<'_>) -> Result<&'static str, ManifestError> {
        let written = self.string(label, "extension", value)?;
        let known = PART_EXTENSIONS.iter().find(|known| **known == written.trim_start_matches('.'));
        known.copied().ok_or_else(|| {
            self.invalid(
                label,
                "extension",
                value,
                format!(
                    "\"{written}\" is not an extension a part may have; use one of {}",
                    PART_EXTENSIONS.join(", ")
                ),
            )
        })
    }

    fn sink_mode(&self, label: &str, value: &Value<'_>) -> Result<SinkMode, ManifestError> {
        match self.string(label, "mode", value)? {
            "error" => Ok(SinkMode::ErrorIfExists),
            "overwrite" => Ok(SinkMode::Overwrite),
            other => Err(self.invalid(
                label,
                "mode",
                value,
                format!(
                    "unknown mode \"{other}\"; use \"error\" (the default: refuse a location that holds a committed output) or \"overwrite\" (replace it)"
                ),
            )),
        }
    }

    /// Reads a size, given as a string with a unit or as an integer number of bytes.
    fn size(&self, label: &str, key: &str, value: &Value<'_>) -> Result<u64, ManifestError> {
        let parsed = match value.get_ref() {
            DeValue::String(text) => parse_size(text),
            DeValue::Integer(integer) => parse_size(&self.integer(label, key, value, integer)?.to_string()),
            _ => {
                return Err(self.wrong_type(
                    label,
                    key,
                    value,
                    "a size such as \"64MiB\" or a number of bytes",
                ));
            }
        };
        parsed.map_err(|error| self.invalid(label, key, value, error.to_string()))
    }

    fn duration(
        &self,
        label: &str,
        key: &str,
        value: &Value<'_>,
    ) -> Result<std::time::Duration, ManifestError> {
        let DeValue::String(text) = value.get_ref() else {
            return Err(self.wrong_type(label, key, value, "a duration such as \"30s\" or \"500ms\""));
        };
        parse_duration(text).map_err(|error| self.invalid(label, key, value, error.to_string()))
    }

    fn positive_u32(
        &self,
        label: &str,
        key: &str,
        value: &Value<'_>,
        max: u32,
    ) -> Result<u32, ManifestError> {
        let DeValue::Integer(integer) = value.get_ref() else {
            return Err(self.wrong_type(label, key, value, "a positive whole number"));
        };
        let number = self.integer(label, key, value, integer)?;
        match u32::try_from(number) {
            Ok(number) if (1..=max).contains(&number) => Ok(number),
            _ => Err(self.invalid(
                label,
                key,
                value,
                format!("{number} is not allowed; it must be a whole number from 1 to {max}"),
            )),
        }
    }

    /// Reads the job's `priority`: a whole number within [`PRIORITIES`].
    fn priority(&self, value: &Value<'_>) -> Result<i32, ManifestError> {
        let (low, high) = (PRIORITIES.start(), PRIORITIES.end());
        let DeValue::Integer(integer) = value.get_ref() else {
            let expected = format!("a whole number from {low} to {high}");
            return Err(self.wrong_type(TOP_LEVEL, "priority", value, &expected));
        };
        let number = self.integer(TOP_LEVEL, "priority", value, integer)?;
        match i32::try_from(number) {
            Ok(number) if PRIORITIES.contains(&number) => Ok(number),
            _ => Err(self.invalid(
                TOP_LEVEL,
                "priority",
                value,
                format!(
                    "{number} is not allowed; it must be a whole number from {low} to {high} (higher runs first among the tenant's jobs)"
                ),
            )),
        }
    }

    fn integer(
        &self,
        label: &str,
        key: &str,
        value: &Value<'_>,
        integer: &DeInteger<'_>,
    ) -> Result<i64, ManifestError> {
        i64::from_str_radix(integer.as_str(), integer.radix())
            .map_err(|_| self.invalid(label, key, value, "the number does not fit in 64 bits".into()))
    }

    fn non_empty_string(&self, label: &str, key: &str, value: &Value<'_>) -> Result<String, ManifestError> {
        let text = self.string(label, key, value)?;
        if text.is_empty() {
            return Err(self.invalid(label, key, value, "must not be empty".into()));
        }
        Ok(text.to_owned())
    }

    fn string<'v>(&self, label: &str, key: &str, value: &'v Value<'_>) -> Result<&'v str, ManifestError> {
        match value.get_ref() {
            DeValue::String(text) => Ok(text),
            _ => Err(self.wrong_type(label, key, value, "a string")),
        }
    }

    fn required<T>(
        &self,
        section: &Section<'_, '_>,
        key: &str,
        value: Option<T>,
    ) -> Result<T, ManifestError> {
        value.ok_or_else(|| ManifestError::Syntax {
            file: self.file.to_path_buf(),
            line: section.line,
            message: format!("{}: missing required key \"{key}\"", section.label),
        })
    }

    fn wrong_type(&self, label: &str, key: &str, value: &Value<'_>, expected: &str) -> ManifestError {
        let found = value.get_ref().type_str();
        self.syntax(value.span(), format!("{label}: \"{key}\" must be {expected}, not {found}"))
    }

    fn too_large(&self, line: usize, section: String, limit: ManifestLimit, size: usize) -> ManifestError {
        ManifestError::TooLarge { file: self.file.to_path_buf(), line, section, limit, size }
    }

    fn syntax(&self, span: Range<usize>, message: String) -> ManifestError {
        ManifestError::Syntax { file: self.file.to_path_buf(), line: self.lines.line(span), message }
    }

    fn invalid(&self, label: &str, key: &str, value: &Value<'_>, message: String) -> ManifestError {
        ManifestError::InvalidValue {
            file: self.file.to_path_buf(),
            line: self.lines.line(value.span()),
            section: label.to_owned(),
            key: key.to_owned(),
            message,
        }
    }

    fn unknown_key(
        &self,
        span: Range<usize>,
        label: &str,
        key: &str,
        expected: &'static [&'static str],
    ) -> ManifestError {
        ManifestError::UnknownKey {
            file: self.file.to_path_buf(),
            line: self.lines.line(span),
            section: label.to_owned(),
            key: key.to_owned(),
            expected,
        }
    }

    /// Turns toml's error, whose message may span several lines, into a one-line syntax error that
    /// quotes the offending text when it is short.
    fn toml_error(&self, text: &str, error: &toml::de::Error) -> ManifestError {
        let mut message: Vec<&str> =
            error.message().lines().map(str::trim).filter(|line| !line.is_empty()).collect();
        let span = error.span().unwrap_or(0..0);
        let quoted = text
            .get(span.clone())
            .map(str::trim)
            .filter(|quoted| !quoted.is_empty() && quoted.len() <= MAX_QUOTED && !quoted.contains('\n'));
        let quoted = quoted.map(|quoted| format!("at `{quoted}`"));
        message.extend(quoted.as_deref());
        ManifestError::Syntax {
            file: self.file.to_path_buf(),
            line: self.lines.line(span),
            message: format!("invalid TOML: {}", message.join("; ")),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::MAX_MANIFEST_BYTES;

    fn parse(text: &str) -> Result<Manifest, ManifestError> {
        Manifest::parse(Path::new("jobs/max.toml"), text)
    }

    /// A valid job, lines 1 to 16: a source, a parse step, a step "max" at line 11 and a sink at line 16.
    const JOB: &str = r#"name = "test"
[[source]]
id = "readings"
url = "file:///data/"

[[step]]
id = "parse"
input = "readings"
plugin = "std:parse-csv"

[[step]]
id = "max"
input = "parse"
plugin = "std:max"

[[sink]]
id = "out"
input = "max"
url = "file:///out/"
plugin = "std:format-csv"
"#;

    /// `JOB` with `line` inserted after line `after`.
    fn job_with(after: usize, line: &str) -> String {
        let mut lines: Vec<&str> = JOB.lines().collect();
        lines.insert(after, line);
        lines.join("\n")
    }

    /// Asserts that the message of `error` starts with the file, `line` and `section`.
    fn assert_names(error: &ManifestError, line: usize, section: &str) {
        let message = error.to_string();
        assert!(message.starts_with(&format!("jobs/max.toml:{line}: {section}")), "{message}");
    }

    #[test]
    fn the_job_used_by_these_tests_is_valid() {
        let manifest = parse(JOB).unwrap();
        assert_eq!((manifest.steps[1].line, manifest.sinks[0].line), (11, 16));
    }

    #[test]
    fn toml_syntax_error() {
        let error = parse(&job_with(13, "partitions = = 4")).unwrap_err();
        assert!(matches!(error, ManifestError::Syntax { line: 14, .. }), "{error:?}");
        assert!(error.to_string().starts_with("jobs/max.toml:14: invalid TOML: "), "{error}");
        assert!(!error.to_string().contains('\n'), "{error}");
    }

    #[test]
    fn toml_errors_quote_the_offending_text() {
        let error = parse(&job_with(13, "input = \"readings\"")).unwrap_err();
        assert!(matches!(error, ManifestError::Syntax { line: 14, .. }), "{error:?}");
        assert!(error.to_string().ends_with("duplicate key; at `input`"), "{error}");
    }

    #[test]
    fn wrong_value_type() {
        let error = parse(&job_with(13, "partitions = \"4\"")).unwrap_err();
        assert!(matches!(error, ManifestError::Syntax { line: 14, .. }), "{error:?}");
        assert_names(&error, 14, "step \"max\": \"partitions\" must be a positive whole number, not string");
    }

    #[test]
    fn priority_and_max_cpu_are_optional() {
        let manifest = parse(JOB).unwrap();
        assert_eq!((manifest.priority, manifest.max_cpu), (None, None));
    }

    #[test]
    fn priority_is_a_whole_number_from_minus_1000_to_1000() {
        for priority in [-1000, -1, 0, 7, 1000] {
            let manifest = parse(&job_with(1, &format!("priority = {priority}"))).unwrap();
            assert_eq!(manifest.priority, Some(priority));
        }
        let error = parse(&job_with(1, "priority = 1001")).unwrap_err();
        assert_names(&error, 2, "top level: bad value for \"priority\": 1001 is not allowed");
        assert!(error.to_string().contains("from -1000 to 1000"), "{error}");
    }

    #[test]
    fn max_cpu_is_a_duration() {
        for (written, expected) in [("90s", 90), ("10m", 600), ("2h", 7200), ("1.5h", 5400)] {
            let manifest = parse(&job_with(1, &format!("max_cpu = \"{written}\""))).unwrap();
            assert_eq!(manifest.max_cpu, Some(Duration::from_secs(expected)), "{written}");
        }
        let error = parse(&job_with(1, "max_cpu = \"0s\"")).unwrap_err();
        assert_names(&error, 2, "top level: bad value for \"max_cpu\": \"0s\" is zero");
        let error = parse(&job_with(1, "max_cpu = \"90\"")).unwrap_err();
        assert!(error.to_string().contains("\"90s\""), "the message says what to write: {error}");
    }

    #[test]
    fn priority_and_max_cpu_of_the_wrong_type() {
        let cases = [
            ("priority = \"high\"", "\"priority\" must be a whole number from -1000 to 1000, not string"),
            ("priority = 1.5", "\"priority\" must be a whole number from -1000 to 1000, not float"),
            ("max_cpu = 90", "\"max_cpu\" must be a duration such as \"30s\" or \"500ms\", not integer"),
        ];
        for (line_text, message) in cases {
            let error = parse(&job_with(1, line_text)).unwrap_err();
            assert!(matches!(error, ManifestError::Syntax { line: 2, .. }), "{line_text}: {error:?}");
            assert_names(&error, 2, &format!("top level: {message}"));
        }
    }

    #[test]
    fn a_misspelt_top_level_key_lists_priority_and_max_cpu() {
        let error = parse(&job_with(1, "max_cpus = \"1h\"")).unwrap_err();
        assert!(
            matches!(&error, ManifestError::UnknownKey { line: 2, key, .. } if key == "max_cpus"),
            "{error:?}"
        );
        let message = error.to_string();
        assert!(message.contains("priority, max_cpu"), "the allowed keys are listed: {message}");
    }

    #[test]
    fn missing_id() {
        let error = parse(&JOB.replace("id = \"max\"\n", "")).unwrap_err();
        assert!(matches!(error, ManifestError::Syntax { line: 11, .. }), "{error:?}");
        assert_names(&error, 11, "step #2: missing required key \"id\"");
    }

    #[test]
    fn missing_plugin_of_a_step() {
        let error = parse(&JOB.replace("plugin = \"std:max\"\n", "")).unwrap_err();
        assert!(matches!(error, ManifestError::Syntax { line: 11, .. }), "{error:?}");
        assert_names(&error, 11, "step \"max\": missing required key \"plugin\"");
    }

    #[test]
    fn missing_name() {
        let error = parse(&JOB.replace("name = \"test\"\n", "\n")).unwrap_err();
        assert!(matches!(error, ManifestError::Syntax { line: 1, .. }), "{error:?}");
        assert_names(&error, 1, "top level: missing required key \"name\"");
    }

    #[test]
    fn a_section_that_is_not_an_array_of_tables() {
        let error = parse("name = \"x\"\n[step]\nid = \"a\"\n").unwrap_err();
        assert!(matches!(error, ManifestError::Syntax { line: 2, .. }), "{error:?}");
        assert!(error.to_string().contains("[[step]]"), "{error}");
    }

    #[test]
    fn unknown_key_in_a_step() {
        let error = parse(&job_with(13, "partitons = 4")).unwrap_err();
        assert!(
            matches!(&error, ManifestError::UnknownKey { line: 14, section, key, .. } if section == "step \"max\"" && key == "partitons"),
            "{error:?}"
        );
        assert_names(&error, 14, "step \"max\": unknown key \"partitons\"");
        assert!(error.to_string().contains("partitions"), "the allowed keys are listed: {error}");
    }

    #[test]
    fn unknown_key_everywhere() {
        let cases = [
            (0, "colour = 1", 1, "top level", "colour"),
            (3, "compression = \"gzip\"", 4, "source \"readings\"", "compression"),
            (18, "partitions = 2", 19, "sink \"out\"", "partitions"),
            (13, "limits = { memory = \"1GiB\", cpu = 2 }", 14, "step \"max\"", "limits.cpu"),
        ];
        for (after, line_text, line, expected_section, expected_key) in cases {
            let error = parse(&job_with(after, line_text)).unwrap_err();
            let ManifestError::UnknownKey { line: found_line, section, key, .. } = &error else {
                panic!("{line_text}: {error:?}");
            };
            assert_eq!((*found_line, section.as_str(), key.as_str()), (line, expected_section, expected_key));
            assert_names(&error, line, expected_section);
        }
    }

    #[test]
    fn limits_written_as_a_sub_table() {
        let text = format!("{JOB}\n[sink.limits]\nmemory = \"1GiB\"\nthreads = 2\n");
        let error = parse(&text).unwrap_err();
        assert!(
            matches!(&error, ManifestError::UnknownKey { line: 24, key, .. } if key == "limits.threads"),
            "{error:?}"
        );
        assert_names(&error, 24, "sink \"out\"");
    }

    #[test]
    fn invalid_values() {
        let cases = [
            (13, "partitions = 0", 14, "step \"max\"", "partitions"),
            (13, "partitions = -3", 14, "step \"max\"", "partitions"),
            (13, "partitions = 100001", 14, "step \"max\"", "partitions"),
            (3, "split_size = \"64 furlongs\"", 4, "source \"readings\"", "split_size"),
            (3, "split_size = 0", 4, "source \"readings\"", "split_size"),
            (3, "format = \"parquet\"", 4, "source \"readings\"", "format"),
            (13, "limits = { call_timeout = \"soon\" }", 14, "step \"max\"", "limits.call_timeout"),
            (18, "limits = { output = \"0MiB\" }", 19, "sink \"out\"", "limits.output"),
            (1, "max_attempts = 0", 2, "top level", "max_attempts"),
            (1, "priority = 1001", 2, "top level", "priority"),
            (1, "priority = -1001", 2, "top level", "priority"),
            (1, "priority = 4294967296", 2, "top level", "priority"),
            (1, "max_cpu = \"soon\"", 2, "top level", "max_cpu"),
            (1, "max_cpu = \"0s\"", 2, "top level", "max_cpu"),
            (1, "max_cpu = \"90\"", 2, "top level", "max_cpu"),
        ];
        for (after, line_text, line, expected_section, expected_key) in cases {
            let error = parse(&job_with(after, line_text)).unwrap_err();
            let ManifestError::InvalidValue { line: found_line, section, key, .. } = &error else {
                panic!("{line_text}: {error:?}");
            };
            assert_eq!((*found_line, section.as_str(), key.as_str()), (line, expected_section, expected_key));
            assert_names(&error, line, expected_section);
        }
        let error = parse(&JOB.replace("url = \"file:///out/\"", "url = \"\"")).unwrap_err();
        assert!(
            matches!(&error, ManifestError::InvalidValue { line: 19, key, .. } if key == "url"),
            "{error:?}"
        );
        assert_names(&error, 19, "sink \"out\": bad value for \"url\": must not be empty");
    }

    #[test]
    fn storage_settings_are_kept_as_written_with_their_lines() {
        let text = format!(
            "{JOB}\n[storage.s3]\nregion = \"eu-west-1\"\nallow_http = true\n[storage.GS]\npool_max_idle_per_host = 0x10\n"
        );
        let setting = |scheme: &str, key: &str, value: &str, line| StorageSetting {
            scheme: scheme.into(),
            key: key.into(),
            value: value.into(),
            line,
        };
        assert_eq!(
            parse(&text).unwrap().storage,
            [
                setting("s3", "region", "eu-west-1", 23),
                setting("s3", "allow_http", "true", 24),
                setting("gs", "pool_max_idle_per_host", "16", 26),
            ]
        );
        // Which keys a store has is checked when the job is prepared, not here.
        let unchecked = parse(&format!("{JOB}\n[storage.s3]\nsecret_access_key = \"x\"\n")).unwrap();
        assert_eq!(unchecked.storage, [setting("s3", "secret_access_key", "x", 23)]);
    }

    #[test]
    fn storage_tables_are_the_stores_and_hold_scalars() {
        let error = parse(&format!("{JOB}\n[storage.azure]\nx = 1\n")).unwrap_err();
        assert!(
            matches!(&error, ManifestError::UnknownKey { line: 22, key, .. } if key == "storage.azure"),
            "{error:?}"
        );
        assert!(error.to_string().contains("s3, gs"), "{error}");
        let error = parse(&format!("{JOB}\n[storage.s3]\nregion = [\"a\"]\n")).unwrap_err();
        assert!(matches!(error, ManifestError::Syntax { line: 23, .. }), "{error:?}");
        assert_names(&error, 23, "storage.s3: \"region\" must be a string, integer or boolean, not array");
    }

    #[test]
    fn urls_keep_the_line_of_their_value() {
        let manifest = parse(JOB).unwrap();
        assert_eq!((manifest.sources[0].url_line, manifest.sinks[0].url_line), (4, 19));
    }

    #[test]
    fn a_part_extension_is_one_of_a_short_safe_list() {
        assert_eq!(parse(JOB).unwrap().sinks[0].extension, None);
        for (written, kept) in [("tsv", "tsv"), (".parquet", "parquet"), ("jsonl", "jsonl")] {
            let manifest = parse(&job_with(18, &format!("extension = \"{written}\""))).unwrap();
            assert_eq!(manifest.sinks[0].extension, Some(kept), "{written}");
        }
        for written in ["sh", "csv/../../x", "", "CSV", "exe", "wasm"] {
            let error = parse(&job_with(18, &format!("extension = \"{written}\""))).unwrap_err();
            assert!(
                matches!(&error, ManifestError::InvalidValue { line: 19, key, .. } if key == "extension"),
                "{written}: {error:?}"
            );
            assert_names(&error, 19, "sink \"out\": bad value for \"extension\"");
            assert!(error.to_string().contains("csv, tsv, jsonl"), "{error}");
        }
    }

    #[test]
    fn single_file_is_a_boolean_off_by_default() {
        assert!(!parse(JOB).unwrap().sinks[0].single_file);
        let one =
            JOB.replace("plugin = \"std:format-csv\"", "plugin = \"std:format-csv\"\nsingle_file = true");
        assert!(parse(&one).unwrap().sinks[0].single_file);
        let wrong =
            JOB.replace("plugin = \"std:format-csv\"", "plugin = \"std:format-csv\"\nsingle_file = \"yes\"");
        let error = parse(&wrong).unwrap_err();
        assert!(
            error.to_string().contains("single_file") && error.to_string().contains("true or false"),
            "{error}"
        );
    }

    #[test]
    fn sink_mode_is_error_unless_overwrite() {
        assert_eq!(parse(JOB).unwrap().sinks[0].mode, SinkMode::ErrorIfExists);
        let overwrite = parse(&job_with(18, "mode = \"overwrite\"")).unwrap();
        assert_eq!(overwrite.sinks[0].mode, SinkMode::Overwrite);
        let error = parse(&job_with(18, "mode = \"append\"")).unwrap_err();
        assert!(
            matches!(&error, ManifestError::InvalidValue { line: 19, key, .. } if key == "mode"),
            "{error:?}"
        );
        assert!(error.to_string().contains("\"overwrite\""), "{error}");
    }

    #[test]
    fn invalid_value_messages_say_what_is_wrong() {
        let error = parse(&job_with(3, "split_size = \"64 furlongs\"")).unwrap_err();
        assert!(error.to_string().contains("unknown unit \"furlongs\""), "{error}");
        let error = parse(&job_with(13, "partitions = 0")).unwrap_err();
        assert!(error.to_string().contains("from 1 to"), "{error}");
        let error = parse(&job_with(13, "partitions = 4000000000")).unwrap_err();
        assert!(error.to_string().contains("it must be a whole number from 1 to 100000"), "{error}");
    }

    #[test]
    fn empty_input() {
        let error = parse(&JOB.replace("input = \"parse\"", "input = \"\"")).unwrap_err();
        assert!(
            matches!(&error, ManifestError::MissingInput { line: 13, kind: SectionKind::Step, id, .. } if id == "max"),
            "{error:?}"
        );
        assert_names(&error, 13, "step \"max\"");
    }

    #[test]
    fn a_step_reads_several_inputs_in_order() {
        let manifest = parse(&JOB.replace("input = \"parse\"", "input = [\"parse\", \"readings\"]")).unwrap();
        assert_eq!(manifest.steps[1].inputs, ["parse", "readings"]);
    }

    #[test]
    fn a_sink_reads_one_input() {
        let error = parse(&JOB.replace("input = \"max\"", "input = [\"max\", \"parse\"]")).unwrap_err();
        assert!(
            matches!(&error, ManifestError::MultipleInputs { line: 18, id, .. } if id == "out"),
            "{error:?}"
        );
        assert!(error.to_string().contains("a sink writes one input"), "{error}");
    }

    #[test]
    fn an_empty_input_list_is_a_missing_input() {
        let error = parse(&JOB.replace("input = \"parse\"", "input = []")).unwrap_err();
        assert!(matches!(&error, ManifestError::MissingInput { line: 13, .. }), "{error:?}");
    }

    #[test]
    fn one_input_in_an_array_is_that_input() {
        let manifest = parse(&JOB.replace("input = \"parse\"", "input = [\"parse\"]")).unwrap();
        assert_eq!(manifest.steps[1].inputs, ["parse"]);
    }

    #[test]
    fn sink_without_plugin() {
        let error = parse(&JOB.replace("plugin = \"std:format-csv\"\n", "")).unwrap_err();
        assert!(
            matches!(&error, ManifestError::SinkWithoutFormat { line: 16, id, .. } if id == "out"),
            "{error:?}"
        );
        assert_names(&error, 16, "sink \"out\"");
    }

    #[test]
    fn config_values_become_strings_in_written_order() {
        let text =
            job_with(13, "config = { zeta = 1_000, alpha = 0x10, mid = 1.50, flag = true, name = \"x\" }");
        let manifest = parse(&text).unwrap();
        let config: Vec<(&str, &str)> =
            manifest.steps[1].config.iter().map(|(key, value)| (key.as_str(), value.as_str())).collect();
        assert_eq!(
            config,
            [("zeta", "1000"), ("alpha", "16"), ("mid", "1.50"), ("flag", "true"), ("name", "x")]
        );
    }

    #[test]
    fn config_values_must_be_scalars() {
        let error = parse(&job_with(13, "config = { fields = [\"a\", \"b\"] }")).unwrap_err();
        assert!(matches!(error, ManifestError::Syntax { line: 14, .. }), "{error:?}");
        assert_names(
            &error,
            14,
            "step \"max\": \"config.fields\" must be a string, number or boolean, not array",
        );
    }

    #[test]
    fn sizes_may_be_integers_and_limits_may_be_partial() {
        let text = job_with(13, "limits = { memory = 1048576 }");
        let limits = parse(&text).unwrap().steps[1].limits;
        assert_eq!(limits, LimitOverrides { memory: Some(1 << 20), ..LimitOverrides::default() });

        let text = job_with(18, "limits = { call_timeout = \"1.5s\" }");
        let limits = parse(&text).unwrap().sinks[0].limits;
        assert_eq!(limits.call_timeout, Some(Duration::from_millis(1500)));
    }

    #[test]
    fn tables_may_be_inline_arrays() {
        let text = r#"name = "inline"
source = [{ id = "in", url = "data/*.txt" }]
step = [{ id = "parse", input = "in", plugin = "plugins/my-parse.wasm" }]
sink = [{ id = "out", input = "parse", url = "out/", plugin = "std:format-csv" }]
"#;
        let manifest = parse(text).unwrap();
        assert_eq!(manifest.sources[0].url, "data/*.txt");
        assert_eq!(manifest.steps[0].plugin, "plugins/my-parse.wasm");
        assert_eq!(manifest.sinks[0].line, 4);
    }

    /// The cap `error` says was passed, with its line and size.
    fn too_large(error: ManifestError) -> (ManifestLimit, usize, usize) {
        match error {
            ManifestError::TooLarge { limit, line, size, .. } => (limit, line, size),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_name_is_at_most_200_characters() {
        let at_cap = "é".repeat(MAX_NAME_CHARS);
        assert_eq!(parse(&JOB.replace("\"test\"", &format!("\"{at_cap}\""))).unwrap().name, at_cap);
        let error = parse(&JOB.replace("\"test\"", &format!("\"{at_cap}x\""))).unwrap_err();
        assert_names(&error, 1, "top level: the job name is 201 characters long, more than the 200");
        assert_eq!(too_large(error), (ManifestLimit::Name, 1, 201));
    }

    #[test]
    fn a_manifest_holds_at_most_1000_sources_steps_and_sinks() {
        let steps = |count: usize| {
            (0..count)
                .map(|n| format!("[[step]]\nid = \"s{n}\"\ninput = \"parse\"\nplugin = \"std:max\"\n"))
                .collect::<String>()
        };
        // JOB has four tables: 996 more are allowed, and the next is refused at its header.
        parse(&format!("{JOB}{}", steps(996))).unwrap();
        let error = parse(&format!("{JOB}{}", steps(997))).unwrap_err();
        let line = JOB.lines().count() + 1 + 996 * 4;
        assert_names(&error, line, "step #999: the manifest has more than 1000 sources, steps and sinks");
        assert_eq!(too_large(error), (ManifestLimit::Sections, line, 1001));
    }

    #[test]
    fn a_config_is_at_most_64_kib_of_keys_and_values() {
        let config = |value: usize| format!("config = {{ field = \"{}\" }}", "v".repeat(value));
        let at_cap = MAX_CONFIG_BYTES - "field".len();
        assert_eq!(parse(&job_with(13, &config(at_cap))).unwrap().steps[1].config[0].1.len(), at_cap);
        let error = parse(&job_with(13, &config(at_cap + 1))).unwrap_err();
        assert_names(&error, 14, "step \"max\": the config is 65537 bytes (keys and values)");
        assert_eq!(too_large(error), (ManifestLimit::Config, 14, MAX_CONFIG_BYTES + 1));
    }

    #[test]
    fn a_manifest_is_at_most_1_mib_and_a_longer_one_is_refused_before_it_is_read() {
        let comment = format!("# {}\n", "x".repeat(1000));
        let padded = |lines: usize| format!("{JOB}{}", comment.repeat(lines));
        let fits = (MAX_MANIFEST_BYTES - JOB.len()) / comment.len();
        parse(&padded(fits)).unwrap();
        let long = padded(fits + 1);
        // Even text that is no TOML at all is refused for its size, at the line the cap falls on.
        let error = parse(&format!("{long}= =")).unwrap_err();
        let line = JOB.lines().count() + fits + 1;
        assert_names(&error, line, "top level: the manifest is");
        assert_eq!(too_large(error), (ManifestLimit::Text, line, long.len() + 3));
        let error = crate::resolve_params(Path::new("jobs/max.toml"), &long, &[]).unwrap_err();
        assert!(matches!(error, ManifestError::TooLarge { limit: ManifestLimit::Text, .. }), "{error:?}");
    }

    #[test]
    fn the_first_error_in_the_file_is_reported() {
        // An unknown key in the sink (line 18) and a bad size in the source (line 5).
        let text = job_with(16, "colour = 1")
            .replace("url = \"file:///data/\"", "url = \"file:///data/\"\nsplit_size = \"big\"");
        let error = parse(&text).unwrap_err();
        assert!(matches!(error, ManifestError::InvalidValue { line: 5, .. }), "{error:?}");
    }
}
