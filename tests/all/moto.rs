//! An S3 server for tests: `moto_server` from PyPI (installed by `scripts/setup.sh`), started on a
//! free port of 127.0.0.1 and killed by PID when dropped.
//!
//! Shared by the end-to-end tests and the storage crate's contract suite (which includes this
//! file by path), so it uses nothing but the standard library.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The access key id every test uses.
pub const ACCESS_KEY_ID: &str = "flicker-test";

/// A running `moto_server`.
pub struct Moto {
    child: Child,
    endpoint: String,
}

impl Moto {
    /// Starts `moto_server` (`$FLICKER_MOTO_SERVER`, else `moto_server` on the `PATH`) and waits
    /// until it answers.
    pub fn start() -> Moto {
        let program = std::env::var("FLICKER_MOTO_SERVER").unwrap_or_else(|_| "moto_server".to_owned());
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let child = Command::new(&program)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| {
                panic!(
                    "cannot start {program:?} ({error}): run the tests with ./scripts/test.sh, which installs moto and sets FLICKER_MOTO_SERVER"
                )
            });
        let mut moto = Moto { child, endpoint: format!("http://127.0.0.1:{port}") };
        let deadline = Instant::now() + Duration::from_secs(60);
        while moto.request("GET", "/").is_none() {
            if let Ok(Some(status)) = moto.child.try_wait() {
                panic!("{program} exited at start-up: {status}");
            }
            assert!(Instant::now() < deadline, "{program} did not answer on port {port} within 60 s");
            std::thread::sleep(Duration::from_millis(50));
        }
        moto
    }

    /// Its URL, `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Creates bucket `name`.
    pub fn create_bucket(&self, name: &str) {
        let status = self.request("PUT", &format!("/{name}"));
        assert_eq!(status.as_deref(), Some("200"), "creating bucket {name}");
    }

    /// The `AWS_*` environment that points an S3 client at this server with `secret` as its
    /// secret access key.
    pub fn env(&self, secret: &str) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT", self.endpoint.as_str()),
            ("AWS_ALLOW_HTTP", "true"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID),
            ("AWS_SECRET_ACCESS_KEY", secret),
        ]
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect()
    }

    /// Sends an empty `method path` request; returns the response's status code, or `None`
    /// when the server does not answer (yet).
    fn request(&self, method: &str, path: &str) -> Option<String> {
        let address = self.endpoint.trim_start_matches("http://");
        let mut stream = TcpStream::connect(address).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {address}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).ok()?;
        let mut response = String::new();
        stream.read_to_string(&mut response).ok()?;
        Some(response.split_whitespace().nth(1)?.to_owned())
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
