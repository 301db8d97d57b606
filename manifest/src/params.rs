//! Job parameters: `${name}` placeholders in the manifest's string values, with defaults in a
//! `[params]` table, set per run by `flicker run/submit --param name=value`.
//!
//! ```toml
//! name = "daily-max"
//!
//! [params]
//! date = "2024-06-01"          # a default; numbers and booleans are taken as their text
//! threshold = 0
//!
//! [[source]]
//! id = "readings"
//! url = "s3://weather/${date}/"
//!
//! [[step]]
//! id = "warm"
//! input = "parse"
//! plugin = "std:filter"
//! config = { predicate = "temperature > ${threshold}" }
//! ```
//!
//! A placeholder may stand anywhere inside any string value, in any kind of TOML string; it is
//! never replaced in keys, comments or the text between values, so a value cannot add TOML of its
//! own. A value is the last `--param` of that name, else the default; a placeholder without either
//! is an error naming its line ([`ManifestError::ParamNotSet`]), and so is a `--param` that the
//! manifest neither declares nor uses ([`ManifestError::UnknownParam`]). `$${` stands for a literal
//! `${` (as in docker-compose); any other `$` is just a `$`. Defaults are taken as written: they
//! cannot use placeholders themselves.
//!
//! [`Manifest::parse`](crate::Manifest::parse) resolves the params with their defaults.
//! [`resolve_params`], which `flicker` runs on the client, resolves them with the `--param`s
//! and returns the text the scheduler journals and the executors read: every string that used a
//! placeholder is written out again as a TOML basic string holding the value, with any `${` in it
//! as `$${`, and every default that a `--param` replaced holds the value used. Each string keeps
//! its number of line breaks (those of the value beyond them are escaped as `\n`), so the lines of
//! everything else stay the same and errors found later still point at the file as written. No
//! placeholder is left, so resolving that text again, with its own defaults, gives the same
//! text and the same manifest.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::ops::Range;
use std::path::Path;
use std::str::FromStr;

use toml::de::{DeTable, DeValue};

use crate::decode::{Decoder, TOP_LEVEL, Value};
use crate::error::ManifestError;
use crate::suggest::closest;

/// The top-level key of the defaults.
const PARAMS: &str = "params";

/// How the defaults are named in errors.
const PARAMS_LABEL: &str = "[params]";

/// What a param name may be, in words.
pub(crate) const NAME_RULE: &str = "a param name is a letter or `_` followed by letters, digits, `_` or `-`";

/// The longest piece of a malformed placeholder that an error quotes.
const MAX_QUOTED: usize = 40;

/// A `name=value` given with `--param`: the value of the param `name` for one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    /// The param's name.
    pub name: String,
    /// Its value, taken as written.
    pub value: String,
}

/// Why a `--param` argument is not a `name=value` pair.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    /// The argument has no `=`.
    #[error("`{arg}` has no `=`; write name=value, e.g. --param date=2024-06-01")]
    MissingEquals {
        /// The argument as given.
        arg: String,
    },
    /// What comes before the `=` is not a param name.
    #[error("`{name}` is not a valid param name; {}", NAME_RULE)]
    BadName {
        /// The name as given.
        name: String,
    },
}

impl FromStr for Param {
    type Err = ParamError;

    /// Reads `name=value`; the value is everything after the first `=` and may be empty.
    fn from_str(arg: &str) -> Result<Self, ParamError> {
        let (name, value) =
            arg.split_once('=').ok_or_else(|| ParamError::MissingEquals { arg: arg.to_owned() })?;
        if !is_name(name) {
            return Err(ParamError::BadName { name: name.to_owned() });
        }
        Ok(Param { name: name.to_owned(), value: value.to_owned() })
    }
}

/// The manifest `text` (read from `file`) with its params resolved: each `${name}` replaced by the
/// value of the last of `params` with that name, or else by its default in `[params]`.
///
/// The result is what a run submits: it holds no placeholder, its lines are those of `text`, and
/// [`Manifest::parse`](crate::Manifest::parse) reads it as the manifest with these values. Only
/// the placeholders are checked here; parse the result to check the rest.
pub fn resolve_params(file: &Path, text: &str, params: &[Param]) -> Result<String, ManifestError> {
    let decoder = Decoder::new(file, text)?;
    let mut root = decoder.parse(text)?;
    let mut edits = resolve(&decoder, text, root.get_mut(), params)?;
    edits.sort_by_key(|edit| edit.span.start);
    let mut resolved = String::with_capacity(text.len());
    let mut copied = 0;
    for edit in edits {
        resolved.push_str(&text[copied..edit.span.start]);
        resolved.push_str(&edit.replacement);
        copied = edit.span.end;
    }
    resolved.push_str(&text[copied..]);
    Ok(resolved)
}

