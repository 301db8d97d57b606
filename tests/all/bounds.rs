//! Nothing one client can exhaust: the scheduler's caps on uploads, requests and manifests, its
//! uploads streamed to disk a few at a time, the client's checks before it sends anything, and
//! the retention of finished jobs and of the components they used.

use crate::cluster::{Cluster, poll, readings_in};
use crate::run::parse_readings;
use crate::support::{guest_plugin, stderr, stdout, write_manifest};
use flicker_protocol::PluginDigest;
use flicker_protocol::scheduler::{
    MAX_COMPONENT, MAX_REQUEST, Oversized, RequestError, SchedulerRequest, SchedulerResponse, Submission,
};
use flicker_scheduler::plugin_store::MAX_UPLOADS;
use flicker_transport::{Connection, Endpoint, EndpointConfig, Identity, Role, TransportError};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The scheduler's plugin store in the cluster directory `dir`.
fn plugin_dir(dir: &Path) -> PathBuf {
    dir.join("state/plugins")
}

/// The names of the files in `dir`, sorted.
fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    names
}

/// Waits (bounded) until the scheduler's plugin directory under `dir` holds no file.
fn wait_until_no_plugin_files(dir: &Path, what: &str) {
    poll(what, || {
        let left = files(&plugin_dir(dir));
        if left.is_empty() { Ok(()) } else { Err(format!("{left:?}")) }
    });
}

/// `count` connections to the cluster's scheduler with the client certificate, as a client that
/// speaks the protocol itself would make them.
async fn connect(cluster: &Cluster, dir: &Path, count: usize) -> (Endpoint, Vec<Connection>) {
    let identity = Identity::load(&dir.join("tls"), "client").unwrap();
    let endpoint = Endpoint::bind("127.0.0.1:0".parse().unwrap(), EndpointConfig::new(identity)).unwrap();
    let address = cluster.address().parse().unwrap();
    let mut connections = Vec::new();
    for _ in 0..count {
        connections.push(endpoint.connect(address, Role::Scheduler).await.unwrap());
    }
    (endpoint, connections)
}

/// Sends `request` on a stream of its own, then `payload`, and reads the answer while sending:
/// a scheduler that refuses the request stops reading it.
async fn ask(connection: &Connection, request: &SchedulerRequest, payload: &[u8]) -> SchedulerResponse {
    let (mut send, mut recv) = connection.open().await.unwrap();
    let sending = async {
        send.send(request).await?;
        send.send_bytes(payload).await?;
        send.finish()
    };
    // The sending fails if the scheduler stops the stream, which is what is tested.
    let (_, answer) = tokio::join!(sending, recv.recv::<SchedulerResponse>());
    answer.unwrap().expect("an answer")
}

/// The error `response` carries.
fn refusal(response: SchedulerResponse) -> RequestError {
    match response {
        SchedulerResponse::Error(error) => error,
        other => panic!("{other:?}"),
    }
}

/// A submission of `manifest` (named `job.toml`) over `dir`, with no plugin file.
fn submission(dir: &Path, manifest: String) -> SchedulerRequest {
    SchedulerRequest::Submit(Submission {
        manifest_path: "job.toml".into(),
        manifest,
        base_dir: dir.display().to_string(),
        plugins: Vec::new(),
        defaults: None,
    })
}

/// A map-only job over `data/` named `name`, writing CSV to `out`.
fn job_named(name: &str, out: &str) -> String {
    format!(
        "{}\n[[sink]]\nid = \"out\"\ninput = \"parse\"\nurl = \"{out}\"\nplugin = \"std:format-csv\"\n",
        parse_readings(name, "")
    )
}

/// The 1-based line of `text` on which `needle` starts.
fn line_of(text: &str, needle: &str) -> usize {
    text[..text.find(needle).expect("the needle is in the text")].lines().count() + 1
}

/// One mebibyte of zeros, sent again and again.
static ZEROS: [u8; 1 << 20] = [0; 1 << 20];

/// What each half-sent upload sends before it goes idle.
const HALF_SENT: usize = 16;

