//! The wire protocol of a flicker cluster, as plain data.
//!
//! Every process (scheduler, executor, BTS, CLI) talks QUIC with mutual TLS. On a connection, each
//! request opens its own bidirectional stream and gets one response on it. A message is a `serde`
//! type encoded with `postcard` inside a length-prefixed [`frame`]; a large payload (a component, a
//! shuffle block) follows its header message on the same stream as raw bytes, written in chunks.
//!
//! The protocol is versioned: the TLS handshake's ALPN names the version (see [`version`]), so two
//! processes of different versions never exchange a message they might misread.
//!
//! This crate does no I/O, so the decoder can be tested (and fuzzed) on bytes alone.

pub mod bts;
pub mod failure;
pub mod frame;
pub mod ids;
pub mod operator;
pub mod scheduler;
pub mod status;
pub mod task;
pub mod tenant;
pub mod text;
pub mod version;

pub use frame::{FrameDecoder, FrameError, MAX_FRAME};
pub use ids::{
    AttemptId, ExecutorId, JobId, MapOutputId, PartitionId, PluginDigest, PluginHasher, StageId, TaskId,
    TaskIndex, TenantId,
};
pub use operator::{LimitOverrides, OperatorKind};
pub use version::{FALLBACK_ALPN, PROTOCOL_VERSION, alpn, version_of_alpn};
