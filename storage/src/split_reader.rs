//! Reading the records a split owns, in chunks: with ranged GETs, or decompressed as a stream.

use bytes::{Buf, Bytes, BytesMut};
use object_store::ObjectStoreExt;

use crate::compression::Decompressed;
use crate::metered::{count_read, count_request};
use crate::split::{Aligned, owned_records};
use crate::{Compression, Location, Split, StorageError};

/// The largest ranged GET issued.
const MAX_FETCH: u64 = 4 << 20;
/// The largest ranged GET past the split's end, where only the rest of one record is wanted.
const MAX_TAIL_FETCH: u64 = 64 << 10;

/// Whole records read from an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// One or more whole records; the last one ends with `\n` unless it ends the object.
    pub bytes: Bytes,
    /// Offset of the first byte in the object, or in its decompressed data for a compressed
    /// object (see [`Compression`]): what [`line_number_at`](crate::line_number_at) takes.
    pub offset: u64,
}

/// Reads the records a [`Split`] owns (see [`owned_records`] for the rule) as [`Chunk`]s.
///
/// Bytes are fetched with ranged GETs of at most `chunk_size` bytes (capped at 4 MiB, and at
/// 64 KiB past the split's end), so memory stays around a chunk or two whatever the split size,
/// unless a single record is longer.
///
/// A local file is opened once and read with positioned reads on the calling thread, as
/// object_store's local store would on a blocking thread for every GET: open and read splits of
/// local files from a thread that may block (tasks run on blocking threads). Handing each read to
/// another thread cost more than reading a task's small split itself.
///
/// A compressed object (see [`Compression`]) is decompressed as it is read, on a blocking
/// thread, and its records are the lines of the decompressed data: the split starting at 0
/// owns them all (it is the only one [`plan_splits`](crate::plan_splits) makes), any other
/// split none. Memory then also holds a few pieces of decompressed data and the compression
/// window.
#[derive(Debug)]
pub struct SplitReader {
    object: Location,
    source: Source,
    /// The size of the data read: the object's, or for a compressed object its decompressed
    /// size, unknown (`u64::MAX`) until the decoder has ended.
    size: u64,
    end: u64,
    chunk_size: usize,
    /// Offset from which owned records remain to be delivered.
    lo: u64,
    /// The data from `lo - 1` (from 0 when `lo` is 0), as [`owned_records`] wants.
    window: BytesMut,
    done: bool,
}

/// Where a [`SplitReader`]'s data comes from.
#[derive(Debug)]
enum Source {
    /// The object's own bytes, by ranged GETs.
    Plain,
    /// A local file's own bytes, by positioned reads.
    LocalFile(std::fs::File),
    /// A compressed object's data, as it is decompressed.
    Compressed(Decompressed),
}

impl SplitReader {
    /// Opens `split` of an object in `loc`'s store, checking that the object still has the size
    /// it had when it was listed. Chunks hold about `chunk_size` bytes (at least 1).
    ///
    /// Must be called within a tokio runtime: a compressed object's decoder starts here.
    pub async fn open(loc: &Location, split: &Split, chunk_size: usize) -> Result<SplitReader, StorageError> {
        let object = loc.at(split.object.clone());
        let (local_file, actual) = match object.local_file() {
            Some(path) => {
                let path = path.map_err(|error| object.store_error(error))?;
                let opened = std::fs::File::open(&path).and_then(|file| Ok((file.metadata()?.len(), file)));
                let (size, file) = opened.map_err(|error| object.store_error(local_error(path, error)))?;
                // In place of the store's `head`, which would have been counted.
                count_request("head");
                (Some(file), size)
            }
            None => {
                let meta = object.store().head(object.path()).await.map_err(|e| object.store_error(e))?;
                (None, meta.size)
            }
        };
        if actual != split.object_size {
            return Err(StorageError::ObjectChanged {
                url: object.url().to_owned(),
                expected: split.object_size,
                actual,
            });
        }
        let (source, size, end, done) = match Compression::of(&split.object) {
            None => {
                (local_file.map_or(Source::Plain, Source::LocalFile), split.object_size, split.end, false)
            }
            Some(format) if split.start == 0 && split.end > 0 => {
                let data = Decompressed::start(object.clone(), split.object_size, format);
                (Source::Compressed(data), u64::MAX, u64::MAX, false)
            }
            // Another split of a compressed object owns nothing: there is nothing to read.
            Some(_) => (Source::Plain, 0, 0, true),
        };
        Ok(SplitReader {
            object,
            source,
            size,
            end,
            chunk_size: chunk_size.max(1),
            lo: split.start,
            window: BytesMut::new(),
            done,
        })
    }

