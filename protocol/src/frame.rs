//! Length-prefixed `postcard` frames.
//!
//! A frame is a 4-byte little-endian body length followed by the body, a `postcard`-encoded
//! message. A reader refuses a length above its maximum before reading the body, so a peer cannot
//! make it buffer more than that; a body that does not decode as the expected message is an error,
//! never a panic.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// The largest frame body accepted by default: 16 MiB. Payloads larger than a message (components,
/// shuffle blocks) do not travel in frames: they follow their header frame as raw bytes.
pub const MAX_FRAME: usize = 16 << 20;

/// Bytes in a frame's length prefix.
pub const HEADER_LEN: usize = 4;

/// A frame that cannot be encoded or decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    /// The frame's length is above the maximum.
    #[error("frame of {size} bytes is larger than the maximum of {max} bytes")]
    TooLarge {
        /// The length the frame claims (or has, when encoding).
        size: usize,
        /// The maximum.
        max: usize,
    },
    /// The body is not a valid message of the expected type.
    #[error("malformed message: {reason}")]
    Malformed {
        /// What the decoder found wrong.
        reason: String,
    },
    /// The input ended inside a frame.
    #[error("the stream ended inside a frame ({got} of {expected} bytes)")]
    Truncated {
        /// Bytes the frame needs (header included).
        expected: usize,
        /// Bytes there were.
        got: usize,
    },
}

/// Encodes `message` as one frame (length prefix and body). Fails if the body would exceed `max`.
pub fn encode<T: Serialize>(message: &T, max: usize) -> Result<Vec<u8>, FrameError> {
    let mut frame = postcard::to_extend(message, vec![0; HEADER_LEN])
        .map_err(|e| FrameError::Malformed { reason: e.to_string() })?;
    let size = frame.len() - HEADER_LEN;
    if size > max {
        return Err(FrameError::TooLarge { size, max });
    }
    frame[..HEADER_LEN].copy_from_slice(&(size as u32).to_le_bytes());
    Ok(frame)
}

/// The body length announced by a frame header, refused if above `max`.
pub fn body_len(header: [u8; HEADER_LEN], max: usize) -> Result<usize, FrameError> {
    let size = u32::from_le_bytes(header) as usize;
    if size > max { Err(FrameError::TooLarge { size, max }) } else { Ok(size) }
}

/// Decodes a frame body as a `T`. Trailing bytes after the message are an error: a body holds
/// exactly one message.
pub fn decode_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, FrameError> {
    let (message, rest) =
        postcard::take_from_bytes(body).map_err(|e| FrameError::Malformed { reason: e.to_string() })?;
    if rest.is_empty() {
        Ok(message)
    } else {
        Err(FrameError::Malformed { reason: format!("{} bytes after the end of the message", rest.len()) })
    }
}

/// Decodes exactly one frame from `bytes` (header, body, nothing after).
pub fn decode<T: DeserializeOwned>(bytes: &[u8], max: usize) -> Result<T, FrameError> {
    let mut decoder = FrameDecoder::new(max);
    decoder.push(bytes);
    let message = decoder
        .next_frame()?
        .ok_or(FrameError::Truncated { expected: decoder.needed(), got: bytes.len() })?;
    match decoder.buffered() {
        0 => Ok(message),
        extra => Err(FrameError::Malformed { reason: format!("{extra} bytes after the frame") }),
    }
}

/// Splits a byte stream into frames as bytes arrive.
#[derive(Debug)]
pub struct FrameDecoder {
    max: usize,
    buffer: Vec<u8>,
}

impl FrameDecoder {
    /// A decoder that refuses frames above `max` bytes.
    pub fn new(max: usize) -> Self {
        Self { max, buffer: Vec::new() }
    }

