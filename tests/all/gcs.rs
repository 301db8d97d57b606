//! Google Cloud Storage through the `flicker` binary: `gs://` locations opened with a service
//! account from the environment, from a cluster file and from a manifest's `[storage.gs]` table.
//!
//! The bucket is [`FakeGcs`], a read-only stand-in for GCS's XML API on 127.0.0.1 that records
//! every request. object_store's GCS client talks plain HTTP to it, without OAuth, when its
//! service-account file names it as `gcs_base_url` and sets `disable_oauth`.

use crate::cluster::{expected_max, readings_in};
use crate::run::{Reading, output_max, readings_job};
use crate::support::{assert_failed, assert_succeeded, flicker, toml_string, write_file, write_manifest};
use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// The bucket every [`FakeGcs`] of these tests serves.
const BUCKET: &str = "bucket";
/// When every object was last modified: as `Last-Modified` sends it (RFC 2822) …
const MODIFIED_HTTP: &str = "Thu, 01 Jan 2026 00:00:00 GMT";
/// … and as a listing gives it (RFC 3339).
const MODIFIED_XML: &str = "2026-01-01T00:00:00.000Z";
/// The source's split size in the jobs below: small, so each object is read in several splits.
const SPLIT_SIZE: u64 = 4 << 10;

/// One request as [`FakeGcs`] received it.
#[derive(Debug, Clone)]
struct Seen {
    /// `GET`, `HEAD`, …
    method: String,
    /// The path, percent-decoded: `/bucket/in/a.csv`.
    path: String,
    /// The query's name-value pairs, decoded, in order.
    query: Vec<(String, String)>,
    /// The `Range` header, if one was sent.
    range: Option<String>,
    /// Whether an `Authorization` header was sent.
    authorized: bool,
}

impl Seen {
    /// Whether this is a listing of `bucket`.
    fn lists(&self, bucket: &str) -> bool {
        self.method == "GET" && self.path == format!("/{bucket}") && self.param("list-type") == Some("2")
    }

    /// The value of query parameter `name`.
    fn param(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(n, _)| n == name).map(|(_, value)| value.as_str())
    }
}

/// A status line of a [`Response`].
#[derive(Debug, Clone, Copy)]
enum Status {
    Ok,
    PartialContent,
    BadRequest,
    NotFound,
    MethodNotAllowed,
    RangeNotSatisfiable,
}

impl Status {
    /// The code and reason phrase.
    fn line(self) -> &'static str {
        match self {
            Status::Ok => "200 OK",
            Status::PartialContent => "206 Partial Content",
            Status::BadRequest => "400 Bad Request",
            Status::NotFound => "404 Not Found",
            Status::MethodNotAllowed => "405 Method Not Allowed",
            Status::RangeNotSatisfiable => "416 Range Not Satisfiable",
        }
    }
}

/// What [`FakeGcs`] answers; `Content-Length` is the body's length (sent for `HEAD` too, without
/// the body).
struct Response {
    status: Status,
    content_type: &'static str,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

impl Response {
    /// A GCS XML error document.
    fn error(status: Status, code: &str, message: &str) -> Response {
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>{}</Message></Error>",
            xml_escape(message)
        );
        Response { status, content_type: "application/xml", headers: Vec::new(), body: body.into_bytes() }
    }

    /// Sends the response; the body only if `with_body`.
    fn write(&self, out: &mut impl Write, with_body: bool) -> io::Result<()> {
        let mut head = format!(
            "HTTP/1.1 {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n",
            self.status.line(),
            self.content_type,
            self.body.len()
        );
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        out.write_all(head.as_bytes())?;
        if with_body {
            out.write_all(&self.body)?;
        }
        out.flush()
    }
}

