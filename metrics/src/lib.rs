//! The Prometheus metrics of flicker's nodes: every metric's name, its help text and unit, and
//! the process-wide recorder that a node's `/metrics` route renders.
//!
//! Code that counts something uses the [`metrics`] facade's macros with a name from here:
//!
//! ```
//! metrics::counter!(flicker_metrics::EXECUTOR_TASKS, "outcome" => "succeeded").increment(1);
//! ```
//!
//! The facade's recorder is process-global, and until one is installed every macro is a cheap
//! no-op (one atomic load), so libraries count unconditionally and no handle is threaded through
//! their APIs. A node that exposes its metrics calls [`install`] once at start (a second call, from
//! another node in the same process, gets the same handle) and renders the handle's text on its
//! own HTTPS route: the exporter's own HTTP listener is not built.
//!
//! Names follow Prometheus' conventions: the `flicker_` prefix, base units (`_seconds`,
//! `_bytes`), counters ending in `_total`. Labels have small, bounded sets of values (a tenant,
//! a state, an outcome, an operation); no job, task or executor id is ever a label.
//!
//! # The metrics
//!
//! The scheduler's:
//!
//! | name | type | labels | what |
//! |------|------|--------|------|
//! | `flicker_jobs_submitted_total` | counter | `tenant` | jobs submitted |
//! | `flicker_jobs_finished_total` | counter | `tenant`, `state` (`succeeded`, `failed`, `cancelled`) | jobs that ended |
//! | `flicker_task_duration_seconds` | histogram | `outcome` (`succeeded`, `failed`) | task attempts, launch to report |
//! | `flicker_task_retries_total` | counter | `kind` (the failure kind, snake_case) | task attempts run again |
//! | `flicker_tasks_running` | gauge | | task attempts launched and not reported |
//! | `flicker_tasks_pending` | gauge | | tasks waiting for a slot |
//! | `flicker_executors` | gauge | `state` (`alive`, `lost`) | executors known |
//! | `flicker_slots_busy` | gauge | | task slots in use, cluster-wide |
//! | `flicker_slots_total` | gauge | | task slots of the alive executors |
//! | `flicker_operator_cpu_seconds_total` | counter | `tenant` | CPU time of operator calls |
//! | `flicker_operator_fuel_total` | counter | `tenant` | wasmtime fuel of operator calls |
//!
//! An executor's (and, in `flicker run`, the one process's):
//!
//! | name | type | labels | where it is counted |
//! |------|------|--------|------|
//! | `flicker_executor_tasks_total` | counter | `outcome` (`succeeded`, `failed`) | each task attempt run here, at its end |
//! | `flicker_executor_task_duration_seconds` | histogram | | each task attempt run here |
//! | `flicker_executor_slots_busy` | gauge | | while a task attempt runs |
//! | `flicker_operator_compile_seconds` | histogram | | each component compiled with Cranelift |
//! | `flicker_operator_instantiate_seconds` | histogram | | each operator instance made (instantiation and `create`) |
//! | `flicker_component_cache_lookups_total` | counter | `result` (`memory`, `disk`, `compiled`) | each component loaded: already in memory, read from the disk cache, or compiled |
//! | `flicker_shuffle_written_bytes_total` | counter | | each map output stored (its blocks' bytes before compression) |
//! | `flicker_shuffle_fetched_bytes_total` | counter | | each shuffle block a reduce task reads (local or fetched; before compression) |
//! | `flicker_shuffle_fetch_failures_total` | counter | | each shuffle block a reduce task could not get |
//! | `flicker_shuffle_served_bytes_total` | counter | | each block a BTS sends to a fetcher (compressed, as sent) |
//! | `flicker_spill_bytes_total` | counter | | each spill of aggregate state to disk |
//! | `flicker_object_store_requests_total` | counter | `operation` (`get`, `head`, `put`, `put_multipart`, `put_part`, `complete_multipart`, `abort_multipart`, `list`, `delete`, `copy`, `rename`) | each request to an input's or output's store (a positioned read of a local input file counts as a `get`) |
//! | `flicker_object_store_bytes_total` | counter | `direction` (`read`, `written`) | the bytes of those requests |
//!
//! Every process that installs the recorder also has `flicker_build_info{component, version,
//! protocol} 1`.

use metrics::{SharedString, Unit};
use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::Mutex;
use std::time::Duration;

