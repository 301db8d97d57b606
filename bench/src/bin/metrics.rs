//! What recording flicker's metrics costs, per recording, with no recorder installed (every
//! macro a no-op: `flicker run` without metrics) and with the Prometheus recorder installed (a
//! node serving `/metrics`): what an executor records per task attempt (slot gauge up and down,
//! outcome counter, duration histogram), per shuffle block or spill (a byte counter), and per
//! object-store request (a counter labelled by operation, and a byte counter).
//! Usage: `metrics [COUNT]` (default 10,000,000 of each).

use flicker_bench::time;
use flicker_metrics::{
    EXECUTOR_SLOTS_BUSY, EXECUTOR_TASK_DURATION, EXECUTOR_TASKS, OBJECT_STORE_BYTES, OBJECT_STORE_REQUESTS,
    SHUFFLE_FETCHED_BYTES,
};
use std::hint::black_box;
use std::time::Duration;

fn task(outcome: &'static str, took: Duration) {
    let busy = metrics::gauge!(EXECUTOR_SLOTS_BUSY);
    busy.increment(1.0);
    busy.decrement(1.0);
    metrics::counter!(EXECUTOR_TASKS, "outcome" => outcome).increment(1);
    metrics::histogram!(EXECUTOR_TASK_DURATION).record(took);
}

fn block(bytes: u64) {
    metrics::counter!(SHUFFLE_FETCHED_BYTES).increment(bytes);
}

fn request(operation: &'static str, bytes: u64) {
    metrics::counter!(OBJECT_STORE_REQUESTS, "operation" => operation).increment(1);
    metrics::counter!(OBJECT_STORE_BYTES, "direction" => "read").increment(bytes);
}

fn report(count: u32) {
    let per = |took: Duration| took.as_nanos() as f64 / f64::from(count);
    let (_, tasks) = time(|| {
        (0..count).for_each(|i| task(black_box("succeeded"), Duration::from_micros(u64::from(i % 5000))))
    });
    let (_, blocks) = time(|| (0..count).for_each(|i| block(black_box(u64::from(i)))));
    let (_, requests) = time(|| (0..count).for_each(|i| request(black_box("get"), black_box(u64::from(i)))));
    println!(
        "  per task {:>7.1} ns   per block {:>6.1} ns   per request {:>6.1} ns",
        per(tasks),
        per(blocks),
        per(requests)
    );
}

fn main() -> anyhow::Result<()> {
    let count: u32 = std::env::args().nth(1).map_or(Ok(10_000_000), |a| a.replace('_', "").parse())?;
    println!("recording metrics, {count} of each:");
    print!("no recorder         ");
    report(count);
    let handle = flicker_metrics::install("bench")?;
    print!("Prometheus recorder ");
    report(count);
    let (rendered, took) = time(|| handle.render());
    println!("rendering them: {} bytes in {took:?}", rendered.len());
    Ok(())
}
