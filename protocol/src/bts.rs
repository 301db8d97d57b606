//! The messages of a BTS (block transfer service): storing, fetching and removing shuffle output.
//!
//! A request opens its own stream and gets one response on it. Shuffle blocks never travel inside
//! a frame: a [`BlockHeader`] frame announces a block and its `stored_len` raw bytes follow on the
//! same stream. The bytes are the block as the BTS stores it: pieces of at most 1 MiB raw bytes,
//! each lz4-compressed on its own behind a prefix holding its stored length and the xxh3-64
//! checksum of its compressed bytes (protocol version 11; the format is in `flicker_bts::block`).
//! The header carries the xxh3-64 checksum of the prefixes, so the receiver verifies every byte it
//! got, piece by piece as they arrive, and a block damaged on disk or on the way is caught by
//! whoever fetched it.
//!
//! ```text
//! Fetch { ids, partition, capability }  →  for each id in order: Block(header), then
//!                              header.stored_len bytes | Error(failure), after which nothing
//!                              more is sent
//! Put { id, partitions, capability }, then per partition: a BlockHeader frame and its
//!                              stored_len bytes  →  Stored(info) | Error(failure)
//! RemoveJob { job }         →  Removed { bytes } | Error(failure)   (the scheduler only)
//! ```
//!
//! Fetching and storing a job's blocks takes the job's [`Capability`], which the scheduler signs
//! and hands to the executors that run the job's tasks: a certificate alone reads or alters no
//! job's shuffle data.

use crate::ids::{JobId, MapOutputId};
use serde::{Deserialize, Serialize};

/// The scheduler's permission to read and write one job's shuffle blocks until a time: signed
/// with the scheduler's key, whose certificate it carries, so that a BTS checks it with the
/// cluster CA alone.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Capability {
    /// The job.
    pub job: JobId,
    /// When it expires, in milliseconds since the Unix epoch.
    pub expires_ms: u64,
    /// The certificate (DER) of the scheduler that signed it.
    pub issuer: Vec<u8>,
    /// The TLS signature scheme of `signature` (its IANA code).
    pub scheme: u16,
    /// The signature over [`Capability::signed_bytes`].
    pub signature: Vec<u8>,
}

impl Capability {
    /// What the scheduler signs: a fixed prefix, the job id and the expiry time.
    pub fn signed_bytes(job: &JobId, expires_ms: u64) -> Vec<u8> {
        let mut bytes = b"flicker bts capability\0".to_vec();
        bytes.extend_from_slice(job.0.as_bytes());
        bytes.push(0);
        bytes.extend_from_slice(&expires_ms.to_le_bytes());
        bytes
    }
}

/// What precedes a shuffle block on the wire and describes it in a map output's index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BlockHeader {
    /// Bytes of the block once decompressed.
    pub raw_len: u32,
    /// Bytes of the block as stored and sent (its compressed pieces with their prefixes); zero
    /// for an empty block.
    pub stored_len: u32,
    /// The xxh3-64 checksum of the block's piece prefixes back to back (each prefix holds the
    /// xxh3-64 checksum of its piece's compressed bytes, so together they cover every stored byte).
    pub checksum: u64,
}

/// What a BTS reports after storing a map output; the scheduler keeps it in its shuffle map.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MapOutputInfo {
    /// The number of reduce partitions (blocks) of the output.
    pub partitions: u32,
    /// Bytes of each partition once decompressed, by partition.
    pub raw_bytes: Vec<u64>,
    /// Bytes of the data file: all blocks as stored (compressed).
    pub stored_bytes: u64,
}

/// A request to a BTS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum BtsRequest {
    /// Sends one partition of each of several map outputs: a reduce task asks a BTS for all its
    /// blocks there in a few requests rather than one each. Answered, in the order of `ids`, by
    /// [`BtsResponse::Block`] and the block's bytes for each, up to the first block that cannot
    /// be read, which is answered by [`BtsResponse::Error`] and ends the answer.
    Fetch {
        /// The map outputs, all of the capability's job.
        ids: Vec<MapOutputId>,
        /// The reduce partition.
        partition: u32,
        /// The permission to read the job's blocks.
        capability: Capability,
    },
    /// Stores a map output computed elsewhere, replacing one of the same id. Followed, for each
    /// partition in order, by a [`BlockHeader`] frame and `stored_len` raw bytes. Answered by
    /// [`BtsResponse::Stored`].
    Put {
        /// The map output, of the capability's job.
        id: MapOutputId,
        /// The number of blocks that follow.
        partitions: u32,
        /// The permission to write the job's blocks.
        capability: Capability,
    },
    /// Deletes all map outputs of a job (asked by the scheduler only). Answered by
    /// [`BtsResponse::Removed`].
    RemoveJob {
        /// The job.
        job: JobId,
    },
}

/// A BTS's answer to a [`BtsRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum BtsResponse {
    /// The block asked for by [`BtsRequest::Fetch`]; `stored_len` raw bytes follow. The BTS did
    /// not verify them: the receiver checks them against the header.
    Block(BlockHeader),
    /// The map output sent by [`BtsRequest::Put`] is stored.
    Stored(MapOutputInfo),
    /// The job's map outputs are deleted.
    Removed {
        /// Bytes freed on disk.
        bytes: u64,
    },
    /// The request failed.
    Error(BtsFailure),
}