#[test]
fn half_sent_uploads_go_to_disk_a_few_at_a_time_and_are_removed_when_their_streams_end() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::scheduler(dir.path(), "127.0.0.1:0", &[]);
    let io = tokio::runtime::Runtime::new().unwrap();
    let (_endpoint, connections) = io.block_on(connect(&cluster, dir.path(), 4));
    // 64 uploads announce the largest component, send 16 MiB of it and go idle: held in memory,
    // they would take 1 GiB.
    let sent = Arc::new(AtomicUsize::new(0));
    let mut uploads = Vec::new();
    for (c, connection) in connections.iter().enumerate() {
        for n in 0..16 {
            let (connection, sent) = (connection.clone(), sent.clone());
            uploads.push(io.spawn(async move {
                let (mut send, _recv) = connection.open().await?;
                let digest = PluginDigest::of(format!("{c}-{n}").as_bytes());
                send.send(&SchedulerRequest::UploadPlugin { digest, len: MAX_COMPONENT }).await?;
                for _ in 0..HALF_SENT {
                    send.send_bytes(&ZEROS).await?;
                }
                sent.fetch_add(1, Ordering::Relaxed);
                std::future::pending::<()>().await;
                Ok::<_, TransportError>(())
            }));
        }
    }
    // The scheduler takes MAX_UPLOADS at once; the others wait, their bytes held back by flow
    // control at the sender.
    poll("uploads to be sent in part", || {
        let sent = sent.load(Ordering::Relaxed);
        if sent >= MAX_UPLOADS { Ok(()) } else { Err(format!("{sent} sent")) }
    });
    let peak_mib = cluster.peak_rss_kib() >> 10;
    assert!(peak_mib < 300, "the scheduler's peak resident set is {peak_mib} MiB");
    let partial = files(&plugin_dir(dir.path()));
    assert!(partial.len() <= MAX_UPLOADS, "at most {MAX_UPLOADS} uploads at once: {partial:?}");
    assert!(partial.iter().all(|name| name.ends_with(".part")), "nothing is stored: {partial:?}");
    assert_eq!(cluster.json(&["status"]), serde_json::json!([]), "the scheduler still answers");

    // The uploads' connections close: what they sent is removed.
    for connection in &connections {
        connection.close(0, "done");
    }
    uploads.iter().for_each(|upload| upload.abort());
    wait_until_no_plugin_files(dir.path(), "the half-sent uploads to be removed");
}

#[test]
fn oversized_uploads_and_requests_and_bytes_that_are_no_component_are_refused_and_nothing_stored() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::scheduler(dir.path(), "127.0.0.1:0", &[]);
    let io = tokio::runtime::Runtime::new().unwrap();
    io.block_on(async {
        let (_endpoint, connections) = connect(&cluster, dir.path(), 1).await;
        let connection = &connections[0];
        let digest = PluginDigest::of(b"big");
        let len = MAX_COMPONENT + 1;
        let refused = refusal(ask(connection, &SchedulerRequest::UploadPlugin { digest, len }, &ZEROS).await);
        let expected = RequestError::TooLarge { what: Oversized::Component, size: len, max: MAX_COMPONENT };
        assert_eq!(refused, expected);
        assert!(refused.to_string().contains("(256 MiB) the scheduler accepts"), "{refused}");

        let huge = submission(dir.path(), format!("# {}", "x".repeat(MAX_REQUEST)));
        let refused = refusal(ask(connection, &huge, &[]).await);
        assert!(
            matches!(refused, RequestError::TooLarge { what: Oversized::Request, max, .. }
                if max == MAX_REQUEST as u64),
            "{refused:?}"
        );

        let script = b"#!/bin/sh\necho hello\n";
        let len = script.len() as u64;
        let upload = SchedulerRequest::UploadPlugin { digest: PluginDigest::of(script), len };
        let refused = refusal(ask(connection, &upload, script).await);
        let RequestError::NotAComponent { reason, .. } = &refused else { panic!("{refused:?}") };
        assert!(reason.contains("not a valid WebAssembly component"), "{reason}");
        let wrong = SchedulerRequest::UploadPlugin { digest, len };
        let refused = refusal(ask(connection, &wrong, script).await);
        assert!(matches!(refused, RequestError::DigestMismatch { .. }), "{refused:?}");

        // Every refusal fails one stream: the connection goes on.
        let missing = ask(connection, &SchedulerRequest::MissingPlugins { digests: vec![digest] }, &[]).await;
        assert_eq!(missing, SchedulerResponse::Missing(vec![digest]));
    });
    assert!(files(&plugin_dir(dir.path())).is_empty(), "{:?}", files(&plugin_dir(dir.path())));
}

