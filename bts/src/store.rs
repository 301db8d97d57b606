//! Map outputs on a node's disk: one file per map task, `<root>/<job>/<stage>/<map task>.out`,
//! holding the task's blocks back to back, then their index, then a 16-byte footer that gives the
//! index's length (the layout is in the `index` module).
//!
//! A map output is written to a temporary file in the same directory and published by renaming
//! it into place, so a reader sees a whole output or none. Reading a block takes one open: the
//! footer, then the index, then the block's range.
//!
//! A store given a memory budget ([`ShuffleStore::with_memory`]) keeps small outputs' images in
//! memory instead (see `small_outputs`); readers look there first.
//!
//! The store is synchronous (`std::fs`); async callers run it on a blocking thread.

use crate::block::{self, BlockError, EncodedBlock};
use crate::index::{self, FOOTER_LEN, IndexEntry, IndexError};
use crate::small_outputs::{SMALL_OUTPUT, SmallOutputs};
use flicker_protocol::bts::{BlockHeader, BtsFailure, MapOutputInfo};
use flicker_protocol::ids::{JobId, MapOutputId};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The longest job id accepted: a file name's limit on common file systems.
const MAX_JOB_ID_LEN: usize = 255;

/// Numbers temporary files, so concurrent writers of one map output never share one.
static NEXT_TMP: AtomicU64 = AtomicU64::new(0);

/// A shuffle store operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum BtsError {
    /// A job id that cannot name a directory.
    #[error(
        "invalid job id {:?}: a job id is 1 to {MAX_JOB_ID_LEN} of A-Z a-z 0-9 _ . - and not \".\" or \"..\"",
        job.0
    )]
    InvalidJobId {
        /// The job id.
        job: JobId,
    },
    /// The map output is not on this node (never written, removed, or lost).
    #[error("no {id} on this node")]
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
    /// The map output's index or footer is damaged, so its blocks cannot be found.
    #[error("the index of {id} at {} is corrupt", path.display())]
    CorruptIndex {
        /// The map output.
        id: MapOutputId,
        /// The map output file.
        path: PathBuf,
        /// What is wrong with it.
        #[source]
        reason: IndexError,
    },
    /// A block is damaged: on disk (found when reading it) or as received (found when storing it).
    #[error("partition {partition} of {id} is corrupt")]
    Corrupt {
        /// The map output.
        id: MapOutputId,
        /// The partition.
        partition: u32,
        /// What is wrong with the block.
        source: BlockError,
    },
    /// A block too large to encode (4 GiB or more).
    #[error("partition {partition} of {id} cannot be stored")]
    Encode {
        /// The map output.
        id: MapOutputId,
        /// The partition.
        partition: u32,
        /// Why it cannot be encoded.
        source: BlockError,
    },
    /// A map output with more partitions than an index can hold (`u32::MAX`).
    #[error("{id} has more than {} partitions", u32::MAX)]
    TooManyPartitions {
        /// The map output.
        id: MapOutputId,
    },
    /// A file operation failed.
    #[error("i/o error on {}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
}

impl From<&BtsError> for BtsFailure {
    /// The failure to send to a remote caller, with the causes spelled out.
    fn from(error: &BtsError) -> Self {
        match error {
            BtsError::NoSuchMapOutput { id } => BtsFailure::NoSuchMapOutput { id: id.clone() },
            BtsError::NoSuchPartition { id, partition, partitions } => {
                BtsFailure::NoSuchPartition { id: id.clone(), partition: *partition, partitions: *partitions }
            }
            BtsError::Corrupt { id, partition, source } => {
                BtsFailure::Corrupt { id: id.clone(), partition: *partition, reason: source.to_string() }
            }
            BtsError::CorruptIndex { id, reason, .. } => {
                BtsFailure::CorruptIndex { id: id.clone(), reason: reason.to_string() }
            }
            BtsError::InvalidJobId { .. } | BtsError::TooManyPartitions { .. } => {
                BtsFailure::InvalidRequest { reason: error.to_string() }
            }
            BtsError::Encode { source, .. } => {
                BtsFailure::InvalidRequest { reason: format!("{error}: {source}") }
            }
            BtsError::Io { source, .. } => BtsFailure::Io { reason: format!("{error}: {source}") },
        }
    }
}

/// The map outputs held by one node, in a directory of their own.
///
/// Each map output is published by one rename of a whole file, so concurrent writers of the same
/// map output, through this store or another one on the same directory, leave one of them whole.
#[derive(Debug)]
pub struct ShuffleStore {
    root: PathBuf,
    /// Small outputs kept in memory, if the store has a memory budget.
    small: Option<Arc<SmallOutputs>>,
    /// Bytes of blocks its BTS sent to fetchers (as sent: compressed).
    served: std::sync::atomic::AtomicU64,
}

