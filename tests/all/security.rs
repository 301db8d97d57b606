//! Authorization by role on a cluster of real processes, each holding a certificate issued for
//! it: every role tries the requests it must not make and is refused with a clear error, while the
//! cluster keeps working.

use crate::cluster::{Cluster, expected_max, readings_in};
use crate::run::{output_max, readings_job};
use crate::support::{flicker, stderr, write_manifest};
use flicker_protocol::scheduler::{
    Registration, RequestError, SchedulerRequest, SchedulerResponse, Submission,
};
use flicker_protocol::{ExecutorId, JobId, PluginDigest};
use flicker_transport::{Endpoint, EndpointConfig, Identity, Role, TransportError};
use std::net::SocketAddr;
use std::path::Path;

/// An endpoint presenting the certificate `cert` of the cluster in `tls`.
fn endpoint(tls: &Path, cert: &str) -> Endpoint {
    let identity = Identity::load(tls, cert).unwrap_or_else(|e| panic!("{cert}: {e}"));
    Endpoint::bind("127.0.0.1:0".parse().unwrap(), EndpointConfig::new(identity)).unwrap()
}

/// Sends `request` to the scheduler at `scheduler` as `cert` and asserts that it is refused for
/// its role, the reason naming `expected`.
async fn assert_refused(
    tls: &Path,
    cert: &str,
    scheduler: SocketAddr,
    request: SchedulerRequest,
    expected: &str,
) {
    let what = format!("{request:?}");
    let connection = endpoint(tls, cert).connect(scheduler, Role::Scheduler).await.unwrap();
    match connection.call::<_, SchedulerResponse>(&request).await.unwrap() {
        SchedulerResponse::Error(error @ RequestError::Forbidden { .. }) => {
            assert!(error.to_string().contains(expected), "{cert} {what}: {expected:?} in {error}")
        }
        other => panic!("{cert} {what}: expected a refusal, got {other:?}"),
    }
}

fn registration(name: &str, bts: SocketAddr) -> SchedulerRequest {
    SchedulerRequest::Register(Registration {
        executor: ExecutorId(name.to_owned()),
        bts,
        bts_in_process: true,
        slots: 8,
        memory: 1 << 30,
        plugins: Vec::new(),
    })
}