/// A string of the manifest text to write anew.
pub(crate) struct Edit {
    /// Where the string is, quotes included.
    span: Range<usize>,
    /// The TOML string to write in its place.
    replacement: String,
}

/// Replaces every placeholder in the string values of `root` (the document parsed from `text`),
/// outside `[params]`, with its value, and `$${` with `${`; returns the edits that make `text` say
/// the same without placeholders.
pub(crate) fn resolve(
    decoder: &Decoder<'_>,
    text: &str,
    root: &mut DeTable<'_>,
    params: &[Param],
) -> Result<Vec<Edit>, ManifestError> {
    let mut declared = None;
    let mut strings = Vec::new();
    for (key, value) in root.iter_mut() {
        if key.get_ref() == PARAMS {
            declared = Some(&*value);
        } else {
            collect_strings(key.get_ref(), value, &mut strings);
        }
    }
    let defaults = declared.map_or(Ok(Vec::new()), |table| defaults(decoder, table))?;
    strings.sort_by_key(|string| string.span.start);

    let mut templates = Vec::new();
    for string in strings {
        if string.text.contains("${") {
            let pieces = pieces(string.text)
                .map_err(|placeholder| decoder.bad_placeholder(&string.span, string.key, placeholder))?;
            templates.push((string, pieces));
        }
    }

    let used = templates.iter().flat_map(|(string, pieces)| {
        pieces.iter().filter_map(|piece| match piece {
            Piece::Param(name) => Some(string.text[name.clone()].to_owned()),
            Piece::Text(_) => None,
        })
    });
    let known: BTreeSet<String> = defaults.iter().map(|default| default.name.clone()).chain(used).collect();
    if let Some(unknown) = params.iter().find(|param| !known.contains(&param.name)) {
        return Err(ManifestError::UnknownParam {
            file: decoder.file.to_path_buf(),
            name: unknown.name.clone(),
            suggestion: closest(&unknown.name, known.iter().map(String::as_str)).map(str::to_owned),
            known: known.into_iter().collect(),
        });
    }

    let mut edits = Vec::new();
    for (string, pieces) in templates {
        let value = fill(string.text, &pieces, |name| {
            let default = defaults.iter().find(|default| default.name == name).map(|default| &default.value);
            given(params, name).or(default.map(String::as_str)).ok_or_else(|| ManifestError::ParamNotSet {
                file: decoder.file.to_path_buf(),
                line: decoder.lines.line(string.span.clone()),
                key: string.key.to_owned(),
                name: name.to_owned(),
            })
        })?;
        if pieces.iter().any(|piece| matches!(piece, Piece::Param(_))) {
            edits.push(Edit::new(text, string.span, &value));
        }
        *string.text = Cow::Owned(value);
    }
    for default in defaults {
        if let Some(value) = given(params, &default.name) {
            edits.push(Edit::new(text, default.span, value));
        }
    }
    Ok(edits)
}

/// The value of the last of `params` named `name`.
fn given<'p>(params: &'p [Param], name: &str) -> Option<&'p str> {
    params.iter().rev().find(|param| param.name == name).map(|param| param.value.as_str())
}

/// `text` cut into `pieces` and put together again, each param replaced by what `value_of` says.
fn fill<'v>(
    text: &str,
    pieces: &[Piece],
    mut value_of: impl FnMut(&str) -> Result<&'v str, ManifestError>,
) -> Result<String, ManifestError> {
    let mut filled = String::with_capacity(text.len());
    for piece in pieces {
        match piece {
            Piece::Text(range) => filled.push_str(&text[range.clone()]),
            Piece::Param(range) => filled.push_str(value_of(&text[range.clone()])?),
        }
    }
    Ok(filled)
}