#[test]
fn oversized_names_manifests_and_configs_are_refused_at_their_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::scheduler(dir.path(), "127.0.0.1:0", &[]);
    readings_in(dir.path(), 1_000, 1);
    let refused = |text: &str| {
        let manifest = write_manifest(dir.path(), text);
        let output = cluster.client(&["submit", manifest.to_str().unwrap()]);
        assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
        stderr(&output)
    };
    let at_cap = "é".repeat(200);
    let message = refused(&job_named(&format!("{at_cap}x"), "out/"));
    assert!(
        message.contains("job.toml:1: top level: the job name is 201 characters long, more than the 200"),
        "{message}"
    );
    let big_config = format!(", padding = \"{}\"", "x".repeat(64 << 10));
    let text = job_named("config", "out/").replace(
        "schema = \"station:string,temperature:f64\"",
        &format!("schema = \"station:string,temperature:f64\"{big_config}"),
    );
    let message = refused(&text);
    let line = line_of(&text, "config = {");
    assert!(message.contains(&format!("job.toml:{line}: step \"parse\": the config is")), "{message}");
    let sinks: String = (0..1000)
        .map(|n| {
            format!("[[sink]]\nid = \"out-{n}\"\ninput = \"parse\"\nurl = \"out-{n}/\"\nplugin = \"std:format-csv\"\n")
        })
        .collect();
    let text = format!("{}{sinks}", job_named("many", "out/"));
    let message = refused(&text);
    // A source, a step and a sink, then 997 more sinks: the next is one too many.
    let line = line_of(&text, "[[sink]]\nid = \"out-997\"");
    assert!(
        message.contains(&format!("job.toml:{line}: sink #999: the manifest has more than 1000")),
        "{message}"
    );
    let text = format!("{}{}", job_named("long", "out/"), format!("# {}\n", "x".repeat(1000)).repeat(1100));
    let message = refused(&text);
    assert!(message.contains("top level: the manifest is 1"), "{message}");

    // The scheduler holds a submission to the same caps as the client.
    let io = tokio::runtime::Runtime::new().unwrap();
    let refused = io.block_on(async {
        let (_endpoint, connections) = connect(&cluster, dir.path(), 1).await;
        refusal(
            ask(&connections[0], &submission(dir.path(), job_named(&format!("{at_cap}x"), "out/")), &[])
                .await,
        )
    });
    let RequestError::InvalidJob { reason } = refused else { panic!("{refused:?}") };
    assert!(reason.starts_with("job.toml:1: top level: the job name is 201 characters long"), "{reason}");
    assert!(cluster.json(&["status"]).as_array().unwrap().is_empty(), "no job was accepted");
}

#[test]
fn a_plugin_file_that_is_no_component_is_never_uploaded() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::scheduler(dir.path(), "127.0.0.1:0", &[]);
    readings_in(dir.path(), 1_000, 1);
    let plugins = dir.path().join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::write(plugins.join("script.wasm"), "#!/bin/sh\necho hello\n").unwrap();
    std::fs::write(plugins.join("module.wasm"), b"\0asm\x01\0\0\0").unwrap();
    // Sparse: its size is known without writing 256 MiB.
    std::fs::File::create(plugins.join("huge.wasm")).unwrap().set_len(MAX_COMPONENT + 1).unwrap();
    for (file, why) in [
        (
            "script.wasm",
            "not a valid WebAssembly component: it does not start with the header of a WebAssembly component",
        ),
        ("module.wasm", "not a valid WebAssembly component: it is a core WebAssembly module"),
        ("huge.wasm", "is 268435457 bytes, larger than the 256 MiB a component may have"),
    ] {
        let text = job_named("not-a-component", "out/")
            .replace(
                "[[sink]]",
                &format!(
                    "[[step]]\nid = \"odd\"\ninput = \"parse\"\nplugin = \"plugins/{file}\"\n\n[[sink]]"
                ),
            )
            .replace("input = \"parse\"\nurl", "input = \"odd\"\nurl");
        let manifest = write_manifest(dir.path(), &text);
        let output = cluster.client(&["submit", manifest.to_str().unwrap()]);
        assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
        let message = stderr(&output);
        let line = line_of(&text, "[[step]]\nid = \"odd\"");
        let at = format!("job.toml:{line}: step \"odd\": plugin \"plugins/{file}\" cannot be used: ");
        assert!(message.contains(&at) && message.contains(why), "{message}");
    }
    assert!(files(&plugin_dir(dir.path())).is_empty(), "{:?}", files(&plugin_dir(dir.path())));
}

