//! `flicker test`: one operator on a few records, without a cluster, called the way a job calls
//! it, with its output rows, what it printed and any failure with the input record it names.
//!
//! The plugin's kind decides the calls. A parser gets the records as chunks of lines. A map,
//! aggregate or format gets rows, read from the records by `std:parse-csv` with `--schema` (and
//! keyed by `--key`, as `std:key-by` would). An aggregate runs both sides of a shuffle: `update`
//! with every batch and `partials` in one instance, then the partials are hash-partitioned as the
//! shuffle routes them and each partition is `merge`d into a fresh instance and `finish`ed.
//! Records go to the operator in chunks of `--chunk-size` bytes, so a small chunk size makes
//! several calls.

mod records;
mod table;

use records::{Chunk, chunks, read_records};
use table::{decode, show};

use crate::report::OutputFormat;
use crate::run::{self, OperatorArgs};
use anyhow::{Context, anyhow, bail};
use flicker_batch::BatchReader;
use flicker_executor::shuffle::partition_batch;
use flicker_host::{
    CallError, HostError, Instance, Limits, OperatorError, OperatorOutput, Plugin, PluginDigest, Runtime,
    is_backtrace_note,
};
use flicker_job::{ComponentError, ComponentSource, PluginRefs, PluginResolver, default_limits};
use flicker_manifest::OperatorKind;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(clap::Args)]
pub struct TestArgs {
    /// The operator: a `.wasm` component, or `std:<name>` for a standard one.
    plugin: String,
    /// A config pair handed to the operator's `create`, as a step's `config` table would be
    /// (repeatable).
    #[arg(long = "config", short = 'c', value_name = "KEY=VALUE", value_parser = config_pair)]
    config: Vec<(String, String)>,
    /// An input record (repeatable; a text of several lines is several records).
    #[arg(long, value_name = "TEXT")]
    input: Vec<String>,
    /// A file of input records, one per line; `-` reads standard input (repeatable; read after
    /// the `--input` records).
    #[arg(long, value_name = "PATH")]
    input_file: Vec<PathBuf>,
    /// The fields of the records, `name:type,…` (types string, i64, f64, bool): how the records
    /// become rows for a map, aggregate or format operator (`std:parse-csv` reads them).
    #[arg(long, value_name = "FIELDS")]
    schema: Option<String>,
    /// The character between the fields of a record read with `--schema` [default: ;].
    #[arg(long, value_name = "CHAR")]
    delimiter: Option<String>,
    /// Key the rows by these fields (comma-separated), as `std:key-by` does: what an aggregate
    /// groups by.
    #[arg(long, value_name = "FIELDS")]
    key: Option<String>,
    /// For an aggregate: print its partials (the per-key state `update` built, as it crosses the
    /// shuffle) before the final rows.
    #[arg(long)]
    show_partials: bool,
    /// Rows as an aligned table or as a JSON array of objects.
    #[arg(long, value_enum, default_value = "text")]
    output: OutputFormat,
    /// Where compiled operator components are cached.
    #[arg(long, env = "FLICKER_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
    #[command(flatten)]
    defaults: OperatorArgs,
}

fn config_pair(text: &str) -> Result<(String, String), String> {
    let (key, value) = text.split_once('=').ok_or_else(|| format!("expected KEY=VALUE, got {text:?}"))?;
    Ok((key.trim().to_owned(), value.to_owned()))
}

/// The separator of `--schema` fields unless `--delimiter` says otherwise: that of `station;12.3`.
const DEFAULT_DELIMITER: &str = ";";