impl ShuffleStore {
    /// A store under `root`, which is created when the first output is written.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into(), small: None, served: Default::default() }
    }

    /// A store under `root` that keeps outputs of at most 64 KiB in memory, up to `budget` bytes
    /// of them, and the others in files.
    pub fn with_memory(root: impl Into<PathBuf>, budget: u64) -> Self {
        Self {
            root: root.into(),
            small: Some(Arc::new(SmallOutputs::new(budget))),
            served: Default::default(),
        }
    }

    /// Counts `bytes` of a block its BTS sent to a fetcher.
    pub fn count_served(&self, bytes: u64) {
        self.served.fetch_add(bytes, std::sync::atomic::Ordering::Relaxed);
        metrics::counter!(flicker_metrics::SHUFFLE_SERVED_BYTES).increment(bytes);
    }

    /// Bytes of blocks its BTS sent to fetchers so far.
    pub fn served_bytes(&self) -> u64 {
        self.served.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The store's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Encodes and stores the blocks of a map output (one per reduce partition, in order; a block
    /// may be empty), replacing an output of the same id.
    pub fn write_map_output(&self, id: &MapOutputId, blocks: &[Vec<u8>]) -> Result<MapOutputInfo, BtsError> {
        let mut writer = self.writer(id)?;
        for raw in blocks {
            writer.push_raw(raw)?;
        }
        writer.finish()
    }

    /// Stores a map output whose blocks arrive already encoded (from a remote executor),
    /// replacing an output of the same id. Each block is checked against its header first; a
    /// damaged one fails the whole output with [`BtsError::Corrupt`].
    pub fn write_map_output_encoded(
        &self,
        id: &MapOutputId,
        blocks: Vec<(BlockHeader, Vec<u8>)>,
    ) -> Result<MapOutputInfo, BtsError> {
        let mut writer = self.writer(id)?;
        for (header, bytes) in blocks {
            let partition = writer.next_partition()?;
            let block = EncodedBlock::verified(header, bytes).map_err(|source| BtsError::Corrupt {
                id: id.clone(),
                partition,
                source,
            })?;
            writer.push(&block)?;
        }
        writer.finish()
    }

    /// Starts writing a map output block by block, for callers that receive the blocks one at a
    /// time; the writer borrows nothing, so it can move between blocking tasks. Nothing is visible
    /// to readers until [`MapOutputWriter::finish`].
    pub fn writer(&self, id: &MapOutputId) -> Result<MapOutputWriter, BtsError> {
        let path = self.path(id)?;
        let unique = format!("{}-{}.tmp", std::process::id(), NEXT_TMP.fetch_add(1, Ordering::Relaxed));
        let tmp = path.with_extension(format!("out.{unique}"));
        let mut writer = MapOutputWriter {
            id: id.clone(),
            path,
            tmp,
            sink: Sink::Memory(Vec::new()),
            small: self.small.clone(),
            headers: Vec::new(),
            finished: false,
        };
        if writer.small.is_none() {
            writer.move_to_file()?;
        }
        Ok(writer)
    }

    /// The stored bytes of one partition of a map output and their header, read from their range
    /// of the map output file. The bytes are not checked against the header: whoever fetched them
    /// does that, so damage on disk and on the way are caught by the same check.
    ///
    /// The file is opened once: its footer is read, then the whole index, to check its checksum
    /// (24 bytes per partition: 240 KB for 10,000 partitions), then only the block's range.
    pub fn read_block(&self, id: &MapOutputId, partition: u32) -> Result<(BlockHeader, Vec<u8>), BtsError> {
        let (header, mut reader) = self.open_block(id, partition)?;
        let bytes = reader.read_piece(header.stored_len as usize)?;
        Ok((header, bytes))
    }

    /// One partition's block of a map output, open for reading its stored bytes in pieces (see
    /// [`BlockReader`]), with its header: for sending a large block as it is read rather than
    /// after. Opening reads the footer and the index as [`read_block`](Self::read_block) does, and
    /// checks that the block's range lies within the file.
    pub fn open_block(
        &self,
        id: &MapOutputId,
        partition: u32,
    ) -> Result<(BlockHeader, BlockReader), BtsError> {
        let output = self.open(id, OpenOptions::new().read(true))?;
        let partitions = output.entries.len() as u32;
        let Some(&IndexEntry { offset, header }) = output.entries.get(partition as usize) else {
            return Err(BtsError::NoSuchPartition { id: id.clone(), partition, partitions });
        };
        let available = output.blocks_end.saturating_sub(offset);
        if available < u64::from(header.stored_len) {
            let source = BlockError::LengthMismatch { expected: header.stored_len.into(), actual: available };
            return Err(BtsError::Corrupt { id: id.clone(), partition, source });
        }
        Ok((header, BlockReader { output, offset, remaining: header.stored_len.into() }))
    }

    /// One partition of a map output, checked and decompressed (for local reads).
    pub fn read_partition(&self, id: &MapOutputId, partition: u32) -> Result<Vec<u8>, BtsError> {
        let (header, bytes) = self.read_block(id, partition)?;
        block::decode(&header, &bytes).map_err(|source| BtsError::Corrupt {
            id: id.clone(),
            partition,
            source,
        })
    }

    /// Whether the map output is kept in memory: reading it then touches no disk, so an async
    /// task may read it where it is rather than on a blocking thread.
    pub fn holds_in_memory(&self, id: &MapOutputId) -> bool {
        self.small.as_ref().is_some_and(|small| small.get(id).is_some())
    }

    /// Whether the map output is stored here (in memory, or its file exists; it is not read).
    pub fn has_map_output(&self, id: &MapOutputId) -> bool {
        self.holds_in_memory(id) || self.path(id).is_ok_and(|path| path.is_file())
    }

    /// Deletes all map outputs of a job and returns the bytes freed; a job with nothing stored
    /// frees nothing.
    pub fn remove_job(&self, job: &JobId) -> Result<u64, BtsError> {
        let dir = self.job_dir(job)?;
        let in_memory = self.small.as_ref().map_or(0, |small| small.remove_job(job));
        let bytes = match disk_usage(&dir) {
            Ok(bytes) => bytes + in_memory,
            Err((path, e)) if path == dir && e.kind() == io::ErrorKind::NotFound => return Ok(in_memory),
            Err((path, source)) => return Err(BtsError::Io { path, source }),
        };
        match fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(in_memory),
            Err(e) => return Err(io_error(&dir)(e)),
        }
        tracing::debug!(%job, bytes, "removed the shuffle output of a job");
        Ok(bytes)
    }

    /// The jobs that have a directory in the store or an output in memory, sorted (to clean up
    /// after jobs whose end was missed). Directories whose names are not valid job ids are not
    /// listed.
    pub fn jobs(&self) -> Result<Vec<JobId>, BtsError> {
        let mut jobs = self.small.as_ref().map(|small| small.jobs()).unwrap_or_default();
        let entries = match fs::read_dir(&self.root) {
            Ok(entries) => Some(entries),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(io_error(&self.root)(e)),
        };
        for entry in entries.into_iter().flatten() {
            let entry = entry.map_err(io_error(&self.root))?;
            let is_dir = entry.file_type().map_err(io_error(&entry.path()))?.is_dir();
            if let Some(name) = entry.file_name().to_str().filter(|name| is_dir && valid_job_id(name)) {
                jobs.push(JobId(name.to_owned()));
            }
        }
        jobs.sort();
        jobs.dedup();
        Ok(jobs)
    }

    /// Flips the last byte of the map output's last non-empty block, as a failing disk would, so
    /// the fetcher's checksum catches it: fault injection for tests of recovery, never called
    /// otherwise. Returns whether there was a byte to flip (not when every block is empty).
    pub fn damage(&self, id: &MapOutputId) -> Result<bool, BtsError> {
        let output = self.open(id, OpenOptions::new().read(true).write(true))?;
        let Some(last) = output.entries.iter().rev().find(|entry| entry.header.stored_len > 0) else {
            return Ok(false);
        };
        let at = last.offset + u64::from(last.header.stored_len) - 1;
        match &output.source {
            Source::Image(_) => {
                let flipped =
                    self.small.as_ref().and_then(|small| small.with(id, |image| image[at as usize] ^= 0x5a));
                Ok(flipped.is_some())
            }
            Source::File(file) => {
                let mut byte = [0];
                file.read_exact_at(&mut byte, at).map_err(io_error(&output.path))?;
                file.write_all_at(&[byte[0] ^ 0x5a], at).map_err(io_error(&output.path))?;
                Ok(true)
            }
        }
    }

    /// Opens a map output file with `options` (one open) and reads its footer and index.
    /// (A small output kept in memory is read from its shared image.)
    fn open(&self, id: &MapOutputId, options: &OpenOptions) -> Result<StoredOutput, BtsError> {
        let path = self.path(id)?;
        let image = self.small.as_ref().and_then(|small| small.get(id));
        let source = match image {
            Some(image) => Source::Image(image),
            None => match options.open(&path) {
                Ok(file) => Source::File(file),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    return Err(BtsError::NoSuchMapOutput { id: id.clone() });
                }
                Err(e) => return Err(io_error(&path)(e)),
            },
        };
        let file_len = match &source {
            Source::File(file) => file.metadata().map_err(io_error(&path))?.len(),
            Source::Image(image) => image.len() as u64,
        };
        let corrupt = |reason| BtsError::CorruptIndex { id: id.clone(), path: path.clone(), reason };
        let mut output = StoredOutput { path: path.clone(), source, entries: Vec::new(), blocks_end: 0 };
        let footer_offset = index::footer_offset(file_len).map_err(corrupt)?;
        let mut footer = [0; FOOTER_LEN];
        output.read_at(footer_offset, &mut footer)?;
        let index = index::parse_footer(&footer, footer_offset).map_err(corrupt)?;
        // The index fits before the footer, so it is no longer than the file.
        let mut bytes = vec![0; (index.end - index.start) as usize];
        output.read_at(index.start, &mut bytes)?;
        output.entries = index::parse(&bytes).map_err(corrupt)?;
        output.blocks_end = index.start;
        Ok(output)
    }

    fn job_dir(&self, job: &JobId) -> Result<PathBuf, BtsError> {
        if valid_job_id(&job.0) {
            Ok(self.root.join(&job.0))
        } else {
            Err(BtsError::InvalidJobId { job: job.clone() })
        }
    }

    /// Where a map output's file is.
    fn path(&self, id: &MapOutputId) -> Result<PathBuf, BtsError> {
        let dir = self.job_dir(&id.job)?.join(id.stage.0.to_string());
        Ok(dir.join(format!("{}.out", id.map_task)))
    }
}