/// The test plugin with a custom section holding `marker` appended: the same operator, under a
/// digest of its own.
fn marked_test_plugin(marker: u8) -> Vec<u8> {
    let name = b"flicker-test-marker";
    let mut section = vec![name.len() as u8];
    section.extend_from_slice(name);
    section.push(marker);
    let mut bytes = guest_plugin("flicker-test-plugin");
    bytes.extend([0, section.len() as u8]);
    bytes.extend(section);
    bytes
}

/// The ids of the jobs `flicker status` lists.
fn listed(cluster: &Cluster) -> Vec<String> {
    let status = cluster.json(&["status"]);
    status.as_array().unwrap().iter().map(|job| job["job"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn finished_jobs_past_the_retention_are_forgotten_with_the_components_only_they_used() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::scheduler(dir.path(), "127.0.0.1:0", &["--retain-jobs", "2"]);
    cluster.add_executor(0, &["--slots", "2"]);
    cluster.wait_for_nodes(1);
    readings_in(dir.path(), 1_000, 3);
    let plugins = dir.path().join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    let mut jobs = Vec::new();
    let mut digests = Vec::new();
    for n in 0..4u8 {
        let component = marked_test_plugin(n);
        digests.push(PluginDigest::of(&component));
        std::fs::write(plugins.join(format!("echo-{n}.wasm")), component).unwrap();
        let text = job_named(&format!("job-{n}"), &format!("out-{n}/"))
            .replace(
                "[[sink]]",
                &format!(
                    "[[step]]\nid = \"echo\"\ninput = \"parse\"\nplugin = \"plugins/echo-{n}.wasm\"\n\
                     config = {{ behave = \"echo\" }}\n\n[[sink]]"
                ),
            )
            .replace("input = \"parse\"\nurl", "input = \"echo\"\nurl");
        let manifest = write_manifest(dir.path(), &text);
        let submitted = cluster.json(&["submit", manifest.to_str().unwrap(), "--wait"]);
        assert_eq!(submitted["state"], "succeeded", "{submitted}");
        jobs.push(submitted["job"].as_str().unwrap().to_owned());
    }
    // Each component, and the list of the tenants it belongs to.
    let stored = |digests: &[PluginDigest]| {
        digests
            .iter()
            .flat_map(|d| ["tenants", "wasm"].map(|ext| format!("{}.{ext}", d.to_hex())))
            .collect::<Vec<_>>()
    };
    let mut kept = stored(&digests[2..]);
    kept.sort();
    poll("the first two jobs' components to be removed", || {
        let left = files(&plugin_dir(dir.path()));
        if left == kept { Ok(()) } else { Err(format!("{left:?}")) }
    });
    assert_eq!(listed(&cluster), jobs[2..]);

    // Restarted, the scheduler has forgotten them too: they left its journal.
    drop(cluster);
    let cluster = Cluster::scheduler(dir.path(), "127.0.0.1:0", &["--retain-jobs", "10"]);
    assert_eq!(listed(&cluster), jobs[2..]);
    assert_eq!(files(&plugin_dir(dir.path())), kept);
    // Restarted with a retention shorter than their age, it forgets them at once.
    drop(cluster);
    let cluster = Cluster::scheduler(dir.path(), "127.0.0.1:0", &["--retain-for", "1ms"]);
    assert!(listed(&cluster).is_empty());
    wait_until_no_plugin_files(dir.path(), "the last components to be removed");
}

#[test]
fn status_works_after_hostile_submissions_at_the_caps_and_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::scheduler(dir.path(), "127.0.0.1:0", &[]);
    readings_in(dir.path(), 1_000, 1);
    let name = "é".repeat(200);
    // Names at the cap, manifests of nearly 1 MiB: no executor runs them, they wait.
    let padding = format!("# {}\n", "x".repeat(1000)).repeat(1000);
    for n in 0..3 {
        let manifest =
            write_manifest(dir.path(), &format!("{}{padding}", job_named(&name, &format!("out-{n}/"))));
        let output = cluster.client(&["submit", manifest.to_str().unwrap()]);
        assert!(output.status.success(), "{}", stderr(&output));
    }
    let status = |cluster: &Cluster| {
        let jobs = cluster.json(&["status"]);
        assert_eq!(jobs.as_array().unwrap().len(), 3, "{jobs}");
        assert!(jobs.as_array().unwrap().iter().all(|job| job["name"] == name.as_str()));
        let text = cluster.client(&["status"]);
        assert!(text.status.success(), "{}", stderr(&text));
    };
    status(&cluster);
    drop(cluster);
    status(&Cluster::scheduler(dir.path(), "127.0.0.1:0", &[]));
}
