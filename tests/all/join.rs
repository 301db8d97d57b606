//! Joins: `std:join` of every `how` against an oracle computed here, on data with keys missing on
//! either side, duplicate keys, a skewed key and empty inputs; under a memory limit far below
//! its build side (spilled in sorted runs and merged, same result).

use crate::support::{
    Rng, assert_mentions, assert_succeeded, read_committed, run_job, write_file, write_manifest,
};
use std::collections::BTreeMap;

/// The join kinds, as the config names them.
const HOWS: [&str; 6] = ["inner", "left", "right", "full", "semi", "anti"];

/// Readings (`station;temperature`) joined with stations (`station;country`).
pub(crate) struct Data {
    pub(crate) readings: Vec<(String, String)>,
    pub(crate) stations: Vec<(String, String)>,
}

impl Data {
    /// `rows` readings of stations `s0`..`s59` (about half of them of the skewed station `s7`),
    /// and the stations `s30`..`s89` and `s7`, `s40` named twice (two countries), so that keys
    /// are missing on either side and duplicated on both.
    pub(crate) fn generate(rows: usize, seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let readings = (0..rows)
            .map(|_| {
                let station = if rng.below(2) == 0 { 7 } else { rng.below(60) };
                let tenths = rng.below(1999) as i64 - 999;
                (format!("s{station}"), format!("{}", tenths as f64 / 10.0))
            })
            .collect();
        let mut stations: Vec<(String, String)> =
            (30..90).map(|s| (format!("s{s}"), format!("c{}", s % 7))).collect();
        stations.push(("s7".into(), "c-seven".into()));
        stations.push(("s40".into(), "c-forty".into()));
        Self { readings, stations }
    }

    /// The output rows of a join, as CSV lines without the header, sorted.
    pub(crate) fn oracle(&self, how: &str) -> Vec<String> {
        let mut by_station: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (station, country) in &self.stations {
            by_station.entry(station).or_default().push(country);
        }
        let mut out = Vec::new();
        for (station, temperature) in &self.readings {
            let countries = by_station.get(station.as_str());
            match (how, countries) {
                ("semi", Some(_)) | ("anti", None) => out.push(format!("{station},{temperature}")),
                ("semi" | "anti", _) => {}
                ("left" | "full", None) => out.push(format!("{station},{temperature},")),
                (_, None) => {}
                (_, Some(countries)) => {
                    out.extend(countries.iter().map(|country| format!("{station},{temperature},{country}")))
                }
            }
        }
        if matches!(how, "right" | "full") {
            for (station, country) in &self.stations {
                if !self.readings.iter().any(|(s, _)| s == station) {
                    out.push(format!("{station},,{country}"));
                }
            }
        }
        out.sort();
        out
    }

    /// Writes the readings to `<dir>/readings/` (one object) and the stations to
    /// `<dir>/stations/`.
    pub(crate) fn write(&self, dir: &std::path::Path) {
        let lines =
            |rows: &[(String, String)]| rows.iter().map(|(a, b)| format!("{a};{b}\n")).collect::<String>();
        write_file(&dir.join("readings/part-0.txt"), &lines(&self.readings));
        write_file(&dir.join("stations/stations.txt"), &lines(&self.stations));
    }
}

/// A job joining `readings/` and `stations/` with `config`, the join step getting `extra` keys.
pub(crate) fn join_job(config: &str, extra: &str) -> String {
    format!(
        r#"name = "join"

[[source]]
id = "readings"
url = "readings/"
split_size = "64KiB"

[[source]]
id = "station-list"
url = "stations/"

[[step]]
id = "parse"
input = "readings"
plugin = "std:parse-csv"
config = {{ delimiter = ";", schema = "station:string,temperature:f64" }}

[[step]]
id = "stations"
input = "station-list"
plugin = "std:parse-csv"
config = {{ delimiter = ";", schema = "station:string,country:string" }}

[[step]]
id = "joined"
input = ["parse", "stations"]
plugin = "std:join"
partitions = 3
config = {{ {config} }}
{extra}

[[sink]]
id = "out"
input = "joined"
url = "out/"
mode = "overwrite"
plugin = "std:format-csv"
"#
    )
}

