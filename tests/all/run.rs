//! Whole jobs through the `flicker` binary: generated input, output read back and checked against
//! the same result computed directly in the test.

use crate::support::{
    Rng, assert_failed, assert_mentions, assert_succeeded, csv_quote, part_files, part_indexes, pick,
    read_committed, read_csv_output, run_job, toml_string, write_file, write_manifest,
};
use std::collections::BTreeMap;
use std::path::Path;

/// Station names are these (separated by `|`) with a number appended (`Zürich-0` … `Zürich-20`).
const BASES: &str = "Zürich|Tōkyō|São Paulo|Kraków|Reykjavík|Москва|Αθήνα|東京|Málaga|Oslo|\
                     Abha|Nuuk|Dakar|İzmir|Québec|Düsseldorf|Ōsaka|Łódź|Cuzco|Perth";
/// How many stations each base name gives.
const PER_BASE: usize = 21;
/// Station names that need quoting in the input (`;`, `"`) or in the CSV output (`,`, `"`).
const AWKWARD: [&str; 5] =
    ["Bad \"Ems\", DE", "\"Quoted\" Start", "Semi;colon", "Comma, Only", "Trailing Quote\""];
/// A line that does not parse: no station of the generated data is called Hamburg.
pub(crate) const BAD_LINE: &str = "Hamburg;abc";
/// Where [`BAD_LINE`] goes: the second input file, at this 1-based line.
pub(crate) const BAD_FILE: usize = 1;
pub(crate) const BAD_LINE_NUMBER: usize = 5000;
/// How many input files the readings are spread over.
const FILES: usize = 3;

/// One generated input line: a station and a temperature as written, with one decimal.
pub(crate) struct Reading {
    station: String,
    temperature: String,
}

impl Reading {
    fn celsius(&self) -> f64 {
        self.temperature.parse().expect("generated temperatures parse")
    }

    /// The input line, `station;temperature`, the station quoted when it needs to be.
    pub(crate) fn line(&self) -> String {
        format!("{};{}", csv_quote(&self.station, ';'), self.temperature)
    }
}

fn stations() -> Vec<String> {
    let numbered = BASES.split('|').flat_map(|base| (0..PER_BASE).map(move |n| format!("{base}-{n}")));
    numbered.chain(AWKWARD.iter().map(|s| s.to_string())).collect()
}

/// `count` readings: every station once, then stations at random; temperatures in [-99.9, 99.9].
pub(crate) fn generate_readings(count: usize, seed: u64) -> Vec<Reading> {
    let stations = stations();
    assert!(count >= stations.len());
    let mut rng = Rng::new(seed);
    (0..count)
        .map(|i| {
            let station = if i < stations.len() { &stations[i] } else { pick(&mut rng, &stations) };
            let tenths = rng.below(1999) as i64 - 999;
            Reading { station: station.clone(), temperature: format!("{:.1}", tenths as f64 / 10.0) }
        })
        .collect()
}

/// Writes the readings as `readings-<k>.txt` in `data`, in [`FILES`] consecutive runs of lines
/// (the last file with CRLF line ends); with `bad`, [`BAD_LINE`] is inserted at line
/// [`BAD_LINE_NUMBER`] of file [`BAD_FILE`].
pub(crate) fn write_readings(data: &Path, readings: &[Reading], bad: bool) {
    for (k, chunk) in readings.chunks(readings.len().div_ceil(FILES)).enumerate() {
        let mut lines: Vec<String> = chunk.iter().map(Reading::line).collect();
        if bad && k == BAD_FILE {
            lines.insert(BAD_LINE_NUMBER - 1, BAD_LINE.to_owned());
        }
        let end = if k == FILES - 1 { "\r\n" } else { "\n" };
        write_file(&data.join(format!("readings-{k}.txt")), &(lines.join(end) + end));
    }
}

/// What the aggregates should find for one station.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stats {
    pub(crate) count: u64,
    pub(crate) min: f64,
    pub(crate) max: f64,
    pub(crate) sum: f64,
}

