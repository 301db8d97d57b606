//! Tenants sharing a real cluster (scheduler and executor processes, QUIC on loopback), each
//! with certificates of its own: who sees and cancels what, admission limits, `max_slots`, fair
//! share against a flood, CPU budgets, the cost report, `flicker usage` and the audit log.

use crate::cluster::{Cluster, poll, readings_in};
use crate::run::test_plugin_job;
use crate::support::{stderr, write_file, write_manifest};
use std::path::Path;

/// The scheduler's cluster file: the tenants of these tests.
const TENANTS: &str = r#"
[tenants.default]

[tenants.acme]
admins = ["boss"]

[tenants.zeta]

[tenants.capped]
max_running_jobs = 1
max_queued_jobs = 1
max_slots = 1

[tenants.flood]

[tenants.small]

[tenants.frugal]
cpu_per_day = "1h"
"#;

/// A cluster of one executor with `slots` slots whose scheduler declares [`TENANTS`], and the
/// certificates of their members: `alice` and `bob` (acme), `boss` (acme's admin), `zed` (zeta),
/// `cap` (capped), `flooder` (flood), `tiny` (small), `penny` (frugal), `root` (admin), and `eve`
/// of the undeclared tenant `evil`.
fn tenant_cluster(dir: &Path, slots: u32) -> Cluster {
    write_file(&dir.join("cluster.toml"), TENANTS);
    let config = dir.join("cluster.toml");
    let mut cluster = Cluster::scheduler(dir, "127.0.0.1:0", &["--config", config.to_str().unwrap()]);
    for (name, role, tenant) in [
        ("alice", "client", "acme"),
        ("bob", "client", "acme"),
        ("boss", "client", "acme"),
        ("zed", "client", "zeta"),
        ("cap", "client", "capped"),
        ("flooder", "client", "flood"),
        ("tiny", "client", "small"),
        ("penny", "client", "frugal"),
        ("root", "admin", "acme"),
        ("eve", "client", "evil"),
    ] {
        cluster.issue_member(name, role, tenant);
    }
    cluster.add_executor(0, &["--slots", &slots.to_string()]);
    cluster.wait_for_nodes(1);
    cluster
}

/// `flicker ARGS --cert CERT --output json`, which must succeed, parsed.
fn as_json(cluster: &Cluster, cert: &str, args: &[&str]) -> serde_json::Value {
    cluster.json(&[args, &["--cert", cert]].concat())
}

/// `flicker ARGS --cert CERT`, which must fail; its stderr.
fn refused(cluster: &Cluster, cert: &str, args: &[&str]) -> String {
    let output = cluster.client(&[args, &["--cert", cert]].concat());
    assert!(!output.status.success(), "flicker {args:?} as {cert} succeeded");
    stderr(&output)
}

/// Submits `manifest` as `cert`; returns the job's id.
fn submit(cluster: &Cluster, cert: &str, manifest: &Path) -> String {
    as_json(cluster, cert, &["submit", manifest.to_str().unwrap()])["job"].as_str().unwrap().to_owned()
}

/// The status of `job` as `cert` sees it.
fn status(cluster: &Cluster, cert: &str, job: &str) -> serde_json::Value {
    as_json(cluster, cert, &["status", job])[0].clone()
}

/// Waits (bounded) until `job` has ended, as the admin sees it; returns its status.
fn ended(cluster: &Cluster, job: &str) -> serde_json::Value {
    poll(&format!("{job} to end"), || {
        let status = status(cluster, "root", job);
        if ["running", "queued"].iter().any(|s| status["state"] == *s) {
            Err(status.to_string())
        } else {
            Ok(status)
        }
    })
}

