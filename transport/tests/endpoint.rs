//! Real QUIC connections on 127.0.0.1 between endpoints of one or two clusters.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use flicker_protocol::{FrameError, MAX_FRAME, PROTOCOL_VERSION, alpn};
use flicker_transport::certs::{self, CertError};
use flicker_transport::{
    Connection, ConnectionLimit, Endpoint, EndpointConfig, EphemeralCa, FrameReceiver, FrameSender, Identity,
    Peer, Role, STREAM_WINDOW, TransportError,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

#[derive(Debug, PartialEq, Serialize, Deserialize)]
enum Request {
    Ping(u32),
    /// Followed by `len` raw bytes, which the server sends back.
    Echo {
        len: u64,
    },
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
enum Response {
    Pong(u32),
    /// Followed by `len` raw bytes.
    Echo {
        len: u64,
    },
}

/// What the test server saw.
#[derive(Debug)]
enum Event {
    Established { peer: Option<String> },
    Refused(TransportError),
    StreamFailed(TransportError),
}

struct Server {
    addr: SocketAddr,
    /// The role of the server's certificate, which clients connect to.
    role: Role,
    events: mpsc::UnboundedReceiver<Event>,
}

impl Server {
    async fn next_event(&mut self) -> Event {
        bounded(self.events.recv()).await.expect("the server stopped")
    }
}

const LOCALHOST: &str = "127.0.0.1:0";
const ECHO_LIMIT: u64 = 8 << 20;

/// Every wait in these tests is bounded by this, as an upper limit only.
async fn bounded<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(10), future).await.expect("timed out")
}

fn endpoint(identity: Identity, version: u32) -> Endpoint {
    let mut config = EndpointConfig::new(identity);
    config.version = version;
    Endpoint::bind(LOCALHOST.parse().unwrap(), config).unwrap()
}

/// A server answering [`Request`]s, one task per incoming connection and per stream.
fn serve(identity: Identity, version: u32) -> Server {
    let role = identity.peer().map_or(Role::Client, |peer| peer.role);
    let endpoint = endpoint(identity, version);
    let addr = endpoint.local_addr().unwrap();
    let (events, receiver) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(incoming) = endpoint.accept().await {
            let events = events.clone();
            tokio::spawn(async move {
                match incoming.establish(&[Role::Scheduler, Role::Executor, Role::Client]).await {
                    Ok(connection) => {
                        let _ = events.send(Event::Established { peer: connection.peer_name() });
                        serve_connection(connection, events).await;
                    }
                    Err(error) => {
                        let _ = events.send(Event::Refused(error));
                    }
                }
            });
        }
    });
    Server { addr, role, events: receiver }
}

async fn serve_connection(connection: Connection, events: mpsc::UnboundedSender<Event>) {
    while let Ok(Some((recv, send))) = connection.accept_stream().await {
        let events = events.clone();
        tokio::spawn(async move {
            if let Err(error) = answer(recv, send).await {
                let _ = events.send(Event::StreamFailed(error));
            }
        });
    }
}

async fn answer(mut recv: FrameReceiver, mut send: FrameSender) -> Result<(), TransportError> {
    match recv.recv::<Request>().await? {
        Some(Request::Ping(n)) => send.send(&Response::Pong(n)).await?,
        Some(Request::Echo { len }) => {
            let payload = recv.recv_bytes(len, ECHO_LIMIT).await?;
            send.send(&Response::Echo { len }).await?;
            send.send_bytes(&payload).await?;
        }
        None => {}
    }
    send.finish()
}

async fn ping(connection: &Connection, n: u32) {
    assert_eq!(bounded(connection.call::<_, Response>(&Request::Ping(n))).await.unwrap(), Response::Pong(n));
}

/// Connects with `identity` and checks that the server answers.
async fn connect_and_ping(server: &mut Server, identity: Identity) -> Connection {
    let connection =
        bounded(endpoint(identity, PROTOCOL_VERSION).connect(server.addr, server.role)).await.unwrap();
    assert!(matches!(server.next_event().await, Event::Established { .. }));
    ping(&connection, 7).await;
    connection
}

fn cluster() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    certs::init_cluster(dir.path()).unwrap();
    dir
}

fn load(dir: &Path, name: &str) -> Identity {
    Identity::load(dir, name).unwrap()
}