/// Why a BTS request failed, in the cases a remote caller acts on differently.
///
/// A lost or damaged map output ([`NoSuchMapOutput`](Self::NoSuchMapOutput),
/// [`CorruptIndex`](Self::CorruptIndex), [`Corrupt`](Self::Corrupt)) is recomputed; an
/// [`Io`](Self::Io) error may be retried; [`NoSuchPartition`](Self::NoSuchPartition) and
/// [`InvalidRequest`](Self::InvalidRequest) mean the caller is out of step and retrying will not help.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum BtsFailure {
    /// The request's capability does not allow it (forged, expired, of another job), or the peer
    /// may not make it.
    #[error("refused: {reason}")]
    Forbidden {
        /// Why.
        reason: String,
    },
    /// The BTS holds no such map output (never written, removed, or lost).
    #[error("the bts holds no {id}")]
    NoSuchMapOutput {
        /// The map output.
        id: MapOutputId,
    },
    /// The map output has fewer partitions than the one asked for.
    #[error("{id} has {partitions} partitions, there is no partition {partition}")]
    NoSuchPartition {
        /// The map output.
        id: MapOutputId,
        /// The partition asked for.
        partition: u32,
        /// The partitions the map output has.
        partitions: u32,
    },
    /// A block is damaged: its bytes do not match its header (a block sent by `Put`, or a map
    /// output file whose blocks were cut short on disk).
    #[error("partition {partition} of {id} is corrupt: {reason}")]
    Corrupt {
        /// The map output.
        id: MapOutputId,
        /// The partition.
        partition: u32,
        /// What is wrong with the block.
        reason: String,
    },
    /// The map output's index is damaged, so none of its blocks can be found: the output is lost.
    #[error("the index of {id} is corrupt: {reason}")]
    CorruptIndex {
        /// The map output.
        id: MapOutputId,
        /// What is wrong with the index.
        reason: String,
    },
    /// The request cannot be served as asked (an invalid job id, a block too large to store).
    #[error("invalid request: {reason}")]
    InvalidRequest {
        /// What is wrong with it.
        reason: String,
    },
    /// The BTS's disk failed.
    #[error("i/o error on the bts: {reason}")]
    Io {
        /// The error, with the file it happened on.
        reason: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{MAX_FRAME, decode, encode};
    use crate::ids::StageId;

    fn id() -> MapOutputId {
        MapOutputId { job: JobId("job-7".into()), stage: StageId(2), map_task: crate::ids::TaskIndex(11) }
    }

    #[test]
    fn requests_round_trip_through_frames() {
        let capability = Capability {
            job: JobId("job-7".into()),
            expires_ms: 1_800_000_000_000,
            issuer: vec![0x30; 400],
            scheme: 0x0403,
            signature: vec![7; 72],
        };
        let requests = [
            BtsRequest::Fetch { ids: vec![id(), id()], partition: 3, capability: capability.clone() },
            BtsRequest::Put { id: id(), partitions: 200, capability },
            BtsRequest::RemoveJob { job: JobId("job-7".into()) },
        ];
        for request in requests {
            let frame = encode(&request, MAX_FRAME).unwrap();
            assert_eq!(decode::<BtsRequest>(&frame, MAX_FRAME).unwrap(), request);
        }
    }

    #[test]
    fn responses_and_headers_round_trip_through_frames() {
        let header = BlockHeader { raw_len: 1 << 20, stored_len: 4096, checksum: u64::MAX - 5 };
        let frame = encode(&header, MAX_FRAME).unwrap();
        assert_eq!(decode::<BlockHeader>(&frame, MAX_FRAME).unwrap(), header);

        let responses = [
            BtsResponse::Block(header),
            BtsResponse::Stored(MapOutputInfo {
                partitions: 3,
                raw_bytes: vec![0, 10, u64::MAX],
                stored_bytes: 77,
            }),
            BtsResponse::Removed { bytes: 1 << 40 },
            BtsResponse::Error(BtsFailure::NoSuchMapOutput { id: id() }),
            BtsResponse::Error(BtsFailure::NoSuchPartition { id: id(), partition: 9, partitions: 4 }),
            BtsResponse::Error(BtsFailure::Corrupt {
                id: id(),
                partition: 1,
                reason: "checksum mismatch".into(),
            }),
            BtsResponse::Error(BtsFailure::CorruptIndex { id: id(), reason: "bad magic".into() }),
            BtsResponse::Error(BtsFailure::InvalidRequest { reason: "invalid job id".into() }),
            BtsResponse::Error(BtsFailure::Io { reason: "disk full".into() }),
            BtsResponse::Error(BtsFailure::Forbidden { reason: "expired".into() }),
        ];
        for response in responses {
            let frame = encode(&response, MAX_FRAME).unwrap();
            assert_eq!(decode::<BtsResponse>(&frame, MAX_FRAME).unwrap(), response);
        }
    }
}