/// A read-only Google Cloud Storage bucket served over HTTP/1.1 on 127.0.0.1, the way GCS's XML
/// API answers object_store's GCS client: object `GET` (whole, or a `Range: bytes=a-b` slice with
/// 206 and `Content-Range`) and `HEAD` with `ETag` and `Last-Modified`, bucket listings
/// (`GET /<bucket>?list-type=2&prefix=…`, a `ListBucketResult` in one page), and `NoSuchBucket`
/// or `NoSuchKey` errors. Parameters it does not implement get a 400, writes a 405.
///
/// Each connection is served by a thread of its own; dropping the server stops accepting and
/// waits for its clients to hang up (the `flicker` processes of a test have exited by then).
struct FakeGcs {
    address: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

/// What the connection threads of a [`FakeGcs`] share.
struct Shared {
    bucket: String,
    /// Objects by key.
    objects: BTreeMap<String, Vec<u8>>,
    seen: Mutex<Vec<Seen>>,
    stopping: AtomicBool,
}

impl FakeGcs {
    /// Serves `objects` (by key) as the bucket `bucket` on a free port.
    fn start(bucket: &str, objects: BTreeMap<String, Vec<u8>>) -> FakeGcs {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding the fake GCS server");
        let address = listener.local_addr().expect("the fake GCS server's address");
        let shared = Arc::new(Shared {
            bucket: bucket.to_owned(),
            objects,
            seen: Mutex::default(),
            stopping: AtomicBool::new(false),
        });
        let acceptor = {
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || accept(&listener, &shared))
        };
        FakeGcs { address, shared, acceptor: Some(acceptor) }
    }

    /// Writes a service-account file into `dir` that points object_store's GCS client at this
    /// server, without OAuth; returns its path.
    fn service_account(&self, dir: &Path) -> PathBuf {
        let path = dir.join(format!("gcs-{}.json", self.address.port()));
        let account = serde_json::json!({
            "gcs_base_url": format!("http://{}", self.address),
            "disable_oauth": true,
            "private_key": "",
            "private_key_id": "",
            "client_email": "",
        });
        write_file(&path, &account.to_string());
        path
    }

    /// The requests received so far, in the order they were answered.
    fn requests(&self) -> Vec<Seen> {
        self.shared.seen.lock().expect("the request log").clone()
    }
}

impl Drop for FakeGcs {
    fn drop(&mut self) {
        // After a failed assertion, leave the server be: a second panic would abort the binary.
        if std::thread::panicking() {
            return;
        }
        self.shared.stopping.store(true, Ordering::SeqCst);
        // Wake the accept loop, which then sees the flag.
        TcpStream::connect(self.address).expect("waking the fake GCS server");
        let acceptor = self.acceptor.take().expect("a server is stopped once");
        acceptor.join().expect("the fake GCS server stops cleanly");
    }
}

/// Accepts connections until the server stops, then waits for every connection to end.
fn accept(listener: &TcpListener, shared: &Arc<Shared>) {
    let mut connections = Vec::new();
    for stream in listener.incoming() {
        if shared.stopping.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else { continue };
        let shared = Arc::clone(shared);
        connections.push(std::thread::spawn(move || serve(stream, &shared)));
    }
    for connection in connections {
        connection.join().expect("a connection thread of the fake GCS server panicked");
    }
}

/// Answers the requests of one keep-alive connection until the client hangs up or sends
/// something that is not HTTP/1.1.
fn serve(stream: TcpStream, shared: &Shared) {
    let Ok(mut out) = stream.try_clone() else { return };
    let mut reader = BufReader::new(stream);
    while let Some(request) = read_request(&mut reader) {
        let response = shared.answer(&request);
        let with_body = request.method != "HEAD";
        shared.seen.lock().expect("the request log").push(request);
        if response.write(&mut out, with_body).is_err() {
            return;
        }
    }
}

/// Reads one request (its body, if any, is skipped); `None` at the end of the connection or on
/// anything malformed.
fn read_request(reader: &mut impl BufRead) -> Option<Seen> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut words = line.split_whitespace();
    let (method, target) = (words.next()?, words.next()?);
    let (mut range, mut authorized, mut body_length) = (None, false, 0);
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).ok()? == 0 {
            return None;
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        match name.to_ascii_lowercase().as_str() {
            "range" => range = Some(value.trim().to_owned()),
            "authorization" => authorized = true,
            "content-length" => body_length = value.trim().parse().ok()?,
            _ => {}
        }
    }
    io::copy(&mut reader.by_ref().take(body_length), &mut io::sink()).ok()?;
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let query = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            Some((decode(name, true)?, decode(value, true)?))
        })
        .collect::<Option<_>>()?;
    Some(Seen { method: method.to_owned(), path: decode(path, false)?, query, range, authorized })
}