#[test]
fn each_role_is_refused_the_requests_of_the_others_and_the_cluster_keeps_working() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(dir.path(), 1, 2);
    let readings = readings_in(dir.path(), 1_000, 31);
    let tls = cluster.tls_dir();
    cluster.issue("alice", "client");
    cluster.issue("exec-1", "executor");
    let scheduler: SocketAddr = cluster.address().parse().unwrap();
    let nodes = cluster.json(&["nodes"]);
    let bts: SocketAddr = nodes[0]["bts"].as_str().unwrap().parse().unwrap();
    let io = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    io.block_on(async {
        // A client may not act as an executor: join (under any name), beat, fetch components.
        for request in [
            registration("alice", bts),
            registration("exec-0", bts),
            SchedulerRequest::Heartbeat { executor: ExecutorId("exec-0".into()), shuffle_served_bytes: 0 },
            SchedulerRequest::FetchPlugin { digest: PluginDigest::of(b"anything") },
        ] {
            assert_refused(&tls, "alice", scheduler, request, "client \"alice\" may not").await;
        }
        // An executor may not act as a client.
        let submission = Submission {
            manifest_path: "job.toml".into(),
            manifest: readings_job("std:max", "", "out/"),
            base_dir: dir.path().to_str().unwrap().into(),
            plugins: Vec::new(),
            defaults: None,
        };
        for request in [
            SchedulerRequest::Submit(submission),
            SchedulerRequest::Status { job: None },
            SchedulerRequest::Cancel { job: JobId("job-1".into()) },
            SchedulerRequest::Nodes,
            SchedulerRequest::MissingPlugins { digests: Vec::new() },
        ] {
            assert_refused(&tls, "exec-1", scheduler, request, "only clients and admins may").await;
        }
        // An executor joins and beats only under its own certificate's name: not another's.
        assert_refused(&tls, "exec-1", scheduler, registration("exec-0", bts), "as \"exec-0\"").await;
        let beat =
            SchedulerRequest::Heartbeat { executor: ExecutorId("exec-0".into()), shuffle_served_bytes: 0 };
        assert_refused(&tls, "exec-1", scheduler, beat, "as \"exec-0\"").await;

        // Only executors and the scheduler reach a BTS; a client is refused as it connects.
        match endpoint(&tls, "alice").connect(bts, Role::Executor).await {
            Err(error) => {
                assert!(error.to_string().contains("a client certificate may not connect here"), "{error}")
            }
            Ok(_) => panic!("a client connected to a bts"),
        }
        // The scheduler's certificate is not a client's or an executor's: the scheduler refuses it.
        match endpoint(&tls, "scheduler").connect(scheduler, Role::Scheduler).await {
            Err(TransportError::Connection { .. }) | Err(TransportError::Forbidden { .. }) => {}
            Err(error) => assert!(error.to_string().contains("may not connect here"), "{error}"),
            Ok(_) => panic!("the scheduler's certificate connected to the scheduler"),
        }
    });

    // An executor posing as the scheduler (its address given as the scheduler's) is refused by
    // the client: its certificate is not the scheduler's.
    let posing = flicker()
        .args(["nodes", "--scheduler", &bts.to_string(), "--tls-dir", tls.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!posing.status.success());
    assert!(stderr(&posing).contains("refused the peer's certificate"), "{}", stderr(&posing));

    // The refusals are logged at warn with who asked.
    let logs = cluster.logs();
    assert!(logs.contains("refused a request") && logs.contains("alice"), "{logs:.3000}");

    // The cluster still works, and its executor is still exec-0.
    let nodes = cluster.wait_for_nodes(1);
    assert_eq!(nodes[0]["executor"], "exec-0", "{nodes}");
    let output = cluster.client(&[
        "submit",
        write_manifest(dir.path(), &readings_job("std:max", "", "out/")).to_str().unwrap(),
        "--wait",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(output_max(&dir.path().join("out")), expected_max(&readings));
}

/// A certificate revoked with `flicker cert revoke` is refused by the nodes that loaded the
/// revocation list: a client's requests and an executor's registration; others still work.
#[test]
fn a_revoked_certificate_is_refused_by_the_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::new(dir.path());
    let tls = cluster.tls_dir();
    for (name, role) in [("alice", "client"), ("bob", "client"), ("exec-1", "executor")] {
        cluster.issue(name, role);
    }
    for name in ["bob", "exec-1"] {
        let revoked =
            crate::support::run_flicker(&["cert", "revoke", "--dir", tls.to_str().unwrap(), "--name", name]);
        assert!(revoked.status.success(), "{}", stderr(&revoked));
    }
    cluster.start_scheduler("127.0.0.1:0", &[]);
    cluster.add_executor(0, &[]);
    cluster.wait_for_nodes(1);

    // Bob still has his files, without the list: the scheduler refuses him.
    let own = dir.path().join("bob-tls");
    std::fs::create_dir_all(&own).unwrap();
    for file in ["ca.pem", "bob.pem", "bob.key"] {
        std::fs::copy(tls.join(file), own.join(file)).unwrap();
    }
    let refused = flicker()
        .args([
            "nodes",
            "--scheduler",
            cluster.address(),
            "--tls-dir",
            own.to_str().unwrap(),
            "--cert",
            "bob",
        ])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(stderr(&refused).contains("it is revoked"), "{}", stderr(&refused));
    let alice = cluster.client_command(&["nodes", "--cert", "alice"]).output().unwrap();
    assert!(alice.status.success(), "{}", stderr(&alice));

    // A revoked executor does not join, its certificate refused.
    let exec_tls = dir.path().join("exec-1-tls");
    std::fs::create_dir_all(&exec_tls).unwrap();
    for file in ["ca.pem", "exec-1.pem", "exec-1.key"] {
        std::fs::copy(tls.join(file), exec_tls.join(file)).unwrap();
    }
    let mut command = flicker();
    command
        .args(["executor", "--scheduler", cluster.address(), "--listen", "127.0.0.1:0", "--tls-dir"])
        .arg(&exec_tls)
        .args(["--cert", "exec-1", "--work-dir"])
        .arg(dir.path().join("executor-1"));
    let executor = flicker_testkit::Process::spawn("exec-1", command).unwrap();
    executor
        .wait_for_log(crate::cluster::WAIT, |log| {
            log.contains("the peer refused this process's certificate: it is revoked").then_some(())
        })
        .unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(cluster.json(&["nodes"]).as_array().unwrap().len(), 1);
}

/// An executor that does not report a task within the scheduler's task timeout cannot hold the
/// job: the attempt fails as `task_timeout` (here, with one attempt allowed, the job with it).
#[test]
fn a_task_not_reported_within_the_task_timeout_fails_its_attempt() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::new(dir.path());
    cluster.start_scheduler("127.0.0.1:0", &["--task-timeout", "2s"]);
    cluster.add_executor(0, &[]);
    cluster.wait_for_nodes(1);
    readings_in(dir.path(), 1_000, 32);
    let job = crate::run::test_plugin_job(
        r#"{ behave = "sleep", millis = "600000" }"#,
        r#"limits = { call_timeout = "1h" }"#,
    );
    let manifest = write_manifest(dir.path(), &format!("max_attempts = 1\n{job}"));
    let started = std::time::Instant::now();
    let output = cluster.client(&["submit", manifest.to_str().unwrap(), "--wait"]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("did not report the task within the task timeout of 2s"),
        "{}",
        stderr(&output)
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(120), "took {:?}", started.elapsed());
    let status = cluster.json(&["status"]);
    assert_eq!(status[0]["failure"]["task"]["kind"]["task_timeout"]["ms"], 2000, "{status:.600}");
}