pub fn test(args: TestArgs) -> anyhow::Result<ExitCode> {
    let defaults = args.defaults.job_defaults();
    let runtime = run::runtime(args.cache_dir.clone(), 1, defaults.memory_limit.max(4 << 30))?;
    let operator = Operator::load(&runtime, &args.plugin, args.config.clone(), default_limits(&defaults))?;
    let kind = operator.plugin.kind();
    check_flags(&args, kind)?;
    let mut records = read_records(&args.input, &args.input_file)?;
    if kind != OperatorKind::Parse {
        // `std:parse-csv` makes no row of an empty line: leave them out, so a batch's row `i` is
        // its chunk's record `i`.
        records.retain(|record| !record.text.is_empty());
    }
    let lines = chunks(&records, defaults.chunk_size);
    let rows = |lines| read_rows(&runtime, &args, operator.limits, lines);
    let mut printed = Printed::default();
    let produced = match kind {
        OperatorKind::Parse => operator.parse(&lines, &mut printed),
        OperatorKind::Map => rows(lines).and_then(|rows| operator.map(&rows, &mut printed)),
        OperatorKind::Aggregate => {
            rows(lines).and_then(|rows| operator.aggregate(&rows, defaults.partitions, &mut printed))
        }
        OperatorKind::Format => rows(lines).and_then(|rows| operator.format(&rows, &mut printed)),
        OperatorKind::CoGroup => unreachable!("check_flags refuses cogroup operators"),
    };
    let shown = produced.and_then(|produced| show(&produced, args.output, args.show_partials));
    printed.show();
    shown?;
    Ok(ExitCode::SUCCESS)
}

/// Refuses flags that do not apply to an operator of `kind`.
fn check_flags(args: &TestArgs, kind: OperatorKind) -> anyhow::Result<()> {
    let rows_flags = [
        ("--schema", args.schema.is_some()),
        ("--delimiter", args.delimiter.is_some()),
        ("--key", args.key.is_some()),
    ];
    let rows_flag = rows_flags.into_iter().find_map(|(flag, given)| given.then_some(flag));
    if kind == OperatorKind::CoGroup {
        bail!(
            "{} is a cogroup operator, which reads several inputs: `flicker test` feeds one; try it in a job \
             with `flicker run`",
            args.plugin
        );
    }
    match (kind, rows_flag) {
        (OperatorKind::Parse, Some(flag)) => bail!(
            "{flag} applies to map, aggregate and format operators; {} is a parser: give it its \
             own config with --config (e.g. -c schema=station:string,temperature:f64)",
            args.plugin
        ),
        (OperatorKind::Parse, None) => {}
        (_, _) if args.schema.is_none() => bail!(
            "{} is a {kind} operator: give the fields of the input records with --schema \
             name:type,… (e.g. --schema station:string,temperature:f64)",
            args.plugin
        ),
        _ => {}
    }
    if args.show_partials && kind != OperatorKind::Aggregate {
        bail!("--show-partials applies to aggregates; {} is a {kind} operator", args.plugin);
    }
    if kind == OperatorKind::Format && args.output == OutputFormat::Json {
        bail!("a format operator returns bytes, printed as they are: --output json applies to rows");
    }
    Ok(())
}

/// A component file named on the command line, offered to the plugin resolver by its digest.
struct ComponentFile(Vec<u8>);

impl ComponentSource for ComponentFile {
    fn fetch(&self, _: &PluginDigest) -> Result<Vec<u8>, ComponentError> {
        Ok(self.0.clone())
    }
}

/// The operator under test (or the `std:parse-csv` reading `--schema`), as a step would run it.
struct Operator {
    /// The plugin as named on the command line.
    name: String,
    plugin: Arc<Plugin>,
    config: Vec<(String, String)>,
    limits: Limits,
}

impl Operator {
    /// Loads `name`, a standard operator or a component file, as a manifest's step would.
    fn load(
        runtime: &Runtime,
        name: &str,
        config: Vec<(String, String)>,
        limits: Limits,
    ) -> anyhow::Result<Self> {
        let mut refs = PluginRefs::new();
        let mut file = ComponentFile(Vec::new());
        if !name.starts_with(flicker_plugins::STD_PREFIX) {
            file.0 = std::fs::read(name).with_context(|| format!("cannot read the plugin {name}"))?;
            refs.insert(name.to_owned(), Ok(PluginDigest::of(&file.0)));
        }
        let plugin = PluginResolver::new(runtime, &refs, &file, limits)
            .load(name)
            .map_err(|e| anyhow!("{name}: {e}"))?;
        Ok(Self { name: name.to_owned(), plugin, config, limits })
    }