/// Jobs submitted, by `tenant`.
pub const JOBS_SUBMITTED: &str = "flicker_jobs_submitted_total";
/// Jobs that ended, by `tenant` and `state` (`succeeded`, `failed`, `cancelled`).
pub const JOBS_FINISHED: &str = "flicker_jobs_finished_total";
/// How long task attempts took, launch to report, by `outcome` (`succeeded`, `failed`).
pub const TASK_DURATION: &str = "flicker_task_duration_seconds";
/// Task attempts run again, by the `kind` of failure (snake_case).
pub const TASK_RETRIES: &str = "flicker_task_retries_total";
/// Task attempts launched and not reported yet.
pub const TASKS_RUNNING: &str = "flicker_tasks_running";
/// Tasks waiting for a slot.
pub const TASKS_PENDING: &str = "flicker_tasks_pending";
/// Executors the scheduler knows, by `state` (`alive`, `lost`).
pub const EXECUTORS: &str = "flicker_executors";
/// Task slots in use across the cluster.
pub const SLOTS_BUSY: &str = "flicker_slots_busy";
/// Task slots of the alive executors.
pub const SLOTS_TOTAL: &str = "flicker_slots_total";
/// CPU time of operator calls, by `tenant`.
pub const OPERATOR_CPU_SECONDS: &str = "flicker_operator_cpu_seconds_total";
/// wasmtime fuel consumed by operator calls, by `tenant`.
pub const OPERATOR_FUEL: &str = "flicker_operator_fuel_total";

/// Task attempts this executor ran, by `outcome` (`succeeded`, `failed`).
pub const EXECUTOR_TASKS: &str = "flicker_executor_tasks_total";
/// How long task attempts ran on this executor.
pub const EXECUTOR_TASK_DURATION: &str = "flicker_executor_task_duration_seconds";
/// This executor's task slots in use.
pub const EXECUTOR_SLOTS_BUSY: &str = "flicker_executor_slots_busy";
/// How long compiling a component took.
pub const OPERATOR_COMPILE: &str = "flicker_operator_compile_seconds";
/// How long making an operator instance took (instantiation and the operator's `create`).
pub const OPERATOR_INSTANTIATE: &str = "flicker_operator_instantiate_seconds";
/// Components loaded, by `result`: `memory` (loaded already), `disk` (the compiled-component
/// cache) or `compiled`.
pub const COMPONENT_CACHE_LOOKUPS: &str = "flicker_component_cache_lookups_total";
/// Bytes of map output stored (its blocks before compression).
pub const SHUFFLE_WRITTEN_BYTES: &str = "flicker_shuffle_written_bytes_total";
/// Bytes of shuffle blocks reduce tasks read, from this node's BTS or fetched (before
/// compression).
pub const SHUFFLE_FETCHED_BYTES: &str = "flicker_shuffle_fetched_bytes_total";
/// Shuffle blocks a reduce task could not get.
pub const SHUFFLE_FETCH_FAILURES: &str = "flicker_shuffle_fetch_failures_total";
/// Bytes a BTS sent to fetchers (compressed, as sent).
pub const SHUFFLE_SERVED_BYTES: &str = "flicker_shuffle_served_bytes_total";
/// Bytes of aggregate state spilled to disk.
pub const SPILL_BYTES: &str = "flicker_spill_bytes_total";
/// Requests to the stores of inputs and outputs, by `operation`.
pub const OBJECT_STORE_REQUESTS: &str = "flicker_object_store_requests_total";
/// Bytes read from and written to the stores of inputs and outputs, by `direction` (`read`,
/// `written`).
pub const OBJECT_STORE_BYTES: &str = "flicker_object_store_bytes_total";
/// Always 1, labelled with the process's `component`, `version` and `protocol` version.
pub const BUILD_INFO: &str = "flicker_build_info";

/// What kind of metric one is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A count that only goes up.
    Counter,
    /// A value that goes up and down.
    Gauge,
    /// A distribution of observations, in buckets.
    Histogram,
}

/// One metric: its name, kind, unit and help text.
#[derive(Debug, Clone, Copy)]
pub struct Metric {
    /// Its name.
    pub name: &'static str,
    /// Its kind.
    pub kind: Kind,
    /// Its unit, if it has one.
    pub unit: Option<Unit>,
    /// Its help text.
    pub help: &'static str,
}

