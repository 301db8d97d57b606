//! The two halves of a stream, speaking frames and raw payloads.
//!
//! A message travels as one [`flicker_protocol::frame`]; a payload too large for a message (a
//! component, a shuffle block) follows its header message on the same stream as raw bytes, the
//! header saying how many.

use bytes::Bytes;
use flicker_protocol::frame::{self, FrameError, HEADER_LEN};
use quinn::{ReadExactError, VarInt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::TransportError;

/// The most bytes written or read at once for a raw payload.
const CHUNK: usize = 1 << 20;

/// The code a receiver stops a stream with when the peer sent something it cannot read.
const REFUSED: VarInt = VarInt::from_u32(1);

/// The sending half of a stream.
#[derive(Debug)]
pub struct FrameSender {
    stream: quinn::SendStream,
    max_frame: usize,
}

impl FrameSender {
    pub(crate) fn new(stream: quinn::SendStream, max_frame: usize) -> Self {
        Self { stream, max_frame }
    }

    /// Sends `message` as one frame. Fails without writing anything if it is larger than the
    /// endpoint's maximum frame.
    pub async fn send<T: Serialize>(&mut self, message: &T) -> Result<(), TransportError> {
        let frame = frame::encode(message, self.max_frame)?;
        Ok(self.stream.write_all(&frame).await?)
    }

    /// Sends raw bytes, in chunks of at most 1 MiB, typically after a header message that says
    /// how many follow.
    pub async fn send_bytes(&mut self, payload: &[u8]) -> Result<(), TransportError> {
        for chunk in payload.chunks(CHUNK) {
            self.stream.write_all(chunk).await?;
        }
        Ok(())
    }

    /// Sends a raw payload the caller hands over, without copying it into the stream's buffer:
    /// for a large payload already in memory (a shuffle block read from the store).
    pub async fn send_payload(&mut self, payload: Bytes) -> Result<(), TransportError> {
        Ok(self.stream.write_chunk(payload).await?)
    }

    /// Abandons the stream: the peer's reads fail (a reset) instead of seeing an end, so a
    /// payload cut short is never taken for a whole one.
    pub fn reset(&mut self) {
        // Fails only if the stream is already finished or reset: nothing left to abandon.
        let _ = self.stream.reset(REFUSED);
    }

    /// Ends the stream: the peer reads everything sent, then the end.
    pub fn finish(&mut self) -> Result<(), TransportError> {
        self.stream.finish().map_err(|quinn::ClosedStream { .. }| quinn::WriteError::ClosedStream.into())
    }

    /// Waits until the peer has received everything sent (or stopped the stream, or the
    /// connection is gone).
    pub(crate) async fn delivered(&mut self) {
        // Every outcome means there is nothing left to wait for.
        let _ = self.stream.stopped().await;
    }
}

/// The receiving half of a stream.
#[derive(Debug)]
pub struct FrameReceiver {
    stream: quinn::RecvStream,
    max_frame: usize,
}

impl FrameReceiver {
    pub(crate) fn new(stream: quinn::RecvStream, max_frame: usize) -> Self {
        Self { stream, max_frame }
    }

    /// Receives the next message; `None` if the stream ended cleanly before it. A frame larger
    /// than the endpoint's maximum is refused from its header, before its body is read; a truncated
    /// frame or a body that is not a `T` is an error. After an error the stream is stopped (the
    /// connection lives on).
    pub async fn recv<T: DeserializeOwned>(&mut self) -> Result<Option<T>, TransportError> {
        self.recv_within(self.max_frame).await
    }

    /// [`recv`](Self::recv) with a frame body of at most `max` bytes (and at most the endpoint's
    /// maximum): for a message whose size the receiver bounds below the endpoint's maximum.
    pub async fn recv_within<T: DeserializeOwned>(
        &mut self,
        max: usize,
    ) -> Result<Option<T>, TransportError> {
        let received = self.recv_frame(max.min(self.max_frame)).await;
        if let Err(TransportError::Frame { .. }) = received {
            self.refuse();
        }
        received
    }

    async fn recv_frame<T: DeserializeOwned>(&mut self, max: usize) -> Result<Option<T>, TransportError> {
        let mut header = [0; HEADER_LEN];
        match self.read_exact(&mut header).await? {
            0 => return Ok(None),
            HEADER_LEN => {}
            got => return Err(FrameError::Truncated { expected: HEADER_LEN, got }.into()),
        }
        let len = frame::body_len(header, max)?;
        let mut body = vec![0; len];
        let got = self.read_exact(&mut body).await?;
        if got < len {
            return Err(FrameError::Truncated { expected: HEADER_LEN + len, got: HEADER_LEN + got }.into());
        }
        Ok(Some(frame::decode_body(&body)?))
    }

    /// Receives a raw payload of `len` bytes, refused (and the stream stopped) if above `limit`.
    pub async fn recv_bytes(&mut self, len: u64, limit: u64) -> Result<Vec<u8>, TransportError> {
        if len > limit {
            self.refuse();
            return Err(TransportError::PayloadTooLarge { len, limit });
        }
        // `len` is at most `limit`, which the caller is ready to hold in memory.
        let mut payload = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
        self.recv_bytes_into(&mut payload, len).await?;
        Ok(payload)
    }

    /// Receives a raw payload of `len` bytes at the end of `payload`, a buffer the caller made (and
    /// bounded `len` for): for a payload whose buffer the caller wants allocated its own way.
    pub async fn recv_bytes_into(&mut self, payload: &mut Vec<u8>, len: u64) -> Result<(), TransportError> {
        let start = payload.len();
        loop {
            let got = (payload.len() - start) as u64;
            if got >= len {
                return Ok(());
            }
            let chunk = self.recv_chunk(len - got).await?;
            payload.extend_from_slice(&chunk.ok_or(TransportError::Truncated { expected: len, got })?);
        }
    }

    /// Receives the next piece of a raw payload as it arrives: at most `max` bytes and at most
    /// 1 MiB, so a payload need never be in memory at once; `None` if the stream ended.
    pub async fn recv_chunk(&mut self, max: u64) -> Result<Option<Bytes>, TransportError> {
        let wanted = usize::try_from(max).unwrap_or(usize::MAX).min(CHUNK);
        Ok(self.stream.read_chunk(wanted, true).await?.map(|chunk| chunk.bytes))
    }

    /// Tells the peer to stop sending on this stream: it sent something this process refuses.
    pub fn refuse(&mut self) {
        // Fails only if the stream is already finished or stopped: nothing left to refuse.
        let _ = self.stream.stop(REFUSED);
    }

    /// Receives the 4-byte little-endian version of the version hello.
    pub(crate) async fn recv_version(&mut self) -> Result<u32, TransportError> {
        let mut version = [0; 4];
        match self.read_exact(&mut version).await? {
            4 => Ok(u32::from_le_bytes(version)),
            got => Err(TransportError::Truncated { expected: 4, got: got as u64 }),
        }
    }

    /// Fills `buf`, returning how many bytes were read: fewer than asked only if the stream ended.
    async fn read_exact(&mut self, buf: &mut [u8]) -> Result<usize, TransportError> {
        match self.stream.read_exact(buf).await {
            Ok(()) => Ok(buf.len()),
            Err(ReadExactError::FinishedEarly(got)) => Ok(got),
            Err(ReadExactError::ReadError(source)) => Err(source.into()),
        }
    }
}