impl Edit {
    /// Replaces the string at `span` of `text` by a basic string holding `value`.
    fn new(text: &str, span: Range<usize>, value: &str) -> Edit {
        let line_breaks = text[span.clone()].matches('\n').count();
        Edit { replacement: basic_string(value, line_breaks), span }
    }
}

/// `value` as a TOML basic string that spans exactly `line_breaks` line breaks, with `${` written
/// `$${` so that resolving it again gives `value` back.
///
/// With no line breaks it is a `"…"` string and every newline of `value` is escaped. Otherwise it
/// is a `"""…"""` string that starts with a line break (which TOML drops), keeps the newlines of
/// `value` as line breaks as long as there are breaks to spend, and spends what is left on a
/// line-ending backslash (which TOML drops with the breaks after it).
fn basic_string(value: &str, line_breaks: usize) -> String {
    let value = value.replace("${", "$${");
    let quotes = if line_breaks == 0 { "\"" } else { "\"\"\"\n" };
    let mut breaks = line_breaks.saturating_sub(1);
    let mut string = String::with_capacity(value.len() + 8);
    string.push_str(quotes);
    for c in value.chars() {
        match c {
            '\n' if breaks > 0 => {
                string.push('\n');
                breaks -= 1;
            }
            '\n' => string.push_str("\\n"),
            '\r' => string.push_str("\\r"),
            '\t' => string.push_str("\\t"),
            '"' => string.push_str("\\\""),
            '\\' => string.push_str("\\\\"),
            c if c.is_control() => write!(string, "\\u{:04X}", u32::from(c)).expect("writing to a String"),
            c => string.push(c),
        }
    }
    if breaks > 0 {
        string.push('\\');
        string.extend(std::iter::repeat_n('\n', breaks));
    }
    string.push_str(quotes.trim_end());
    string
}

/// A param declared in `[params]`, with its default.
struct Declared {
    name: String,
    /// The default as text.
    value: String,
    /// Where it is written, quotes included.
    span: Range<usize>,
}

/// Reads the `[params]` table: names checked, values as text, `$${` as `${`, no placeholders.
fn defaults(decoder: &Decoder<'_>, table: &Value<'_>) -> Result<Vec<Declared>, ManifestError> {
    let mut defaults = Vec::new();
    for (key, value) in decoder.table_entries(TOP_LEVEL, PARAMS, table)? {
        let name = key.get_ref().as_ref();
        if !is_name(name) {
            return Err(ManifestError::BadParamName {
                file: decoder.file.to_path_buf(),
                line: decoder.lines.line(key.span()),
                name: name.to_owned(),
            });
        }
        let text = match value.get_ref() {
            DeValue::String(text) => {
                let pieces = pieces(text)
                    .map_err(|placeholder| decoder.bad_placeholder(&value.span(), name, placeholder))?;
                fill(text, &pieces, |used| {
                    Err(ManifestError::ParamInDefault {
                        file: decoder.file.to_path_buf(),
                        line: decoder.lines.line(value.span()),
                        param: name.to_owned(),
                        name: used.to_owned(),
                    })
                })?
            }
            _ => decoder.scalar(PARAMS_LABEL, name, value)?,
        };
        defaults.push(Declared { name: name.to_owned(), value: text, span: value.span() });
    }
    Ok(defaults)
}

/// A string value of the document outside `[params]`, borrowed so that it can be replaced.
struct StringValue<'t, 'i> {
    /// The key it is the value of (for an element of an array, the array's).
    key: &'t str,
    /// Where it is written, quotes included.
    span: Range<usize>,
    /// Its text, as toml read it.
    text: &'t mut Cow<'i, str>,
}

/// Adds the string values in `value` (the value of `key`) to `strings`.
fn collect_strings<'t, 'i>(key: &'t str, value: &'t mut Value<'i>, strings: &mut Vec<StringValue<'t, 'i>>) {
    let span = value.span();
    match value.get_mut() {
        DeValue::String(text) => strings.push(StringValue { key, span, text }),
        DeValue::Array(items) => {
            for item in items.iter_mut() {
                collect_strings(key, item, strings);
            }
        }
        DeValue::Table(table) => {
            for (key, value) in table.iter_mut() {
                collect_strings(key.get_ref(), value, strings);
            }
        }
        DeValue::Integer(_) | DeValue::Float(_) | DeValue::Boolean(_) | DeValue::Datetime(_) => {}
    }
}