    /// A failed call of `phase`, at `record` when the error is a bad record that names one.
    fn failed(&self, phase: &str, error: CallError, record: Option<String>) -> anyhow::Error {
        match (&error, record) {
            (CallError::Operator(OperatorError::BadRecord { message, .. }), Some(record)) => anyhow!(
                "{} ({phase}) failed at {record}: operator returned an error: bad record: {message}",
                self.name
            ),
            // Its stderr, which holds a panic's message, is printed with what it wrote to stdout.
            (CallError::Trapped { trap, backtrace, .. }, _) => {
                anyhow!("{} ({phase}) failed: operator trapped: {trap}{backtrace}", self.name)
            }
            _ => anyhow!("{} ({phase}) failed: {error}", self.name),
        }
    }

    /// Calls `call` with each chunk's input; a bad record is named by the chunk's record.
    fn each<T>(
        &self,
        phase: &str,
        chunks: &[Chunk<'_>],
        mut call: impl FnMut(&[u8]) -> Result<T, CallError>,
    ) -> anyhow::Result<Vec<T>> {
        chunks
            .iter()
            .map(|chunk| {
                call(&chunk.input).map_err(|error| {
                    let record = match &error {
                        CallError::Operator(OperatorError::BadRecord { index, offset, .. }) => {
                            chunk.record(*index, *offset).map(ToString::to_string)
                        }
                        _ => None,
                    };
                    self.failed(phase, error, record)
                })
            })
            .collect()
    }

    fn created(&self, error: HostError) -> anyhow::Error {
        anyhow!("{}: {error}", self.name)
    }

    fn parse(&self, chunks: &[Chunk<'_>], printed: &mut Printed) -> anyhow::Result<Produced> {
        let parser = self.plugin.parse(&self.config, self.limits).map_err(|e| self.created(e))?;
        let parsed =
            printed.observe("parse", parser, |parser| self.each("parse", chunks, |c| parser.parse(c)))?;
        let skipped: u32 = parsed.iter().map(|p| p.skipped).sum();
        if skipped > 0 {
            eprintln!("{} skipped {skipped} bad record(s)", self.name);
        }
        Ok(Produced::Rows { partials: None, rows: parsed.into_iter().map(|p| p.rows).collect() })
    }

    fn map(&self, batches: &[Chunk<'_>], printed: &mut Printed) -> anyhow::Result<Produced> {
        let mapper = self.plugin.map(&self.config, self.limits).map_err(|e| self.created(e))?;
        let rows = printed.observe("map", mapper, |mapper| self.each("map", batches, |b| mapper.map(b)))?;
        Ok(Produced::Rows { partials: None, rows })
    }

    /// Update and partials in one instance; each partition of the partials merged into a fresh
    /// instance and finished, as a reduce task does.
    fn aggregate(
        &self,
        batches: &[Chunk<'_>],
        partitions: u32,
        printed: &mut Printed,
    ) -> anyhow::Result<Produced> {
        let create = || self.plugin.aggregate(&self.config, self.limits).map_err(|e| self.created(e));
        let partials = printed.observe("update", create()?, |aggregate| {
            self.each("update", batches, |b| aggregate.update(b))?;
            aggregate.partials().map_err(|e| self.failed("partials", e, None))
        })?;
        let mut rows = Vec::new();
        let blocks =
            partition_batch(&partials, partitions).context("the operator returned malformed partials")?;
        for (partition, block) in blocks.into_iter().enumerate() {
            if BatchReader::new(&block)?.rows().next().is_none() {
                continue;
            }
            let phase = format!("merge and finish, partition {partition}");
            rows.push(printed.observe(&phase, create()?, |aggregate| {
                aggregate.merge(&block).map_err(|error| {
                    let row = match &error {
                        CallError::Operator(OperatorError::BadRecord { index, .. }) => {
                            row_text(&block, *index)
                        }
                        _ => None,
                    };
                    self.failed("merge", error, row)
                })?;
                aggregate.finish().map_err(|e| self.failed("finish", e, None))
            })?);
        }
        Ok(Produced::Rows { partials: Some(partials), rows })
    }

    fn format(&self, batches: &[Chunk<'_>], printed: &mut Printed) -> anyhow::Result<Produced> {
        let formatter = self.plugin.format(&self.config, self.limits).map_err(|e| self.created(e))?;
        let parts =
            printed.observe("format", formatter, |f| self.each("format", batches, |b| f.format(b)))?;
        Ok(Produced::Bytes(parts.concat()))
    }
}

/// Each chunk of lines as the batch of its rows, read by `std:parse-csv` with `--schema`,
/// `--delimiter` and `--key`.
fn read_rows<'r>(
    runtime: &Runtime,
    args: &TestArgs,
    limits: Limits,
    lines: Vec<Chunk<'r>>,
) -> anyhow::Result<Vec<Chunk<'r>>> {
    let schema = args.schema.clone().unwrap_or_default();
    let mut config = vec![
        ("schema".to_owned(), schema.clone()),
        ("delimiter".to_owned(), args.delimiter.as_deref().unwrap_or(DEFAULT_DELIMITER).to_owned()),
    ];
    config.extend(args.key.iter().map(|key| ("key".to_owned(), key.clone())));
    let reader = Operator::load(runtime, "std:parse-csv", config, limits)?;
    let mut parser = reader.plugin.parse(&reader.config, limits).map_err(|error| match error {
        HostError::Create(CallError::Operator(OperatorError::InvalidConfig(message))) => {
            anyhow!("--schema, --delimiter or --key: {message}")
        }
        other => reader.created(other),
    })?;
    let parsed = reader.each(&format!("reading --schema {schema}"), &lines, |c| parser.parse(c))?;
    Ok(lines.into_iter().zip(parsed).map(|(chunk, parsed)| Chunk { input: parsed.rows, ..chunk }).collect())
}

/// The row at `index` of `batch`, as its values, for an error message.
fn row_text(batch: &[u8], index: u32) -> Option<String> {
    let row = decode(batch).ok()?.rows.into_iter().nth(index as usize)?;
    let values: Vec<String> = row.iter().map(|(name, value)| format!("{name}={value}")).collect();
    Some(format!("row {index} ({})", values.join(", ")))
}

/// What an operator under test made.
enum Produced {
    /// Batches of rows, and for an aggregate the partials they were finished from.
    Rows { partials: Option<Vec<u8>>, rows: Vec<Vec<u8>> },
    /// A format operator's bytes.
    Bytes(Vec<u8>),
}

/// What the operator's instances printed, in the order they ran.
#[derive(Default)]
struct Printed(Vec<(String, OperatorOutput)>);

impl Printed {
    /// Runs `body` on `instance`, then keeps what the instance printed, whether it failed or not.
    fn observe<W, T>(
        &mut self,
        phase: &str,
        mut instance: Instance<W>,
        body: impl FnOnce(&mut Instance<W>) -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        let result = body(&mut instance);
        self.0.push((phase.to_owned(), instance.output()));
        result
    }

    /// Prints each instance's stdout and stderr on stderr, labelled with the phase it ran.
    fn show(&self) {
        let mut err = std::io::stderr().lock();
        for (phase, output) in &self.0 {
            for (stream, captured) in [("stdout", &output.stdout), ("stderr", &output.stderr)] {
                if captured.is_empty() {
                    continue;
                }
                let _ = writeln!(err, "operator {stream} ({phase}):");
                for line in captured.text.trim_matches('\n').lines().filter(|l| !is_backtrace_note(l)) {
                    let _ = writeln!(err, "  {line}");
                }
                if captured.dropped > 0 {
                    let _ = writeln!(err, "  … {} more bytes dropped", captured.dropped);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_pairs_split_at_the_first_equals_sign() {
        assert_eq!(config_pair("predicate=a == 1"), Ok(("predicate".into(), "a == 1".into())));
        assert!(config_pair("schema").is_err());
    }
}