pub(crate) fn stats_by_station<'a>(
    readings: impl IntoIterator<Item = &'a Reading>,
) -> BTreeMap<String, Stats> {
    let mut stats = BTreeMap::new();
    for reading in readings {
        let t = reading.celsius();
        let entry = stats.entry(reading.station.clone()).or_insert(Stats {
            count: 0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            sum: 0.0,
        });
        entry.count += 1;
        entry.min = entry.min.min(t);
        entry.max = entry.max.max(t);
        entry.sum += t;
    }
    stats
}

/// The rows of an output keyed by their first field, checking each has `width` fields and each
/// key occurs once (in one part only).
fn by_key(rows: Vec<Vec<String>>, width: usize) -> BTreeMap<String, Vec<String>> {
    let mut keyed = BTreeMap::new();
    for mut row in rows {
        assert_eq!(row.len(), width, "row {row:?}");
        let key = row.remove(0);
        if let Some(first) = keyed.insert(key.clone(), row) {
            panic!("key {key:?} is output twice (once with {first:?})");
        }
    }
    keyed
}

fn number(text: &str) -> f64 {
    text.parse().unwrap_or_else(|_| panic!("{text:?} is not a number"))
}

/// The start of a job over `data/`: its name and the `readings` source.
pub(crate) fn readings_source(name: &str) -> String {
    format!(
        r#"name = "{name}"

[[source]]
id = "readings"
url = "data/"
split_size = "64KiB"
"#
    )
}

/// The start of a job over `data/`: the `readings` source and a `parse` step (std:parse-csv of
/// `station;temperature`, with `parse_extra` appended to its config).
pub(crate) fn parse_readings(name: &str, parse_extra: &str) -> String {
    format!(
        r#"{}
[[step]]
id = "parse"
input = "readings"
plugin = "std:parse-csv"
config = {{ delimiter = ";", schema = "station:string,temperature:f64"{parse_extra} }}
"#,
        readings_source(name)
    )
}

/// The reference job over `data/`: parse, key by station, `aggregate` the temperature in 4
/// partitions, write CSV to `out`. `parse_extra` is appended to the parse step's config.
pub(crate) fn readings_job(aggregate: &str, parse_extra: &str, out: &str) -> String {
    let prefix = parse_readings("readings", parse_extra);
    format!(
        r#"{prefix}
[[step]]
id = "by-station"
input = "parse"
plugin = "std:key-by"
config = {{ fields = "station" }}

[[step]]
id = "aggregate"
input = "by-station"
plugin = "{aggregate}"
partitions = 4
config = {{ field = "temperature" }}

[[sink]]
id = "out"
input = "aggregate"
url = "{out}"
plugin = "std:format-csv"
"#
    )
}

/// A map-only job over `data/`: parse, then straight to CSV in `out`.
pub(crate) fn parse_only_job(out: &str) -> String {
    let prefix = parse_readings("parse-only", "");
    format!(
        r#"{prefix}
[[sink]]
id = "out"
input = "parse"
url = "{out}"
plugin = "std:format-csv"
"#
    )
}

const FOUR_PARTS: [&str; 4] = ["part-00000.csv", "part-00001.csv", "part-00002.csv", "part-00003.csv"];

/// The maximum per station, as output in `out` by a `std:max` job.
pub(crate) fn output_max(out: &Path) -> BTreeMap<String, f64> {
    output_max_by(out, "station")
}

/// The maximum per value of the key field `key`, as output in `out` by a `std:max` job.
pub(crate) fn output_max_by(out: &Path, key: &str) -> BTreeMap<String, f64> {
    let rows = read_csv_output(out, &format!("{key},max"));
    by_key(rows, 2).into_iter().map(|(value, row)| (value, number(&row[0]))).collect()
}

