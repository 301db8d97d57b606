//! Job control that tells the truth: cancelling an ended job, following a job again after
//! Ctrl-C, `flicker status` one line per job and in detail, an executor that is stopped.

use crate::cluster::{Cluster, WAIT, readings_in};
use crate::run::{looping_job, readings_job};
use crate::support::{assert_failed, stderr, stdout, write_manifest};
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{SystemTime, UNIX_EPOCH};

fn unix_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

/// A time as `flicker status` prints it.
fn shown(unix_ms: &serde_json::Value) -> String {
    let at = UNIX_EPOCH + std::time::Duration::from_millis(unix_ms.as_u64().unwrap());
    humantime::format_rfc3339_seconds(at).to_string()
}

#[test]
fn an_ended_job_cannot_be_cancelled_and_status_shows_its_times() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(dir.path(), 1, 2);
    readings_in(dir.path(), 20_000, 5);
    let manifest = write_manifest(dir.path(), &readings_job("std:max", "", "out/"));
    let before = unix_ms();
    let submitted = cluster.client(&["submit", manifest.to_str().unwrap(), "--wait"]);
    let after = unix_ms();
    assert!(submitted.status.success(), "{}", stderr(&submitted));
    let status = cluster.json(&["status"]);
    let job = &status[0];
    let id = job["job"].as_str().unwrap();
    let (started, ended) = (job["started_unix_ms"].as_u64().unwrap(), job["ended_unix_ms"].as_u64().unwrap());
    assert!(before <= started && started <= ended && ended <= after, "{before} {started} {ended} {after}");

    let cancel = cluster.client(&["cancel", id]);
    let error = assert_failed(&cancel);
    assert!(
        error.contains(&format!("job {id} has already ended (succeeded): there is nothing to cancel")),
        "{error}"
    );
    let error = assert_failed(&cluster.client(&["cancel", "job-0-404"]));
    assert!(error.contains("there is no job job-0-404"), "{error}");

    // One line per job under a header; the details of one.
    let list = stdout(&cluster.client(&["status"]));
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(lines.len(), 2, "{list}");
    assert!(lines[0].starts_with("JOB") && lines[0].contains("STARTED"), "{list}");
    for expected in [id, "\"readings\"", "succeeded", shown(&job["started_unix_ms"]).as_str()] {
        assert!(lines[1].contains(expected), "{expected} in {list}");
    }
    let details = stdout(&cluster.client(&["status", id]));
    for expected in [
        format!("job {id} (\"readings\"): succeeded"),
        format!("started {}, ended {}", shown(&job["started_unix_ms"]), shown(&job["ended_unix_ms"])),
        "stage 0:".to_owned(),
        "stage 1:".to_owned(),
        "task time min".to_owned(),
    ] {
        assert!(details.contains(&expected), "{expected} in {details}");
    }
    for stage in job["stages"].as_array().unwrap() {
        let durations = &stage["task_durations"];
        let (min, median, max) =
            (durations["min_ms"].as_u64(), durations["median_ms"].as_u64(), durations["max_ms"].as_u64());
        assert!(min <= median && median <= max && max.is_some(), "{stage}");
    }

    // Following an ended job again prints its summary and exits as the job did.
    let followed = cluster.client(&["status", id, "--wait"]);
    assert!(followed.status.success(), "{}", stderr(&followed));
    assert!(stdout(&followed).contains(&format!("({id}) succeeded in")), "{}", stdout(&followed));
}

#[test]
fn ctrl_c_while_waiting_leaves_the_job_running_and_status_wait_follows_it_again() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::scheduler(dir.path(), "127.0.0.1:0", &["--max-attempts", "1"]);
    cluster.add_executor(0, &["--slots", "1"]);
    cluster.wait_for_nodes(1);
    readings_in(dir.path(), 1_000, 6);
    let manifest = write_manifest(dir.path(), &looping_job("limits = { call_timeout = \"3s\" }"));

    let mut waiting = cluster
        .client_command(&["submit", manifest.to_str().unwrap(), "--wait"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(waiting.stderr.take().unwrap()).lines().map_while(Result::ok);
    let id = lines
        .find_map(|line| line.strip_prefix("submitted ").map(str::to_owned))
        .expect("submit prints the job id");
    // The job's only task spins for 3 s before it can fail: it is running now.
    let exit =
        flicker_testkit::signal_and_wait(&mut waiting, "INT", WAIT).unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(exit.code(), Some(130), "{exit:?}");
    let said: String = lines.collect::<Vec<_>>().join("\n");
    for expected in [
        format!("stopped following {id}; it goes on running"),
        format!("flicker status {id} --wait"),
        format!("flicker cancel {id}"),
    ] {
        assert!(said.contains(&expected), "{expected} in {said}");
    }

    // The job was not cancelled: following it again shows it to its end (the call timeout).
    let followed = cluster.client(&["status", &id, "--wait"]);
    assert_eq!(followed.status.code(), Some(1), "{}", stdout(&followed));
    assert!(stdout(&followed).contains(&format!("({id}) failed in")), "{}", stdout(&followed));
    let error = stderr(&followed);
    assert!(error.contains("operator stopped: call timeout of 3s reached"), "{error}");
    assert!(!error.contains("cancelled"), "{error}");
}

#[test]
fn a_stopped_executor_tells_the_scheduler_at_once() {
    let dir = tempfile::tempdir().unwrap();
    // Silence alone would take two minutes to notice.
    let mut cluster = Cluster::scheduler(dir.path(), "127.0.0.1:0", &["--executor-timeout", "120s"]);
    cluster.add_executor(0, &[]);
    cluster.add_executor(1, &[]);
    cluster.wait_for_nodes(2);

    let exit = cluster.terminate("exec-0");
    assert!(exit.success(), "an executor stops cleanly on SIGTERM: {exit:?}");
    let nodes = cluster.wait_for_nodes(1);
    let lost: Vec<&str> = nodes
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["state"] == "lost")
        .map(|n| n["executor"].as_str().unwrap())
        .collect();
    assert_eq!(lost, ["exec-0"], "{nodes}");
    // It was the executor's goodbye, not the connection's idle timeout, that told the scheduler.
    let logs = cluster.logs();
    assert!(
        logs.lines().any(|l| l.contains("executor disconnected")
            && l.contains("exec-0")
            && l.contains("executor stopping")),
        "{logs}"
    );
}