/// Connects with a client made from raw rustls parts (trusting the CA of `trusted`, presenting
/// `certificate` if any) and tries the version hello. A server that refuses the client must make
/// this fail.
async fn raw_hello(
    addr: SocketAddr,
    trusted: &Path,
    certificate: Option<(&Path, &str)>,
) -> Result<u32, Box<dyn std::error::Error>> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from_pem_file(trusted.join("ca.pem")).unwrap()).unwrap();
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots);
    let mut tls = match certificate {
        None => builder.with_no_client_auth(),
        Some((dir, name)) => {
            let chain = vec![CertificateDer::from_pem_file(dir.join(format!("{name}.pem"))).unwrap()];
            let key = PrivateKeyDer::from_pem_file(dir.join(format!("{name}.key"))).unwrap();
            builder.with_client_auth_cert(chain, key).unwrap()
        }
    };
    tls.alpn_protocols = vec![alpn(PROTOCOL_VERSION)];
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls).unwrap();
    let mut endpoint = quinn::Endpoint::client(LOCALHOST.parse().unwrap()).unwrap();
    endpoint.set_default_client_config(quinn::ClientConfig::new(Arc::new(crypto)));
    let hello = async {
        let connection = endpoint.connect(addr, &Role::Scheduler.server_name())?.await?;
        let (mut send, mut recv) = connection.open_bi().await?;
        send.write_all(&PROTOCOL_VERSION.to_le_bytes()).await?;
        send.finish()?;
        let mut version = [0; 4];
        recv.read_exact(&mut version).await?;
        Ok(u32::from_le_bytes(version))
    };
    bounded(hello).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_and_large_payloads_round_trip() {
    let dir = cluster();
    let mut server = serve(load(dir.path(), "scheduler"), PROTOCOL_VERSION);
    let connection =
        bounded(endpoint(load(dir.path(), "client"), PROTOCOL_VERSION).connect(server.addr, server.role))
            .await
            .unwrap();
    match server.next_event().await {
        Event::Established { peer } => assert_eq!(peer.as_deref(), Some("client")),
        other => panic!("expected a connection, got {other:?}"),
    }
    assert_eq!(connection.peer_name().as_deref(), Some("scheduler"));
    ping(&connection, 1).await;

    let payload: Vec<u8> = (0..5u32 << 20).map(|i| (i * 31 % 251) as u8).collect();
    let echoed = bounded(async {
        let (mut send, mut recv) = connection.open().await?;
        send.send(&Request::Echo { len: payload.len() as u64 }).await?;
        send.send_bytes(&payload).await?;
        send.finish()?;
        let Some(Response::Echo { len }) = recv.recv().await? else { panic!("expected an echo") };
        let mut echoed = Vec::with_capacity(len as usize);
        recv.recv_bytes_into(&mut echoed, len).await?;
        let beyond = recv.recv_bytes_into(&mut echoed, 1).await;
        assert!(matches!(beyond, Err(TransportError::Truncated { expected: 1, got: 0 })), "{beyond:?}");
        Ok::<_, TransportError>(echoed)
    })
    .await
    .unwrap();
    assert!(echoed == payload, "the payload came back damaged");
}

/// A peer refused once the connection is established (as the scheduler refuses a certificate
/// holding too many connections) reads the reason, not a reset, whatever the datagram size.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_refused_once_established_gets_its_reason() {
    let dir = cluster();
    let server = endpoint(load(dir.path(), "scheduler"), PROTOCOL_VERSION);
    let addr = server.local_addr().unwrap();
    let limit = ConnectionLimit::new(0);
    tokio::spawn(async move {
        while let Some(incoming) = server.accept().await {
            let limit = limit.clone();
            tokio::spawn(async move {
                if let Ok(connection) = incoming.establish(&[Role::Client]).await {
                    assert!(limit.admit(&connection).is_none());
                }
            });
        }
    });
    let client = endpoint(load(dir.path(), "client"), PROTOCOL_VERSION);
    for _ in 0..10 {
        let refused = bounded(async {
            let connection = client.connect(addr, Role::Scheduler).await?;
            connection.call::<_, Response>(&Request::Ping(1)).await
        })
        .await;
        let error = refused.expect_err("every connection is refused");
        assert!(error.to_string().contains("holds 0 connections already"), "{error}");
    }
}

/// The output of `future` if it is ready at its first poll (a write within the stream's window
/// is: it only queues the bytes).
fn ready_at_once<F: Future>(future: F) -> Option<F::Output> {
    let mut future = std::pin::pin!(future);
    match future.as_mut().poll(&mut std::task::Context::from_waker(std::task::Waker::noop())) {
        std::task::Poll::Ready(output) => Some(output),
        std::task::Poll::Pending => None,
    }
}