const fn metric(name: &'static str, kind: Kind, unit: Option<Unit>, help: &'static str) -> Metric {
    Metric { name, kind, unit, help }
}

/// Every metric of flicker, described by [`describe`].
pub const METRICS: &[Metric] = &[
    metric(JOBS_SUBMITTED, Kind::Counter, None, "Jobs submitted, by tenant."),
    metric(JOBS_FINISHED, Kind::Counter, None, "Jobs that ended, by tenant and state."),
    metric(
        TASK_DURATION,
        Kind::Histogram,
        Some(Unit::Seconds),
        "Task attempts, launch to report, by outcome.",
    ),
    metric(TASK_RETRIES, Kind::Counter, None, "Task attempts run again, by the kind of failure."),
    metric(TASKS_RUNNING, Kind::Gauge, None, "Task attempts launched and not reported yet."),
    metric(TASKS_PENDING, Kind::Gauge, None, "Tasks waiting for a slot."),
    metric(EXECUTORS, Kind::Gauge, None, "Executors the scheduler knows, by state."),
    metric(SLOTS_BUSY, Kind::Gauge, None, "Task slots in use across the cluster."),
    metric(SLOTS_TOTAL, Kind::Gauge, None, "Task slots of the alive executors."),
    metric(
        OPERATOR_CPU_SECONDS,
        Kind::Counter,
        Some(Unit::Seconds),
        "CPU time of operator calls, by tenant.",
    ),
    metric(OPERATOR_FUEL, Kind::Counter, None, "wasmtime fuel consumed by operator calls, by tenant."),
    metric(EXECUTOR_TASKS, Kind::Counter, None, "Task attempts this executor ran, by outcome."),
    metric(EXECUTOR_TASK_DURATION, Kind::Histogram, Some(Unit::Seconds), "How long task attempts ran here."),
    metric(EXECUTOR_SLOTS_BUSY, Kind::Gauge, None, "This executor's task slots in use."),
    metric(OPERATOR_COMPILE, Kind::Histogram, Some(Unit::Seconds), "How long compiling a component took."),
    metric(
        OPERATOR_INSTANTIATE,
        Kind::Histogram,
        Some(Unit::Seconds),
        "How long making an operator instance took (instantiation and create).",
    ),
    metric(
        COMPONENT_CACHE_LOOKUPS,
        Kind::Counter,
        None,
        "Components loaded, by result: memory (loaded already), disk (compiled-component cache) or compiled.",
    ),
    metric(
        SHUFFLE_WRITTEN_BYTES,
        Kind::Counter,
        Some(Unit::Bytes),
        "Bytes of map output stored (before compression).",
    ),
    metric(
        SHUFFLE_FETCHED_BYTES,
        Kind::Counter,
        Some(Unit::Bytes),
        "Bytes of shuffle blocks reduce tasks read, local or fetched (before compression).",
    ),
    metric(SHUFFLE_FETCH_FAILURES, Kind::Counter, None, "Shuffle blocks a reduce task could not get."),
    metric(
        SHUFFLE_SERVED_BYTES,
        Kind::Counter,
        Some(Unit::Bytes),
        "Bytes this BTS sent to fetchers (compressed, as sent).",
    ),
    metric(SPILL_BYTES, Kind::Counter, Some(Unit::Bytes), "Bytes of aggregate state spilled to disk."),
    metric(
        OBJECT_STORE_REQUESTS,
        Kind::Counter,
        None,
        "Requests to the stores of inputs and outputs, by operation.",
    ),
    metric(
        OBJECT_STORE_BYTES,
        Kind::Counter,
        Some(Unit::Bytes),
        "Bytes read from and written to the stores of inputs and outputs, by direction.",
    ),
    metric(
        BUILD_INFO,
        Kind::Gauge,
        None,
        "Always 1, labelled with the component, version and protocol version.",
    ),
];

/// Why the recorder could not be installed.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// The exporter refused its settings, or another recorder is installed in this process.
    #[error("cannot install the Prometheus recorder: {0}")]
    Install(#[from] BuildError),
}

/// The bucket bounds of the duration histograms, in seconds: 1 ms doubling up to 1,048.576 s
/// (past 10 minutes).
pub fn duration_buckets() -> Vec<f64> {
    (0..=20).map(|doublings| 0.001 * f64::from(1u32 << doublings)).collect()
}