/// Where a stored output's bytes are.
#[derive(Debug)]
enum Source {
    /// Its file, open.
    File(File),
    /// Its image kept in memory.
    Image(Arc<Vec<u8>>),
}

/// A map output, open, with its index read and checked.
#[derive(Debug)]
struct StoredOutput {
    path: PathBuf,
    source: Source,
    entries: Vec<IndexEntry>,
    /// Where the blocks end: the index starts here.
    blocks_end: u64,
}

impl StoredOutput {
    /// Fills `bytes` from the output, starting at `offset`.
    fn read_at(&self, offset: u64, bytes: &mut [u8]) -> Result<(), BtsError> {
        match &self.source {
            Source::File(file) => file.read_exact_at(bytes, offset).map_err(io_error(&self.path)),
            Source::Image(image) => {
                let range =
                    usize::try_from(offset).ok().and_then(|start| image.get(start..start + bytes.len()));
                let unexpected_end = || io::Error::from(io::ErrorKind::UnexpectedEof);
                bytes.copy_from_slice(range.ok_or_else(|| io_error(&self.path)(unexpected_end()))?);
                Ok(())
            }
        }
    }
}

/// The stored bytes of one block, read front to back in pieces; see [`ShuffleStore::open_block`].
/// The bytes are not checked: the fetcher checks the whole block against its header.
#[derive(Debug)]
pub struct BlockReader {
    output: StoredOutput,
    /// Where the next piece starts in the output.
    offset: u64,
    /// The block's bytes not read yet.
    remaining: u64,
}

