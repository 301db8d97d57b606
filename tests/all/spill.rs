//! Aggregates over more keys than their memory budget holds: map tasks flush partial aggregates
//! into their shuffle output, reduce tasks spill sorted runs and merge them, and the output is
//! still exact.

use crate::run::{output_max, readings_job};
use crate::support::{Rng, assert_succeeded, run_job, write_file, write_manifest};
use std::collections::BTreeMap;

/// The number after `label` in `text` (`"… 5 map-side flushes …"` → 5 for `" map-side flushes"`).
fn count_before(text: &str, label: &str) -> u64 {
    let end = text.find(label).unwrap_or_else(|| panic!("no {label:?} in:\n{text}"));
    let start = text[..end].rfind(|c: char| !c.is_ascii_digit()).map_or(0, |i| i + 1);
    text[start..end].parse().unwrap_or_else(|_| panic!("no count before {label:?} in:\n{text}"))
}

/// A million stations, each of whose state the `std:max` aggregate holds, under a 24 MiB memory
/// limit (an 8 MiB spill threshold, about 130,000 keys): every map task (about 400,000 lines)
/// flushes, every reduce task (about 250,000 stations) spills, and the maximum of every station
/// is still right, including the 200,000 stations read by two map tasks, while another map task
/// reads no row at all.
#[test]
fn an_aggregate_over_more_keys_than_its_budget_spills_and_stays_exact() {
    let dir = tempfile::tempdir().unwrap();
    let (stations, repeated) = (1_000_000u32, 200_000u32);
    let mut rng = Rng::new(2026);
    let mut expected = BTreeMap::new();
    let mut line = |station: u32, text: &mut String| {
        let tenths = rng.below(1999) as i64 - 999;
        let (name, celsius) = (format!("st-{station}"), tenths as f64 / 10.0);
        text.push_str(&format!("{name};{celsius:.1}\n"));
        let max = expected.entry(name).or_insert(f64::MIN);
        *max = f64::max(*max, celsius);
    };
    let (mut first, mut second) = (String::new(), String::new());
    (0..stations).for_each(|s| line(s, &mut first));
    (0..repeated).map(|s| s * 5).for_each(|s| line(s, &mut second));
    write_file(&dir.path().join("data/readings-0.txt"), &first);
    write_file(&dir.path().join("data/readings-1.txt"), &second);
    // A map task that reads no row: its partials have no key columns, which must not replace the
    // reducers' known ones (their spilled runs would no longer match, or the output lose its
    // key column).
    write_file(&dir.path().join("data/readings-2.txt"), &"no temperature here\n".repeat(50));
    let job = readings_job("std:max", ", on_error = \"skip\"", "out/")
        .replace("split_size = \"64KiB\"", "split_size = \"6MiB\"")
        .replace("partitions = 4\n", "partitions = 4\nlimits = { memory = \"24MiB\" }\n");
    let manifest = write_manifest(dir.path(), &job);

    let summary = assert_succeeded(&run_job(&manifest, &["--workers", "2"]));

    assert!(summary.contains("rows in 1200000 (skipped 50)"), "{summary}");
    let flushes = count_before(&summary, " map-side flushes");
    let runs = count_before(&summary, " sorted runs");
    assert!(flushes >= 6, "about 3 map tasks of about 400,000 keys each flush twice or more: {summary}");
    assert!(runs >= 4, "each of the 4 reduce tasks spills at least once: {summary}");
    let found = output_max(&dir.path().join("out"));
    assert_eq!(found.len(), expected.len());
    assert!(found == expected, "the output differs from the maxima computed here");
}