impl Shared {
    /// The response to `request`.
    fn answer(&self, request: &Seen) -> Response {
        if request.method != "GET" && request.method != "HEAD" {
            return Response::error(Status::MethodNotAllowed, "MethodNotAllowed", "this bucket is read-only");
        }
        let path = request.path.strip_prefix('/').unwrap_or(&request.path);
        let (bucket, key) = path.split_once('/').unwrap_or((path, ""));
        if bucket != self.bucket {
            return Response::error(Status::NotFound, "NoSuchBucket", "The specified bucket does not exist.");
        }
        if key.is_empty() { self.list(&request.query) } else { self.object(key, request) }
    }

    /// A listing of the objects whose key starts with the `prefix` parameter, in key order.
    fn list(&self, query: &[(String, String)]) -> Response {
        let mut prefix = "";
        for (name, value) in query {
            match name.as_str() {
                "list-type" if value == "2" => {}
                "prefix" => prefix = value,
                _ => return unsupported(&format!("the list parameter {name}={value}")),
            }
        }
        let listed: Vec<(&String, &Vec<u8>)> =
            self.objects.range(prefix.to_owned()..).take_while(|(key, _)| key.starts_with(prefix)).collect();
        let mut body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListBucketResult xmlns=\"http://doc.s3.amazonaws.com/2006-03-01\"><Name>{}</Name><Prefix>{}</Prefix><KeyCount>{}</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>",
            self.bucket,
            xml_escape(prefix),
            listed.len()
        );
        for (key, bytes) in listed {
            body.push_str(&format!(
                "<Contents><Key>{}</Key><LastModified>{MODIFIED_XML}</LastModified><ETag>{}</ETag><Size>{}</Size></Contents>",
                xml_escape(key),
                etag(bytes),
                bytes.len()
            ));
        }
        body.push_str("</ListBucketResult>");
        Response {
            status: Status::Ok,
            content_type: "application/xml",
            headers: Vec::new(),
            body: body.into_bytes(),
        }
    }

    /// The object `key`, or the slice of it that the request's `Range` asks for.
    fn object(&self, key: &str, request: &Seen) -> Response {
        let Some(bytes) = self.objects.get(key) else {
            return Response::error(Status::NotFound, "NoSuchKey", "The specified key does not exist.");
        };
        if let Some((name, value)) = request.query.first() {
            return unsupported(&format!("the object parameter {name}={value}"));
        }
        let mut headers = vec![("ETag", etag(bytes)), ("Last-Modified", MODIFIED_HTTP.to_owned())];
        let (status, body) = match request.range.as_deref().map(|range| byte_range(range, bytes.len())) {
            None => (Status::Ok, bytes.clone()),
            Some(Some(range)) => {
                headers.push((
                    "Content-Range",
                    format!("bytes {}-{}/{}", range.start, range.end - 1, bytes.len()),
                ));
                (Status::PartialContent, bytes[range].to_vec())
            }
            Some(None) => {
                headers.push(("Content-Range", format!("bytes */{}", bytes.len())));
                (Status::RangeNotSatisfiable, Vec::new())
            }
        };
        Response { status, content_type: "application/octet-stream", headers, body }
    }
}

/// A 400 for something this server does not implement.
fn unsupported(what: &str) -> Response {
    Response::error(
        Status::BadRequest,
        "InvalidArgument",
        &format!("the fake GCS server does not support {what}"),
    )
}

/// The bytes `bytes=a-b` or `bytes=a-` selects of an object of `size` bytes (the end clamped to
/// the size); `None` if it selects none or has another form (object_store's reads here send no
/// suffix range `bytes=-n`).
fn byte_range(header: &str, size: usize) -> Option<Range<usize>> {
    let (start, end) = header.strip_prefix("bytes=")?.split_once('-')?;
    let start: usize = start.parse().ok()?;
    let end = if end.is_empty() { size } else { end.parse::<usize>().ok()?.saturating_add(1).min(size) };
    (start < end).then_some(start..end)
}

/// A quoted entity tag of `bytes`, the same for the same content.
fn etag(bytes: &[u8]) -> String {
    let mut hasher = DefaultHasher::new();
    bytes.hash(&mut hasher);
    format!("\"{:016x}\"", hasher.finish())
}

/// `text` as XML character data.
fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Undoes percent-encoding (and, in a query, `+` for a space); `None` if the result is not UTF-8
/// or an escape is malformed.
fn decode(text: &str, plus_is_space: bool) -> Option<String> {
    let mut decoded = Vec::with_capacity(text.len());
    let mut bytes = text.bytes();
    while let Some(byte) = bytes.next() {
        match byte {
            b'%' => {
                let hex = [bytes.next()?, bytes.next()?];
                decoded.push(u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?);
            }
            b'+' if plus_is_space => decoded.push(b' '),
            other => decoded.push(other),
        }
    }
    String::from_utf8(decoded).ok()
}