impl BlockReader {
    /// The block's bytes not read yet.
    pub fn remaining(&self) -> u64 {
        self.remaining
    }

    /// The block's bytes not read yet, mapped from the page cache, if every one of them is in it:
    /// they can be sent without being read (copied) first, and touching them does not wait for
    /// the disk. `None` for a block kept in memory, one with nothing left to read, one not wholly
    /// cached, or where the kernel cannot tell (`cachestat`, Linux 6.5) or map it: read it in
    /// pieces then. A page evicted after this check is read back by the first access to it,
    /// which then waits for the disk.
    pub fn map_cached(&self) -> Option<bytes::Bytes> {
        let Source::File(file) = &self.output.source else { return None };
        crate::page_cache::map_cached(file, self.offset, self.remaining)
    }

    /// Reads the next at most `max` bytes of the block; empty once all of it has been read.
    pub fn read_piece(&mut self, max: usize) -> Result<Vec<u8>, BtsError> {
        let len = usize::try_from(self.remaining).unwrap_or(usize::MAX).min(max);
        let mut piece = vec![0; len];
        self.output.read_at(self.offset, &mut piece)?;
        self.offset += len as u64;
        self.remaining -= len as u64;
        Ok(piece)
    }
}

/// Where a [`MapOutputWriter`] puts the bytes.
#[derive(Debug)]
enum Sink {
    /// A buffer, while the output may still be kept in memory.
    Memory(Vec<u8>),
    /// The temporary file.
    File(BufWriter<File>),
}

/// Writes one map output block by block; see [`ShuffleStore::writer`].
///
/// Blocks go to a temporary file in the output's directory. [`finish`](Self::finish) appends the
/// index and the footer, then renames the file into place. A writer dropped without finishing
/// removes its temporary file and leaves any previous output as it was. In a store with a memory
/// budget, the writer buffers the output while it is small, and `finish` keeps it in memory if
/// the budget has room.
#[derive(Debug)]
pub struct MapOutputWriter {
    id: MapOutputId,
    /// Where the output is published.
    path: PathBuf,
    /// The temporary file being written.
    tmp: PathBuf,
    sink: Sink,
    /// The store's small outputs, if it keeps any.
    small: Option<Arc<SmallOutputs>>,
    headers: Vec<BlockHeader>,
    finished: bool,
}

impl MapOutputWriter {
    /// Appends the block of the next partition.
    pub fn push(&mut self, block: &EncodedBlock) -> Result<(), BtsError> {
        self.next_partition()?;
        self.write(block.bytes())?;
        self.headers.push(block.header());
        Ok(())
    }

    /// Appends `bytes` to the output, moving it to its temporary file once it is not small.
    fn write(&mut self, bytes: &[u8]) -> Result<(), BtsError> {
        if let Sink::Memory(buffer) = &self.sink
            && buffer.len() + bytes.len() > SMALL_OUTPUT
        {
            self.move_to_file()?;
        }
        match &mut self.sink {
            Sink::Memory(buffer) => {
                buffer.extend_from_slice(bytes);
                Ok(())
            }
            Sink::File(file) => file.write_all(bytes).map_err(io_error(&self.tmp)),
        }
    }

    /// Creates the temporary file and writes what was buffered so far into it.
    fn move_to_file(&mut self) -> Result<(), BtsError> {
        let Sink::Memory(buffer) = &mut self.sink else { return Ok(()) };
        let buffered = std::mem::take(buffer);
        let dir = self.path.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(dir).map_err(io_error(dir))?;
        let mut file = BufWriter::new(File::create(&self.tmp).map_err(io_error(&self.tmp))?);
        file.write_all(&buffered).map_err(io_error(&self.tmp))?;
        self.sink = Sink::File(file);
        Ok(())
    }

    /// Encodes the raw bytes of the next partition's block and appends it.
    pub fn push_raw(&mut self, raw: &[u8]) -> Result<(), BtsError> {
        let partition = self.next_partition()?;
        let block = block::encode(raw).map_err(|source| BtsError::Encode {
            id: self.id.clone(),
            partition,
            source,
        })?;
        self.push(&block)
    }