#[tokio::test]
async fn a_stream_takes_its_window_ahead_of_its_reader_and_no_more() {
    let dir = cluster();
    // A server that establishes the connection and never reads a stream.
    let server = endpoint(load(dir.path(), "scheduler"), PROTOCOL_VERSION);
    let addr = server.local_addr().unwrap();
    let held = tokio::spawn(async move {
        let connection = server.accept().await.unwrap().establish(&[Role::Executor]).await.unwrap();
        connection.closed().await
    });
    let connection =
        bounded(endpoint(load(dir.path(), "executor"), PROTOCOL_VERSION).connect(addr, Role::Scheduler))
            .await
            .unwrap();
    let (mut send, _recv) = bounded(connection.open()).await.unwrap();
    let chunk = vec![7; 50_000];
    let mut queued = 0;
    while let Some(sent) = ready_at_once(send.send_bytes(&chunk)) {
        sent.unwrap();
        queued += chunk.len();
        assert!(queued <= STREAM_WINDOW as usize, "{queued} bytes queued ahead of the reader");
    }
    // Every whole chunk the window holds (quinn's default window would have taken half).
    assert_eq!(queued, STREAM_WINDOW as usize / chunk.len() * chunk.len());
    // Not closed: a close behind 2.5 MB of queued bytes may wait for the congestion window.
    held.abort();
}