#[test]
fn max_temperature_over_many_splits_matches_a_direct_computation() {
    let dir = tempfile::tempdir().unwrap();
    let readings = generate_readings(100_000, 1);
    write_readings(&dir.path().join("data"), &readings, false);
    let manifest = write_manifest(dir.path(), &readings_job("std:max", "", "out/"));

    let summary = assert_succeeded(&run_job(&manifest, &["--workers", "2"]));

    assert!(summary.contains("rows in 100000 (skipped 0)"), "{summary}");
    assert!(summary.contains("output out: file://"), "{summary}");
    let out = dir.path().join("out");
    assert_eq!(part_indexes(&out), FOUR_PARTS);
    let expected: BTreeMap<String, f64> =
        stats_by_station(&readings).into_iter().map(|(station, s)| (station, s.max)).collect();
    assert_eq!(expected.len(), BASES.split('|').count() * PER_BASE + AWKWARD.len());
    for station in ["Zürich-17", "Tōkyō-3", "Bad \"Ems\", DE", "Semi;colon"] {
        assert!(expected.contains_key(station), "the data has no station {station:?}");
    }
    assert_eq!(output_max(&out), expected);
}

#[test]
fn stats_gives_count_min_mean_and_max_per_station() {
    let dir = tempfile::tempdir().unwrap();
    let readings = generate_readings(100_000, 2);
    write_readings(&dir.path().join("data"), &readings, false);
    let manifest = write_manifest(dir.path(), &readings_job("std:stats", "", "out/"));

    let summary = assert_succeeded(&run_job(&manifest, &["--workers", "2"]));

    assert!(summary.contains("rows in 100000 (skipped 0)"), "{summary}");
    let out = dir.path().join("out");
    assert_eq!(part_indexes(&out), FOUR_PARTS);
    let found = by_key(read_csv_output(&out, "station,count,min,mean,max"), 5);
    let expected = stats_by_station(&readings);
    assert_eq!(found.keys().collect::<Vec<_>>(), expected.keys().collect::<Vec<_>>());
    for (station, row) in &found {
        let want = expected[station];
        assert_eq!(row[0].parse::<u64>().ok(), Some(want.count), "count of {station:?}: {row:?}");
        assert_eq!(number(&row[1]), want.min, "min of {station:?}: {row:?}");
        assert_eq!(number(&row[3]), want.max, "max of {station:?}: {row:?}");
        let (mean, want_mean) = (number(&row[2]), want.sum / want.count as f64);
        assert!(
            (mean - want_mean).abs() <= 1e-9 * want_mean.abs().max(1.0),
            "mean of {station:?}: {mean}, expected {want_mean}"
        );
    }
}

/// The words of `line` by the rule of `std:split-words`: maximal runs of alphanumeric characters,
/// lowercased.
fn words(line: &str) -> impl Iterator<Item = String> + '_ {
    line.split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(|word| word.chars().flat_map(char::to_lowercase).collect())
}