    /// Publishes the output: from now on readers see it, and not a previous output of the same id.
    pub fn finish(mut self) -> Result<MapOutputInfo, BtsError> {
        let index = index::encode(&self.headers);
        let footer = index::encode_footer(index.len() as u64);
        for bytes in [&index[..], &footer] {
            self.write(bytes)?;
        }
        if let (Sink::Memory(image), Some(small)) = (&mut self.sink, &self.small) {
            match small.insert(&self.id, std::mem::take(image)) {
                Ok(()) => self.finished = true,
                Err(image) => {
                    self.sink = Sink::Memory(image);
                    self.move_to_file()?;
                }
            }
        }
        if let Sink::File(file) = &mut self.sink {
            file.flush().map_err(io_error(&self.tmp))?;
            fs::rename(&self.tmp, &self.path).map_err(io_error(&self.path))?;
            // An older output of the same id kept in memory would hide this one.
            if let Some(small) = &self.small {
                small.remove(&self.id);
            }
            self.finished = true;
        }
        let info = MapOutputInfo {
            partitions: self.headers.len() as u32,
            raw_bytes: self.headers.iter().map(|h| u64::from(h.raw_len)).collect(),
            stored_bytes: self.headers.iter().map(|h| u64::from(h.stored_len)).sum(),
        };
        tracing::debug!(id = %self.id, partitions = info.partitions, stored_bytes = info.stored_bytes,
            "stored a map output");
        Ok(info)
    }

    /// The partition the next block will be, refused past the most an index holds.
    fn next_partition(&self) -> Result<u32, BtsError> {
        u32::try_from(self.headers.len())
            .ok()
            .filter(|&next| next < u32::MAX)
            .ok_or_else(|| BtsError::TooManyPartitions { id: self.id.clone() })
    }
}

