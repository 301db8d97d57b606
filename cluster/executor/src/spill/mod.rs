//! Keeping an aggregate within its memory budget: map-side flushes and reduce-side sorted runs.
//!
//! An aggregate's per-key state lives in its guest's linear memory, capped by the step's `memory`
//! limit (its budget). After every `update` and `merge`, the task asks the operator how many bytes
//! its state holds (`state-bytes`); when that would pass the spill threshold (a quarter of the
//! limit, `Limits::spill_threshold`) by the next call ([`StateBudget`]), the task takes the state
//! out with `partials`, well before the guest could need more memory than its limit.
//!
//! - **Map side** ([`PartitionedSpill`]): the partials are hash-partitioned as usual and their
//!   rows appended to a spill file, partition by partition; at the end of the task each
//!   partition's block of the map output is its spilled rows followed by the last partials.
//!   A key may then appear in a block more than once: `merge` is associative, so the reducer
//!   does not care.
//! - **Reduce side** ([`SortedRuns`]): the merged state is spilled as a run of rows sorted by
//!   their encoded key. At the end, the runs (and what is still in memory, spilled as a last run)
//!   are merged in key order, and the aggregate gets them in batches that end where a key ends:
//!   `merge` of one batch, then `finish`, so it only ever holds one batch's keys.
//!
//! Spill files are unnamed temporary files in the executor's work directory (`<work>/spill`):
//! the kernel frees them when the task ends, however it ends.

mod budget;
mod partitioned;
mod sorted_runs;

pub(crate) use budget::StateBudget;
pub(crate) use partitioned::PartitionedSpill;
pub(crate) use sorted_runs::{MergedRuns, SortedRuns};

use flicker_batch::{BatchReader, FrameError};
use std::path::{Path, PathBuf};

/// A spill that could not be written or read back.
#[derive(Debug, thiserror::Error)]
pub enum SpillError {
    /// The spill file could not be created, written or read.
    #[error("spill file in {}: {source}", dir.display())]
    Io {
        /// The directory of the spill file.
        dir: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The aggregate's partials are not a well-framed batch.
    #[error("partials batch: {0}")]
    Frame(#[from] FrameError),
    /// Two batches of one step that must have the same columns (an aggregate's partials, a
    /// co-group's prepared rows) did not.
    #[error("the step's rows changed their columns between two batches, from {before} to {after}")]
    SchemaChanged {
        /// The columns of the first partials.
        before: String,
        /// The columns of the later ones.
        after: String,
    },
    /// A spill file ended inside a row.
    #[error("spill file in {} ends inside a row", dir.display())]
    Truncated {
        /// The directory of the spill file.
        dir: PathBuf,
    },
}

/// An I/O error on a spill file in `dir`.
fn io_error(dir: &Path) -> impl FnOnce(std::io::Error) -> SpillError + '_ {
    move |source| SpillError::Io { dir: dir.to_owned(), source }
}

/// Counts `bytes` spilled (`flicker_spill_bytes_total`); returns them.
fn spilled(bytes: u64) -> u64 {
    metrics::counter!(flicker_metrics::SPILL_BYTES).increment(bytes);
    bytes
}

/// The key and value columns a batch header names, for messages.
pub(crate) fn columns(header: &[u8]) -> String {
    match BatchReader::new(header) {
        Ok(batch) => format!("keys {:?} values {:?}", batch.schema().key_fields, batch.schema().value_fields),
        Err(error) => error.to_string(),
    }
}

/// Remembers the header (schema) of the first partials batch and refuses a different one.
#[derive(Debug, Default)]
struct Header(Option<Vec<u8>>);

impl Header {
    fn check(&mut self, header: &[u8]) -> Result<(), SpillError> {
        match &self.0 {
            None => {
                self.0 = Some(header.to_vec());
                Ok(())
            }
            Some(known) if known == header => Ok(()),
            Some(known) => Err(SpillError::SchemaChanged { before: columns(known), after: columns(header) }),
        }
    }
}