#[test]
fn word_count_matches_a_direct_count() {
    let vocabulary: Vec<&str> = "the The THE quick fox Straße ÉCOLE école naïve 日本語 \
                                  Zürich don't e-mail 42 x2 Ünïcödé İstanbul ÅNGSTRÖM"
        .split(' ')
        .collect();
    const SEPARATORS: [&str; 12] = [" ", "  ", ", ", ". ", "—", "...", "\t", " (", ") ", "/", "; ", " \""];
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng::new(3);
    let mut expected: BTreeMap<String, u64> = BTreeMap::new();
    let mut lines_written = 0;
    for file in 0..2 {
        let mut text = String::new();
        for _ in 0..10_000 {
            let mut line = String::new();
            for _ in 0..rng.below(13) {
                let (separator, word) = (pick(&mut rng, &SEPARATORS), pick(&mut rng, &vocabulary));
                line.extend([*separator, *word]);
            }
            if rng.below(2) == 0 {
                let separator = pick(&mut rng, &SEPARATORS);
                line.push_str(separator);
            }
            for word in words(&line) {
                *expected.entry(word).or_default() += 1;
            }
            text.push_str(&line);
            text.push('\n');
            lines_written += 1;
        }
        write_file(&dir.path().join(format!("data/text-{file}.txt")), &text);
    }
    let manifest = write_manifest(
        dir.path(),
        r#"name = "word-count"

[[source]]
id = "text"
url = "data/"
split_size = "16KiB"

[[step]]
id = "lines"
input = "text"
plugin = "std:parse-lines"

[[step]]
id = "words"
input = "lines"
plugin = "std:split-words"
config = { field = "line" }

[[step]]
id = "by-word"
input = "words"
plugin = "std:key-by"
config = { fields = "word" }

[[step]]
id = "count"
input = "by-word"
plugin = "std:count"

[[sink]]
id = "out"
input = "count"
url = "out/"
plugin = "std:format-csv"
"#,
    );

    // No `partitions` in the manifest: the command line's default applies.
    let summary = assert_succeeded(&run_job(&manifest, &["--workers", "3", "--partitions", "3"]));

    assert!(summary.contains(&format!("rows in {lines_written} (skipped 0)")), "{summary}");
    let out = dir.path().join("out");
    assert_eq!(part_indexes(&out), ["part-00000.csv", "part-00001.csv", "part-00002.csv"]);
    let found: BTreeMap<String, u64> = by_key(read_csv_output(&out, "word,count"), 2)
        .into_iter()
        .map(|(word, row)| (word, row[0].parse().expect("a count")))
        .collect();
    assert!(
        expected.contains_key("straße") && expected.contains_key("日本語") && expected.contains_key("don")
    );
    assert_eq!(found, expected);
}

/// A snapshot of every file directly in `dir`: name and bytes.
pub(crate) fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            assert!(
                entry.file_type().unwrap().is_file(),
                "{:?} in {} is not a file",
                entry.file_name(),
                dir.display()
            );
            (entry.file_name().into_string().unwrap(), std::fs::read(entry.path()).unwrap())
        })
        .collect()
}

/// Asserts that nothing of a failed run is published in `out`: no `_SUCCESS`, no part, no
/// temporary files.
pub(crate) fn assert_nothing_published(out: &Path) {
    assert!(!out.join("_SUCCESS").exists(), "{}/_SUCCESS exists", out.display());
    assert_eq!(part_files(out), Vec::<String>::new(), "parts in {}", out.display());
    assert!(!out.join("_temporary").exists(), "{}/_temporary is left behind", out.display());
}

#[test]
fn a_bad_line_fails_the_job_naming_object_line_and_content_and_keeps_the_previous_output() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let readings = generate_readings(100_000, 4);
    let out = dir.path().join("out");
    let job =
        readings_job("std:max", "", "out/").replace("url = \"out/\"", "url = \"out/\"\nmode = \"overwrite\"");
    let manifest = write_manifest(dir.path(), &job);
    write_readings(&data, &readings, false);
    assert_succeeded(&run_job(&manifest, &["--workers", "2"]));
    let committed = snapshot(&out);
    assert_eq!(read_committed(&out).len(), 4);

    write_readings(&data, &readings, true);
    let object = data.join(format!("readings-{BAD_FILE}.txt"));
    let text = std::fs::read_to_string(&object).unwrap();
    let at = text.find(&format!("\n{BAD_LINE}\n")).expect("the bad line is written");
    assert!(
        at > 64 << 10,
        "the bad line should be beyond the first split, so that its line number is counted"
    );
    let error = assert_failed(&run_job(&manifest, &["--workers", "2"]));

    assert_mentions(
        &error,
        &[
            format!("file://{}", object.display()),
            format!("line {BAD_LINE_NUMBER}: \"{BAD_LINE}\""),
            "step \"parse\" (std:parse-csv)".to_owned(),
            "field `temperature`: \"abc\" is not a valid f64".to_owned(),
        ],
    );
    assert_eq!(snapshot(&out), committed, "the failed run changed the previous output");

    // A map-only job has sink parts written by the splits that did parse; none is published.
    let fresh = dir.path().join("fresh");
    let manifest = write_manifest(dir.path(), &parse_only_job("fresh/"));
    let error = assert_failed(&run_job(&manifest, &["--workers", "2"]));
    assert!(error.contains(&format!("line {BAD_LINE_NUMBER}: \"{BAD_LINE}\"")), "{error}");
    assert_nothing_published(&fresh);
}