impl Drop for MapOutputWriter {
    fn drop(&mut self) {
        if !self.finished {
            // Best effort: a leftover temporary file goes with its job directory anyway.
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// Whether `job` is safe as a directory name: `[A-Za-z0-9_.-]+`, not `.` or `..`, not too long.
fn valid_job_id(job: &str) -> bool {
    !job.is_empty()
        && job.len() <= MAX_JOB_ID_LEN
        && job != "."
        && job != ".."
        && job.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// The bytes of all files under `dir` (symbolic links are not followed), or the failing path.
fn disk_usage(dir: &Path) -> Result<u64, (PathBuf, io::Error)> {
    let mut bytes = 0;
    for entry in fs::read_dir(dir).map_err(|e| (dir.to_owned(), e))? {
        let entry = entry.map_err(|e| (dir.to_owned(), e))?;
        let path = entry.path();
        let metadata = entry.metadata().map_err(|e| (path.clone(), e))?;
        bytes += if metadata.is_dir() { disk_usage(&path)? } else { metadata.len() };
    }
    Ok(bytes)
}

/// Maps an I/O error to [`BtsError::Io`] on `path`.
fn io_error(path: &Path) -> impl FnOnce(io::Error) -> BtsError + '_ {
    move |source| BtsError::Io { path: path.to_owned(), source }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flicker_protocol::ids::{StageId, TaskIndex};

    fn output(job: &str, map_task: u32) -> MapOutputId {
        MapOutputId { job: JobId(job.into()), stage: StageId(1), map_task: TaskIndex(map_task) }
    }

    /// Blocks of varied sizes and contents, every third one empty.
    fn blocks(partitions: u32) -> Vec<Vec<u8>> {
        (0..partitions)
            .map(|p| match p % 3 {
                0 => Vec::new(),
                1 => format!("key-{p} value\n").repeat(p as usize * 10).into_bytes(),
                _ => (0..p * 7).map(|i| (i * 31 % 256) as u8).collect(),
            })
            .collect()
    }

    fn store() -> (tempfile::TempDir, ShuffleStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = ShuffleStore::new(dir.path().join("shuffle"));
        (dir, store)
    }

    /// Flips one bit of a file at `offset`.
    fn flip(path: &Path, offset: u64) {
        let file = fs::OpenOptions::new().read(true).write(true).open(path).unwrap();
        let mut byte = [0];
        file.read_exact_at(&mut byte, offset).unwrap();
        file.write_all_at(&[byte[0] ^ 0x04], offset).unwrap();
    }

    fn file(store: &ShuffleStore, id: &MapOutputId) -> PathBuf {
        store.path(id).unwrap()
    }

    /// The bytes a map output file holds besides its blocks: the index and the footer.
    fn overhead(partitions: usize) -> u64 {
        let index = index::encode(&vec![BlockHeader { raw_len: 0, stored_len: 0, checksum: 0 }; partitions]);
        (index.len() + FOOTER_LEN) as u64
    }

    /// Where the index lies in a map output file.
    fn index_range(path: &Path) -> std::ops::Range<u64> {
        let bytes = fs::read(path).unwrap();
        let footer_offset = index::footer_offset(bytes.len() as u64).unwrap();
        index::parse_footer(bytes[footer_offset as usize..].try_into().unwrap(), footer_offset).unwrap()
    }

    /// The error reading partition 1 of a map output returns, if it is an index error.
    fn index_error(store: &ShuffleStore, id: &MapOutputId) -> IndexError {
        match store.read_block(id, 1) {
            Err(BtsError::CorruptIndex { path, reason, .. }) if path == file(store, id) => reason,
            other => panic!("expected a corrupt index, got {other:?}"),
        }
    }

    #[test]
    fn many_partitions_round_trip() {
        let (_dir, store) = store();
        let id = output("job-1", 4);
        let blocks = blocks(300);
        let info = store.write_map_output(&id, &blocks).unwrap();
        assert_eq!(info.partitions, 300);
        assert_eq!(info.raw_bytes, blocks.iter().map(|b| b.len() as u64).collect::<Vec<_>>());
        assert_eq!(info.stored_bytes + overhead(300), fs::metadata(file(&store, &id)).unwrap().len());
        assert!(store.has_map_output(&id));
        for (p, raw) in blocks.iter().enumerate() {
            assert_eq!(&store.read_partition(&id, p as u32).unwrap(), raw);
        }
        let (header, bytes) = store.read_block(&id, 0).unwrap();
        assert_eq!((header.raw_len, header.stored_len, bytes.len()), (0, 0, 0));
    }

    #[test]
    fn a_block_read_in_pieces_is_the_block() {
        let (_dir, store) = store();
        let id = output("job-1", 0);
        store.write_map_output(&id, &blocks(5)).unwrap();
        let whole = store.read_block(&id, 4).unwrap();
        let (header, mut reader) = store.open_block(&id, 4).unwrap();
        assert!(header.stored_len > 7, "a block of several pieces");
        let mut bytes = Vec::new();
        while reader.remaining() > 0 {
            let piece = reader.read_piece(7).unwrap();
            assert!(!piece.is_empty() && piece.len() <= 7);
            bytes.extend_from_slice(&piece);
        }
        assert!(reader.read_piece(7).unwrap().is_empty());
        assert_eq!((header, bytes), whole);
    }

    #[test]
    fn an_output_with_no_partitions_or_only_empty_blocks_round_trips() {
        let (_dir, store) = store();
        let none = output("job-1", 0);
        assert_eq!(store.write_map_output(&none, &[]).unwrap(), MapOutputInfo::default());
        assert!(matches!(
            store.read_block(&none, 0),
            Err(BtsError::NoSuchPartition { partition: 0, partitions: 0, .. })
        ));
        let empty = output("job-1", 1);
        let info = store.write_map_output(&empty, &[Vec::new(), Vec::new()]).unwrap();
        assert_eq!((info.partitions, info.stored_bytes), (2, 0));
        assert_eq!(store.read_partition(&empty, 1).unwrap(), b"");
    }

    #[test]
    fn encoded_blocks_are_stored_as_they_come() {
        let (_dir, store) = store();
        let blocks = blocks(20);
        let encoded: Vec<_> = blocks.iter().map(|raw| block::encode(raw).unwrap().into_parts()).collect();
        let local = store.write_map_output(&output("job-1", 0), &blocks).unwrap();
        let remote = store.write_map_output_encoded(&output("job-1", 1), encoded.clone()).unwrap();
        assert_eq!(local, remote);
        for (p, (header, bytes)) in encoded.into_iter().enumerate() {
            assert_eq!(store.read_block(&output("job-1", 1), p as u32).unwrap(), (header, bytes));
        }
    }

    #[test]
    fn a_damaged_encoded_block_is_refused_and_nothing_is_stored() {
        let (_dir, store) = store();
        let id = output("job-1", 0);
        let mut encoded: Vec<_> =
            blocks(5).iter().map(|raw| block::encode(raw).unwrap().into_parts()).collect();
        encoded[2].1[0] ^= 1;
        let error = store.write_map_output_encoded(&id, encoded).unwrap_err();
        assert!(matches!(
            error,
            BtsError::Corrupt { partition: 2, source: BlockError::ChecksumMismatch { .. }, .. }
        ));
        assert!(!store.has_map_output(&id));
        let dir = file(&store, &id).parent().unwrap().to_owned();
        assert_eq!(fs::read_dir(dir).unwrap().count(), 0, "a temporary file was left behind");
    }

    #[test]
    fn a_rerun_replaces_the_previous_output() {
        let (_dir, store) = store();
        let id = output("job-1", 0);
        store.write_map_output(&id, &blocks(10)).unwrap();
        let info = store.write_map_output(&id, &[b"second attempt".to_vec()]).unwrap();
        assert_eq!(info.partitions, 1);
        assert_eq!(store.read_partition(&id, 0).unwrap(), b"second attempt");
        assert!(matches!(store.read_block(&id, 1), Err(BtsError::NoSuchPartition { partitions: 1, .. })));
    }

    #[test]
    fn concurrent_writers_of_one_output_leave_one_of_them_whole() {
        let (_dir, store) = store();
        let id = output("job-1", 0);
        let attempt = |n: u8| -> Vec<Vec<u8>> { (0..20).map(|p| vec![n; 100 + p * n as usize]).collect() };
        std::thread::scope(|scope| {
            for n in 1..=8 {
                let (store, id) = (&store, &id);
                scope.spawn(move || store.write_map_output(id, &attempt(n)).unwrap());
            }
        });
        let first = store.read_partition(&id, 0).unwrap()[0];
        for p in 0..20 {
            assert_eq!(store.read_partition(&id, p).unwrap(), attempt(first)[p as usize]);
        }
        let dir = file(&store, &id).parent().unwrap().to_owned();
        assert_eq!(fs::read_dir(dir).unwrap().count(), 1, "temporary files were left behind");
    }

    #[test]
    fn a_flipped_block_byte_is_caught_as_corrupt() {
        let (_dir, store) = store();
        let id = output("job-1", 0);
        let blocks = blocks(5);
        store.write_map_output(&id, &blocks).unwrap();
        let (header, _) = store.read_block(&id, 2).unwrap();
        let offset = u64::from(store.read_block(&id, 1).unwrap().0.stored_len);
        flip(&file(&store, &id), offset + u64::from(header.stored_len) / 2);

        // Served as is: the fetcher is the one who checks.
        let (served, bytes) = store.read_block(&id, 2).unwrap();
        assert_eq!(served, header);
        assert!(matches!(block::decode(&served, &bytes), Err(BlockError::ChecksumMismatch { .. })));
        assert!(matches!(
            store.read_partition(&id, 2),
            Err(BtsError::Corrupt { partition: 2, source: BlockError::ChecksumMismatch { .. }, .. })
        ));
        assert_eq!(store.read_partition(&id, 1).unwrap(), blocks[1]);
    }

    #[test]
    fn blocks_cut_short_are_caught_as_corrupt() {
        let (_dir, store) = store();
        let id = output("job-1", 0);
        let blocks = blocks(5);
        let info = store.write_map_output(&id, &blocks).unwrap();
        let stored_len = u64::from(store.read_block(&id, 4).unwrap().0.stored_len);
        // The last block loses 3 bytes; the index and the footer after it stay whole.
        let path = file(&store, &id);
        let mut bytes = fs::read(&path).unwrap();
        let end = info.stored_bytes as usize;
        bytes.drain(end - 3..end);
        fs::write(&path, bytes).unwrap();
        let cut_short = BlockError::LengthMismatch { expected: stored_len, actual: stored_len - 3 };
        assert!(matches!(
            store.read_block(&id, 4),
            Err(BtsError::Corrupt { partition: 4, source, .. }) if source == cut_short
        ));
        assert_eq!(store.read_partition(&id, 1).unwrap(), blocks[1]);
    }

    #[test]
    fn a_flipped_index_byte_is_caught_as_corrupt_index() {
        let (_dir, store) = store();
        let id = output("job-1", 0);
        store.write_map_output(&id, &blocks(5)).unwrap();
        let path = file(&store, &id);
        let index = index_range(&path);
        for at in [index.start + 2, index.start + 7, index.start + 30, index.end - 1] {
            flip(&path, at);
            index_error(&store, &id);
            flip(&path, at);
        }
        assert!(store.read_partition(&id, 1).is_ok());
    }

    #[test]
    fn a_damaged_or_truncated_footer_is_caught_as_corrupt_index() {
        let (_dir, store) = store();
        let id = output("job-1", 0);
        store.write_map_output(&id, &blocks(5)).unwrap();
        let path = file(&store, &id);
        let whole = fs::read(&path).unwrap();
        let footer_offset = whole.len() - FOOTER_LEN;
        let index = index_range(&path);
        let with_index_len = |index_len: u64| {
            let mut bytes = whole.clone();
            bytes[footer_offset..][..8].copy_from_slice(&index_len.to_le_bytes());
            bytes
        };

        flip(&path, whole.len() as u64 - 1);
        assert_eq!(index_error(&store, &id), IndexError::BadFooterMagic);
        fs::write(&path, with_index_len(footer_offset as u64 + 1)).unwrap();
        assert_eq!(
            index_error(&store, &id),
            IndexError::IndexTooLong { index_len: footer_offset as u64 + 1, room: footer_offset as u64 }
        );
        fs::write(&path, with_index_len(index.end - index.start - 1)).unwrap();
        assert_eq!(index_error(&store, &id), IndexError::BadMagic);
        fs::write(&path, &whole[..whole.len() - 1]).unwrap();
        assert_eq!(index_error(&store, &id), IndexError::BadFooterMagic);
        for len in [0, FOOTER_LEN - 1] {
            fs::write(&path, &whole[..len]).unwrap();
            assert_eq!(index_error(&store, &id), IndexError::NoFooter { file_len: len as u64 });
        }
        fs::write(&path, &whole).unwrap();
        assert!(store.read_partition(&id, 1).is_ok());
    }

    #[test]
    fn damage_flips_a_byte_of_the_last_non_empty_block() {
        let (_dir, store) = store();
        let id = output("job-1", 0);
        // Partitions 0 and 3 are empty: the damage goes to partition 2.
        let blocks = blocks(4);
        store.write_map_output(&id, &blocks).unwrap();
        assert!(store.damage(&id).unwrap());
        let (header, bytes) = store.read_block(&id, 2).unwrap();
        assert!(matches!(block::decode(&header, &bytes), Err(BlockError::ChecksumMismatch { .. })));
        for p in [0, 1, 3] {
            assert_eq!(store.read_partition(&id, p).unwrap(), blocks[p as usize]);
        }

        let empty = output("job-1", 1);
        store.write_map_output(&empty, &[Vec::new(), Vec::new()]).unwrap();
        assert!(!store.damage(&empty).unwrap());
        let none = output("job-1", 2);
        store.write_map_output(&none, &[]).unwrap();
        assert!(!store.damage(&none).unwrap());
        assert!(matches!(store.damage(&output("job-1", 3)), Err(BtsError::NoSuchMapOutput { .. })));
    }

    #[test]
    fn a_missing_output_or_partition_is_named() {
        let (_dir, store) = store();
        let id = output("job-1", 0);
        assert!(
            matches!(store.read_block(&id, 0), Err(BtsError::NoSuchMapOutput { id: missing }) if missing == id)
        );
        assert!(!store.has_map_output(&id));
        store.write_map_output(&id, &blocks(3)).unwrap();
        assert!(matches!(
            store.read_partition(&output("job-1", 1), 0),
            Err(BtsError::NoSuchMapOutput { .. })
        ));
        assert!(matches!(
            store.read_block(&id, 3),
            Err(BtsError::NoSuchPartition { partition: 3, partitions: 3, .. })
        ));
    }

    #[test]
    fn removing_a_job_frees_its_directory() {
        let (_dir, store) = store();
        let info = store.write_map_output(&output("job-1", 0), &blocks(10)).unwrap();
        store.write_map_output(&output("job-2", 0), &blocks(10)).unwrap();
        assert_eq!(store.jobs().unwrap(), [JobId("job-1".into()), JobId("job-2".into())]);

        let job = JobId("job-1".into());
        assert_eq!(store.remove_job(&job).unwrap(), info.stored_bytes + overhead(10));
        assert!(!store.root().join("job-1").exists());
        assert!(!store.has_map_output(&output("job-1", 0)));
        assert_eq!(store.jobs().unwrap(), [JobId("job-2".into())]);
        assert_eq!(store.remove_job(&job).unwrap(), 0);
        assert!(store.has_map_output(&output("job-2", 0)));
    }

    /// Bytes that lz4 cannot shrink much.
    fn noise(len: usize) -> Vec<u8> {
        flicker_gen::Rng::new(1).bytes(len)
    }

    #[test]
    fn small_outputs_stay_in_memory_within_the_budget_and_read_as_files_do() {
        let dir = tempfile::tempdir().unwrap();
        let store = ShuffleStore::with_memory(dir.path().join("shuffle"), 2000);
        let small = output("job-1", 0);
        let pear = [b"apple 1\n".to_vec(), Vec::new(), b"pear 2\n".to_vec()];
        assert_eq!(store.write_map_output(&small, &pear).unwrap().raw_bytes, [8, 0, 7]);
        assert!(!file(&store, &small).exists(), "kept in memory");
        assert!(store.has_map_output(&small));
        assert_eq!(store.read_partition(&small, 2).unwrap(), b"pear 2\n");
        assert!(matches!(store.read_block(&small, 3), Err(BtsError::NoSuchPartition { partitions: 3, .. })));

        // Too large for memory, or past the budget: files.
        let large = output("job-1", 1);
        store.write_map_output(&large, &[noise(SMALL_OUTPUT + 1)]).unwrap();
        assert!(file(&store, &large).exists());
        let many: Vec<MapOutputId> = (2..40).map(|task| output("job-1", task)).collect();
        for id in &many {
            store.write_map_output(id, &pear).unwrap();
        }
        let on_disk = many.iter().filter(|id| file(&store, id).exists()).count();
        assert!(on_disk > 0 && on_disk < many.len(), "{on_disk} of {} in files", many.len());
        assert!(many.iter().all(|id| store.read_partition(id, 0).unwrap() == b"apple 1\n"));

        // A rerun that goes to a file replaces the output kept in memory.
        store.write_map_output(&small, &[noise(SMALL_OUTPUT + 1), b"new".to_vec()]).unwrap();
        assert_eq!(store.read_partition(&small, 1).unwrap(), b"new");

        // Damage in memory is caught like damage on disk.
        let kept = many.iter().find(|id| !file(&store, id).exists()).unwrap();
        assert!(store.damage(kept).unwrap());
        assert!(matches!(store.read_partition(kept, 2), Err(BtsError::Corrupt { partition: 2, .. })));

        assert_eq!(store.jobs().unwrap(), [JobId("job-1".into())]);
        assert!(store.remove_job(&small.job).unwrap() > 0);
        assert!(!store.has_map_output(kept) && !store.has_map_output(&small));
        assert!(store.jobs().unwrap().is_empty());
        assert!(matches!(store.read_block(kept, 0), Err(BtsError::NoSuchMapOutput { .. })));
    }

    #[test]
    fn an_empty_store_lists_no_jobs() {
        let (_dir, store) = store();
        assert_eq!(store.jobs().unwrap(), []);
        fs::create_dir_all(store.root().join("not a job id")).unwrap();
        fs::write(store.root().join("stray-file"), b"").unwrap();
        assert_eq!(store.jobs().unwrap(), []);
    }

    #[test]
    fn bad_job_ids_are_refused() {
        let (dir, store) = store();
        for bad in ["", ".", "..", "../escape", "a/b", "a\\b", "job 1", "/abs", "jöb", &"x".repeat(256)] {
            let id = output(bad, 0);
            let invalid = |r: Result<_, BtsError>| matches!(r, Err(BtsError::InvalidJobId { .. }));
            assert!(invalid(store.write_map_output(&id, &blocks(2)).map(drop)), "{bad:?} accepted");
            assert!(invalid(store.read_block(&id, 0).map(drop)));
            assert!(invalid(store.remove_job(&id.job).map(drop)));
            assert!(!store.has_map_output(&id));
        }
        assert!(!dir.path().join("escape").exists());
        for good in ["job-1", "Job_2.attempt-3", "...", "a..b", &"x".repeat(255)] {
            store.write_map_output(&output(good, 0), &blocks(2)).unwrap();
        }
    }

    #[test]
    fn errors_become_failures_for_remote_callers() {
        let id = output("job-1", 0);
        let corrupt = BtsError::Corrupt {
            id: id.clone(),
            partition: 3,
            source: BlockError::ChecksumMismatch { expected: 1, actual: 2 },
        };
        assert!(matches!(BtsFailure::from(&corrupt), BtsFailure::Corrupt { partition: 3, reason, .. }
            if reason.contains("checksum mismatch")));
        let invalid = BtsError::InvalidJobId { job: JobId("..".into()) };
        assert!(matches!(BtsFailure::from(&invalid), BtsFailure::InvalidRequest { .. }));
        let io = BtsError::Io { path: "/x".into(), source: io::Error::other("disk on fire") };
        assert!(
            matches!(BtsFailure::from(&io), BtsFailure::Io { reason } if reason.contains("disk on fire"))
        );
    }
}
