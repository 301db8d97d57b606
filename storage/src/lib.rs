//! Object-store access for flicker: where data is, how it is cut into tasks, and how output
//! appears all at once.
//!
//! Inputs and outputs are [`Location`]s parsed from URLs (`file:///…`, plain paths,
//! `memory://name/…` for tests) on top of the [`object_store`] crate, so every store reads and
//! writes the same way.
//!
//! Cloud stores are opened with a node's [`StoreOptions`], over which a job's own settings are
//! laid once [`JobStoreOptions::check`] has accepted them: a job may tune requests, but neither
//! give credentials nor choose where requests go. What a job may reach at all (local paths under
//! allowed roots only, no `memory://` on a cluster, allowed buckets) is a node's
//! [`AccessPolicy`], which [`AccessPolicy::admit`] applies to each location.
//!
//! Reading an input takes three steps:
//!
//! 1. [`list_inputs`] turns a location (an object, a prefix, or a glob) into [`InputObject`]s,
//!    skipping Hadoop-style hidden files (`_SUCCESS`, `_temporary/`, `.crc`).
//! 2. [`plan_splits`] cuts the objects into byte-range [`Split`]s of a fixed size, one per task.
//!    It looks at no byte: a split *owns the records (lines) that start inside it*, so a
//!    record crossing a split boundary belongs to the split where it starts
//!    ([`owned_records`] is that rule as a pure function). A compressed object (named `*.gz`
//!    or `*.zst`, see [`Compression`]) can only be decoded from its start, so it is one split.
//! 3. A [`SplitReader`] streams one split's owned records as [`Chunk`]s of whole lines, with
//!    ranged GETs: one byte before the range to find the first record start, a few past it to
//!    finish the last record. A compressed object is decompressed as it streams (every gzip
//!    member, every zstd frame), its records are the lines of the decompressed data, and
//!    offsets in it ([`Chunk::offset`], [`line_number_at`]) are offsets in that data.
//!
//! ```no_run
//! # async fn example() -> Result<(), flicker_storage::StorageError> {
//! use flicker_storage::{Location, SplitReader, list_inputs, plan_splits};
//!
//! let input = Location::parse("data/*.csv", std::path::Path::new("/jobs/wordcount"))?;
//! for split in plan_splits(&list_inputs(&input).await?, 64 << 20) {
//!     let mut reader = SplitReader::open(&input, &split, 1 << 20).await?;
//!     while let Some(chunk) = reader.next_chunk().await? {
//!         // `chunk.bytes` holds whole lines; `chunk.offset` is where they start in the object
//!         // (in its decompressed data for a compressed one).
//!         # let _ = chunk;
//!     }
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Writing output goes through an [`OutputCommitter`]: parts go to
//! `<dest>/_temporary/<run id>/`, and [`OutputCommitter::commit`] moves them into `<dest>`
//! and writes `<dest>/_SUCCESS` last, so a reader never sees half an output.
//! [`read_committed`] lists a committed output's parts; [`line_number_at`] turns an offset into
//! a line number for error messages.

mod commit;
mod compression;
mod confined;
mod error;
mod glob;
mod job_options;
mod job_values;
mod line;
mod listing;
mod location;
mod metered;
mod object_writer;
mod options;
mod policy;
mod request_host;
mod split;
mod split_reader;
mod success;
#[cfg(test)]
mod test_support;

pub use commit::{
    CommitMode, OutputCommitter, PartFile, PartWriter, StagedPart, check_destination, is_committed,
    read_committed, read_part,
};
pub use compression::Compression;
pub use error::StorageError;
pub use job_options::{JobSetting, JobSettingError, JobStoreOptions, RefusedSetting};
pub use job_values::{MAX_TEXT, ValueRule};
pub use line::line_number_at;
pub use listing::{InputObject, list_all, list_inputs};
pub use location::Location;
pub use object_writer::ObjectWriter;
pub use options::{Service, StoreOptionError, StoreOptions};
pub use policy::{AccessPolicy, AccessRefused, AllowedLocation, NodeStorage, PolicyError};
pub use split::{Aligned, Split, owned_records, plan_splits};
pub use split_reader::{Chunk, SplitReader};