#[test]
fn a_committed_output_is_refused_unless_the_sink_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let first = generate_readings(20_000, 2);
    write_readings(&dir.path().join("data"), &first, false);
    let manifest = write_manifest(dir.path(), &readings_job("std:max", "", "out/"));
    assert_succeeded(&run_job(&manifest, &["--workers", "2"]));
    let committed = snapshot(&out);

    let second = generate_readings(30_000, 3);
    write_readings(&dir.path().join("data"), &second, false);
    let error = assert_failed(&run_job(&manifest, &["--workers", "2"]));
    let sink_line = readings_job("std:max", "", "out/").lines().position(|l| l == "[[sink]]").unwrap() + 1;
    assert_mentions(
        &error,
        &[
            format!("{}:{sink_line}: sink \"out\"", manifest.display()),
            format!("file://{} already holds a committed output", out.display()),
            "set mode = \"overwrite\" on the sink".to_owned(),
        ],
    );
    assert_eq!(snapshot(&out), committed, "a refused job changed the output");

    let overwrite =
        readings_job("std:max", "", "out/").replace("url = \"out/\"", "url = \"out/\"\nmode = \"overwrite\"");
    write_manifest(dir.path(), &overwrite);
    assert_succeeded(&run_job(&manifest, &["--workers", "2"]));
    let expected: BTreeMap<String, f64> =
        stats_by_station(&second).into_iter().map(|(station, s)| (station, s.max)).collect();
    assert_eq!(output_max(&out), expected);
}

#[test]
fn a_bad_line_is_skipped_and_counted_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let readings = generate_readings(100_000, 4);
    write_readings(&dir.path().join("data"), &readings, true);
    let manifest = write_manifest(dir.path(), &readings_job("std:max", ", on_error = \"skip\"", "out/"));

    let summary = assert_succeeded(&run_job(&manifest, &["--workers", "2"]));

    assert!(summary.contains("rows in 100000 (skipped 1)"), "{summary}");
    let expected: BTreeMap<String, f64> =
        stats_by_station(&readings).into_iter().map(|(station, s)| (station, s.max)).collect();
    let found = output_max(&dir.path().join("out"));
    assert!(!found.contains_key("Hamburg"));
    assert_eq!(found, expected);
}

#[test]
fn a_source_without_input_fails_naming_it_once() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = write_manifest(dir.path(), &readings_job("std:max", "", "out/"));

    let error = assert_failed(&run_job(&manifest, &[]));

    let expected =
        format!("source \"readings\": no input found at file://{}", dir.path().join("data").display());
    assert_eq!(error.matches(&expected).count(), 1, "stderr should say once {expected:?}:\n{error}");
    assert_nothing_published(&dir.path().join("out"));
}

/// A JSON value as `std:format-jsonl` writes them.
#[derive(Debug, Clone, PartialEq)]
enum Json {
    Str(String),
    Num(f64),
    Null,
}

