//! The core of flicker's block transfer service (BTS): shuffle output on a node's disk.
//!
//! A map task cuts its output into one block of bytes per reduce partition. The node's BTS keeps
//! those blocks until the job ends, and reduce tasks fetch "partition `p` of map output `m`" from
//! it. This crate holds what that needs apart from the network: the [`block`] encoding, the
//! on-disk [`store`], and the [`fetch_plan`] a reduce task follows. The messages of the BTS's
//! network service are in [`flicker_protocol::bts`].
//!
//! # On disk
//!
//! A [`ShuffleStore`] keeps each map output in one file, `<root>/<job>/<stage>/<map task>.out`:
//!
//! - **Blocks.** Each block is compressed on its own, so one partition can be read, sent and
//!   decompressed without the others, and within a block each piece of 1 MiB raw bytes is an lz4
//!   *block* (no frame) of its own behind a prefix holding its stored length and the **xxh3-64
//!   checksum of its compressed bytes**, so a block can be checked and decoded piece by piece as
//!   it arrives; an empty block stores zero bytes. Its [`BlockHeader`] holds the raw length, the
//!   stored length and the xxh3-64 checksum of the pieces' prefixes (the format is in [`block`]).
//!   The file starts with the stored blocks back to back, in partition order.
//! - **Index.** After the blocks: the magic `FLBI`, a format version, the partition count, per
//!   partition the block's offset in the file, stored length, raw length and checksum, and last
//!   an xxh3-64 checksum of the index itself.
//! - **Footer.** The file's last 16 bytes: the index's length and the magic `FLBSHUF1`, so a
//!   reader finds the index from the end of the file (the format is in the `index` module). A
//!   damaged index or footer is detected ([`BtsError::CorruptIndex`]) rather than sending a
//!   reader to the wrong bytes.
//! - **Atomic publication.** The file is written under a temporary name and renamed into place,
//!   so a reader never sees a half-written output, and a re-run of a map task replaces its
//!   previous output in the same way. Files are not `fsync`ed: shuffle output can be recomputed,
//!   and the checksums catch a file torn by a crash.
//!
//! # Who checks the checksums
//!
//! [`ShuffleStore::read_block`] sends a block's stored bytes and header as they are on disk,
//! without checking them. The fetching side checks each piece ([`block::BlockDecoder`]) before
//! decompressing it, and hands the block on only once all of it is checked,
//! so one check, end to end, covers damage on disk, in memory and on the wire, and the BTS does not
//! spend time hashing what it serves. A block received for storage from another node is checked
//! before it is stored ([`ShuffleStore::write_map_output_encoded`]).
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use flicker_bts::{ShuffleStore, block};
//! use flicker_protocol::{JobId, MapOutputId, StageId, TaskIndex};
//!
//! let dir = tempfile::tempdir()?;
//! let store = ShuffleStore::new(dir.path());
//! let id = MapOutputId { job: JobId("job-1".into()), stage: StageId(0), map_task: TaskIndex(3) };
//!
//! // A map task with three reduce partitions, the second one empty.
//! let info = store.write_map_output(&id, &[b"apple 1\n".to_vec(), Vec::new(), b"pear 2\n".to_vec()])?;
//! assert_eq!(info.raw_bytes, [8, 0, 7]);
//!
//! // What a BTS sends for a fetch, and what the reduce task does with it.
//! let (header, bytes) = store.read_block(&id, 2)?;
//! assert_eq!(block::decode(&header, &bytes)?, b"pear 2\n");
//!
//! assert!(store.remove_job(&id.job)? > 0);
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

pub mod block;
pub mod buffers;
pub mod client;
pub mod fetch_plan;
mod index;
mod page_cache;
pub mod service;
mod small_outputs;
pub mod store;

pub use block::{BlockError, EncodedBlock};
pub use buffers::BlockBuffers;
pub use client::{BlockFailure, BtsClient, FetchError, FetchLimits, fetch_partition};
pub use fetch_plan::{FetchPlan, RetryDecision};
pub use flicker_protocol::bts::{BlockHeader, MapOutputInfo};
pub use index::IndexError;
pub use small_outputs::SMALL_OUTPUT;
pub use store::{BlockReader, BtsError, MapOutputWriter, ShuffleStore};