/// The rows of a committed CSV output, without headers, sorted; checks each part's header.
fn output_rows(dir: &std::path::Path, header: &str) -> Vec<String> {
    let mut rows = Vec::new();
    for (part, text) in read_committed(dir) {
        let mut lines = text.lines();
        if let Some(first) = lines.next() {
            assert_eq!(first, header, "the header of {part}");
        }
        rows.extend(lines.map(str::to_owned));
    }
    rows.sort();
    rows
}

fn header(how: &str) -> &'static str {
    if matches!(how, "semi" | "anti") { "station,temperature" } else { "station,temperature,country" }
}

/// Runs the join of every `how` on `data` with the join step's `extra` keys and `config` added,
/// and checks each against the oracle; returns the summaries.
fn check_every_how(data: &Data, config: &str, extra: &str) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    data.write(dir.path());
    HOWS.iter()
        .map(|how| {
            // The shuffled plan: no side is broadcast, however small.
            let job =
                join_job(&format!("on = \"station\", how = \"{how}\", broadcast = \"none\"{config}"), extra);
            let summary = assert_succeeded(&run_job(&write_manifest(dir.path(), &job), &["--workers", "2"]));
            let found = output_rows(&dir.path().join("out"), header(how));
            let expected = data.oracle(how);
            assert_eq!(found.len(), expected.len(), "{how}: {summary}");
            assert!(found == expected, "{how}: the output differs from the oracle's");
            summary
        })
        .collect()
}

#[test]
fn joins_of_every_kind_match_the_oracle_with_missing_duplicate_and_skewed_keys() {
    check_every_how(&Data::generate(3000, 19), "", "");
}

#[test]
fn joins_with_an_empty_side_match_the_oracle() {
    let mut data = Data::generate(500, 7);
    data.stations.clear();
    check_every_how(&data, "", "");
    let mut data = Data::generate(0, 7);
    data.readings.clear();
    check_every_how(&data, "", "");
}

#[test]
fn a_join_far_over_its_memory_limit_spills_sorted_runs_and_gives_the_same_result() {
    // 300,000 readings of 3,000 stations (no skew: one key's rows fit a call), about 3.4 MiB of
    // prepared rows per partition, under a 6 MiB limit: its spill threshold (a third) holds less.
    let mut rng = Rng::new(3);
    let readings: Vec<(String, String)> = (0..300_000)
        .map(|_| {
            (
                format!("station-{}", rng.below(3000)),
                format!("{}", (rng.below(1999) as i64 - 999) as f64 / 10.0),
            )
        })
        .collect();
    let stations = (1000..4000).map(|s| (format!("station-{s}"), format!("country-{}", s % 11))).collect();
    let data = Data { readings, stations };
    for summary in check_every_how(&data, "", "limits = { memory = \"6MiB\" }") {
        let runs = summary.split(" sorted runs").next().and_then(|t| t.rsplit(' ').next()).unwrap_or("0");
        assert!(runs.parse::<u64>().unwrap_or(0) >= 3, "each of the 3 join tasks spills: {summary}");
    }
}