/// A job of the test plugin sleeping `millis` per call (a task per file of `<dir>/data`).
fn sleepy(dir: &Path, name: &str, millis: u64) -> std::path::PathBuf {
    let job = test_plugin_job(&format!(r#"{{ behave = "slow", millis = "{millis}" }}"#), "");
    let job = job.replace("url = \"out/\"", &format!("url = \"out-{name}/\""));
    let path = dir.join(format!("{name}.toml"));
    write_file(&path, &job);
    path
}

/// `count` files of two readings in `<dir>/data`: a job reading them has `count` map tasks.
pub(crate) fn small_files(dir: &Path, count: usize) {
    std::fs::create_dir_all(dir.join("data")).unwrap();
    for n in 0..count {
        write_file(&dir.join(format!("data/r{n}.txt")), "s1;1.0\ns2;2.0\n");
    }
}

#[test]
fn tenants_see_and_cancel_only_their_own_jobs_and_an_unknown_tenant_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = tenant_cluster(dir.path(), 2);
    readings_in(dir.path(), 500, 3);
    let job = submit(&cluster, "alice", &sleepy(dir.path(), "a", 5_000));
    let seen = status(&cluster, "alice", &job);
    assert_eq!(
        (seen["owner"]["tenant"].as_str(), seen["owner"]["submitter"].as_str()),
        (Some("acme"), Some("alice"))
    );
    // Another tenant: the job is "not found", in a list too, and cannot be cancelled or watched.
    for args in [&["status", job.as_str()][..], &["cancel", &job], &["status", &job, "--logs"]] {
        let message = refused(&cluster, "zed", args);
        assert!(message.contains(&format!("there is no job {job}")), "{args:?}: {message}");
    }
    assert_eq!(as_json(&cluster, "zed", &["status"]), serde_json::json!([]));
    // Its own tenant sees it; only its submitter, the tenant's admins and admins cancel it.
    assert_eq!(status(&cluster, "bob", &job)["job"], job.as_str());
    let message = refused(&cluster, "bob", &["cancel", &job]);
    assert!(message.contains("may not cancel") && message.contains("\"alice\""), "{message}");
    let listed = as_json(&cluster, "root", &["status"]);
    assert!(listed.as_array().unwrap().iter().any(|s| s["job"] == job.as_str()), "{listed}");
    assert!(cluster.client(&["cancel", &job, "--cert", "boss"]).status.success());
    assert_eq!(ended(&cluster, &job)["state"], "cancelled");
    // A tenant the scheduler does not declare is refused as it connects.
    let message = refused(&cluster, "eve", &["status"]);
    assert!(message.contains("\"evil\"") && message.contains("does not declare"), "{message}");
    // Audit: the admin reads all, acme's admin acme's, a member nothing.
    let audit = as_json(&cluster, "root", &["audit"]);
    let events: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["event"].as_object()?.keys().next().map(String::as_str))
        .collect();
    for event in ["submitted", "refused", "cancelled", "ended"] {
        assert!(events.contains(&event), "{event} in {audit}");
    }
    let acme = as_json(&cluster, "boss", &["audit"]);
    assert!(acme.as_array().unwrap().iter().all(|r| r["tenant"] == "acme"), "{acme}");
    assert!(refused(&cluster, "alice", &["audit"]).contains("may not read the audit log"));
}

#[test]
fn admission_queues_then_refuses_and_max_slots_holds() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = tenant_cluster(dir.path(), 4);
    // Three files: three map tasks per job.
    small_files(dir.path(), 3);
    let first = submit(&cluster, "cap", &sleepy(dir.path(), "c1", 1_500));
    let second = submit(&cluster, "cap", &sleepy(dir.path(), "c2", 10));
    assert_eq!(status(&cluster, "cap", &second)["state"], "queued");
    let message = refused(&cluster, "cap", &["submit", sleepy(dir.path(), "c3", 10).to_str().unwrap()]);
    assert!(
        message.contains("tenant capped is at a limit") && message.contains("max_queued_jobs = 1"),
        "{message}"
    );
    // Its three tasks run one at a time (max_slots = 1) though four slots are free.
    let mut peak = 0;
    poll("the first job to end", || {
        let seen = status(&cluster, "cap", &first);
        peak = peak.max(seen["stages"][0]["running"].as_u64().unwrap());
        if seen["state"] == "running" { Err(seen.to_string()) } else { Ok(()) }
    });
    assert_eq!(peak, 1);
    assert_eq!(ended(&cluster, &second)["state"], "succeeded", "the queued job ran once the first ended");
}