/// How often the recorder's upkeep (draining histogram samples no scrape has taken) runs.
const UPKEEP: Duration = Duration::from_secs(5);

/// Installs the Prometheus recorder for this process, once: a second call (another node in the
/// same process, as `flicker run` and tests start) returns the same handle. Describes every
/// metric, gives the duration histograms [`duration_buckets`], starts a thread running the
/// recorder's upkeep, and sets `flicker_build_info{component="<component>", version, protocol} 1`.
pub fn install(component: &str) -> Result<PrometheusHandle, MetricsError> {
    static HANDLE: Mutex<Option<PrometheusHandle>> = Mutex::new(None);
    let mut installed = HANDLE.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let handle = match installed.as_ref() {
        Some(handle) => handle.clone(),
        None => {
            let handle = histograms(PrometheusBuilder::new())?.install_recorder()?;
            describe();
            let upkeep = handle.clone();
            // Without a scrape, histogram samples would pile up: the exporter leaves draining them
            // to its user when it runs no listener.
            let started = std::thread::Builder::new().name("flicker-metrics".into()).spawn(move || {
                loop {
                    std::thread::sleep(UPKEEP);
                    upkeep.run_upkeep();
                }
            });
            if let Err(error) = started {
                tracing::warn!(%error, "cannot start the metrics upkeep thread: histograms grow until scraped");
            }
            *installed = Some(handle.clone());
            handle
        }
    };
    let protocol = flicker_protocol::PROTOCOL_VERSION.to_string();
    metrics::gauge!(
        BUILD_INFO,
        "component" => component.to_owned(),
        "version" => env!("CARGO_PKG_VERSION"),
        "protocol" => protocol
    )
    .set(1.0);
    Ok(handle)
}

/// Runs `work` with a recorder of its own on this thread (not the process's, and not seen by other
/// threads), and returns the samples it recorded as rendered, one per line, sorted: for tests of
/// what code counts.
pub fn recorded(work: impl FnOnce()) -> Result<Vec<String>, MetricsError> {
    let recorder = histograms(PrometheusBuilder::new())?.build_recorder();
    let handle = recorder.handle();
    metrics::with_local_recorder(&recorder, work);
    let mut samples: Vec<String> = handle
        .render()
        .lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(str::to_owned)
        .collect();
    samples.sort();
    Ok(samples)
}

/// The builder with [`duration_buckets`] for every histogram.
fn histograms(mut builder: PrometheusBuilder) -> Result<PrometheusBuilder, BuildError> {
    let buckets = duration_buckets();
    for metric in METRICS.iter().filter(|metric| metric.kind == Kind::Histogram) {
        builder = builder.set_buckets_for_metric(Matcher::Full(metric.name.to_owned()), &buckets)?;
    }
    Ok(builder)
}