/// A part of a string value, as a range of its text.
#[derive(Debug, PartialEq)]
enum Piece {
    /// Text kept as it is.
    Text(Range<usize>),
    /// The name of a param whose value goes here.
    Param(Range<usize>),
}

/// Cuts `text` into kept text and placeholders; `$${` keeps `${`. A `${` that starts no placeholder
/// is an error holding the text from there on.
fn pieces(text: &str) -> Result<Vec<Piece>, &str> {
    let mut pieces = Vec::new();
    let mut at = 0;
    while let Some(found) = text[at..].find("${") {
        let dollar = at + found;
        if text[..dollar].ends_with('$') {
            // `$${`: keep the text up to the first `$`, and go on from the `{`.
            pieces.push(Piece::Text(at..dollar));
            at = dollar + 1;
            continue;
        }
        pieces.push(Piece::Text(at..dollar));
        let name_start = dollar + 2;
        let Some(name_end) = text[name_start..].find('}').map(|end| name_start + end) else {
            return Err(&text[dollar..]);
        };
        if !is_name(&text[name_start..name_end]) {
            return Err(&text[dollar..=name_end]);
        }
        pieces.push(Piece::Param(name_start..name_end));
        at = name_end + 1;
    }
    pieces.push(Piece::Text(at..text.len()));
    pieces.retain(|piece| !matches!(piece, Piece::Text(range) if range.is_empty()));
    Ok(pieces)
}

/// Whether `name` is a param name: a letter or `_`, then letters, digits, `_` or `-`.
fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