/// Parses one JSON line holding a flat object of strings, numbers and nulls.
fn json_object(line: &str) -> BTreeMap<String, Json> {
    let mut chars = line.chars().peekable();
    let next = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>| {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        chars.next()
    };
    let string = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>| {
        let mut text = String::new();
        loop {
            match chars.next().unwrap_or_else(|| panic!("unclosed string in {line:?}")) {
                '"' => return text,
                '\\' => match chars.next() {
                    Some('u') => {
                        let hex: String = chars.by_ref().take(4).collect();
                        let code = u32::from_str_radix(&hex, 16).expect("four hex digits");
                        text.push(char::from_u32(code).expect("no surrogates in the test data"));
                    }
                    Some('n') => text.push('\n'),
                    Some('r') => text.push('\r'),
                    Some('t') => text.push('\t'),
                    Some(c @ ('"' | '\\' | '/')) => text.push(c),
                    other => panic!("bad escape {other:?} in {line:?}"),
                },
                c => text.push(c),
            }
        }
    };
    let mut object = BTreeMap::new();
    assert_eq!(next(&mut chars), Some('{'), "{line:?}");
    loop {
        assert_eq!(next(&mut chars), Some('"'), "a key in {line:?}");
        let key = string(&mut chars);
        assert_eq!(next(&mut chars), Some(':'), "{line:?}");
        let value = match next(&mut chars) {
            Some('"') => Json::Str(string(&mut chars)),
            Some('n') => {
                let rest: String = chars.by_ref().take(3).collect();
                assert_eq!(rest, "ull", "{line:?}");
                Json::Null
            }
            Some(first) => {
                let mut text = first.to_string();
                while let Some(&c) = chars.peek().filter(|c| c.is_ascii_digit() || "+-.eE".contains(**c)) {
                    text.push(c);
                    chars.next();
                }
                Json::Num(number(&text))
            }
            None => panic!("truncated {line:?}"),
        };
        assert!(object.insert(key, value).is_none(), "a key twice in {line:?}");
        match next(&mut chars) {
            Some(',') => {}
            Some('}') => break,
            other => panic!("{other:?} after a value in {line:?}"),
        }
    }
    assert_eq!(next(&mut chars), None, "text after the object in {line:?}");
    object
}

#[test]
fn user_plugins_given_by_path_run_as_map_and_aggregate() {
    let dir = tempfile::tempdir().unwrap();
    let readings = generate_readings(30_000, 5);
    write_readings(&dir.path().join("data"), &readings, false);
    let to_fahrenheit = flicker_plugins::guest_artifact("celsius-to-fahrenheit");
    let range = flicker_plugins::guest_artifact("temperature-range");
    let prefix = parse_readings("fahrenheit-range", "");
    let manifest = write_manifest(
        dir.path(),
        &format!(
            r#"{prefix}
[[step]]
id = "fahrenheit"
input = "parse"
plugin = {}

[[step]]
id = "by-station"
input = "fahrenheit"
plugin = "std:key-by"
config = {{ fields = "station" }}

[[step]]
id = "range"
input = "by-station"
plugin = {}
partitions = 3

[[sink]]
id = "out"
input = "range"
url = "out/"
plugin = "std:format-jsonl"
"#,
            toml_string(to_fahrenheit.to_str().unwrap()),
            toml_string(range.to_str().unwrap()),
        ),
    );

    let summary = assert_succeeded(&run_job(&manifest, &["--workers", "2"]));

    assert!(summary.contains("rows in 30000 (skipped 0)"), "{summary}");
    let out = dir.path().join("out");
    assert_eq!(part_indexes(&out), ["part-00000.jsonl", "part-00001.jsonl", "part-00002.jsonl"]);
    let mut found = BTreeMap::new();
    for (_, text) in read_committed(&out) {
        for line in text.lines() {
            let object = json_object(line);
            let keys: Vec<&str> = object.keys().map(String::as_str).collect();
            assert_eq!(keys, ["range", "station"], "{line}");
            let (Json::Str(station), Json::Num(range)) = (&object["station"], &object["range"]) else {
                panic!("unexpected types in {line}");
            };
            assert!(found.insert(station.clone(), *range).is_none(), "{station:?} is output twice");
        }
    }
    // The same operations in the same order as the plugin, so the results are bit for bit equal.
    let fahrenheit = |reading: &Reading| reading.celsius() * 9.0 / 5.0 + 32.0;
    let mut extremes: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    for reading in &readings {
        let f = fahrenheit(reading);
        let (low, high) = extremes.entry(reading.station.clone()).or_insert((f, f));
        (*low, *high) = (low.min(f), high.max(f));
    }
    let expected: BTreeMap<String, f64> =
        extremes.into_iter().map(|(station, (low, high))| (station, high - low)).collect();
    assert_eq!(found, expected);
}