/// One certificate holds at most 16 connections to the scheduler at once: the next is refused
/// with the reason, and others (and the same certificate, once it closed some) are still served.
#[test]
fn one_certificate_cannot_hold_connections_without_end() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(dir.path(), 1, 1);
    let tls = cluster.tls_dir();
    cluster.issue("mallory", "client");
    let scheduler: SocketAddr = cluster.address().parse().unwrap();
    let io = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    io.block_on(async {
        let endpoint = endpoint(&tls, "mallory");
        let mut held = Vec::new();
        for _ in 0..16 {
            held.push(endpoint.connect(scheduler, Role::Scheduler).await.unwrap());
        }
        let refused = match endpoint.connect(scheduler, Role::Scheduler).await {
            Ok(connection) => {
                connection.call::<_, SchedulerResponse>(&SchedulerRequest::Nodes).await.map(drop)
            }
            Err(error) => Err(error),
        };
        let error = refused.expect_err("a 17th connection is refused");
        assert!(error.to_string().contains("holds 16 connections already"), "{error}");
        // Another certificate is served meanwhile.
        let nodes = cluster.client_command(&["nodes"]).output().unwrap();
        assert!(nodes.status.success(), "{}", stderr(&nodes));
        for connection in held.drain(..) {
            connection.close(0, "done");
        }
        let again = bounded_retry(|| async { endpoint.connect(scheduler, Role::Scheduler).await }).await;
        let answer: SchedulerResponse = again.call(&SchedulerRequest::Nodes).await.unwrap();
        assert!(matches!(answer, SchedulerResponse::Nodes(_)), "{answer:?}");
    });
}

/// Tries `connect` until it succeeds (the server frees closed connections as it hears of them),
/// for at most a minute.
async fn bounded_retry<F, Fut>(connect: F) -> flicker_transport::Connection
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<flicker_transport::Connection, TransportError>>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        match connect().await {
            Ok(connection) => return connection,
            Err(error) if std::time::Instant::now() > deadline => panic!("{error}"),
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
        }
    }
}