impl Decoder<'_> {
    /// The error for a `${` in the string at `span` that starts no placeholder.
    fn bad_placeholder(&self, span: &Range<usize>, key: &str, placeholder: &str) -> ManifestError {
        let mut quoted: String = placeholder.chars().take(MAX_QUOTED).collect();
        if quoted.len() < placeholder.len() {
            quoted.push_str("...");
        }
        ManifestError::BadPlaceholder {
            file: self.file.to_path_buf(),
            line: self.lines.line(span.clone()),
            key: key.to_owned(),
            placeholder: quoted,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Manifest;

    const FILE: &str = "jobs/daily.toml";

    /// A job with two params: `date` (lines 4, 9 and 25) and `threshold` (lines 5 and 20).
    const JOB: &str = r#"name = "daily"

[params]
date = "2024-06-01"
threshold = 10

[[source]]
id = "readings"
url = "data/${date}/"

[[step]]
id = "parse"
input = "readings"
plugin = "std:parse-csv"

[[step]]
id = "warm"
input = "parse"
plugin = "std:filter"
config = { predicate = "temperature > ${threshold}" }

[[sink]]
id = "out"
input = "warm"
url = "out/${date}/"
plugin = "std:format-csv"
"#;

    /// Values that would break the manifest if they were pasted into its text.
    const AWKWARD: [&str; 6] = [
        "say \"hi\"\n[[sink]]\nid = \"evil\"\n#",
        "' ''' \\ \\\" \"\"\"",
        "${date} $${date} $ $$ {}",
        "ends in a dollar $",
        "tab\tcr\rbell\u{7}nul\u{0}",
        "\nleading and trailing newlines\n",
    ];

    fn params(pairs: &[(&str, &str)]) -> Vec<Param> {
        pairs.iter().map(|(name, value)| Param { name: (*name).into(), value: (*value).into() }).collect()
    }

    fn resolve(text: &str, pairs: &[(&str, &str)]) -> Result<String, ManifestError> {
        resolve_params(Path::new(FILE), text, &params(pairs))
    }

    fn parse(text: &str) -> Result<Manifest, ManifestError> {
        Manifest::parse(Path::new(FILE), text)
    }

    /// `JOB` with `from` replaced by `to`, which must be there.
    fn job_with(from: &str, to: &str) -> String {
        assert!(JOB.contains(from), "{from:?}");
        JOB.replacen(from, to, 1)
    }

    fn predicate(manifest: &Manifest) -> &str {
        &manifest.steps[1].config[0].1
    }

    /// Asserts that `resolved` is `text` resolved: no placeholder, the same lines, and resolving it
    /// again changes nothing.
    fn assert_resolved(text: &str, resolved: &str) {
        assert_eq!(resolved.lines().count(), text.lines().count(), "{resolved}");
        let again = resolve(resolved, &[]).unwrap();
        assert_eq!(again, resolved, "resolving the resolved text changes it");
        assert_eq!(parse(&again).unwrap(), parse(resolved).unwrap());
    }

    #[test]
    fn the_defaults_fill_the_placeholders() {
        let manifest = parse(JOB).unwrap();
        assert_eq!(manifest.sources[0].url, "data/2024-06-01/");
        assert_eq!(predicate(&manifest), "temperature > 10");
        assert_eq!(manifest.sinks[0].url, "out/2024-06-01/");
    }

    #[test]
    fn params_replace_the_defaults_and_the_last_one_wins() {
        let resolved =
            resolve(JOB, &[("date", "2024-07-04"), ("threshold", "5"), ("threshold", "-2.5")]).unwrap();
        let manifest = parse(&resolved).unwrap();
        assert_eq!(manifest.sources[0].url, "data/2024-07-04/");
        assert_eq!(predicate(&manifest), "temperature > -2.5");
        assert!(!resolved.contains("${"), "{resolved}");
        assert_eq!(
            resolved.lines().nth(3),
            Some("date = \"2024-07-04\""),
            "the default shows the value used"
        );
        assert_eq!(resolved.lines().nth(4), Some("threshold = \"-2.5\""));
        assert_resolved(JOB, &resolved);
    }

    #[test]
    fn a_text_without_placeholders_is_left_as_it_is() {
        let text = job_with("url = \"data/${date}/\"", "url = \"data/$${date}/\" # ${date}");
        let text = text.replace("${threshold}", "0").replace("out/${date}/", "out/");
        assert_eq!(resolve(&text, &[("date", "x")]).unwrap(), text.replace("2024-06-01", "x"));
        assert_eq!(parse(&text).unwrap().sources[0].url, "data/${date}/");
    }

    #[test]
    fn a_placeholder_may_stand_in_any_string_value() {
        let text = r#"name = "any"
storage.s3 = { region = "${region}" }
source = [{ id = "in", url = "s3://b/${day}", split_size = "${split}" }]
step = [{ id = "p", input = ["${input}"], plugin = "${plugins}/parse.wasm", limits = { call_timeout = "${timeout}" } }]
sink = [{ id = "out", input = "p", url = "out/", plugin = "std:format-csv", mode = "${mode}" }]
"#;
        let values = [
            ("region", "eu-west-1"),
            ("day", "d1"),
            ("split", "1MiB"),
            ("input", "in"),
            ("plugins", "/opt/plugins"),
            ("timeout", "90s"),
            ("mode", "overwrite"),
        ];
        let manifest = parse(&resolve(text, &values).unwrap()).unwrap();
        assert_eq!(manifest.sources[0].url, "s3://b/d1");
        assert_eq!(manifest.sources[0].split_size, Some(1 << 20));
        assert_eq!(manifest.steps[0].inputs, ["in"]);
        assert_eq!(manifest.steps[0].plugin, "/opt/plugins/parse.wasm");
        assert_eq!(manifest.steps[0].limits.call_timeout, Some(std::time::Duration::from_secs(90)));
        assert_eq!(manifest.sinks[0].mode, crate::SinkMode::Overwrite);
        let region = &manifest.storage[0];
        assert_eq!((region.key.as_str(), region.value.as_str(), region.line), ("region", "eu-west-1", 2));
    }

    #[test]
    fn keys_and_comments_are_never_replaced() {
        let text = job_with(
            "config = { predicate = \"temperature > ${threshold}\" }",
            "config = { \"${threshold}\" = \"x\" } # ${unset}",
        );
        let resolved = resolve(&text, &[("threshold", "1")]).unwrap();
        assert_eq!(parse(&resolved).unwrap().steps[1].config, [("${threshold}".to_owned(), "x".to_owned())]);
        assert!(resolved.contains("# ${unset}"), "{resolved}");
    }

    #[test]
    fn awkward_values_stay_values_in_every_kind_of_string() {
        let strings = [
            ("\"temperature > ${threshold}\"", "temperature > ", ""),
            ("'C:\\temp\\${threshold}.txt'", "C:\\temp\\", ".txt"),
            ("\"\"\"\nfirst line\n${threshold}\nlast line\"\"\"", "first line\n", "\nlast line"),
            ("'''\n${threshold}\n\\ raw '''", "", "\n\\ raw "),
            ("\"\"\"\\\n    ${threshold} \\\n  end\"\"\"", "", " end"),
        ];
        for (string, before, after) in strings {
            let text = job_with("\"temperature > ${threshold}\"", string);
            let sink_line = parse(&text).unwrap().line_of("out");
            for value in AWKWARD {
                let resolved = resolve(&text, &[("threshold", value)]).unwrap();
                let manifest = parse(&resolved).unwrap_or_else(|error| panic!("{error}\n{resolved}"));
                assert_eq!(predicate(&manifest), format!("{before}{value}{after}"), "{resolved}");
                assert_eq!((manifest.sinks.len(), manifest.line_of("out")), (1, sink_line), "{resolved}");
                assert_resolved(&text, &resolved);
            }
        }
    }

    #[test]
    fn awkward_values_in_the_defaults_are_escaped_too() {
        for value in AWKWARD {
            let resolved = resolve(JOB, &[("date", value)]).unwrap();
            assert_eq!(parse(&resolved).unwrap().sinks[0].url, format!("out/{value}/"), "{resolved}");
            let named_by_the_default = resolved.replacen("name = \"daily\"", "name = \"${date}\"", 1);
            assert_eq!(parse(&named_by_the_default).unwrap().name, value, "[params] holds the value used");
            assert_resolved(JOB, &resolved);
        }
    }

    #[test]
    fn errors_after_a_multi_line_value_keep_their_line() {
        let text =
            job_with("plugin = \"std:format-csv\"", "plugin = \"std:format-csv\"\ncolour = \"${date}\"");
        let resolved = resolve(&text, &[("date", "a\nb\nc"), ("threshold", "x\ny")]).unwrap();
        let error = parse(&resolved).unwrap_err();
        assert!(
            matches!(&error, ManifestError::UnknownKey { line: 27, key, .. } if key == "colour"),
            "{error:?}"
        );
    }

    #[test]
    fn dollar_dollar_brace_is_a_literal_dollar_brace() {
        let text =
            job_with("\"temperature > ${threshold}\"", "\"$5 $${threshold} $$${threshold} $$ ${threshold}\"");
        let manifest = parse(&resolve(&text, &[("threshold", "1")]).unwrap()).unwrap();
        assert_eq!(predicate(&manifest), "$5 ${threshold} $${threshold} $$ 1");
    }

    #[test]
    fn defaults_may_be_numbers_or_booleans_and_escape_dollars() {
        let text =
            job_with("threshold = 10", "threshold = 0x10\nratio = 1.50\nflag = true\npattern = '$${x}'")
                .replace("temperature > ${threshold}", "${threshold} ${ratio} ${flag} ${pattern}");
        assert_eq!(predicate(&parse(&text).unwrap()), "16 1.50 true ${x}");
    }

    #[test]
    fn a_placeholder_without_a_value_names_its_line_and_param() {
        let text = job_with("url = \"data/${date}/\"", "url = \"data/${day}/\"");
        let error = parse(&text).unwrap_err();
        assert!(
            matches!(&error, ManifestError::ParamNotSet { line: 9, key, name, .. } if key == "url" && name == "day"),
            "{error:?}"
        );
        assert!(
            error.to_string().starts_with(
                "jobs/daily.toml:9: \"url\": param `day` is not set; add it to [params] or pass --param day="
            ),
            "{error}"
        );
        let resolved = resolve(&text, &[("day", "monday")]).unwrap();
        assert_eq!(parse(&resolved).unwrap().sources[0].url, "data/monday/", "a param needs no default");
    }

    #[test]
    fn a_param_the_manifest_does_not_know_is_refused() {
        let error = resolve(JOB, &[("date", "x"), ("treshold", "1")]).unwrap_err();
        assert!(
            matches!(&error, ManifestError::UnknownParam { name, suggestion: Some(close), known, .. }
                if name == "treshold" && close == "threshold" && known == &["date", "threshold"]),
            "{error:?}"
        );
        assert!(
            error.to_string().ends_with("did you mean `threshold`? its params are: date, threshold"),
            "{error}"
        );
        let error = resolve(JOB, &[("colour", "red")]).unwrap_err();
        assert!(matches!(&error, ManifestError::UnknownParam { suggestion: None, .. }), "{error:?}");
        assert!(error.to_string().ends_with("`colour`; its params are: date, threshold"), "{error}");

        let used_only = job_with("url = \"data/${date}/\"", "url = \"data/${day}/\"");
        let error = resolve(&used_only, &[("dya", "x")]).unwrap_err();
        assert!(
            matches!(&error, ManifestError::UnknownParam { suggestion: Some(close), known, .. }
                if close == "day" && known == &["date", "day", "threshold"]),
            "an unknown param is reported before an unset one: {error:?}"
        );

        let error = resolve("name = \"plain\"", &[("date", "x")]).unwrap_err();
        assert!(error.to_string().contains("it has no params"), "{error}");
    }

    #[test]
    fn a_dollar_brace_that_is_no_placeholder_is_an_error() {
        let cases = [
            ("data/${date", "${date"),
            ("data/${da te}/", "${da te}"),
            ("data/${}/", "${}"),
            ("data/${1st}/", "${1st}"),
            ("data/${date:-x}/", "${date:-x}"),
            (
                "data/${date/and/a/very/long/path/that/goes/on/and/on/",
                "${date/and/a/very/long/path/that/goes/on...",
            ),
        ];
        for (url, quoted) in cases {
            let error = parse(&job_with("data/${date}/", url)).unwrap_err();
            assert!(
                matches!(&error, ManifestError::BadPlaceholder { line: 9, key, placeholder, .. } if key == "url" && placeholder == quoted),
                "{url}: {error:?}"
            );
            assert!(error.to_string().contains("$${ for a literal ${"), "{error}");
        }
    }

    #[test]
    fn the_params_table_is_checked() {
        let error = parse(&job_with("date = ", "\"my date\" = ")).unwrap_err();
        assert!(
            matches!(&error, ManifestError::BadParamName { line: 4, name, .. } if name == "my date"),
            "{error:?}"
        );

        let error = parse(&job_with("threshold = 10", "threshold = \"${date}0\"")).unwrap_err();
        assert!(
            matches!(&error, ManifestError::ParamInDefault { line: 5, param, name, .. } if param == "threshold" && name == "date"),
            "{error:?}"
        );

        let error = parse(&job_with("threshold = 10", "threshold = [10]")).unwrap_err();
        assert!(matches!(error, ManifestError::Syntax { line: 5, .. }), "{error:?}");
        assert!(
            error.to_string().contains("[params]: \"threshold\" must be a string, number or boolean"),
            "{error}"
        );

        let error = parse(&JOB.replace("[params]\n", "params = \"none\"\n[more]\n")).unwrap_err();
        assert!(matches!(error, ManifestError::Syntax { line: 3, .. }), "{error:?}");
    }

    #[test]
    fn command_line_params_are_name_equals_value() {
        assert_eq!("date=2024=06".parse(), Ok(Param { name: "date".into(), value: "2024=06".into() }));
        assert_eq!("_x-1=".parse(), Ok(Param { name: "_x-1".into(), value: String::new() }));
        assert_eq!("date".parse::<Param>(), Err(ParamError::MissingEquals { arg: "date".into() }));
        for name in ["", "1st", "a b", "a.b"] {
            assert_eq!(format!("{name}=x").parse::<Param>(), Err(ParamError::BadName { name: name.into() }));
        }
    }

    #[test]
    fn basic_strings_spend_their_line_breaks() {
        assert_eq!(basic_string("a\nb", 0), "\"a\\nb\"");
        assert_eq!(basic_string("a\nb\nc", 2), "\"\"\"\na\nb\\nc\"\"\"");
        assert_eq!(basic_string("x", 3), "\"\"\"\nx\\\n\n\"\"\"");
        for value in AWKWARD.iter().copied().chain(["", "\\", "\"", "$"]) {
            for line_breaks in 0..4 {
                let string = basic_string(value, line_breaks);
                assert_eq!(string.matches('\n').count(), line_breaks, "{string}");
                let text = format!("v = {string}");
                let document = DeTable::parse(&text).unwrap();
                let Some(DeValue::String(read)) = document.get_ref().get("v").map(|v| v.get_ref()) else {
                    panic!("{string}")
                };
                assert_eq!(read.as_ref(), value.replace("${", "$${"), "{string}");
            }
        }
    }
}
