//! Identifiers that travel between processes, as newtypes so two of them cannot be swapped.

use serde::{Deserialize, Serialize};
use sha2::Digest as _;
use std::fmt;

/// A job, named by the scheduler that accepted it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct JobId(pub String);

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A tenant: a team sharing the cluster, named by the organization of its members'
/// certificates and declared in the scheduler's `[tenants]`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TenantId(pub String);

impl TenantId {
    /// The tenant of a client certificate that names none, and the one tenant of a cluster that
    /// declares none (and of local mode).
    pub const DEFAULT: &str = "default";

    /// The [`DEFAULT`](Self::DEFAULT) tenant.
    pub fn default_tenant() -> Self {
        TenantId(Self::DEFAULT.to_owned())
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A stage's position in its job's plan; stages come in dependency order.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct StageId(pub u32);

impl fmt::Display for StageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "stage {}", self.0)
    }
}

/// Declares `u32` newtypes that print as their number and encode as it (so a journal or a frame
/// holds the same bytes as with the bare number).
macro_rules! numbered {
    ($($(#[$doc:meta])* $name:ident;)*) => {$(
        $(#[$doc])*
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub u32);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                // Width and fill apply to the number: `{:05}` gives `00003`.
                fmt::Display::fmt(&self.0, f)
            }
        }
    )*};
}

numbered! {
    /// A task's index in its stage: the split a source stage's task reads, the shuffle partition a
    /// reduce stage's task reads.
    TaskIndex;
    /// Which attempt at a task, from 0.
    AttemptId;
    /// A shuffle partition of a stage's output.
    PartitionId;
}

impl TaskIndex {
    /// The index as a position in a list of tasks.
    pub fn at(self) -> usize {
        self.0 as usize
    }
}

impl AttemptId {
    /// The attempt after this one.
    pub fn next(self) -> AttemptId {
        AttemptId(self.0 + 1)
    }
}

/// One task of a job: a stage and the task's index in it (its split or partition).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TaskId {
    /// The job.
    pub job: JobId,
    /// The stage.
    pub stage: StageId,
    /// The task's index in its stage.
    pub index: TaskIndex,
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "task {} of {} of job {}", self.index, self.stage, self.job)
    }
}

/// An executor, named when it starts (by flag, or from its host and port).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ExecutorId(pub String);

impl fmt::Display for ExecutorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A component, named by the sha256 of its bytes. Encoded as its 32 bytes, or as 64 hex digits
/// in a human-readable format (the audit log's JSON).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PluginDigest(pub [u8; 32]);

impl Serialize for PluginDigest {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.serialize_str(&self.to_hex())
        } else {
            serializer.serialize_newtype_struct("PluginDigest", &self.0)
        }
    }
}

impl<'de> Deserialize<'de> for PluginDigest {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let hex = String::deserialize(deserializer)?;
            PluginDigest::from_hex(&hex)
                .ok_or_else(|| serde::de::Error::custom(format!("{hex:?} is not 64 hex digits")))
        } else {
            #[derive(Deserialize)]
            #[serde(rename = "PluginDigest")]
            struct Bytes([u8; 32]);
            Ok(PluginDigest(Bytes::deserialize(deserializer)?.0))
        }
    }
}

impl PluginDigest {
    /// The digest of `component`.
    pub fn of(component: &[u8]) -> Self {
        Self(sha2::Sha256::digest(component).into())
    }

    /// The digest as 64 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The digest written as 64 hex digits (either case), if `hex` is one.
    pub fn from_hex(hex: &str) -> Option<Self> {
        if hex.len() != 64 || !hex.is_ascii() {
            return None;
        }
        let mut bytes = [0; 32];
        for (byte, pair) in bytes.iter_mut().zip(hex.as_bytes().chunks(2)) {
            *byte = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
        }
        Some(Self(bytes))
    }
}

/// The digest of a component read in pieces, so that it need not be in memory at once.
#[derive(Debug, Clone, Default)]
pub struct PluginHasher(sha2::Sha256);

impl PluginHasher {
    /// Adds the next piece of the component.
    pub fn update(&mut self, piece: &[u8]) {
        self.0.update(piece);
    }

    /// The digest of every piece added, in order.
    pub fn finish(self) -> PluginDigest {
        PluginDigest(self.0.finalize().into())
    }
}

impl fmt::Display for PluginDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.to_hex())
    }
}

impl fmt::Debug for PluginDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", &self.to_hex()[..12])
    }
}

/// The shuffle output of one map task: a data file and an index held by a BTS.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct MapOutputId {
    /// The job.
    pub job: JobId,
    /// The stage that wrote it.
    pub stage: StageId,
    /// The map task's index in that stage.
    pub map_task: TaskIndex,
}

impl fmt::Display for MapOutputId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "map output {} of {} of job {}", self.map_task, self.stage, self.job)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_read_back_from_hex_and_json_and_keep_their_postcard_bytes() {
        let digest = PluginDigest::of(b"abc");
        assert_eq!(PluginDigest::from_hex(&digest.to_hex().to_uppercase()), Some(digest));
        for bad in ["", "zz", &"g".repeat(64), &"é".repeat(32)] {
            assert_eq!(PluginDigest::from_hex(bad), None, "{bad:?}");
        }
        let json = serde_json::to_string(&digest).unwrap();
        assert_eq!(json, format!("\"{}\"", digest.to_hex()));
        assert_eq!(serde_json::from_str::<PluginDigest>(&json).unwrap(), digest);
        assert!(serde_json::from_str::<PluginDigest>("\"00\"").is_err());
        assert_eq!(postcard::to_allocvec(&digest).unwrap(), digest.0, "as the derived encoding");
        assert_eq!(postcard::from_bytes::<PluginDigest>(&digest.0).unwrap(), digest);
    }

    #[test]
    fn digests_print_as_sha256_hex() {
        let digest = PluginDigest::of(b"abc");
        assert_eq!(
            digest.to_string(),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn a_digest_of_pieces_is_the_digest_of_the_whole() {
        let mut hasher = PluginHasher::default();
        for piece in [&b"a"[..], b"", b"bc"] {
            hasher.update(piece);
        }
        assert_eq!(hasher.finish(), PluginDigest::of(b"abc"));
    }
}
