//! A connection between two processes: streams of frames, and the version hello that opens it.

use std::net::SocketAddr;
use std::time::Duration;

use quinn::VarInt;
use rustls::pki_types::CertificateDer;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{FrameReceiver, FrameSender, Peer, Role, TransportError, der};

/// The application code of a connection closed because its peer's role may not connect.
pub(crate) const FORBIDDEN: u32 = 0x46;

/// The code a connection is closed with when the two processes speak different versions.
const VERSION_MISMATCH: u32 = 1;

/// An established, authenticated connection to another process of the cluster. Every request
/// opens its own bidirectional stream. Cheap to clone; the connection closes when the last
/// clone is dropped or on [`Connection::close`].
#[derive(Debug, Clone)]
pub struct Connection {
    inner: quinn::Connection,
    max_frame: usize,
}

impl Connection {
    pub(crate) fn new(inner: quinn::Connection, max_frame: usize) -> Self {
        Self { inner, max_frame }
    }

    /// Whether the connection has closed (by either side, or lost).
    pub fn is_closed(&self) -> bool {
        self.inner.close_reason().is_some()
    }

    /// A number that tells this connection apart from every other of the process.
    pub fn id(&self) -> usize {
        self.inner.stable_id()
    }

    /// The peer's address.
    pub fn remote_address(&self) -> SocketAddr {
        self.inner.remote_address()
    }

    /// The common name of the peer's certificate: the name it was issued for (`scheduler`,
    /// `exec-2`, ...).
    pub fn peer_name(&self) -> Option<String> {
        der::common_name(self.peer_certificate()?.as_ref())
    }

    /// Who the peer is: the name and role of its certificate (checked by TLS to be signed by
    /// the cluster CA); `None` for a certificate that names no role.
    pub fn peer(&self) -> Option<Peer> {
        Peer::of(self.peer_certificate()?.as_ref())
    }

    fn peer_certificate(&self) -> Option<CertificateDer<'static>> {
        let chain = self.inner.peer_identity()?.downcast::<Vec<CertificateDer<'static>>>().ok()?;
        chain.first().cloned()
    }

    /// Opens a stream to the peer.
    pub async fn open(&self) -> Result<(FrameSender, FrameReceiver), TransportError> {
        Ok(self.frames(self.inner.open_bi().await?))
    }

    /// Waits for the next stream the peer opens; `None` once the connection was closed by either
    /// side on purpose.
    pub async fn accept_stream(&self) -> Result<Option<(FrameReceiver, FrameSender)>, TransportError> {
        match self.inner.accept_bi().await {
            Ok(streams) => {
                let (send, recv) = self.frames(streams);
                Ok(Some((recv, send)))
            }
            Err(quinn::ConnectionError::ApplicationClosed(_) | quinn::ConnectionError::LocallyClosed) => {
                Ok(None)
            }
            Err(source) => Err(source.into()),
        }
    }

    /// Sends `request` on a new stream and receives the one response to it.
    pub async fn call<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        request: &Req,
    ) -> Result<Resp, TransportError> {
        let (mut send, mut recv) = self.open().await?;
        send.send(request).await?;
        send.finish()?;
        recv.recv().await?.ok_or(TransportError::NoResponse)
    }

    /// Waits until the connection is closed, and says why.
    pub async fn closed(&self) -> quinn::ConnectionError {
        self.inner.closed().await
    }

    /// Closes the connection unless its peer's certificate is of one of the roles in `allowed`
    /// (the reason is the peer's to read, and this side's error).
    pub(crate) fn admit(&self, allowed: &[Role]) -> Result<(), TransportError> {
        let peer = self.peer();
        if let Some(peer) = &peer
            && allowed.contains(&peer.role)
        {
            return Ok(());
        }
        let names: Vec<String> = allowed.iter().map(ToString::to_string).collect();
        let (who, reason) = match peer {
            Some(peer) => (
                peer.to_string(),
                format!("a {} certificate may not connect here (only {})", peer.role, names.join(", ")),
            ),
            None => (
                format!("the certificate {:?}", self.peer_name().unwrap_or_default()),
                "its certificate names no role: issue a new one with `flicker cert issue`".to_owned(),
            ),
        };
        self.refuse(&who, &reason);
        Err(TransportError::Forbidden { peer: who, reason })
    }

    /// Closes the connection, refusing its peer (`who`) for `reason`, which the peer reads as the
    /// connection's close reason; logged at warn.
    pub fn refuse(&self, who: &str, reason: &str) {
        tracing::warn!(peer = %who, address = %self.remote_address(), %reason, "refused a connection");
        self.close(FORBIDDEN, reason);
    }

    /// Closes the connection at once with an application `code` and `reason` for the peer;
    /// streams still open fail on both sides.
    pub fn close(&self, code: u32, reason: &str) {
        self.inner.close(VarInt::from_u32(code), reason.as_bytes());
    }

    /// Closes the connection as [`Connection::close`] does, then waits (up to `within`) until
    /// the packet telling the peer has left, so that this process may exit at once and the peer
    /// still frees the connection at once rather than after its idle timeout. Waiting until the
    /// endpoint is idle instead ([`Endpoint::wait_idle`](crate::Endpoint::wait_idle)) also waits
    /// out the closed connection's draining period, three probe timeouts: ~80 ms even on
    /// loopback, most of a small job's wall for `flicker submit --wait`.
    pub async fn close_and_send(&self, code: u32, reason: &str, within: Duration) {
        let sent = self.inner.stats().udp_tx.datagrams;
        self.close(code, reason);
        // A closed connection sends nothing but the packet closing it; quinn counts a datagram
        // under the lock it hands it to the socket with. A datagram that left between the count
        // and the close (an acknowledgement) ends the wait early: the close then goes out on the
        // driver's next turn, unless the process has ended by then, when the peer times the
        // connection out as it would have without any wait.
        let _ = tokio::time::timeout(within, async {
            while self.inner.stats().udp_tx.datagrams == sent {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
        .await;
    }

    /// The connecting side of the version hello: sends this process's version on the first
    /// stream and waits for the peer's. The answer also proves that the peer accepted this
    /// process's certificate, which finishing the handshake alone does not.
    pub(crate) async fn offer_version(&self, local: u32) -> Result<(), TransportError> {
        let (mut send, mut recv) = self.open().await?;
        send.send_bytes(&local.to_le_bytes()).await?;
        send.finish()?;
        let remote = recv.recv_version().await?;
        self.agree(local, remote)
    }

    /// The accepting side of the version hello: receives the peer's version, answers with this
    /// process's. On a mismatch, waits until the peer has the answer before closing.
    pub(crate) async fn answer_version(&self, local: u32) -> Result<(), TransportError> {
        let (mut send, mut recv) = self.frames(self.inner.accept_bi().await?);
        let remote = recv.recv_version().await?;
        send.send_bytes(&local.to_le_bytes()).await?;
        send.finish()?;
        if remote != local {
            tracing::warn!(
                peer = %self.remote_address(),
                local,
                remote,
                "refusing a connection from a process of another flicker protocol version"
            );
            send.delivered().await;
        }
        self.agree(local, remote)
    }

    fn frames(&self, (send, recv): (quinn::SendStream, quinn::RecvStream)) -> (FrameSender, FrameReceiver) {
        (FrameSender::new(send, self.max_frame), FrameReceiver::new(recv, self.max_frame))
    }

    fn agree(&self, local: u32, remote: u32) -> Result<(), TransportError> {
        if local == remote {
            return Ok(());
        }
        self.close(VERSION_MISMATCH, "protocol version mismatch");
        Err(TransportError::VersionMismatch { local, remote })
    }
}
