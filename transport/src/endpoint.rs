//! One QUIC endpoint per process: it accepts connections and opens them, with mutual TLS against
//! the cluster CA and the version hello.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use flicker_protocol::{FALLBACK_ALPN, MAX_FRAME, PROTOCOL_VERSION, alpn};
use quinn::congestion::CubicConfig;
use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use quinn::{IdleTimeout, MtuDiscoveryConfig, TransportConfig, VarInt};
use rustls::sign::SingleCertAndKey;

use crate::certs::crypto_provider;
use crate::socket::SplitSocket;
use crate::{Connection, Identity, Role, TransportError};

/// How a process's endpoint presents itself and what it accepts.
#[derive(Debug, Clone)]
pub struct EndpointConfig {
    /// The certificate this process presents and the CA it trusts.
    pub identity: Identity,
    /// The protocol version this process speaks; [`PROTOCOL_VERSION`] but in tests.
    pub version: u32,
    /// The largest frame body sent or received, [`MAX_FRAME`] by default.
    pub max_frame: usize,
    /// A connection with no traffic for this long is closed, so a peer that vanished (killed, or
    /// its machine gone) is noticed; 6 s by default.
    pub idle_timeout: Duration,
    /// How often an idle connection is kept alive; 1 s by default.
    pub keep_alive: Duration,
    /// How many request streams a peer may have open on one connection at once,
    /// [`MAX_STREAMS`] by default; a peer's request beyond it waits for one of its streams to end.
    pub max_streams: u32,
}

/// How many request streams a peer may have open at once on one connection, by default.
///
/// Every request is one bidirectional stream, open until it is answered. What the protocol needs
/// at once on one connection: from the scheduler to an executor, one stream per task running or
/// queued there (its slots, plus one) and one per job ending; from an executor to the scheduler,
/// a heartbeat and the component fetches of its starting tasks; from an executor to another's
/// BTS, up to 8 fetches per reduce task (the executor raises its own limit with its slots, see
/// `flicker-executor`); from a client, a request or a watch at a time. 64 is room for all that,
/// while a peer cannot make this process hold more than 64 streams' receive windows
/// ([`STREAM_WINDOW`] each) of bytes it has not read per connection. Peers open no
/// unidirectional streams.
pub const MAX_STREAMS: u32 = 64;

/// The largest UDP payload an endpoint sends or accepts: the most IPv6 allows. MTU discovery
/// starts from quinn's safe 1,200 bytes and searches up to this, so a path gets the largest
/// datagrams it carries: 1,452 bytes on Ethernet, about 64 KiB on loopback (its MTU is 65,536),
/// which is 45 times fewer packets to number, encrypt, acknowledge and hand to the kernel.
pub const MAX_UDP_PAYLOAD: u16 = 65_527;

/// The congestion window a connection starts with: ten datagrams of [`MAX_UDP_PAYLOAD`] bytes,
/// as quinn's default is ten of 1,472.
///
/// quinn counts a packet it is about to send as a whole datagram of the path's MTU against the
/// window, and its default window (14,720 bytes, raised to two datagrams when MTU discovery raises
/// the MTU) holds two datagrams of 64 KiB: with one MTU probe in flight, nothing could be sent until
/// it was acknowledged. A connection closed in that moment never sent its CONNECTION_CLOSE at all
/// (quinn-proto 0.11.19 holds the close back like the data still queued, and a closed connection
/// no longer reads the acknowledgements that would open the window: quinn issue 2785), so a peer
/// refused as its connection was established got a stateless reset three PTOs later instead of its
/// reason. Ten datagrams leave room for a probe and the close.
pub const INITIAL_WINDOW: u64 = 10 * MAX_UDP_PAYLOAD as u64;

/// The bytes a peer may send on one stream ahead of what this process has read: 2.5 MB, twice
/// quinn's default.
///
/// A shuffle fetch keeps a stream per large block in flight, and its reader is a decoder thread
/// that sleeps whenever it has caught up; on a machine whose idle CPUs halt, waking it (and the
/// thread that reads the socket) takes from tens of microseconds to a millisecond. With quinn's
/// 1.25 MB a BTS found its stream window used up about once per 15 datagrams of a fetch; twice
/// that, with the fetcher queueing more for its decoder (`flicker-bts`), keeps the BTS sending
/// through those wake-ups (about 5 % faster fetches, docs/PERFORMANCE.md). It is no connection
/// window: a stream nobody reads never holds back the others.
pub const STREAM_WINDOW: u32 = 2_500_000;