#[test]
fn two_sources_and_two_sinks_are_written_in_one_job() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (generate_readings(20_000, 6), generate_readings(20_000, 7));
    write_readings(&dir.path().join("a"), &a, false);
    write_readings(&dir.path().join("b"), &b, false);
    let manifest = write_manifest(
        dir.path(),
        r#"name = "two-ways"

[[source]]
id = "a"
url = "a/"
split_size = "64KiB"

[[source]]
id = "b"
url = "b/"
split_size = "64KiB"

[[step]]
id = "parse-a"
input = "a"
plugin = "std:parse-csv"
config = { delimiter = ";", schema = "station:string,temperature:f64" }

[[step]]
id = "warm-a"
input = "parse-a"
plugin = "std:filter"
config = { predicate = "temperature > 0" }

[[step]]
id = "parse-b"
input = "b"
plugin = "std:parse-csv"
config = { delimiter = ";", schema = "station:string,temperature:f64" }

[[step]]
id = "warm-b"
input = "parse-b"
plugin = "std:filter"
config = { predicate = "temperature > 0" }

[[step]]
id = "by-station"
input = "warm-b"
plugin = "std:key-by"
config = { fields = "station" }

[[step]]
id = "max"
input = "by-station"
plugin = "std:max"
partitions = 2
config = { field = "temperature" }

[[sink]]
id = "warm-rows"
input = "warm-a"
url = "out-a/"
plugin = "std:format-csv"

[[sink]]
id = "warm-max"
input = "max"
url = "out-b/"
plugin = "std:format-csv"
"#,
    );

    let summary = assert_succeeded(&run_job(&manifest, &["--workers", "2"]));

    assert!(summary.contains("rows in 40000 (skipped 0)"), "{summary}");
    assert!(summary.contains("output warm-rows: file://"), "{summary}");
    assert!(summary.contains("output warm-max: file://"), "{summary}");
    let by_row = |station: &String, t: &f64| (station.clone(), t.to_bits());
    let mut rows_a: Vec<(String, u64)> = read_csv_output(&dir.path().join("out-a"), "station,temperature")
        .into_iter()
        .map(|row| {
            assert_eq!(row.len(), 2, "{row:?}");
            by_row(&row[0], &number(&row[1]))
        })
        .collect();
    let mut expected_a: Vec<(String, u64)> =
        a.iter().filter(|r| r.celsius() > 0.0).map(|r| by_row(&r.station, &r.celsius())).collect();
    rows_a.sort_unstable();
    expected_a.sort_unstable();
    assert!(expected_a.len() > 5_000 && expected_a.len() < a.len());
    assert_eq!(rows_a, expected_a);

    let expected_b: BTreeMap<String, f64> = stats_by_station(b.iter().filter(|r| r.celsius() > 0.0))
        .into_iter()
        .map(|(station, s)| (station, s.max))
        .collect();
    let out_b = dir.path().join("out-b");
    assert_eq!(part_indexes(&out_b), ["part-00000.csv", "part-00001.csv"]);
    assert_eq!(output_max(&out_b), expected_b);
}

#[test]
fn a_user_reduce_by_key_keeps_the_whole_winning_row() {
    let dir = tempfile::tempdir().unwrap();
    let readings = generate_readings(20_000, 9);
    write_readings(&dir.path().join("data"), &readings, false);
    let warmest = flicker_plugins::guest_artifact("warmest-reading");
    let job = readings_job(warmest.to_str().unwrap(), "", "out/")
        .replace("config = { field = \"temperature\" }\n", "");
    let manifest = write_manifest(dir.path(), &job);

    assert_succeeded(&run_job(&manifest, &["--workers", "2"]));

    let found: BTreeMap<String, f64> =
        by_key(read_csv_output(&dir.path().join("out"), "station,temperature"), 2)
            .into_iter()
            .map(|(station, row)| (station, number(&row[0])))
            .collect();
    let expected: BTreeMap<String, f64> =
        stats_by_station(&readings).into_iter().map(|(station, stats)| (station, stats.max)).collect();
    assert_eq!(found, expected);
}