    /// The next chunk of whole owned records, or `None` when the split has no more.
    ///
    /// A chunk is at most `chunk_size` bytes unless its single record is longer.
    pub async fn next_chunk(&mut self) -> Result<Option<Chunk>, StorageError> {
        while !self.done {
            match owned_records(self.lo, self.end, &self.window, self.size) {
                Aligned::Nothing => self.done = true,
                Aligned::SeekStart { resume_at } => {
                    self.lo = resume_at;
                    self.window.clear();
                    self.fetch().await?;
                }
                Aligned::Records { start, whole_end, last } => {
                    let available = whole_end - start;
                    if available > 0 && (last || available >= self.chunk_size as u64) {
                        return Ok(Some(self.take_chunk(start, whole_end)));
                    }
                    self.fetch().await?;
                }
            }
        }
        Ok(None)
    }

    /// Cuts the next chunk from the whole records `[start, whole_end)` of the window.
    fn take_chunk(&mut self, start: u64, whole_end: u64) -> Chunk {
        let window_start = self.lo.saturating_sub(1);
        let records = &self.window[(start - window_start) as usize..(whole_end - window_start) as usize];
        let len = chunk_len(records, self.chunk_size);
        let bytes = Bytes::copy_from_slice(&records[..len]);
        let end = start + len as u64;
        // Keep the chunk's last byte: the window must start right before `lo`.
        self.window.advance((end - 1 - window_start) as usize);
        self.lo = end;
        Chunk { bytes, offset: start }
    }

    /// Appends the next piece of the data to the window; at the end of a compressed object's
    /// data, learns its size instead.
    async fn fetch(&mut self) -> Result<(), StorageError> {
        let window_end = self.lo.saturating_sub(1) + self.window.len() as u64;
        if let Source::Compressed(data) = &mut self.source {
            match data.next().await? {
                Some(piece) => self.window.extend_from_slice(&piece),
                None => self.size = window_end,
            }
            return Ok(());
        }
        let range = self.next_range(window_end)?;
        let from = range.start;
        let added = match &self.source {
            Source::LocalFile(file) => {
                let filled = self.window.len();
                self.window.resize(filled + (range.end - range.start) as usize, 0);
                let read = std::os::unix::fs::FileExt::read_at(file, &mut self.window[filled..], from);
                self.window.truncate(filled + *read.as_ref().unwrap_or(&0));
                let read = read.map_err(|error| {
                    self.object.store_error(local_error(self.object.local_path().unwrap_or_default(), error))
                })?;
                // It takes the place of a ranged GET, which the store would have counted.
                count_read(read as u64);
                read
            }
            _ => {
                let bytes = self
                    .object
                    .store()
                    .get_range(self.object.path(), range)
                    .await
                    .map_err(|source| self.object.store_error(source))?;
                self.window.extend_from_slice(&bytes);
                bytes.len()
            }
        };
        if added == 0 {
            return Err(StorageError::UnexpectedEof { url: self.object.url().to_owned(), offset: from });
        }
        Ok(())
    }

    /// The range of the object's next piece from `from`: at most a chunk (up to [`MAX_FETCH`])
    /// within the split, at most [`MAX_TAIL_FETCH`] past its end.
    fn next_range(&self, from: u64) -> Result<std::ops::Range<u64>, StorageError> {
        let piece = (self.chunk_size as u64).min(MAX_FETCH);
        let to = if from < self.end {
            self.end.min(from + piece)
        } else {
            self.size.min(from + piece.min(MAX_TAIL_FETCH))
        };
        if to <= from {
            return Err(StorageError::UnexpectedEof { url: self.object.url().to_owned(), offset: from });
        }
        Ok(from..to)
    }
}

