//! A benchmarked job's result, read from what each contender wrote, and checked against another
//! contender's.

use anyhow::Context;
use std::collections::BTreeMap;
use std::path::Path;

/// How far a mean may be from the expected one, relative to its size (at least 1): float sums
/// depend on their order.
const MEAN_TOLERANCE: f64 = 1e-9;

/// What a benchmarked job computes, as the harness names and reads it: one row per key, a few
/// numbers each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Query {
    /// Its name: on the command lines of a native contender and of `bench/peers.py`, and of
    /// files.
    pub name: &'static str,
    /// The field its rows are keyed by, first in each row (`station`, `country`).
    pub key: &'static str,
    /// The columns after the key, as `std:format-csv` names them; each holds a number.
    pub columns: &'static [&'static str],
}

/// A job's result: the values of its columns per key.
pub type Results = BTreeMap<String, Vec<f64>>;

/// Reads `key,COLUMNS…` lines of `query` (after a header naming them when `header`) into
/// `results`; a key seen twice is an error.
pub fn read_results(query: Query, text: &str, header: bool, results: &mut Results) -> anyhow::Result<()> {
    let mut lines = text.lines();
    if header {
        let expected = format!("{},{}", query.key, query.columns.join(","));
        let found = lines.next().unwrap_or_default();
        anyhow::ensure!(found == expected, "the header is {found:?}, expected {expected:?}");
    }
    for line in lines {
        let mut fields = line.split(',');
        let key = fields.next().unwrap_or_default();
        let values = fields
            .map(str::parse)
            .collect::<Result<Vec<f64>, _>>()
            .with_context(|| format!("bad line {line:?}"))?;
        anyhow::ensure!(values.len() == query.columns.len(), "bad line {line:?}");
        anyhow::ensure!(results.insert(key.to_owned(), values).is_none(), "{} {key:?} twice", query.key);
    }
    Ok(())
}

/// Reads the output directory of a flicker job: the part files its `_SUCCESS` lists.
pub fn read_output_dir(query: Query, dir: &Path) -> anyhow::Result<Results> {
    let success = dir.join("_SUCCESS");
    let parts = std::fs::read_to_string(&success)
        .with_context(|| format!("cannot read {}: did the job commit?", success.display()))?;
    let mut results = Results::new();
    for part in parts.lines().filter_map(|line| line.split('\t').next()).filter(|p| !p.is_empty()) {
        let path = dir.join(part);
        let text =
            std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
        read_results(query, &text, true, &mut results).with_context(|| format!("in {}", path.display()))?;
    }
    Ok(results)
}

/// Checks `found` against `expected`: the same keys with the same values, means within a
/// relative 1e-9.
pub fn check(query: Query, expected: &Results, found: &Results) -> anyhow::Result<()> {
    let key = query.key;
    if let Some(extra) = found.keys().find(|k| !expected.contains_key(*k)) {
        anyhow::bail!("{key} {extra:?} is not in the expected result");
    }
    for (name, values) in expected {
        let got = found.get(name).with_context(|| format!("{key} {name:?} is missing"))?;
        for ((column, want), got) in query.columns.iter().zip(values).zip(got) {
            let close = match *column {
                "mean" => (want - got).abs() <= MEAN_TOLERANCE * want.abs().max(1.0),
                _ => want == got,
            };
            anyhow::ensure!(close, "{key} {name:?}: {column} is {got}, expected {want}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATS: Query = Query { name: "stats", key: "station", columns: &["count", "mean"] };

    fn results(text: &str) -> Results {
        let mut results = Results::new();
        read_results(STATS, text, false, &mut results).unwrap();
        results
    }

    #[test]
    fn equal_results_pass_and_any_difference_fails() {
        let expected = results("Oslo,3,1.5\nZürich,2,10\n");
        check(STATS, &expected, &results("Zürich,2,10\nOslo,3,1.5000000000001\n")).unwrap();
        for wrong in ["Oslo,3,1.5\n", "Oslo,3,1.5\nZürich,2,10\nBern,1,1\n", "Oslo,4,1.5\nZürich,2,10\n"] {
            assert!(check(STATS, &expected, &results(wrong)).is_err(), "{wrong:?} passed");
        }
        assert!(check(STATS, &expected, &results("Oslo,3,1.51\nZürich,2,10\n")).is_err());
    }

    #[test]
    fn headers_and_lines_are_checked() {
        let mut found = Results::new();
        read_results(STATS, "station,count,mean\nOslo,3,1.5\n", true, &mut found).unwrap();
        assert_eq!(found["Oslo"], [3.0, 1.5]);
        for bad in ["country,count,mean\n", "station,count,mean\nOslo,3\n", "station,count,mean\nOslo,3,x\n"]
        {
            assert!(read_results(STATS, bad, true, &mut Results::new()).is_err(), "{bad:?} passed");
        }
        assert!(read_results(STATS, "Oslo,3,1\nOslo,3,1\n", false, &mut Results::new()).is_err());
    }
}
