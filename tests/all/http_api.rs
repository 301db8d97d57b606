//! The scheduler's HTTP API on a real cluster (processes, HTTPS on loopback): submit through the
//! API and through the CLI, list, watch by Server-Sent Events, inspect a stage's tasks, cancel,
//! the tenants' rules (a token of another tenant sees nothing), no identity → 401, the OpenAPI
//! document (checked by `openapi-spec-validator`), and the jobs a restarted scheduler serves
//! from its journal.

use crate::cluster::{Cluster, poll, readings_in};
use crate::run::test_plugin_job;
use crate::support::{stdout, write_file};
use flicker_protocol::PluginDigest;
use flicker_transport::{Identity, Role};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// The tenants of these tests.
const TENANTS: &str = "[tenants.default]\n[tenants.acme]\n[tenants.zeta]\n";

/// A cluster of one executor whose scheduler serves HTTPS, with `alice` (acme), `zed` (zeta) and
/// `root` (admin).
fn http_cluster(dir: &Path) -> Cluster {
    write_file(&dir.join("cluster.toml"), TENANTS);
    let config = dir.join("cluster.toml");
    let mut cluster = Cluster::scheduler(
        dir,
        "127.0.0.1:0",
        &["--config", config.to_str().unwrap(), "--http", "127.0.0.1:0"],
    );
    for (name, role, tenant) in
        [("alice", "client", "acme"), ("zed", "client", "zeta"), ("root", "admin", "acme")]
    {
        cluster.issue_member(name, role, tenant);
    }
    cluster.add_executor(0, &["--slots", "2"]);
    cluster.wait_for_nodes(1);
    cluster
}

/// An HTTPS client of the scheduler's API, as `cert` (its certificate, or a token made for it).
pub(crate) struct Api {
    client: reqwest::Client,
    base: String,
    token: Option<String>,
    runtime: tokio::runtime::Runtime,
}

impl Api {
    /// Speaks to the scheduler of `cluster` as `cert`: with its certificate if `token` is `None`,
    /// else with no certificate and the token.
    pub(crate) fn new(cluster: &Cluster, cert: &str, token: Option<String>) -> Api {
        Api::to(cluster, Role::Scheduler, &cluster.http_address(), cert, token)
    }