/// A local file's I/O error as object_store's local store reports it.
fn local_error(path: std::path::PathBuf, source: std::io::Error) -> object_store::Error {
    match source.kind() {
        std::io::ErrorKind::NotFound => {
            object_store::Error::NotFound { path: path.display().to_string(), source: source.into() }
        }
        _ => object_store::Error::Generic { store: "LocalFileSystem", source: source.into() },
    }
}

/// The length of the next chunk cut from `records` (whole records): as many records as fit in
/// `max` bytes, or the first record alone if it is longer.
fn chunk_len(records: &[u8], max: usize) -> usize {
    if records.len() <= max {
        return records.len();
    }
    match records[..max].iter().rposition(|&b| b == b'\n') {
        Some(i) => i + 1,
        None => records.iter().position(|&b| b == b'\n').map_or(records.len(), |i| i + 1),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::test_support::content;
    use crate::{list_inputs, plan_splits};

    #[test]
    fn chunks_are_cut_after_the_last_newline_that_fits() {
        assert_eq!(chunk_len(b"ab\ncd\nef\n", 100), 9);
        assert_eq!(chunk_len(b"ab\ncd\nef\n", 7), 6);
        assert_eq!(chunk_len(b"ab\ncd\nef\n", 6), 6);
        assert_eq!(chunk_len(b"ab\ncd\nef\n", 2), 3, "a long record comes whole");
        assert_eq!(chunk_len(b"abcdef", 2), 6, "an unterminated last record too");
    }

    /// Reads every split of the single object at `loc` and checks the chunks: they hold whole
    /// owned records, stay within `chunk_size` unless a record is longer, and put together give
    /// back `text`.
    async fn check_roundtrip(loc: &Location, text: &[u8], split_size: u64, chunk_size: usize) {
        let objects = list_inputs(loc).await.unwrap();
        let size = text.len() as u64;
        let mut read = Vec::new();
        for split in plan_splits(&objects, split_size) {
            let mut reader = SplitReader::open(loc, &split, chunk_size).await.unwrap();
            while let Some(chunk) = reader.next_chunk().await.unwrap() {
                let Chunk { bytes, offset } = chunk;
                let context = format!("split {}..{}, chunk at {offset}: {bytes:?}", split.start, split.end);
                assert_eq!(offset, read.len() as u64, "{context}: chunks are contiguous");
                assert!(!bytes.is_empty(), "{context}");
                let end = offset + bytes.len() as u64;
                assert!(end == size || bytes.ends_with(b"\n"), "{context}: ends at a record boundary");
                let newlines = bytes[..bytes.len() - 1].iter().filter(|&&b| b == b'\n').count();
                assert!(bytes.len() <= chunk_size || newlines == 0, "{context}: too long");
                // Every record in the chunk starts inside the split; the one split of a compressed
                // object owns every record of its decompressed data.
                let owned = match Compression::of(&split.object) {
                    None => split.start..split.end,
                    Some(_) => 0..u64::MAX,
                };
                let starts = std::iter::once(offset).chain(
                    (0..bytes.len() - 1).filter(|&i| bytes[i] == b'\n').map(|i| offset + i as u64 + 1),
                );
                for record_start in starts {
                    assert!(owned.contains(&record_start), "{context}: not owned");
                }
                read.extend_from_slice(&bytes);
            }
            assert_eq!(reader.next_chunk().await.unwrap(), None, "a finished reader stays finished");
        }
        assert_eq!(read, text);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn reading_all_splits_gives_the_object_back(text in content(), split_seed: u64, chunk_seed: usize) {
            let split_size = 1 + split_seed % (text.len() as u64 + 3);
            let chunk_size = 1 + chunk_seed % (text.len() + 3);
            let loc = Location::parse("memory://split-reader/object.txt", std::path::Path::new("/")).unwrap();
            let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
            runtime.block_on(async {
                loc.store().put(loc.path(), text.clone().into()).await.unwrap();
                check_roundtrip(&loc, &text, split_size, chunk_size).await;
            });
        }
    }

    /// A location in the in-memory store for `url`.
    fn memory(url: &str) -> Location {
        Location::parse(url, std::path::Path::new("/")).unwrap()
    }

    /// The name extension of `format`.
    fn extension(format: Compression) -> &'static str {
        match format {
            Compression::Gzip => "gz",
            Compression::Zstd => "zst",
        }
    }

    /// `text` compressed as `format` in two gzip members or zstd frames, cut at `cut`.
    fn compress_in_two(format: Compression, text: &[u8], cut: usize) -> Vec<u8> {
        let (head, tail) = text.split_at(cut.min(text.len()));
        [format.compress(head), format.compress(tail)].concat()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn compressed_objects_read_back_whole(
            text in content(),
            gzip: bool,
            cut_seed: usize,
            chunk_seed: usize,
            split_size in 1u64..8,
        ) {
            let format = if gzip { Compression::Gzip } else { Compression::Zstd };
            let chunk_size = 1 + chunk_seed % (text.len() + 3);
            let compressed = compress_in_two(format, &text, cut_seed % (text.len() + 1));
            let loc = memory(&format!("memory://split-reader-compressed/object.{}", extension(format)));
            let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
            runtime.block_on(async {
                loc.store().put(loc.path(), compressed.into()).await.unwrap();
                check_roundtrip(&loc, &text, split_size, chunk_size).await;
            });
        }
    }

    #[tokio::test]
    async fn a_large_compressed_object_is_read_in_small_chunks() {
        // Lines of random letters, and one longer than a chunk.
        let mut state = 1u64;
        let mut noise = |len: usize| -> Vec<u8> {
            (0..len)
                .map(|_| {
                    state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    let byte = (state >> 33) as u8;
                    if byte.is_multiple_of(61) { b'\n' } else { b'a' + byte % 16 }
                })
                .collect()
        };
        let text = [noise(2 << 20), vec![b'x'; 10_000], noise(2 << 20)].concat();
        for format in [Compression::Gzip, Compression::Zstd] {
            let compressed = compress_in_two(format, &text, 3 << 20);
            assert!(compressed.len() > 2 << 20, "{format}: several ranged GETs");
            let loc = memory(&format!("memory://split-reader-compressed-large/big.{}", extension(format)));
            loc.store().put(loc.path(), compressed.into()).await.unwrap();
            check_roundtrip(&loc, &text, 1 << 20, 4 << 10).await;
        }
    }

    #[tokio::test]
    async fn an_empty_compressed_object_has_no_records() {
        for format in [Compression::Gzip, Compression::Zstd] {
            let loc = memory(&format!("memory://split-reader-compressed-empty/empty.{}", extension(format)));
            loc.store().put(loc.path(), Vec::new().into()).await.unwrap();
            assert_eq!(plan_splits(&list_inputs(&loc).await.unwrap(), 1 << 20), []);
            // Compressed empty data is no record either.
            loc.store().put(loc.path(), format.compress(b"").into()).await.unwrap();
            check_roundtrip(&loc, b"", 1 << 20, 16).await;
        }
    }

    #[tokio::test]
    async fn only_a_split_from_the_start_reads_a_compressed_object() {
        let loc = memory("memory://split-reader-compressed-split/data.gz");
        let compressed = Compression::Gzip.compress(b"a\nb\n");
        let size = compressed.len() as u64;
        loc.store().put(loc.path(), compressed.into()).await.unwrap();
        let split = |start, end| Split { object: loc.path().clone(), object_size: size, start, end };
        let mut reader = SplitReader::open(&loc, &split(0, 1), 16).await.unwrap();
        let chunk = reader.next_chunk().await.unwrap();
        assert_eq!(chunk, Some(Chunk { bytes: Bytes::from_static(b"a\nb\n"), offset: 0 }));
        for (start, end) in [(1, size), (0, 0)] {
            let mut reader = SplitReader::open(&loc, &split(start, end), 16).await.unwrap();
            assert_eq!(reader.next_chunk().await.unwrap(), None, "{start}..{end}");
        }
    }

    #[tokio::test]
    async fn corrupt_compressed_data_is_an_error_naming_the_object() {
        for format in [Compression::Gzip, Compression::Zstd] {
            let url = format!("memory://split-reader-corrupt/bad.{}", extension(format));
            let loc = memory(&url);
            let mut data = format.compress(&b"good line\n".repeat(1000));
            data.extend_from_slice(b"then garbage\n");
            loc.store().put(loc.path(), data.into()).await.unwrap();
            let split = &plan_splits(&list_inputs(&loc).await.unwrap(), 1)[0];
            let mut reader = SplitReader::open(&loc, split, 64).await.unwrap();
            let error = loop {
                match reader.next_chunk().await {
                    Ok(Some(_)) => continue,
                    Ok(None) => panic!("{format}: the garbage went unnoticed"),
                    Err(error) => break error,
                }
            };
            match error {
                StorageError::Decompress { url: named, format: named_format, .. } => {
                    assert_eq!((named, named_format), (url, format))
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn local_compressed_files_read_back_whole() {
        let dir = tempfile::tempdir().unwrap();
        let text = b"one\ntwo\r\n\nthree".repeat(100);
        for format in [Compression::Gzip, Compression::Zstd] {
            let name = format!("input.{}", extension(format));
            std::fs::write(dir.path().join(&name), compress_in_two(format, &text, 1000)).unwrap();
            let loc = Location::parse(&name, dir.path()).unwrap();
            check_roundtrip(&loc, &text, 10, 100).await;
        }
    }

    #[tokio::test]
    async fn local_files_read_back_whole() {
        let dir = tempfile::tempdir().unwrap();
        let texts: [&[u8]; 7] =
            [b"\n", b"abc", b"\n\n\n", b"a\r\nbb\r\n", b"one\ntwo\nthree", b"x\n\ny\n", b""];
        for text in texts {
            std::fs::write(dir.path().join("input.txt"), text).unwrap();
            let loc = Location::parse("input.txt", dir.path()).unwrap();
            for split_size in 1..=text.len() as u64 + 3 {
                for chunk_size in [1, 2, 5, 100] {
                    check_roundtrip(&loc, text, split_size, chunk_size).await;
                }
            }
        }
    }

    #[tokio::test]
    async fn large_splits_are_read_in_pieces() {
        let line = b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\n";
        let text = line.repeat(20_000); // 1.28 MB
        let loc = Location::parse("memory://split-reader-large/big.txt", std::path::Path::new("/")).unwrap();
        loc.store().put(loc.path(), text.clone().into()).await.unwrap();
        check_roundtrip(&loc, &text, 500_000, 64 << 10).await;
    }

    #[tokio::test]
    async fn a_changed_object_is_reported_in_memory_and_in_local_files() {
        let dir = tempfile::tempdir().unwrap();
        let local = Location::parse("a.txt", dir.path()).unwrap();
        let memory = memory("memory://split-reader-changed/a.txt");
        for loc in [memory, local] {
            loc.store().put(loc.path(), "a\nb\n".into()).await.unwrap();
            let split = Split { object: loc.path().clone(), object_size: 10, start: 0, end: 10 };
            match SplitReader::open(&loc, &split, 16).await {
                Err(StorageError::ObjectChanged { url, expected: 10, actual: 4 }) => {
                    assert_eq!(url, loc.url())
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn a_removed_local_file_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let loc = Location::parse("a.txt", dir.path()).unwrap();
        let split = Split { object: loc.path().clone(), object_size: 4, start: 0, end: 4 };
        match SplitReader::open(&loc, &split, 16).await {
            Err(StorageError::ObjectStore { url, error: object_store::Error::NotFound { .. } }) => {
                assert_eq!(url, loc.url())
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_local_file_cut_short_while_read_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.txt"), "aaaa\nbbbb\n").unwrap();
        let loc = Location::parse("a.txt", dir.path()).unwrap();
        let split = Split { object: loc.path().clone(), object_size: 10, start: 0, end: 10 };
        let mut reader = SplitReader::open(&loc, &split, 2).await.unwrap();
        std::fs::OpenOptions::new().write(true).open(dir.path().join("a.txt")).unwrap().set_len(3).unwrap();
        match reader.next_chunk().await {
            Err(StorageError::UnexpectedEof { offset: 3, .. }) => {}
            other => panic!("{other:?}"),
        }
    }
}