/// `flicker`, run in `dir`, with none of the test's own Google Cloud settings (`GOOGLE_*`,
/// `SERVICE_ACCOUNT`) or cluster file (`FLICKER_CONFIG`, `./cluster.toml`): the GCS client sees
/// only what a test gives it.
fn flicker_in(dir: &Path) -> Command {
    let mut command = flicker();
    command.current_dir(dir).env_remove("FLICKER_CONFIG").env_remove("SERVICE_ACCOUNT");
    for (name, _) in std::env::vars_os() {
        if name.to_str().is_some_and(|name| name.starts_with("GOOGLE_")) {
            command.env_remove(name);
        }
    }
    command
}

/// Runs `flicker run MANIFEST --workers 2 --config CLUSTER_FILE` in the manifest's directory.
fn run_with_config(manifest: &Path, cluster_file: &Path) -> Output {
    let dir = manifest.parent().expect("a manifest has a directory");
    let mut command = flicker_in(dir);
    command.arg("run").arg(manifest).args(["--workers", "2", "--config"]).arg(cluster_file);
    command.output().expect("the flicker binary runs")
}

/// Writes `<dir>/node/cluster.toml` with `[storage.gs]` settings for `service_account` (a file
/// in `dir`), named by a path relative to the cluster file, which flicker resolves against the
/// file's directory (the tests run in `dir`, where that relative path leads nowhere); returns its
/// path.
fn write_cluster_file(dir: &Path, service_account: &Path) -> PathBuf {
    let path = dir.join("node").join("cluster.toml");
    let relative = Path::new("..").join(service_account.strip_prefix(dir).expect("an account file in dir"));
    let account = toml_string(relative.to_str().expect("a UTF-8 path"));
    write_file(&path, &format!("[storage.gs]\nservice_account_path = {account}\nallow_http = true\n"));
    path
}

/// The reference `std:max` job reading `source` (a `gs://` URL) in [`SPLIT_SIZE`] splits and
/// writing CSV to `out/`.
fn gcs_readings_job(source: &str) -> String {
    let local = readings_job("std:max", "", "out/");
    let job = local
        .replace("url = \"data/\"", &format!("url = \"{source}\""))
        .replace("split_size = \"64KiB\"", &format!("split_size = \"{}KiB\"", SPLIT_SIZE >> 10));
    assert!(
        job.contains(source) && job.contains("split_size = \"4KiB\""),
        "the reference job no longer reads `data/` in 64KiB splits:\n{local}"
    );
    job
}

/// `count` generated readings, written into `dir/data` and returned with the bucket objects
/// `readings/<file>` holding the same files.
fn readings_objects(dir: &Path, count: usize, seed: u64) -> (Vec<Reading>, BTreeMap<String, Vec<u8>>) {
    let readings = readings_in(dir, count, seed);
    let objects = std::fs::read_dir(dir.join("data"))
        .expect("listing the readings")
        .map(|entry| {
            let path = entry.expect("listing the readings").path();
            let name = path.file_name().and_then(|name| name.to_str()).expect("a UTF-8 file name");
            (format!("readings/{name}"), std::fs::read(&path).expect("reading a readings file"))
        })
        .collect();
    (readings, objects)
}

#[test]
fn ls_lists_a_gcs_prefix_with_the_service_account_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let objects: BTreeMap<String, Vec<u8>> = [
        ("in/_SUCCESS", ""),
        ("in/a.csv", "x,y\n1,2\n"),
        ("in/sub/b.csv", "x,y\n3,4\n5,6\n"),
        ("inbox/c.csv", "not below in/\n"),
    ]
    .into_iter()
    .map(|(key, text)| (key.to_owned(), text.as_bytes().to_vec()))
    .collect();
    let gcs = FakeGcs::start(BUCKET, objects.clone());
    let account = gcs.service_account(dir.path());

    let ls = flicker_in(dir.path())
        .args(["ls", "gs://bucket/in"])
        .env("GOOGLE_SERVICE_ACCOUNT", &account)
        .output()
        .expect("the flicker binary runs");

    let listed = assert_succeeded(&ls);
    let expected: String = objects
        .iter()
        .filter(|(key, _)| key.starts_with("in/"))
        .map(|(key, bytes)| format!("{:>12}  gs://bucket/{key}\n", bytes.len()))
        .collect();
    assert_eq!(listed, expected);
    let requests = gcs.requests();
    assert!(
        requests.iter().any(|r| r.lists(BUCKET) && r.param("prefix") == Some("in/")),
        "no listing of in/: {requests:#?}"
    );
    assert!(requests.iter().all(|r| !r.authorized), "a request carried credentials: {requests:#?}");
}