    /// Speaks to the node of `role` serving HTTPS on `address`, as [`Api::new`] does.
    fn to(cluster: &Cluster, role: Role, address: &str, cert: &str, token: Option<String>) -> Api {
        let identity = Identity::load(&cluster.tls_dir(), cert).unwrap();
        let address: std::net::SocketAddr = address.parse().unwrap();
        let host = role.server_name();
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(identity.https_client_config(token.is_none()).unwrap())
            .resolve(&host, address)
            .build()
            .unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        Api { client, base: format!("https://{host}:{}", address.port()), token, runtime }
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let request = self.client.request(method, format!("{}{path}", self.base));
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// Sends `request`; its status and body (JSON if it parses, else a string).
    fn send(&self, request: reqwest::RequestBuilder) -> (u16, Value) {
        self.runtime.block_on(async {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let text = response.text().await.unwrap();
            (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
        })
    }

    pub(crate) fn get(&self, path: &str) -> (u16, Value) {
        self.send(self.request(reqwest::Method::GET, path))
    }

    fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.send(self.request(reqwest::Method::POST, path).json(body))
    }

    /// The `status` events of a job's event stream, read to its end.
    fn events(&self, job: &str) -> Vec<Value> {
        let (status, body) = self.get(&format!("/api/v1/jobs/{job}/events"));
        assert_eq!(status, 200, "{body}");
        let text = body.as_str().unwrap().to_owned();
        text.split("\n\n")
            .filter(|event| event.contains("event: status"))
            .map(|event| {
                let data = event.lines().find_map(|line| line.strip_prefix("data: ")).unwrap();
                serde_json::from_str(data).unwrap()
            })
            .collect()
    }
}

/// A token for `cert` from `flicker token create`, with `extra` flags.
fn token(cluster: &Cluster, cert: &str, extra: &[&str]) -> String {
    let output = cluster.client(&[&["token", "create", "--cert", cert][..], extra].concat());
    assert!(output.status.success(), "{}", crate::support::stderr(&output));
    stdout(&output).trim().to_owned()
}

/// The manifest of a job of the test plugin sleeping `millis` per call, writing to `out-<name>/`.
fn sleepy(dir: &Path, name: &str, millis: u64) -> PathBuf {
    let job = test_plugin_job(&format!(r#"{{ behave = "slow", millis = "{millis}" }}"#), "");
    let job = job.replace("url = \"out/\"", &format!("url = \"out-{name}/\""));
    let path = dir.join(format!("{name}.toml"));
    write_file(&path, &job);
    path
}

/// Submits the job of `manifest` through the API: uploads the test plugin unless the tenant
/// has it, then posts the manifest; returns the job's id.
fn submit(api: &Api, manifest: &Path) -> String {
    let plugin = flicker_plugins::guest_artifact("flicker-test-plugin");
    let bytes = std::fs::read(&plugin).unwrap();
    let digest = PluginDigest::of(&bytes).to_hex();
    let (status, missing) = api.post("/api/v1/plugins/missing", &json!({ "digests": [digest] }));
    assert_eq!(status, 200, "{missing}");
    if !missing["digests"].as_array().unwrap().is_empty() {
        let upload = api.request(reqwest::Method::PUT, &format!("/api/v1/plugins/{digest}")).body(bytes);
        let (status, body) = api.send(upload);
        assert_eq!(status, 201, "{body}");
    }
    let request = json!({
        "manifest": std::fs::read_to_string(manifest).unwrap(),
        "manifest_path": manifest.display().to_string(),
        "base_dir": manifest.parent().unwrap().display().to_string(),
        "plugins": { plugin.display().to_string(): digest },
    });
    let (status, body) = api.post("/api/v1/jobs", &request);
    assert_eq!(status, 201, "{body}");
    body["job"].as_str().unwrap().to_owned()
}

/// Waits (bounded) until `job` is in `state` as `api` sees it.
fn wait_for_state(api: &Api, job: &str, state: &str) -> Value {
    poll(&format!("{job} to be {state}"), || {
        let (_, status) = api.get(&format!("/api/v1/jobs/{job}"));
        if status["state"] == state { Ok(status) } else { Err(status.to_string()) }
    })
}

#[test]
fn jobs_are_submitted_listed_watched_inspected_and_cancelled_over_https_within_tenants() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = http_cluster(dir.path());
    readings_in(dir.path(), 1_000, 2);
    let alice = Api::new(&cluster, "alice", Some(token(&cluster, "alice", &["--ttl", "1h"])));
    let zed = Api::new(&cluster, "zed", Some(token(&cluster, "zed", &[])));
    let anonymous = Api::new(&cluster, "alice", Some(String::new()));
    let nobody = Api { token: None, ..Api::new(&cluster, "alice", Some(String::new())) };

    // No identity: only the health check answers.
    assert_eq!(nobody.get("/healthz"), (200, Value::String("ok".into())));
    for path in ["/api/v1/jobs", "/api/v1/whoami", "/api/v1/openapi.json", "/api/v1/executors", "/metrics"] {
        let (status, body) = nobody.get(path);
        assert_eq!(status, 401, "{path}: {body}");
        assert_eq!(body["error"], "unauthenticated", "{path}");
    }
    assert_eq!(anonymous.get("/api/v1/jobs").0, 401, "an empty token");
    // A token names its holder; a client's certificate does too.
    assert_eq!(alice.get("/api/v1/whoami").1, json!({ "name": "alice", "role": "client", "tenant": "acme" }));
    let by_certificate = Api::new(&cluster, "alice", None);
    assert_eq!(by_certificate.get("/api/v1/whoami").1["tenant"], "acme");
    // A client may not ask for another tenant's token.
    let refused = cluster.client(&["token", "create", "--tenant", "zeta", "--cert", "alice"]);
    assert!(!refused.status.success());

    // One job through the API (slow: it is cancelled), one through the CLI (quick).
    let slow = submit(&alice, &sleepy(dir.path(), "slow", 30_000));
    let quick_manifest = sleepy(dir.path(), "quick", 1);
    let quick = cluster.json(&["submit", quick_manifest.to_str().unwrap(), "--cert", "alice"])["job"]
        .as_str()
        .unwrap()
        .to_owned();

    // The quick job's events end with its last status.
    let events = alice.events(&quick);
    let last = events.last().unwrap();
    assert_eq!(last["state"], "succeeded", "{events:?}");
    assert!(events.iter().all(|event| event["job"] == quick.as_str()));
    assert_eq!(events.iter().filter(|event| event["state"] == "succeeded").count(), 1);

    // Both are listed for acme, newest first, with paging; zeta sees neither.
    let (_, list) = alice.get("/api/v1/jobs?limit=1");
    assert_eq!((list["total"].as_u64(), list["jobs"][0]["job"].as_str()), (Some(2), Some(quick.as_str())));
    let (_, second) = alice.get("/api/v1/jobs?limit=1&offset=1");
    assert_eq!(second["jobs"][0]["job"], slow.as_str());
    let (_, running) = alice.get("/api/v1/jobs?state=running");
    assert_eq!(running["jobs"].as_array().unwrap().len(), 1, "{running}");
    assert_eq!(alice.get("/api/v1/jobs?state=sleeping").0, 400);
    let (status, list) = zed.get("/api/v1/jobs");
    assert_eq!((status, list["total"].as_u64()), (200, Some(0)), "{list}");
    for path in [
        format!("/api/v1/jobs/{slow}"),
        format!("/api/v1/jobs/{slow}/events"),
        format!("/api/v1/jobs/{slow}/stages/0/tasks"),
    ] {
        assert_eq!(zed.get(&path).0, 404, "{path}");
    }
    assert_eq!(zed.post(&format!("/api/v1/jobs/{slow}/cancel"), &json!({})).0, 404);

    // A finished stage's tasks, with the spread of their durations and bytes.
    let (status, tasks) = alice.get(&format!("/api/v1/jobs/{quick}/stages/0/tasks"));
    assert_eq!(status, 200, "{tasks}");
    let count = tasks["tasks"].as_array().unwrap().len();
    assert!(count >= 1 && tasks["summary"]["count"] == count, "{tasks}");
    assert!(
        tasks["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["state"] == "succeeded" && t["executor"] == "exec-0")
    );
    let bytes = &tasks["summary"]["bytes_in"];
    assert!(
        bytes["min"].as_u64() <= bytes["median"].as_u64()
            && bytes["median"].as_u64() <= bytes["max"].as_u64()
    );
    assert!(bytes["max"].as_u64().unwrap() > 0, "{tasks}");

    // The slow job is cancelled over HTTP, once; then it has ended.
    wait_for_state(&alice, &slow, "running");
    let (status, body) = alice.post(&format!("/api/v1/jobs/{slow}/cancel"), &json!({}));
    assert_eq!((status, &body["job"]), (200, &json!(slow)), "{body}");
    assert_eq!(alice.get(&format!("/api/v1/jobs/{slow}")).1["state"], "cancelled");
    let (status, body) = alice.post(&format!("/api/v1/jobs/{slow}/cancel"), &json!({}));
    assert_eq!((status, body["error"].as_str()), (409, Some("already_ended")), "{body}");

    // The cluster's pages: executors for anyone, tenants and components by tenant.
    let (_, executors) = alice.get("/api/v1/executors");
    assert_eq!(executors["executors"][0]["executor"], "exec-0");
    assert!(executors["executors"][0]["tasks_succeeded"].as_u64().unwrap() >= count as u64);
    let tenants = |api: &Api| -> Vec<String> {
        api.get("/api/v1/tenants").1["tenants"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["tenant"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(tenants(&alice), ["acme"]);
    let root = Api::new(&cluster, "root", None);
    assert_eq!(tenants(&root), ["acme", "default", "zeta"]);
    let (_, plugins) = alice.get("/api/v1/plugins");
    assert_eq!(plugins["plugins"][0]["kind"], "map", "{plugins}");
    assert_eq!(zed.get("/api/v1/plugins").1["plugins"], json!([]));
    // An invalid job is refused with the manifest's words; a bad digest too.
    let (status, body) = alice.post("/api/v1/jobs", &json!({ "manifest": "name = 1\n" }));
    assert_eq!((status, body["error"].as_str()), (422, Some("invalid_job")), "{body}");
    let upload =
        alice.request(reqwest::Method::PUT, &format!("/api/v1/plugins/{}", "ab".repeat(32))).body("not wasm");
    assert_eq!(alice.send(upload).0, 400);
}

#[test]
fn the_openapi_document_validates_and_lists_every_route() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = http_cluster(dir.path());
    let api = Api::new(&cluster, "alice", None);
    let (status, document) = api.get("/api/v1/openapi.json");
    assert_eq!(status, 200);
    let paths: Vec<&str> = document["paths"].as_object().unwrap().keys().map(String::as_str).collect();
    for route in [
        "/api/v1/whoami",
        "/api/v1/jobs",
        "/api/v1/jobs/{job}",
        "/api/v1/jobs/{job}/events",
        "/api/v1/jobs/{job}/cancel",
        "/api/v1/jobs/{job}/stages/{stage}/tasks",
        "/api/v1/executors",
        "/api/v1/tenants",
        "/api/v1/plugins",
        "/api/v1/plugins/missing",
        "/api/v1/plugins/{digest}",
    ] {
        assert!(paths.contains(&route), "{route} in {paths:?}");
    }
    assert_eq!(document, serde_json::to_value(flicker_web::openapi()).unwrap());
    let file = dir.path().join("openapi.json");
    write_file(&file, &document.to_string());
    let validator = std::env::var("FLICKER_OPENAPI_VALIDATOR").expect(
        "FLICKER_OPENAPI_VALIDATOR: run the tests through scripts/test.sh (it sources scripts/setup.sh)",
    );
    let output = std::process::Command::new(validator).arg(&file).output().unwrap();
    assert!(output.status.success(), "{}{}", stdout(&output), crate::support::stderr(&output));
}

#[test]
fn a_restarted_scheduler_serves_finished_jobs_from_its_journal_with_their_task_figures() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = http_cluster(dir.path());
    readings_in(dir.path(), 1_000, 3);
    let manifest = sleepy(dir.path(), "done", 1);
    let job = cluster.json(&["submit", manifest.to_str().unwrap(), "--wait", "--cert", "alice"]);
    let job = job["job"].as_str().unwrap().to_owned();
    let before = Api::new(&cluster, "alice", None).get(&format!("/api/v1/jobs/{job}/stages/0/tasks")).1;
    // kill -9 of the scheduler, and a restart on the same address with the same state.
    let listen = cluster.address().to_owned();
    cluster.kill("scheduler");
    let config = dir.path().join("cluster.toml");
    cluster.start_scheduler(&listen, &["--config", config.to_str().unwrap(), "--http", "127.0.0.1:0"]);
    let api = Api::new(&cluster, "alice", None);
    let (status, after) = api.get(&format!("/api/v1/jobs/{job}"));
    assert_eq!((status, &after["state"]), (200, &json!("succeeded")), "{after}");
    assert_eq!(after["stages"].as_array().unwrap().len(), 1);
    let (_, tasks) = api.get(&format!("/api/v1/jobs/{job}/stages/0/tasks"));
    let metrics = |tasks: &Value| -> Vec<Value> {
        tasks["tasks"].as_array().unwrap().iter().map(|t| t["metrics"].clone()).collect()
    };
    assert_eq!(metrics(&tasks), metrics(&before), "task figures survive the restart");
    assert_eq!(tasks["summary"], before["summary"]);
    assert_eq!(api.get("/api/v1/jobs").1["total"], 1);
}

/// The samples of a node's `/metrics`, read as `api`, parsed as Prometheus' text format.
fn scrape(api: &Api) -> prometheus_parse::Scrape {
    let (status, body) = api.get("/metrics");
    assert_eq!(status, 200, "{body}");
    let text = body.as_str().unwrap().to_owned();
    prometheus_parse::Scrape::parse(text.lines().map(|line| Ok(line.to_owned()))).unwrap()
}

/// The value of the sample `name` with the label `label` (the count of a histogram).
fn sample(scrape: &prometheus_parse::Scrape, name: &str, label: Option<(&str, &str)>) -> f64 {
    let found = scrape.samples.iter().find(|sample| {
        sample.metric == name && label.is_none_or(|(key, value)| sample.labels.get(key) == Some(value))
    });
    match found.map(|sample| &sample.value) {
        Some(prometheus_parse::Value::Counter(value) | prometheus_parse::Value::Gauge(value)) => *value,
        Some(prometheus_parse::Value::Histogram(buckets)) => {
            buckets.last().map_or(0.0, |bucket| bucket.count)
        }
        Some(other) => panic!("{name}: {other:?}"),
        None => 0.0,
    }
}

#[test]
fn scheduler_and_executor_metrics_parse_as_prometheus_text_and_move_as_a_job_runs() {
    let dir = tempfile::tempdir().unwrap();
    write_file(&dir.path().join("cluster.toml"), TENANTS);
    let config = dir.path().join("cluster.toml");
    let mut cluster = Cluster::scheduler(
        dir.path(),
        "127.0.0.1:0",
        &["--config", config.to_str().unwrap(), "--http", "127.0.0.1:0"],
    );
    cluster.issue_member("alice", "client", "acme");
    cluster.issue("root", "admin");
    cluster.add_executor(0, &["--slots", "2", "--metrics", "127.0.0.1:0"]);
    cluster.add_executor(1, &["--slots", "2"]);
    cluster.wait_for_nodes(2);
    readings_in(dir.path(), 1_000, 4);
    let scheduler = Api::new(&cluster, "root", None);
    let executor_address = cluster.listening_on("exec-0", 1);
    let executor = Api::to(&cluster, Role::Executor, &executor_address, "root", None);
    // Figures span every tenant: a client may not read them, nobody without an identity.
    assert_eq!(Api::new(&cluster, "alice", None).get("/metrics").0, 403);
    let anonymous = Api::to(&cluster, Role::Executor, &executor_address, "alice", Some(String::new()));
    assert_eq!(anonymous.get("/metrics").0, 401);
    assert_eq!(anonymous.get("/healthz").0, 200);

    let before = (scrape(&scheduler), scrape(&executor));
    let build = before.0.samples.iter().find(|s| s.metric == "flicker_build_info").expect("build info");
    assert_eq!(build.labels.get("component"), Some("scheduler"));
    assert_eq!(sample(&before.0, "flicker_executors", Some(("state", "alive"))), 2.0);
    assert_eq!(sample(&before.0, "flicker_slots_total", None), 4.0);
    // A job with a shuffle: the reduce tasks of each executor fetch blocks from the other's BTS.
    let manifest =
        crate::support::write_manifest(dir.path(), &crate::run::readings_job("std:max", "", "out-max/"));
    let job = cluster.json(&["submit", manifest.to_str().unwrap(), "--wait", "--cert", "alice"]);
    assert_eq!(job["state"], "succeeded", "{job}");
    let tasks = job["tasks_by_executor"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e[0] == "exec-0")
        .map_or(0.0, |e| e[1].as_f64().unwrap());
    let after = (scrape(&scheduler), scrape(&executor));
    // The executors' BTSes report what they served with their heartbeats.
    poll("the executors' BTSes to report what they served", || {
        let (_, executors) = Api::new(&cluster, "alice", None).get("/api/v1/executors");
        let served: u64 = executors["executors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["shuffle_served_bytes"].as_u64().unwrap())
            .sum();
        if served > 0 { Ok(()) } else { Err(executors.to_string()) }
    });

    let moved = |scrape: (&prometheus_parse::Scrape, &prometheus_parse::Scrape), name: &str, label| {
        sample(scrape.1, name, label) - sample(scrape.0, name, label)
    };
    let acme = Some(("tenant", "acme"));
    let on_scheduler = (&before.0, &after.0);
    assert_eq!(moved(on_scheduler, "flicker_jobs_submitted_total", acme), 1.0);
    let succeeded = |scrape: &prometheus_parse::Scrape| {
        scrape
            .samples
            .iter()
            .filter(|s| {
                s.metric == "flicker_jobs_finished_total" && s.labels.get("state") == Some("succeeded")
            })
            .count()
    };
    assert_eq!(succeeded(&after.0), 1, "one series of succeeded jobs");
    let all_tasks: f64 = job["stages"].as_array().unwrap().iter().map(|s| s["total"].as_f64().unwrap()).sum();
    assert_eq!(
        moved(on_scheduler, "flicker_task_duration_seconds", Some(("outcome", "succeeded"))),
        all_tasks
    );
    assert_eq!(sample(&after.0, "flicker_tasks_running", None), 0.0);
    let on_executor = (&before.1, &after.1);
    assert_eq!(moved(on_executor, "flicker_executor_tasks_total", Some(("outcome", "succeeded"))), tasks);
    assert!(tasks >= 1.0, "exec-0 ran tasks: {job}");
    let requests = |scrape: &prometheus_parse::Scrape| -> f64 {
        let all = scrape.samples.iter().filter(|s| s.metric == "flicker_object_store_requests_total");
        all.map(|s| match s.value {
            prometheus_parse::Value::Counter(value) => value,
            _ => 0.0,
        })
        .sum()
    };
    assert!(requests(&after.1) > requests(&before.1), "exec-0's tasks read or wrote through the store");
    assert!(
        moved(on_executor, "flicker_component_cache_lookups_total", Some(("result", "compiled")))
            + moved(on_executor, "flicker_component_cache_lookups_total", Some(("result", "memory")))
            + moved(on_executor, "flicker_component_cache_lookups_total", Some(("result", "disk")))
            >= 1.0
    );
    // No job or task id is a label.
    for sample in after.0.samples.iter().chain(&after.1.samples) {
        let labels = format!("{:?}", sample.labels);
        assert!(
            !labels.contains("job-") && !labels.contains(job["job"].as_str().unwrap()),
            "{} {labels}",
            sample.metric
        );
    }
}