    /// Appends bytes received from the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// Bytes received and not yet consumed.
    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }

    /// Bytes the next frame needs in all (header included), as far as known.
    fn needed(&self) -> usize {
        match self.buffer.first_chunk::<HEADER_LEN>() {
            Some(header) => HEADER_LEN + u32::from_le_bytes(*header) as usize,
            None => HEADER_LEN,
        }
    }

    /// The next whole frame decoded as a `T`, `None` if more bytes are needed. After an error
    /// the stream is out of step and must be closed.
    pub fn next_frame<T: DeserializeOwned>(&mut self) -> Result<Option<T>, FrameError> {
        let Some(header) = self.buffer.first_chunk::<HEADER_LEN>() else { return Ok(None) };
        let size = body_len(*header, self.max)?;
        if self.buffer.len() < HEADER_LEN + size {
            return Ok(None);
        }
        let message = decode_body(&self.buffer[HEADER_LEN..HEADER_LEN + size]);
        self.buffer.drain(..HEADER_LEN + size);
        message.map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    enum Sample {
        Hello { name: String, slots: u32 },
        Data(Vec<u8>),
        Nested(Vec<(u64, Option<String>)>),
    }

    #[test]
    fn a_message_round_trips() {
        let message = Sample::Hello { name: "executor-1".into(), slots: 4 };
        let frame = encode(&message, MAX_FRAME).unwrap();
        assert_eq!(decode::<Sample>(&frame, MAX_FRAME).unwrap(), message);
    }

    #[test]
    fn an_oversized_frame_is_refused_before_its_body() {
        let header = (1000u32).to_le_bytes();
        let mut decoder = FrameDecoder::new(100);
        decoder.push(&header);
        assert_eq!(decoder.next_frame::<Sample>(), Err(FrameError::TooLarge { size: 1000, max: 100 }));
        assert_eq!(
            encode(&Sample::Data(vec![0; 200]), 100).unwrap_err(),
            FrameError::TooLarge { size: 203, max: 100 }
        );
    }

    #[test]
    fn truncated_and_trailing_bytes_are_errors() {
        let frame = encode(&Sample::Data(vec![1, 2, 3]), MAX_FRAME).unwrap();
        assert!(matches!(decode::<Sample>(&frame[..5], MAX_FRAME), Err(FrameError::Truncated { .. })));
        let mut long = frame.clone();
        long.push(0);
        assert!(matches!(decode::<Sample>(&long, MAX_FRAME), Err(FrameError::Malformed { .. })));
    }

    #[test]
    fn frames_split_anywhere_decode_in_order() {
        let messages = [Sample::Data(vec![7; 300]), Sample::Nested(vec![(1, None), (2, Some("x".into()))])];
        let stream: Vec<u8> = messages.iter().flat_map(|m| encode(m, MAX_FRAME).unwrap()).collect();
        for cut in 0..stream.len() {
            let mut decoder = FrameDecoder::new(MAX_FRAME);
            let mut got = Vec::new();
            for part in [&stream[..cut], &stream[cut..]] {
                decoder.push(part);
                while let Some(m) = decoder.next_frame::<Sample>().unwrap() {
                    got.push(m);
                }
            }
            assert_eq!(got, messages);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// The decoder's fuzz target: random bytes, fed in random pieces, never panic; each
        /// frame either decodes, waits for more bytes, or is a typed error.
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512),
                                    cut in any::<prop::sample::Index>()) {
            let cut = cut.index(bytes.len() + 1);
            let mut decoder = FrameDecoder::new(256);
            for part in [&bytes[..cut], &bytes[cut..]] {
                decoder.push(part);
                while let Ok(Some(_)) = decoder.next_frame::<Sample>() {}
            }
            let _ = decode::<Sample>(&bytes, 256);
        }

        /// Truncating or flipping a byte of a valid frame gives an error or another message,
        /// never a panic.
        #[test]
        fn damaged_frames_never_panic(data in proptest::collection::vec(any::<u8>(), 0..64),
                                      at in any::<prop::sample::Index>(), flip in 1u8..) {
            let frame = encode(&Sample::Data(data), MAX_FRAME).unwrap();
            let at = at.index(frame.len());
            prop_assert!(decode::<Sample>(&frame[..at], MAX_FRAME).is_err());
            let mut damaged = frame.clone();
            damaged[at] ^= flip;
            let _ = decode::<Sample>(&damaged, MAX_FRAME);
        }
    }
}