#[test]
fn a_join_of_the_wrong_shape_is_refused_before_it_runs() {
    let dir = tempfile::tempdir().unwrap();
    Data::generate(10, 1).write(dir.path());
    let refused =
        |job: String| crate::support::assert_failed(&run_job(&write_manifest(dir.path(), &job), &[]));
    let one_input =
        join_job("on = \"station\"", "").replace(r#"input = ["parse", "stations"]"#, r#"input = ["parse"]"#);
    assert_mentions(&refused(one_input), &["step \"joined\"", "std:join takes 2 inputs"]);
    let unknown =
        join_job("on = \"station\"", "").replace(r#"["parse", "stations"]"#, r#"["parse", "statoins"]"#);
    assert_mentions(&refused(unknown), &["unknown input \"statoins\""]);
    let field = join_job("on = \"sation\"", "");
    assert_mentions(&refused(field), &["step \"joined\"", "`sation`", "did you mean `station`?"]);
    let full_broadcast = join_job("on = \"station\", how = \"full\", broadcast = \"right\"", "");
    assert_mentions(&refused(full_broadcast), &["broadcast the other side"]);
}

#[test]
fn a_join_written_by_hand_as_a_row_cogroup_matches_the_inner_join() {
    let data = Data::generate(1000, 5);
    let dir = tempfile::tempdir().unwrap();
    data.write(dir.path());
    let plugin = flicker_plugins::guest_artifact("station-countries");
    let keyed = |id: &str, input: &str| {
        format!(
            "[[step]]\nid = \"{id}\"\ninput = \"{input}\"\nplugin = \"std:key-by\"\nconfig = {{ fields = \"station\" }}\n\n"
        )
    };
    let job = join_job("", "")
        .replace("config = {  }\n", "")
        .replace(
            "plugin = \"std:join\"",
            &format!("plugin = {}", crate::support::toml_string(plugin.to_str().unwrap())),
        )
        .replace(r#"input = ["parse", "stations"]"#, r#"input = ["keyed-readings", "keyed-stations"]"#)
        .replace(
            "[[step]]\nid = \"joined\"",
            &format!(
                "{}{}[[step]]\nid = \"joined\"",
                keyed("keyed-readings", "parse"),
                keyed("keyed-stations", "stations")
            ),
        );
    assert_succeeded(&run_job(&write_manifest(dir.path(), &job), &["--workers", "2"]));
    let found = output_rows(&dir.path().join("out"), "station,temperature,country");
    assert!(found == data.oracle("inner"), "the hand-written join differs from the oracle's inner join");
}

/// The joins a broadcast can run (`how`, broadcast side), the kept side being the build side.
const BROADCASTS: [(&str, &str); 6] = [
    ("inner", "right"),
    ("left", "right"),
    ("semi", "right"),
    ("anti", "right"),
    ("inner", "left"),
    ("right", "left"),
];

/// Runs every broadcast join on `data` and checks it against the oracle, which the shuffled plan
/// matches too (above); the plan must be the broadcast one: no co-partitioned stage.
fn check_broadcasts(data: &Data) {
    let dir = tempfile::tempdir().unwrap();
    data.write(dir.path());
    for (how, side) in BROADCASTS {
        let job = join_job(&format!("on = \"station\", how = \"{how}\", broadcast = \"{side}\""), "");
        let manifest = write_manifest(dir.path(), &job);
        let summary = assert_succeeded(&run_job(&manifest, &["--workers", "2"]));
        // The kept side's stage and the other's, which joins: no co-partitioned third stage.
        assert_mentions(&summary, &["stages 2,"]);
        let found = output_rows(&dir.path().join("out"), header(how));
        let expected = data.oracle(how);
        assert_eq!(found.len(), expected.len(), "{how}, broadcast {side}: {summary}");
        assert!(found == expected, "{how}, broadcast {side}: the output differs from the oracle's");
    }
}

#[test]
fn broadcast_joins_give_the_oracle_s_and_the_shuffled_plan_s_result() {
    check_broadcasts(&Data::generate(3000, 23));
    let mut data = Data::generate(500, 5);
    data.stations.clear();
    check_broadcasts(&data);
    let mut data = Data::generate(0, 5);
    data.readings.clear();
    check_broadcasts(&data);
}

#[test]
fn a_join_without_a_broadcast_config_broadcasts_a_side_under_the_threshold() {
    let data = Data::generate(3000, 41);
    let dir = tempfile::tempdir().unwrap();
    data.write(dir.path());
    // The stations (well under 10 MiB) are kept whole; a full join keeps neither side.
    for (how, stages) in
        [("inner", "stages 2,"), ("left", "stages 2,"), ("right", "stages 2,"), ("full", "stages 3,")]
    {
        let job = join_job(&format!("on = \"station\", how = \"{how}\""), "");
        let summary = assert_succeeded(&run_job(&write_manifest(dir.path(), &job), &["--workers", "2"]));
        assert_mentions(&summary, &[stages]);
        let found = output_rows(&dir.path().join("out"), header(how));
        assert!(found == data.oracle(how), "{how}: the output differs from the oracle's");
    }
}
