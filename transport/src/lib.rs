//! QUIC with mutual TLS between the processes of a flicker cluster.
//!
//! Each process (scheduler, executor, client) runs one [`Endpoint`]: it accepts connections and
//! opens them over the same UDP socket. Both sides of every connection present a certificate
//! signed by the cluster CA ([`certs`]), and both check the other's: trust is "signed by the
//! cluster CA", whatever the address. A certificate names its holder and role ([`Peer`]); a
//! process connects to a peer by the role it expects there ([`Role::server_name`]), and a server
//! authorizes each request by the role of the connection's peer ([`Connection::peer`]).
//!
//! Before a connection is handed out, the connecting side sends its protocol version on the first
//! stream and the accepting side answers with its own (the *version hello*). The TLS handshake
//! already settled on `flicker/<version>` if both speak the same version, or on the fallback
//! `flicker` otherwise (see [`flicker_protocol::version`]); then the hello ends in
//! [`TransportError::VersionMismatch`] on both sides, naming both versions. The answer also tells
//! the connecting side that its certificate was accepted, which a finished handshake does not.
//!
//! After that, each request opens its own bidirectional stream and carries
//! [`flicker_protocol::frame`]s, large payloads following their header frame as raw bytes. A
//! malformed or oversized frame fails its stream only, never the connection or the process.
//!
//! ```
//! use flicker_transport::{EphemeralCa, Endpoint, EndpointConfig, Role};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let ca = EphemeralCa::new()?;
//! let (node, client) = (ca.identity("exec-1", Role::Executor)?, ca.identity("alice", Role::Client)?);
//! let server = Endpoint::bind("127.0.0.1:0".parse()?, EndpointConfig::new(node))?;
//! let addr = server.local_addr()?;
//! tokio::spawn(async move {
//!     while let Some(incoming) = server.accept().await {
//!         tokio::spawn(async move {
//!             let connection = incoming.establish(&[Role::Client]).await?;
//!             while let Some((mut recv, mut send)) = connection.accept_stream().await? {
//!                 if let Some(name) = recv.recv::<String>().await? {
//!                     send.send(&format!("hello, {name}")).await?;
//!                 }
//!                 send.finish()?;
//!             }
//!             Ok::<_, flicker_transport::TransportError>(())
//!         });
//!     }
//! });
//!
//! let client = Endpoint::bind("127.0.0.1:0".parse()?, EndpointConfig::new(client))?;
//! let connection = client.connect(addr, Role::Executor).await?;
//! let answer: String = connection.call(&"executor".to_owned()).await?;
//! assert_eq!(answer, "hello, executor");
//! # Ok(())
//! # }
//! ```

pub mod capability;
pub mod certs;
mod connection;
mod der;
mod endpoint;
mod error;
mod https;
mod limit;
mod signature;
mod socket;
mod stream;
pub mod token;

pub use capability::{CapabilityCheck, CapabilityError, CapabilityGrants};
pub use certs::{CertError, EphemeralCa, Identity, Peer, Role, SERVER_DOMAIN};
pub use connection::Connection;
pub use endpoint::{
    Endpoint, EndpointConfig, INITIAL_WINDOW, Incoming, MAX_STREAMS, MAX_UDP_PAYLOAD, SOCKET_BUFFER,
    STREAM_WINDOW,
};
pub use error::TransportError;
pub use limit::{ConnectionLimit, ConnectionSlot};
pub use stream::{FrameReceiver, FrameSender};
pub use token::{Claims, TokenCheck, TokenError};
