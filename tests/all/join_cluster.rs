//! Joins on a real cluster (three executor processes on loopback): readings left-joined with
//! stations, then the maximum temperature per country. An executor holding map outputs of both
//! join sides is killed (`kill -9`) while the join's tasks run: those map outputs, and only
//! those, are computed again. A map output of one side damaged on disk: only it is computed
//! again. The output is the oracle's every time.
//!
//! A broadcast join, sorted, on the same cluster: its kept side's map output damaged, computed
//! again, and the parts in order are the oracle's order.
//!
//! The join job's stages: 0 reads the readings (the join's input 0), 1 the stations (input 1), 2 is
//! the co-partitioned join (and the map side of the maximum), 3 the maximum.

use crate::cluster::{Cluster, wait_for_end, wait_for_status};
use crate::http_api::Api;
use crate::join::{Data, join_job};
use crate::run::output_max_by;
use crate::support::{stderr, stdout, write_file, write_manifest};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// The join's stage: it reads stages 0 and 1.
const JOIN: u64 = 2;

/// Readings of 60 stations (about 270 KiB: five splits of 64 KiB, more than the executors),
/// and the stations, written to `dir`.
fn data(dir: &Path, seed: u64) -> Data {
    let data = Data::generate(30_000, seed);
    data.write(dir);
    data
}