#[test]
fn a_job_reads_gcs_in_ranged_splits_with_the_cluster_files_settings() {
    let dir = tempfile::tempdir().unwrap();
    let (readings, objects) = readings_objects(dir.path(), 6_000, 31);
    let splits: u64 = objects.values().map(|bytes| (bytes.len() as u64).div_ceil(SPLIT_SIZE)).sum();
    let gcs = FakeGcs::start(BUCKET, objects);
    let cluster_file = write_cluster_file(dir.path(), &gcs.service_account(dir.path()));
    let manifest = write_manifest(dir.path(), &gcs_readings_job("gs://bucket/readings/"));

    let summary = assert_succeeded(&run_with_config(&manifest, &cluster_file));

    assert!(summary.contains("rows in 6000 (skipped 0)"), "{summary}");
    assert_eq!(output_max(&dir.path().join("out")), expected_max(&readings));
    let requests = gcs.requests();
    let ranged = requests.iter().filter(|r| r.method == "GET" && r.range.is_some()).count() as u64;
    assert!(ranged >= splits, "{ranged} ranged GETs for {splits} splits: {requests:#?}");
    assert!(requests.iter().all(|r| !r.authorized), "a request carried credentials: {requests:#?}");
}

#[test]
fn a_manifest_tunes_gcs_requests_but_cannot_send_them_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    let (readings, objects) = readings_objects(dir.path(), 2_000, 32);
    let gcs = FakeGcs::start(BUCKET, objects);
    let cluster_file = write_cluster_file(dir.path(), &gcs.service_account(dir.path()));
    // A job naming another server (which would get the node's credentials) is refused.
    let decoy = FakeGcs::start(BUCKET, BTreeMap::new());
    let account = decoy.service_account(dir.path());
    let account = toml_string(account.to_str().expect("a UTF-8 path"));
    let job = gcs_readings_job("gs://bucket/readings/");
    let redirecting =
        write_manifest(dir.path(), &format!("{job}\n[storage.gs]\nservice_account_path = {account}\n"));
    let error = assert_failed(&run_with_config(&redirecting, &cluster_file));
    assert!(error.contains("storage.gs: bad value for \"service_account_path\""), "{error}");
    assert!(error.contains("only the nodes' environment or cluster.toml may set it"), "{error}");
    assert!(decoy.requests().is_empty(), "the job's server was asked: {:#?}", decoy.requests());

    // Request settings are the job's to choose.
    let tuned = write_manifest(
        dir.path(),
        &format!("{job}\n[storage.gs]\ntimeout = \"20s\"\nconnect_timeout = \"5s\"\n"),
    );
    let summary = assert_succeeded(&run_with_config(&tuned, &cluster_file));
    assert!(summary.contains("rows in 2000 (skipped 0)"), "{summary}");
    assert_eq!(output_max(&dir.path().join("out")), expected_max(&readings));
    assert!(decoy.requests().is_empty());
}

#[test]
fn a_missing_gcs_bucket_fails_the_job_naming_the_url() {
    let dir = tempfile::tempdir().unwrap();
    let gcs = FakeGcs::start(BUCKET, BTreeMap::new());
    let cluster_file = write_cluster_file(dir.path(), &gcs.service_account(dir.path()));
    let manifest = write_manifest(dir.path(), &gcs_readings_job("gs://missing/readings/"));

    let error = assert_failed(&run_with_config(&manifest, &cluster_file));

    assert!(error.contains("gs://missing/readings"), "{error}");
    assert!(!error.contains("panicked"), "{error}");
    let requests = gcs.requests();
    assert!(requests.iter().any(|r| r.lists("missing")), "the missing bucket was not listed: {requests:#?}");
    assert!(!dir.path().join("out").join("_SUCCESS").exists());
}