#[test]
fn a_flood_of_one_tenant_does_not_hold_back_another_tenants_small_job() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = tenant_cluster(dir.path(), 2);
    // The flood: 20 jobs of 5 tasks of 2 s each; the trickle: one job of one short task.
    small_files(dir.path(), 5);
    let flood: Vec<String> =
        (0..20).map(|n| submit(&cluster, "flooder", &sleepy(dir.path(), &format!("f{n}"), 2_000))).collect();
    let started = |cluster: &Cluster| -> u64 {
        let all = as_json(cluster, "root", &["status"]);
        all.as_array()
            .unwrap()
            .iter()
            .filter(|s| s["owner"]["tenant"] == "flood")
            .flat_map(|s| s["stages"].as_array().unwrap().iter())
            .map(|stage| stage["done"].as_u64().unwrap() + stage["running"].as_u64().unwrap())
            .sum()
    };
    let small_dir = dir.path().join("small");
    std::fs::create_dir_all(small_dir.join("data")).unwrap();
    write_file(&small_dir.join("data/r.txt"), "s1;1.0\n");
    let small = sleepy(&small_dir, "small", 10);
    let before = started(&cluster);
    let job = submit(&cluster, "tiny", &small);
    assert_eq!(ended(&cluster, &job)["state"], "succeeded");
    let after = started(&cluster);
    // First come first served would start the flood's other ~95 tasks first. Fair share gives
    // the small job the next slot that frees: meanwhile the flood's tasks (2 s each) start in the
    // other slot, and in both before the small job's submission is accepted: a few at most.
    assert!(after - before <= 6, "the flood started {} tasks while the small job waited", after - before);
    assert!(after < 100, "the flood had not finished: {after} tasks started");
    assert_eq!(flood.len(), 20);
}

#[test]
fn the_cost_report_adds_up_to_flicker_usage_and_a_daily_budget_stops_a_looping_job() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = tenant_cluster(dir.path(), 2);
    readings_in(dir.path(), 2_000, 9);
    let jobs: Vec<String> = (0..2)
        .map(|n| {
            let manifest = dir.path().join(format!("job-{n}.toml"));
            write_file(&manifest, &crate::run::readings_job("std:max", "", &format!("out-{n}/")));
            submit(&cluster, "zed", &manifest)
        })
        .collect();
    let mut total = serde_json::Map::new();
    for job in &jobs {
        let status = ended(&cluster, job);
        assert_eq!(status["state"], "succeeded", "{status}");
        let cost = status["cost"].as_object().unwrap();
        // The job's cost is the sum of its stages'.
        for key in ["attempts", "cpu_us", "task_ms", "bytes_read", "bytes_written", "shuffle_bytes"] {
            let stages: u64 =
                status["stages"].as_array().unwrap().iter().map(|s| s["cost"][key].as_u64().unwrap()).sum();
            assert_eq!(cost[key].as_u64().unwrap(), stages, "{key}: {status}");
            let sum = total.get(key).and_then(|v| v.as_u64()).unwrap_or(0) + stages;
            total.insert(key.to_owned(), sum.into());
        }
        assert!(cost["cpu_us"].as_u64().unwrap() > 0, "operators used CPU: {status}");
        assert!(cost["peak_memory"].as_u64().unwrap() > 0, "{status}");
    }
    // `flicker usage` sums the jobs of the tenant, and a member sees its own tenant only.
    let usage = poll("the jobs' ends in the audit log", || {
        let usage = as_json(&cluster, "zed", &["usage"]);
        if usage[0]["jobs"] == 2 { Ok(usage) } else { Err(usage.to_string()) }
    });
    assert_eq!(usage.as_array().unwrap().len(), 1, "{usage}");
    for (key, value) in &total {
        assert_eq!(&usage[0]["cost"][key], value, "{key}: {usage}");
    }
    assert!(refused(&cluster, "zed", &["usage", "--tenant", "acme"]).contains("own tenant"));

    // A job that loops, of a tenant with a daily CPU budget, with its own max_cpu of 1 s.
    let looping = crate::run::looping_job(r#"limits = { call_timeout = "1h" }"#).replacen(
        "name = ",
        "max_cpu = \"1s\"\nname = ",
        1,
    );
    let looping = write_manifest(dir.path(), &looping);
    let job = submit(&cluster, "penny", &looping);
    let status = ended(&cluster, &job);
    let cause = status["state"]["failed"]["cause"].as_str().unwrap_or_default();
    assert!(cause.contains("past its max_cpu of 1.000 s"), "{status}");
    assert_eq!(status["failure"]["over_budget"]["budget"], "job_cpu", "{status}");
    let audit = as_json(&cluster, "root", &["audit", "--tenant", "frugal"]);
    assert!(audit.as_array().unwrap().iter().any(|r| r["event"]["budget"]["job"] == job.as_str()), "{audit}");
}