/// A job whose map step (`spin`) is the test plugin looping forever, with `limits` on that step.
pub(crate) fn looping_job(limits: &str) -> String {
    test_plugin_job(r#"{ behave = "loop" }"#, limits)
}

/// A job whose map step (`spin`) is the test plugin with `config` (an inline table) and `limits`.
pub(crate) fn test_plugin_job(config: &str, limits: &str) -> String {
    let step = format!("config = {config}\n{limits}");
    guest_step_job(&parse_readings("loops", ""), "spin", "parse", "flicker-test-plugin", &step)
}

/// `head` (the start of a job, such as [`parse_readings`]), then step `id` reading `input` and
/// running the guest package `package` with the lines `settings` (`config = …`, `limits = …`),
/// written out as CSV to `out/` by the sink `out`.
pub(crate) fn guest_step_job(head: &str, id: &str, input: &str, package: &str, settings: &str) -> String {
    let plugin = flicker_plugins::guest_artifact(package);
    format!(
        r#"{head}
[[step]]
id = "{id}"
input = "{input}"
plugin = {}
{settings}

[[sink]]
id = "out"
input = "{id}"
url = "out/"
plugin = "std:format-csv"
"#,
        toml_string(plugin.to_str().unwrap())
    )
}

#[test]
fn the_cluster_wide_call_timeout_applies_unless_a_step_overrides_it() {
    let dir = tempfile::tempdir().unwrap();
    write_readings(&dir.path().join("data"), &generate_readings(1_000, 4), false);

    let manifest = write_manifest(dir.path(), &looping_job(""));
    let stderr = assert_failed(&run_job(&manifest, &["--call-timeout", "400ms"]));
    assert!(stderr.contains("step \"spin\""), "{stderr}");
    assert!(stderr.contains("operator stopped: call timeout of 400ms reached"), "{stderr}");

    let manifest = write_manifest(dir.path(), &looping_job("limits = { call_timeout = \"250ms\" }"));
    let stderr = assert_failed(&run_job(&manifest, &["--call-timeout", "30s"]));
    assert!(stderr.contains("operator stopped: call timeout of 250ms reached"), "{stderr}");
    assert!(!dir.path().join("out").join("_SUCCESS").exists());
}

#[test]
fn limits_over_the_clusters_maxima_are_refused_at_submission() {
    let dir = tempfile::tempdir().unwrap();
    write_readings(&dir.path().join("data"), &generate_readings(1_000, 4), false);

    let manifest = write_manifest(dir.path(), &looping_job("limits = { call_timeout = \"2h\" }"));
    let stderr = assert_failed(&run_job(&manifest, &[]));
    let line =
        std::fs::read_to_string(&manifest).unwrap().lines().position(|l| l == "id = \"spin\"").unwrap();
    for expected in [
        format!("job.toml:{line}: step \"spin\""),
        "limits.call_timeout".to_owned(),
        "7200s is over this cluster's maximum of 3600s (--max-call-timeout)".to_owned(),
    ] {
        assert!(stderr.contains(&expected), "{expected:?} in {stderr}");
    }
    // A default of the job's over a maximum is named as such.
    let manifest = write_manifest(dir.path(), &looping_job(""));
    let stderr = assert_failed(&run_job(&manifest, &["--max-memory-limit", "64MiB"]));
    assert!(
        stderr.contains(
            "the job's default 512.0 MiB is over this cluster's maximum of 64.0 MiB (--max-memory-limit)"
        ),
        "{stderr}"
    );
    assert!(!dir.path().join("out").join("_SUCCESS").exists());
}
