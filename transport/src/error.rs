//! What can go wrong between two processes.

use std::io;
use std::net::SocketAddr;

use crate::connection::FORBIDDEN;
use flicker_protocol::FrameError;
use rustls::AlertDescription;

/// A connection, stream or endpoint failure.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The UDP socket cannot be bound.
    #[error("cannot bind a QUIC endpoint to {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        source: io::Error,
    },
    /// The endpoint's socket failed.
    #[error("socket error: {source}")]
    Io {
        /// Why.
        source: io::Error,
    },
    /// The TLS or QUIC configuration is not usable.
    #[error("invalid endpoint configuration: {reason}")]
    Config {
        /// What is wrong with it.
        reason: String,
    },
    /// A connection to `addr` cannot even be started.
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// The peer's address.
        addr: SocketAddr,
        /// Why.
        source: quinn::ConnectError,
    },
    /// The peer did not complete the handshake in time.
    #[error("no answer from {addr} within {after:?}")]
    ConnectTimeout {
        /// The peer's address.
        addr: SocketAddr,
        /// How long the caller waited.
        after: std::time::Duration,
    },
    /// The handshake failed or the connection was lost.
    #[error("{}", explain(source))]
    Connection {
        /// Why.
        #[from]
        source: quinn::ConnectionError,
    },
    /// Writing to a stream failed (other than by the connection's loss, a [`Connection`]
    /// error).
    ///
    /// [`Connection`]: TransportError::Connection
    #[error("cannot write to the stream: {source}")]
    Write {
        /// Why.
        source: quinn::WriteError,
    },
    /// Reading from a stream failed (other than by the connection's loss).
    #[error("cannot read from the stream: {source}")]
    Read {
        /// Why.
        source: quinn::ReadError,
    },
    /// A frame that cannot be sent or received.
    #[error("bad frame: {source}")]
    Frame {
        /// What is wrong with it.
        #[from]
        source: FrameError,
    },
    /// The stream ended inside a raw payload.
    #[error("the stream ended after {got} of {expected} payload bytes")]
    Truncated {
        /// Bytes announced.
        expected: u64,
        /// Bytes received.
        got: u64,
    },
    /// A raw payload larger than the receiver accepts.
    #[error("payload of {len} bytes is larger than the limit of {limit} bytes")]
    PayloadTooLarge {
        /// Bytes announced.
        len: u64,
        /// The most the receiver accepts.
        limit: u64,
    },
    /// The peer finished a request's stream without answering.
    #[error("the peer ended the stream without a response")]
    NoResponse,
    /// The peer's certificate is not of a role allowed to connect here (or names no role): the
    /// connection was closed with the reason, which the peer sees.
    #[error("refused {peer}: {reason}")]
    Forbidden {
        /// Who the peer is, as far as its certificate says.
        peer: String,
        /// Why it was refused.
        reason: String,
    },
    /// The two processes speak different versions of the protocol.
    #[error(
        "protocol version mismatch: this process speaks flicker protocol {local}, the peer speaks {remote}"
    )]
    VersionMismatch {
        /// This process's version.
        local: u32,
        /// The peer's version.
        remote: u32,
    },
}

impl TransportError {
    /// Whether the peer broke the protocol (a malformed or oversized frame, a payload cut
    /// short): worth a warning with the peer's identity, unlike a connection that just went.
    pub fn is_protocol_violation(&self) -> bool {
        matches!(
            self,
            TransportError::Frame { .. }
                | TransportError::PayloadTooLarge { .. }
                | TransportError::Truncated { .. }
        )
    }
}

impl From<quinn::WriteError> for TransportError {
    /// A stream lost with its connection says why the connection went (a refused certificate or
    /// role, say).
    fn from(source: quinn::WriteError) -> Self {
        match source {
            quinn::WriteError::ConnectionLost(source) => TransportError::Connection { source },
            source => TransportError::Write { source },
        }
    }
}

impl From<quinn::ReadError> for TransportError {
    /// A stream lost with its connection says why the connection went.
    fn from(source: quinn::ReadError) -> Self {
        match source {
            quinn::ReadError::ConnectionLost(source) => TransportError::Connection { source },
            source => TransportError::Read { source },
        }
    }
}

/// Says who refused whose certificate when a handshake failed over one, since that is the usual
/// mistake (a certificate from another cluster, or none); other failures as quinn puts them.
fn explain(error: &quinn::ConnectionError) -> String {
    match error {
        quinn::ConnectionError::ConnectionClosed(close) if is_certificate_alert(close.error_code) => {
            match certificate_alert(close.error_code) {
                Some(AlertDescription::CertificateRevoked) => {
                    "the peer refused this process's certificate: it is revoked".to_owned()
                }
                _ => {
                    "the peer refused this process's certificate (is it signed by the cluster CA?)".to_owned()
                }
            }
        }
        quinn::ConnectionError::TransportError(local) if is_certificate_alert(local.code) => {
            format!("this process refused the peer's certificate (is it signed by the cluster CA?): {local}")
        }
        quinn::ConnectionError::ApplicationClosed(close) if close.error_code == FORBIDDEN.into() => {
            format!("the peer refused this process: {}", String::from_utf8_lossy(&close.reason))
        }
        other => format!("connection failed: {other}"),
    }
}

/// The TLS alert a QUIC error code carries, if it carries one.
fn certificate_alert(code: quinn::TransportErrorCode) -> Option<AlertDescription> {
    let alert = u64::from(code).checked_sub(0x100).and_then(|alert| u8::try_from(alert).ok())?;
    Some(AlertDescription::from(alert))
}

/// Whether a QUIC error code carries a TLS alert about a certificate. Every cluster CA has the same
/// name, so a certificate of another cluster fails its signature check: `decrypt_error` counts too.
fn is_certificate_alert(code: quinn::TransportErrorCode) -> bool {
    let Some(alert) = certificate_alert(code) else { return false };
    matches!(
        alert,
        AlertDescription::BadCertificate
            | AlertDescription::UnsupportedCertificate
            | AlertDescription::CertificateRevoked
            | AlertDescription::CertificateExpired
            | AlertDescription::CertificateUnknown
            | AlertDescription::UnknownCA
            | AlertDescription::AccessDenied
            | AlertDescription::CertificateRequired
            | AlertDescription::DecryptError
    )
}