/// The job of `test_plugin_job` whose operator prints `message` on stdout and stderr.
fn printing_job(message: &str) -> String {
    crate::run::test_plugin_job(&format!(r#"{{ behave = "print", message = "{message}" }}"#), "")
}

#[test]
fn what_operators_print_is_shown_by_flicker_run() {
    let dir = tempfile::tempdir().unwrap();
    readings_in(dir.path(), 1_000, 7);
    let manifest = write_manifest(dir.path(), &printing_job("hello from spin"));
    let output = crate::support::run_job(&manifest, &["--workers", "1"]);
    crate::support::assert_succeeded(&output);
    let shown = stderr(&output);
    for expected in [
        "operator output:",
        "stage 0 task 0 attempt 0 on ",
        ": succeeded\n  spin stdout:\n    stdout: hello from spin\n",
        "  spin stderr:\n    stderr: hello from spin\n",
    ] {
        assert!(shown.contains(expected), "{expected:?} in {shown}");
    }
}

#[test]
fn a_tasks_attempts_and_what_they_printed_are_kept_on_a_cluster() {
    let dir = tempfile::tempdir().unwrap();
    // One executor of one slot: a failed task runs again there, before any other task.
    let mut cluster = Cluster::scheduler(dir.path(), "127.0.0.1:0", &["--max-attempts", "2"]);
    cluster.add_executor(0, &["--slots", "1"]);
    cluster.wait_for_nodes(1);
    readings_in(dir.path(), 1_000, 8);
    let manifest = write_manifest(dir.path(), &printing_job("kept"));
    let submitted = cluster.client(&["submit", manifest.to_str().unwrap(), "--wait"]);
    assert!(submitted.status.success(), "{}", stderr(&submitted));
    assert!(stderr(&submitted).contains("    stdout: kept\n"), "{}", stderr(&submitted));
    let id = cluster.json(&["status"])[0]["job"].as_str().unwrap().to_owned();

    let task = stdout(&cluster.client(&["status", &id, "--task", "0:0"]));
    assert!(task.starts_with("stage 0 task 0 attempt 0 on exec-0: succeeded\n"), "{task}");
    assert!(task.contains("  spin stdout:\n    stdout: kept\n  spin stderr:\n    stderr: kept\n"), "{task}");
    let logs = cluster.json(&["status", &id, "--logs"]);
    let logs = logs.as_array().unwrap();
    assert!(!logs.is_empty() && logs.iter().all(|a| a["outcome"] == "succeeded"), "{logs:?}");
    assert_eq!(logs[0]["log"][0]["stdout"], "stdout: kept\n");
    let error = assert_failed(&cluster.client(&["status", &id, "--task", "9:0"]));
    assert!(error.contains(&format!("job {id} has no task 0 in stage 9")), "{error}");

    // Every failed attempt keeps what its operator wrote before it failed.
    let panicking = crate::run::test_plugin_job(r#"{ behave = "panic", message = "kaboom" }"#, "");
    let manifest = write_manifest(dir.path(), &panicking.replace("url = \"out/\"", "url = \"out-2/\""));
    let failed = cluster.client(&["submit", manifest.to_str().unwrap(), "--wait"]);
    assert_eq!(failed.status.code(), Some(1));
    let jobs = cluster.json(&["status"]);
    let id = jobs.as_array().unwrap().iter().find(|j| j["job"] != id.as_str()).unwrap()["job"]
        .as_str()
        .unwrap()
        .to_owned();
    let attempts = cluster.json(&["status", &id, "--task", "0:0"]);
    let attempts = attempts.as_array().unwrap();
    assert_eq!(attempts.len(), 2, "two attempts, both failed: {attempts:?}");
    for attempt in attempts {
        assert!(attempt["outcome"]["failed"]["cause"].as_str().unwrap().contains("kaboom"), "{attempt}");
        assert!(attempt["log"][0]["stderr"].as_str().unwrap().contains("kaboom"), "{attempt}");
    }
}