/// Registers the help text and unit of every metric in [`METRICS`] with the installed recorder
/// ([`install`] does).
pub fn describe() {
    metrics::with_recorder(|recorder| {
        for metric in METRICS {
            let help = SharedString::const_str(metric.help);
            let name = metric.name.into();
            match metric.kind {
                Kind::Counter => recorder.describe_counter(name, metric.unit, help),
                Kind::Gauge => recorder.describe_gauge(name, metric.unit, help),
                Kind::Histogram => recorder.describe_histogram(name, metric.unit, help),
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_parse::{Scrape, Value};

    fn scrape(handle: &PrometheusHandle) -> Scrape {
        Scrape::parse(handle.render().lines().map(|line| Ok(line.to_owned()))).unwrap()
    }

    fn value<'a>(scrape: &'a Scrape, name: &str, label: Option<(&str, &str)>) -> &'a Value {
        let sample = scrape.samples.iter().find(|sample| {
            sample.metric == name && label.is_none_or(|(key, value)| sample.labels.get(key) == Some(value))
        });
        &sample.unwrap_or_else(|| panic!("no sample of {name} {label:?}")).value
    }

    #[test]
    fn installed_once_counts_renders_and_describes_every_metric() {
        let handle = install("executor").unwrap();
        // Another node of the same process gets the same recorder.
        let again = install("scheduler").unwrap();

        metrics::counter!(EXECUTOR_TASKS, "outcome" => "succeeded").increment(2);
        metrics::counter!(EXECUTOR_TASKS, "outcome" => "failed").increment(1);
        metrics::gauge!(EXECUTOR_SLOTS_BUSY).increment(3.0);
        metrics::gauge!(EXECUTOR_SLOTS_BUSY).decrement(1.0);
        metrics::histogram!(EXECUTOR_TASK_DURATION).record(0.003);
        metrics::histogram!(EXECUTOR_TASK_DURATION).record(700.0);
        // Every other metric once, so that each is rendered with its help text.
        for metric in METRICS.iter().filter(|m| {
            ![EXECUTOR_TASKS, EXECUTOR_SLOTS_BUSY, EXECUTOR_TASK_DURATION, BUILD_INFO].contains(&m.name)
        }) {
            match metric.kind {
                Kind::Counter => metrics::counter!(metric.name).increment(1),
                Kind::Gauge => metrics::gauge!(metric.name).set(1.0),
                Kind::Histogram => metrics::histogram!(metric.name).record(1.0),
            }
        }

        let scrape = scrape(&again);
        assert!(matches!(
            value(&scrape, EXECUTOR_TASKS, Some(("outcome", "succeeded"))),
            Value::Counter(2.0)
        ));
        assert!(matches!(value(&scrape, EXECUTOR_TASKS, Some(("outcome", "failed"))), Value::Counter(1.0)));
        assert!(matches!(value(&scrape, EXECUTOR_SLOTS_BUSY, None), Value::Gauge(2.0)));
        let Value::Histogram(buckets) = value(&scrape, EXECUTOR_TASK_DURATION, None) else {
            panic!("{EXECUTOR_TASK_DURATION} is not a histogram")
        };
        let at = |bound: f64| buckets.iter().find(|b| b.less_than == bound).map(|b| b.count);
        assert_eq!(at(0.002), Some(0.0));
        assert_eq!(at(0.004), Some(1.0));
        assert_eq!(at(524.288), Some(1.0));
        assert_eq!(at(1048.576), Some(2.0));
        for component in ["executor", "scheduler"] {
            let info = scrape
                .samples
                .iter()
                .find(|s| s.metric == BUILD_INFO && s.labels.get("component") == Some(component));
            let info = info.unwrap_or_else(|| panic!("no build info of {component}"));
            assert!(matches!(info.value, Value::Gauge(1.0)));
            assert_eq!(info.labels.get("version"), Some(env!("CARGO_PKG_VERSION")));
            assert_eq!(
                info.labels.get("protocol"),
                Some(flicker_protocol::PROTOCOL_VERSION.to_string().as_str())
            );
        }
        for metric in METRICS {
            assert_eq!(
                scrape.docs.get(metric.name).map(String::as_str),
                Some(metric.help),
                "{}",
                metric.name
            );
            let kind = scrape.samples.iter().find(|s| s.metric == metric.name);
            let kind = kind.unwrap_or_else(|| panic!("{} not rendered", metric.name)).value.clone();
            let rendered = match kind {
                Value::Counter(_) => Kind::Counter,
                Value::Gauge(_) => Kind::Gauge,
                Value::Histogram(_) => Kind::Histogram,
                other => panic!("{}: {other:?}", metric.name),
            };
            assert_eq!(rendered, metric.kind, "{}", metric.name);
        }
        assert_eq!(handle.render().lines().filter(|l| l.starts_with("# TYPE")).count(), METRICS.len());
    }

    #[test]
    fn names_follow_the_conventions() {
        for metric in METRICS {
            assert!(metric.name.starts_with("flicker_"), "{}", metric.name);
            // (`flicker_slots_total` is a gauge: the total of the slots.)
            if metric.kind == Kind::Counter {
                assert!(metric.name.ends_with("_total"), "{}", metric.name);
            }
            if metric.unit == Some(Unit::Seconds) {
                assert!(metric.name.contains("_seconds"), "{}", metric.name);
            }
            if metric.unit == Some(Unit::Bytes) {
                assert!(metric.name.contains("_bytes"), "{}", metric.name);
            }
        }
        let mut names: Vec<_> = METRICS.iter().map(|m| m.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), METRICS.len(), "a name is listed twice");
    }

    #[test]
    fn duration_buckets_span_a_millisecond_to_past_ten_minutes() {
        let buckets = duration_buckets();
        assert_eq!(buckets.first(), Some(&0.001));
        assert!(buckets.last().is_some_and(|&last| last > 600.0));
        assert!(buckets.windows(2).all(|pair| pair[1] == 2.0 * pair[0]));
    }
}