/// The size asked for the UDP socket's kernel send and receive buffers (Linux grants at most
/// `net.core.rmem_max` and `wmem_max`). The default of ~208 KiB holds three loopback-sized
/// datagrams: a burst of a bulk transfer overflowed it, and every datagram dropped was a
/// retransmission and a smaller congestion window.
pub const SOCKET_BUFFER: usize = 4 << 20;

impl EndpointConfig {
    /// The default configuration for `identity`.
    pub fn new(identity: Identity) -> Self {
        Self {
            identity,
            version: PROTOCOL_VERSION,
            max_frame: MAX_FRAME,
            idle_timeout: Duration::from_secs(6),
            keep_alive: Duration::from_secs(1),
            max_streams: MAX_STREAMS,
        }
    }
}

/// A process's QUIC endpoint: accepts connections from the cluster and opens connections to it.
/// Cheap to clone.
#[derive(Debug, Clone)]
pub struct Endpoint {
    inner: quinn::Endpoint,
    version: u32,
    max_frame: usize,
}

impl Endpoint {
    /// Binds a UDP socket to `addr` (port 0 picks a free port). Must be called inside a tokio
    /// runtime.
    pub fn bind(addr: SocketAddr, config: EndpointConfig) -> Result<Endpoint, TransportError> {
        let transport = Arc::new(transport_config(&config)?);
        // The first protocol is preferred; peers of another version meet on the fallback.
        let protocols = vec![alpn(config.version), FALLBACK_ALPN.to_vec()];
        let mut server =
            quinn::ServerConfig::with_crypto(Arc::new(server_crypto(&config, protocols.clone())?));
        server.transport_config(transport.clone());
        let mut client = quinn::ClientConfig::new(Arc::new(client_crypto(&config, protocols)?));
        client.transport_config(transport);
        let mut inner = quinn::Endpoint::new_with_abstract_socket(
            quinn_endpoint_config()?,
            Some(server),
            udp_socket(addr)?,
            Arc::new(quinn::TokioRuntime),
        )
        .map_err(|source| TransportError::Bind { addr, source })?;
        inner.set_default_client_config(client);
        Ok(Endpoint { inner, version: config.version, max_frame: config.max_frame })
    }

    /// The address the endpoint is bound to.
    pub fn local_addr(&self) -> Result<SocketAddr, TransportError> {
        self.inner.local_addr().map_err(|source| TransportError::Io { source })
    }

    /// Connects to the process at `addr`, which must hold a certificate of `role` (its
    /// certificate carries [`Role::server_name`]: another role's is refused by TLS). Returns once
    /// the peer has accepted this process's certificate and both agreed on the protocol version.
    pub async fn connect(&self, addr: SocketAddr, role: Role) -> Result<Connection, TransportError> {
        let connecting = self
            .inner
            .connect(addr, &role.server_name())
            .map_err(|source| TransportError::Connect { addr, source })?;
        let connection = Connection::new(connecting.await?, self.max_frame);
        connection.offer_version(self.version).await?;
        Ok(connection)
    }

    /// Waits for the next incoming connection; `None` once the endpoint is closed. Establish it
    /// with [`Incoming::establish`], in a task of its own so that one slow or refused peer does
    /// not hold up the others.
    pub async fn accept(&self) -> Option<Incoming> {
        let incoming = self.inner.accept().await?;
        Some(Incoming { inner: incoming, version: self.version, max_frame: self.max_frame })
    }

    /// Closes every connection at once and stops accepting.
    pub fn close(&self) {
        self.inner.close(VarInt::from_u32(0), b"endpoint closed");
    }

    /// Waits until every connection is closed and the peers have been told.
    pub async fn wait_idle(&self) {
        self.inner.wait_idle().await;
    }
}

/// A connection attempt from a peer, not yet authenticated.
#[derive(Debug)]
pub struct Incoming {
    inner: quinn::Incoming,
    version: u32,
    max_frame: usize,
}

impl Incoming {
    /// The address the attempt comes from (not verified yet).
    pub fn remote_address(&self) -> SocketAddr {
        self.inner.remote_address()
    }