#[tokio::test]
async fn a_certificate_of_another_cluster_is_refused() {
    let (dir, other) = (cluster(), cluster());
    let mut server = serve(load(dir.path(), "scheduler"), PROTOCOL_VERSION);

    // A process of the other cluster does not trust the server either: it refuses first.
    let refused =
        bounded(endpoint(load(other.path(), "client"), PROTOCOL_VERSION).connect(server.addr, server.role))
            .await;
    assert!(matches!(refused, Err(TransportError::Connection { .. })), "{refused:?}");
    assert!(matches!(server.next_event().await, Event::Refused(TransportError::Connection { .. })));

    // A client that trusts this cluster's CA but presents the other cluster's certificate.
    assert!(raw_hello(server.addr, dir.path(), Some((other.path(), "client"))).await.is_err());
    match server.next_event().await {
        Event::Refused(error @ TransportError::Connection { .. }) => {
            assert!(error.to_string().contains("refused the peer's certificate"), "{error}")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }

    connect_and_ping(&mut server, load(dir.path(), "client")).await;
}

#[tokio::test]
async fn a_client_without_certificate_is_refused() {
    let dir = cluster();
    let mut server = serve(load(dir.path(), "scheduler"), PROTOCOL_VERSION);
    assert!(raw_hello(server.addr, dir.path(), None).await.is_err());
    assert!(matches!(server.next_event().await, Event::Refused(TransportError::Connection { .. })));
    // The same raw client with a certificate of the cluster gets its answer: the refusal above
    // was about the certificate.
    assert_eq!(
        raw_hello(server.addr, dir.path(), Some((dir.path(), "client"))).await.unwrap(),
        PROTOCOL_VERSION
    );
    assert!(matches!(server.next_event().await, Event::Established { .. }));
    connect_and_ping(&mut server, load(dir.path(), "client")).await;
}

#[tokio::test]
async fn processes_of_different_versions_part_with_both_versions() {
    let dir = cluster();
    // This build's server, and a client of the next version.
    let (ours, newer) = (PROTOCOL_VERSION, PROTOCOL_VERSION + 1);
    let mut server = serve(load(dir.path(), "scheduler"), ours);
    let refused =
        bounded(endpoint(load(dir.path(), "client"), newer).connect(server.addr, server.role)).await;
    match refused {
        Err(error @ TransportError::VersionMismatch { local, remote })
            if (local, remote) == (newer, ours) =>
        {
            let message = error.to_string();
            assert!(
                message.contains(&format!("protocol {newer}")) && message.contains(&format!("speaks {ours}")),
                "{message}"
            );
        }
        other => panic!("expected a version mismatch, got {other:?}"),
    }
    assert!(matches!(
        server.next_event().await,
        Event::Refused(TransportError::VersionMismatch { local, remote }) if (local, remote) == (ours, newer)
    ));
    connect_and_ping(&mut server, load(dir.path(), "client")).await;
}

#[tokio::test]
async fn a_bad_frame_fails_its_stream_only() {
    let dir = cluster();
    let mut server = serve(load(dir.path(), "scheduler"), PROTOCOL_VERSION);
    let connection = connect_and_ping(&mut server, load(dir.path(), "executor")).await;
    type Expected = fn(&FrameError) -> bool;
    let garbage: [(&[u8], Expected); 3] = [
        // A header announcing 4 GiB.
        (&u32::MAX.to_le_bytes(), |e| *e == FrameError::TooLarge { size: u32::MAX as usize, max: MAX_FRAME }),
        // A body cut short.
        (&[10, 0, 0, 0, 1, 2], |e| *e == FrameError::Truncated { expected: 14, got: 6 }),
        // A body that is no `Request`.
        (&[2, 0, 0, 0, 9, 9], |e| matches!(e, FrameError::Malformed { .. })),
    ];
    for (bytes, expected) in garbage {
        bounded(async {
            let (mut send, _recv) = connection.open().await?;
            send.send_bytes(bytes).await?;
            send.finish()
        })
        .await
        .unwrap();
        match server.next_event().await {
            Event::StreamFailed(TransportError::Frame { source }) => assert!(expected(&source), "{source:?}"),
            other => panic!("expected a frame error, got {other:?}"),
        }
        ping(&connection, 2).await;
    }
}

#[tokio::test]
async fn issued_certificates_serve_and_connect_as_their_role_allows() {
    let dir = cluster();
    assert!(matches!(
        certs::issue(dir.path(), "exec/2", Role::Executor, None, 30),
        Err(CertError::InvalidName { .. })
    ));
    certs::issue(dir.path(), "exec-2", Role::Executor, None, 30).unwrap();

    // An executor with its own certificate connects, and serves.
    let mut server = serve(load(dir.path(), "scheduler"), PROTOCOL_VERSION);
    connect_and_ping(&mut server, load(dir.path(), "exec-2")).await;
    let mut executor = serve(load(dir.path(), "exec-2"), PROTOCOL_VERSION);
    let connection = connect_and_ping(&mut executor, load(dir.path(), "scheduler")).await;
    assert_eq!(connection.peer(), Some(Peer { name: "exec-2".into(), role: Role::Executor, tenant: None }));

    // An executor's certificate cannot pose as the scheduler: asked for by role, it is refused.
    let posing = bounded(
        endpoint(load(dir.path(), "client"), PROTOCOL_VERSION).connect(executor.addr, Role::Scheduler),
    )
    .await;
    match posing {
        Err(error @ TransportError::Connection { .. }) => {
            assert!(error.to_string().contains("this process refused the peer's certificate"), "{error}")
        }
        other => panic!("expected a refused certificate, got {other:?}"),
    }
    assert!(matches!(executor.next_event().await, Event::Refused(_)));

    // A client certificate cannot serve: nodes refuse it.
    let mut impostor = serve(load(dir.path(), "client"), PROTOCOL_VERSION);
    let refused = bounded(
        endpoint(load(dir.path(), "scheduler"), PROTOCOL_VERSION).connect(impostor.addr, impostor.role),
    )
    .await;
    match refused {
        Err(error @ TransportError::Connection { .. }) => {
            assert!(error.to_string().contains("this process refused the peer's certificate"), "{error}")
        }
        other => panic!("expected a refused certificate, got {other:?}"),
    }
    match impostor.next_event().await {
        Event::Refused(error) => {
            assert!(error.to_string().contains("the peer refused this process's certificate"), "{error}")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn identities_of_an_ephemeral_ca_talk_and_name_their_role() {
    let ca = EphemeralCa::new().unwrap();
    let mut server = serve(ca.identity("boss", Role::Scheduler).unwrap(), PROTOCOL_VERSION);
    let connection = connect_and_ping(&mut server, ca.identity("alice", Role::Client).unwrap()).await;
    assert_eq!(connection.peer(), Some(Peer { name: "boss".into(), role: Role::Scheduler, tenant: None }));
}

/// A process that closes its connection with `close_and_send` and exits at once (here: its
/// runtime is dropped as soon as the call returns) has told its peer, which reads the
/// application's close rather than waiting out its idle timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_closed_and_sent_reaches_the_peer_even_if_the_process_ends_at_once() {
    let dir = cluster();
    let server = endpoint(load(dir.path(), "scheduler"), PROTOCOL_VERSION);
    let addr = server.local_addr().unwrap();
    let (closed, mut reasons) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(incoming) = server.accept().await {
            let closed = closed.clone();
            tokio::spawn(async move {
                let connection = incoming.establish(&[Role::Client]).await.unwrap();
                tokio::spawn(serve_connection(connection.clone(), mpsc::unbounded_channel().0));
                let _ = closed.send(connection.closed().await);
            });
        }
    });
    let client = load(dir.path(), "client");
    for round in 0..5 {
        let client = client.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async {
                let connection =
                    bounded(endpoint(client, PROTOCOL_VERSION).connect(addr, Role::Scheduler)).await.unwrap();
                ping(&connection, round).await;
                connection.close_and_send(7, "done", Duration::from_secs(5)).await;
            });
            runtime.shutdown_background();
        })
        .join()
        .unwrap();
        // The idle timeout (6 s) would end the connection with `TimedOut` before this bound.
        match bounded(reasons.recv()).await.unwrap() {
            quinn::ConnectionError::ApplicationClosed(close) => {
                assert_eq!((close.error_code.into_inner(), &close.reason[..]), (7, &b"done"[..]))
            }
            other => panic!("round {round}: the server saw {other:?}, not the client's close"),
        }
    }
}