/// The join of [`join_job`] (`how = "left"`, 3 partitions, shuffled), keyed by country and reduced to the
/// maximum temperature per country (2 partitions), written to `out/`.
fn max_by_country_job() -> String {
    let join = join_job(r#"on = "station", how = "left", broadcast = "none""#, "");
    let (steps, _) = join.split_once("[[sink]]").expect("the join job has a sink");
    format!(
        r#"{steps}[[step]]
id = "by-country"
input = "joined"
plugin = "std:key-by"
config = {{ fields = "country" }}

[[step]]
id = "max"
input = "by-country"
plugin = "std:max"
partitions = 2
config = {{ field = "temperature" }}

[[sink]]
id = "out"
input = "max"
url = "out/"
mode = "overwrite"
plugin = "std:format-csv"
"#
    )
}

/// The maximum temperature per country of the left join's rows (a reading of a station without
/// a country counts for the empty country).
fn expected_max_by_country(data: &Data) -> BTreeMap<String, f64> {
    let mut max = BTreeMap::new();
    for row in data.oracle("left") {
        let fields: Vec<&str> = row.split(',').collect();
        let [_, temperature, country] = fields[..] else { panic!("a left join row: {row:?}") };
        let temperature: f64 = temperature.parse().unwrap();
        let entry = max.entry(country.to_owned()).or_insert(temperature);
        *entry = entry.max(temperature);
    }
    max
}

/// A cluster in `dir` of a scheduler serving HTTPS too and three executors of one slot each,
/// executor `n` with the flags `extra(n)`.
fn three_executors(dir: &Path, extra: impl Fn(usize) -> Vec<String>) -> Cluster {
    three_executors_at(dir, "127.0.0.1:0", extra)
}

/// [`three_executors`] with the scheduler listening on `listen`.
fn three_executors_at(dir: &Path, listen: &str, extra: impl Fn(usize) -> Vec<String>) -> Cluster {
    let flags = ["--executor-timeout", "1s", "--http", "127.0.0.1:0"];
    let mut cluster = Cluster::scheduler(dir, listen, &flags);
    for n in 0..3 {
        let extra = extra(n);
        let extra: Vec<&str> = ["--slots", "1"].into_iter().chain(extra.iter().map(String::as_str)).collect();
        cluster.add_executor(n, &extra);
    }
    cluster.wait_for_nodes(3);
    cluster
}

/// The tasks of stage `stage` of `job` (`GET /api/v1/jobs/{job}/stages/{stage}/tasks`).
fn tasks(api: &Api, job: &str, stage: u64) -> Vec<Value> {
    let (status, body) = api.get(&format!("/api/v1/jobs/{job}/stages/{stage}/tasks"));
    assert_eq!(status, 200, "{body}");
    body["tasks"].as_array().unwrap().clone()
}

/// The attempts launched of each task of `tasks`, in task order.
fn attempts(tasks: &[Value]) -> Vec<u64> {
    tasks.iter().map(|t| t["attempts"].as_u64().unwrap()).collect()
}

/// The executor of each task of `tasks`, in task order.
fn executors(tasks: &[Value]) -> Vec<String> {
    tasks.iter().map(|t| t["executor"].as_str().unwrap_or("").to_owned()).collect()
}

/// Checks that the job's stages are planned as this module's doc says.
fn assert_planned(status: &Value) {
    let upstream: Vec<&Value> = status["stages"].as_array().unwrap().iter().map(|s| &s["upstream"]).collect();
    let expected = serde_json::json!([[], [], [0, 1], [2]]);
    assert_eq!(serde_json::json!(upstream), expected, "{status}");
}

#[test]
fn a_join_on_three_executors_survives_the_one_holding_both_sides_map_outputs_killed_mid_join() {
    let dir = tempfile::tempdir().unwrap();
    let data = data(dir.path(), 29);
    // Every executor holds the join's tasks while its gate exists.
    let gate = |n: usize| dir.path().join(format!("hold-{n}"));
    for n in 0..3 {
        write_file(&gate(n), "");
    }
    let mut cluster = three_executors(dir.path(), |n| {
        vec!["--inject-fault".into(), format!("hold={JOIN}:{}", gate(n).display())]
    });
    let api = Api::new(&cluster, "client", None);
    let manifest = write_manifest(dir.path(), &max_by_country_job());
    let job = cluster.json(&["submit", manifest.to_str().unwrap()])["job"].as_str().unwrap().to_owned();

    // Both sides are mapped and the join's three tasks run, one per executor, held.
    wait_for_status(&cluster, &job, "the join's tasks to run", |s| {
        s["stages"][JOIN as usize]["running"] == 3
    });
    assert_planned(&cluster.json(&["status", &job])[0]);
    // The stations' one map task ran on an executor that had run a readings task before (the
    // readings' first three took every slot): it holds map outputs of both sides.
    let holder = executors(&tasks(&api, &job, 1))[0].clone();
    let readings_on_holder: Vec<usize> = executors(&tasks(&api, &job, 0))
        .iter()
        .enumerate()
        .filter(|(_, e)| **e == holder)
        .map(|(i, _)| i)
        .collect();
    assert!(!readings_on_holder.is_empty(), "{holder} ran no readings task");
    let join_on_holder = executors(&tasks(&api, &job, JOIN)).iter().position(|e| *e == holder).unwrap();

    // The other executors' join tasks finish; the holder's stays held, and the holder is killed.
    let n: usize = holder.strip_prefix("exec-").unwrap().parse().unwrap();
    for other in (0..3).filter(|&o| o != n) {
        std::fs::remove_file(gate(other)).unwrap();
    }
    wait_for_status(&cluster, &job, "the other join tasks to finish", |s| {
        s["stages"][JOIN as usize]["done"] == 2
    });
    cluster.kill(&holder);

    let ended = wait_for_end(&cluster, &job);
    assert_eq!(ended["state"], "succeeded", "{ended}");
    assert_eq!(output_max_by(&dir.path().join("out"), "country"), expected_max_by_country(&data));
    // The holder's map outputs of both sides were computed again elsewhere, and nothing else.
    assert_eq!(ended["recomputed_map_outputs"], readings_on_holder.len() + 1, "{ended}");
    assert_eq!(ended["failed_attempts"], serde_json::json!([]), "{ended}");
    let rows = data.readings.len() + data.stations.len();
    assert_eq!(ended["metrics"]["rows_in"], rows, "the lost tasks' input is counted once: {ended}");
    let readings = tasks(&api, &job, 0);
    let expected: Vec<u64> =
        (0..readings.len()).map(|i| if readings_on_holder.contains(&i) { 2 } else { 1 }).collect();
    assert_eq!(attempts(&readings), expected, "{readings:?}");
    let stations = tasks(&api, &job, 1);
    assert_eq!(attempts(&stations), [2], "{stations:?}");
    let join = tasks(&api, &job, JOIN);
    let mut expected = vec![1; 3];
    expected[join_on_holder] = 2;
    assert_eq!(attempts(&join), expected, "{join:?}");
    for stage in [0, 1, JOIN, 3] {
        let ran = executors(&tasks(&api, &job, stage));
        assert!(!ran.contains(&holder), "stage {stage}: {ran:?}");
    }
    let nodes = cluster.json(&["nodes"]);
    let lost: Vec<&Value> = nodes.as_array().unwrap().iter().filter(|n| n["state"] == "lost").collect();
    assert_eq!(lost.len(), 1, "{nodes}");
    assert_eq!(lost[0]["executor"], holder.as_str(), "{nodes}");
}

#[test]
fn a_damaged_map_output_of_one_join_side_alone_is_computed_again() {
    let dir = tempfile::tempdir().unwrap();
    let data = data(dir.path(), 31);
    // The stations' map output is damaged on disk (one partition's block): the join task
    // reading that partition cannot fetch it.
    let cluster =
        three_executors(dir.path(), |_| vec!["--inject-fault".into(), "corrupt-map-output=1:0".into()]);
    let api = Api::new(&cluster, "client", None);
    let manifest = write_manifest(dir.path(), &max_by_country_job());
    let output = cluster.client(&["submit", manifest.to_str().unwrap(), "--wait", "--output", "json"]);
    assert!(output.status.success(), "submit failed:\n{}", stderr(&output));
    let status: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_planned(&status);
    let job = status["job"].as_str().unwrap();

    assert_eq!(output_max_by(&dir.path().join("out"), "country"), expected_max_by_country(&data));
    assert_eq!(status["recomputed_map_outputs"], 1, "{status}");
    assert_eq!(status["failed_attempts"], serde_json::json!([]), "{status}");
    let readings = tasks(&api, job, 0);
    assert!(attempts(&readings).iter().all(|&a| a == 1), "no readings task ran again: {readings:?}");
    assert_eq!(attempts(&tasks(&api, job, 1)), [2], "the stations' task ran again");
    let mut join = attempts(&tasks(&api, job, JOIN));
    join.sort();
    assert_eq!(join, [1, 1, 2], "the join task that could not fetch ran again");
}

/// [`max_by_country_job`] with the stations broadcast (`broadcast = "right"`) and the maximum
/// per country sorted, warmest first, into 2 ranges. Its stages: 0 the stations (kept whole), 1
/// the readings joined where read (the maximum's map side), 2 the sort's sample, 3 its range
/// shuffle, 4 the sorted ranges.
fn broadcast_sorted_job() -> String {
    max_by_country_job().replace(r#"broadcast = "none""#, r#"broadcast = "right""#).replace(
        "[[sink]]\nid = \"out\"\ninput = \"max\"",
        "[[step]]\nid = \"warmest-first\"\ninput = \"max\"\nplugin = \"std:sort\"\npartitions = 2\n\
             config = { by = \"max:desc,country\" }\n\n[[sink]]\nid = \"out\"\ninput = \"warmest-first\"",
    )
}

#[test]
fn a_broadcast_join_sorted_on_three_executors_survives_its_kept_side_damaged() {
    let dir = tempfile::tempdir().unwrap();
    let data = data(dir.path(), 37);
    // The stations' one map output (the kept side) is damaged on disk: the readings tasks that
    // cannot fetch it fail, it is computed again, and they run again.
    let cluster =
        three_executors(dir.path(), |_| vec!["--inject-fault".into(), "corrupt-map-output=0:0".into()]);
    let manifest = write_manifest(dir.path(), &broadcast_sorted_job());
    let output = cluster.client(&["submit", manifest.to_str().unwrap(), "--wait", "--output", "json"]);
    assert!(output.status.success(), "submit failed:\n{}", stderr(&output));
    let status: Value = serde_json::from_str(&stdout(&output)).unwrap();
    let upstream: Vec<&Value> = status["stages"].as_array().unwrap().iter().map(|s| &s["upstream"]).collect();
    assert_eq!(serde_json::json!(upstream), serde_json::json!([[], [0], [1], [1, 2], [3]]), "{status}");
    assert_eq!(status["recomputed_map_outputs"], 1, "{status}");

    let mut expected: Vec<(String, f64)> = expected_max_by_country(&data).into_iter().collect();
    expected.sort_by(|(a, x), (b, y)| y.total_cmp(x).then_with(|| a.cmp(b)));
    assert_eq!(
        sorted_rows(&dir.path().join("out")),
        expected,
        "the parts in order are the maxima, warmest first"
    );
}

/// The `country,max` rows of the committed output `out` (a part per range, two), in part order.
fn sorted_rows(out: &Path) -> Vec<(String, f64)> {
    let parts = crate::support::read_committed(out);
    assert_eq!(parts.len(), 2, "a part per range");
    parts
        .iter()
        .flat_map(|(_, text)| text.lines().skip(1))
        .map(|line| {
            let (country, max) = line.rsplit_once(',').unwrap();
            (country.to_owned(), max.parse().unwrap())
        })
        .collect()
}

#[test]
fn a_scheduler_restarted_mid_sort_after_a_join_broadcast_by_size_resumes_it_with_the_same_plan() {
    let dir = tempfile::tempdir().unwrap();
    let data = data(dir.path(), 43);
    let port = std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let listen = format!("127.0.0.1:{port}");
    // The sorted ranges (stage 4) wait while their gates exist.
    let gate = |n: usize| dir.path().join(format!("hold-{n}"));
    for n in 0..3 {
        write_file(&gate(n), "");
    }
    let mut cluster = three_executors_at(dir.path(), &listen, |n| {
        vec!["--inject-fault".into(), format!("hold=4:{}", gate(n).display())]
    });
    // No `broadcast`: the stations, a few hundred bytes, are broadcast by their size.
    let text = broadcast_sorted_job().replace(r#", broadcast = "right""#, "");
    let manifest = write_manifest(dir.path(), &text);
    let job = cluster.json(&["submit", manifest.to_str().unwrap()])["job"].as_str().unwrap().to_owned();
    wait_for_status(&cluster, &job, "the sorted ranges to start", |s| {
        s["stages"][3]["done"] == s["stages"][3]["total"] && s["stages"][4]["running"].as_u64() >= Some(1)
    });
    let upstream = |status: &Value| {
        let stages = status["stages"].as_array().unwrap().iter().map(|s| s["upstream"].clone());
        serde_json::json!(stages.collect::<Vec<_>>())
    };
    let planned = serde_json::json!([[], [0], [1], [1, 2], [3]]);
    assert_eq!(upstream(&cluster.json(&["status", &job])[0]), planned, "broadcast by size");

    // kill -9 of the scheduler, and a restart on the same address with the same state: the job is
    // planned again alike (the stations' size from the journaled splits) and its samples kept.
    cluster.kill("scheduler");
    cluster.start_scheduler(&listen, &["--executor-timeout", "1s", "--http", "127.0.0.1:0"]);
    let resumed = cluster.wait_for_log("scheduler", |log| {
        let line = log.lines().find(|l| l.contains("resuming a journaled job"))?;
        line.split("tasks_done=").nth(1)?.split_whitespace().next()?.parse::<u64>().ok()
    });
    assert!(resumed >= 4, "the sample and range tasks were journaled: {resumed}");
    for n in 0..3 {
        std::fs::remove_file(gate(n)).unwrap();
    }
    let ended = wait_for_end(&cluster, &job);
    assert_eq!(ended["state"], "succeeded", "{ended}");
    assert_eq!(upstream(&ended), planned);

    let mut expected: Vec<(String, f64)> = expected_max_by_country(&data).into_iter().collect();
    expected.sort_by(|(a, x), (b, y)| y.total_cmp(x).then_with(|| a.cmp(b)));
    assert_eq!(
        sorted_rows(&dir.path().join("out")),
        expected,
        "the parts in order are the maxima, warmest first"
    );
}