    /// Runs the handshake (the peer must present a certificate signed by the cluster CA, of one
    /// of the roles `allowed`: any other is refused, with the reason sent to the peer and logged)
    /// and the version hello. An error concerns this peer only: log it and keep accepting.
    pub async fn establish(self, allowed: &[Role]) -> Result<Connection, TransportError> {
        let connection = Connection::new(self.inner.await?, self.max_frame);
        connection.admit(allowed)?;
        connection.answer_version(self.version).await?;
        Ok(connection)
    }
}

/// A UDP socket bound to `addr` with [`SOCKET_BUFFER`]-sized kernel buffers, its large sends cut
/// to what the kernel accepts ([`SplitSocket`]).
fn udp_socket(addr: SocketAddr) -> Result<Arc<dyn quinn::AsyncUdpSocket>, TransportError> {
    let bind_error = |source| TransportError::Bind { addr, source };
    let socket = std::net::UdpSocket::bind(addr).map_err(bind_error)?;
    let state = quinn::udp::UdpSocketState::new((&socket).into()).map_err(bind_error)?;
    state.set_recv_buffer_size((&socket).into(), SOCKET_BUFFER).map_err(bind_error)?;
    state.set_send_buffer_size((&socket).into(), SOCKET_BUFFER).map_err(bind_error)?;
    let socket = quinn::Runtime::wrap_udp_socket(&quinn::TokioRuntime, socket).map_err(bind_error)?;
    Ok(SplitSocket::new(socket))
}

/// The endpoint's own settings: it accepts datagrams of up to [`MAX_UDP_PAYLOAD`] bytes.
fn quinn_endpoint_config() -> Result<quinn::EndpointConfig, TransportError> {
    let mut config = quinn::EndpointConfig::default();
    config.max_udp_payload_size(MAX_UDP_PAYLOAD).map_err(config_error)?;
    Ok(config)
}

fn transport_config(config: &EndpointConfig) -> Result<TransportConfig, TransportError> {
    let idle_timeout = IdleTimeout::try_from(config.idle_timeout).map_err(config_error)?;
    let mut mtu_discovery = MtuDiscoveryConfig::default();
    mtu_discovery.upper_bound(MAX_UDP_PAYLOAD);
    let mut congestion = CubicConfig::default();
    congestion.initial_window(INITIAL_WINDOW);
    let mut transport = TransportConfig::default();
    transport
        .congestion_controller_factory(Arc::new(congestion))
        .max_idle_timeout(Some(idle_timeout))
        .keep_alive_interval(Some(config.keep_alive))
        .max_concurrent_bidi_streams(VarInt::from_u32(config.max_streams))
        .max_concurrent_uni_streams(VarInt::from_u32(0))
        .stream_receive_window(VarInt::from_u32(STREAM_WINDOW))
        .mtu_discovery_config(Some(mtu_discovery));
    Ok(transport)
}

/// TLS 1.3 for accepting: presents the identity, requires a client certificate signed by the CA.
fn server_crypto(
    config: &EndpointConfig,
    protocols: Vec<Vec<u8>>,
) -> Result<QuicServerConfig, TransportError> {
    let identity = &config.identity;
    let mut tls = rustls::ServerConfig::builder_with_provider(crypto_provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(config_error)?
        .with_client_cert_verifier(identity.verifier())
        .with_cert_resolver(Arc::new(SingleCertAndKey::from(identity.certified_key())));
    tls.alpn_protocols = protocols;
    QuicServerConfig::try_from(tls).map_err(config_error)
}

/// TLS 1.3 for connecting: trusts the CA only (and not what it revoked), presents the identity.
fn client_crypto(
    config: &EndpointConfig,
    protocols: Vec<Vec<u8>>,
) -> Result<QuicClientConfig, TransportError> {
    let identity = &config.identity;
    let mut tls = rustls::ClientConfig::builder_with_provider(crypto_provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(config_error)?
        .with_webpki_verifier(identity.server_verifier())
        .with_client_cert_resolver(Arc::new(SingleCertAndKey::from(identity.certified_key())));
    tls.alpn_protocols = protocols;
    QuicClientConfig::try_from(tls).map_err(config_error)
}

pub(crate) fn config_error(error: impl std::fmt::Display) -> TransportError {
    TransportError::Config { reason: error.to_string() }
}
