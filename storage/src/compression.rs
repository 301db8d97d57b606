//! Compressed input objects: which objects are, and their decompressed bytes.
//!
//! An object whose name ends in `.gz` or `.zst` is read decompressed. A compressed stream can
//! only be decoded from its start, so such an object is one split (see
//! [`plan_splits`](crate::plan_splits)), and offsets in it are offsets in the decompressed data.
//!
//! [`Decompressed`] runs the synchronous decoder on a blocking thread: the decoder pulls the
//! compressed bytes through ranged GETs of at most [`FETCH_SIZE`] bytes (run on the runtime it
//! was started from) and hands the decompressed data back in pieces over a small bounded
//! channel. Memory stays at a few pieces plus the format's window whatever the object's size,
//! and decoding keeps the async workers free.

use std::fmt;
use std::io::{self, BufRead, Read};

use bytes::{Buf, Bytes};
use futures::Stream;
use object_store::ObjectStoreExt;
use object_store::path::Path;
use ruzstd::decoding::errors::{FrameDecoderError, ReadFrameHeaderError};
use ruzstd::decoding::{BlockDecodingStrategy, FrameDecoder};
use tokio::runtime::Handle;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::{Location, StorageError};

/// The largest ranged GET of compressed bytes.
const FETCH_SIZE: u64 = 1 << 20;
/// The size of the pieces of decompressed data handed to the reader (the last one shorter).
const PIECE_SIZE: usize = 128 << 10;
/// How many pieces the decoder may run ahead of the reader.
const PIECES_AHEAD: usize = 4;

/// A compression format of input objects, known by the object name's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    /// gzip (`.gz`): every member of the object, one after another, as `cat a.gz b.gz` makes.
    Gzip,
    /// Zstandard (`.zst`): every frame of the object, one after another, as streaming `zstd`
    /// makes; skippable frames are skipped and content checksums checked.
    Zstd,
}

impl Compression {
    /// The format of the object at `path` by its name: `.gz` or `.zst` in any case; `None` for
    /// any other name, read as it is.
    pub fn of(path: &Path) -> Option<Compression> {
        let extension = path.extension()?;
        if extension.eq_ignore_ascii_case("gz") {
            Some(Compression::Gzip)
        } else if extension.eq_ignore_ascii_case("zst") {
            Some(Compression::Zstd)
        } else {
            None
        }
    }

    /// A reader of the data decompressed from `source`, to its end.
    fn decoder<'a>(self, source: impl BufRead + 'a) -> Box<dyn Read + 'a> {
        match self {
            Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(source)),
            Compression::Zstd => Box::new(ZstdFrames { source, frame: FrameDecoder::new(), in_frame: false }),
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        })
    }
}

/// The decompressed data of one object, decoded on a blocking thread a few pieces ahead of
/// [`next`](Decompressed::next).
///
/// Dropping it stops the decoder. Drop it before its runtime: a runtime being dropped waits for
/// its blocking threads, and the decoder waits for room in the channel.
#[derive(Debug)]
pub(crate) struct Decompressed {
    url: String,
    format: Compression,
    pieces: mpsc::Receiver<Bytes>,
    decoder: Decoder,
}

/// Where the decoding thread is.
#[derive(Debug)]
enum Decoder {
    /// Running, or stopped without [`Decompressed::next`] having seen how.
    Running(JoinHandle<Result<(), StorageError>>),
    /// It decoded the whole object.
    Ended,
    /// It failed (or panicked), and [`Decompressed::next`] returned why.
    Failed,
}

impl Decompressed {
    /// Starts decoding `object`, of `size` compressed bytes, as `format`.
    ///
    /// Must be called within a tokio runtime, which then runs the object's GETs.
    pub(crate) fn start(object: Location, size: u64, format: Compression) -> Decompressed {
        let url = object.url().to_owned();
        let (sender, pieces) = mpsc::channel(PIECES_AHEAD);
        let runtime = Handle::current();
        let task = tokio::task::spawn_blocking(move || decode(object, size, format, runtime, &sender));
        Decompressed { url, format, pieces, decoder: Decoder::Running(task) }
    }

    /// The next piece of decompressed data (never empty), or `None` at the end of the data.
    pub(crate) async fn next(&mut self) -> Result<Option<Bytes>, StorageError> {
        if let Some(piece) = self.pieces.recv().await {
            return Ok(Some(piece));
        }
        // The decoder has stopped sending: find out why.
        let stopped = match &mut self.decoder {
            Decoder::Running(task) => task.await,
            Decoder::Ended => return Ok(None),
            Decoder::Failed => return Err(self.error("the decoder stopped at an earlier error".to_owned())),
        };
        let outcome = stopped.unwrap_or_else(|panicked| Err(self.error(panicked.to_string())));
        self.decoder = if outcome.is_ok() { Decoder::Ended } else { Decoder::Failed };
        outcome.map(|()| None)
    }

    /// The pieces [`next`](Decompressed::next) returns, as a stream.
    pub(crate) fn into_stream(self) -> impl Stream<Item = Result<Bytes, StorageError>> + Send {
        futures::stream::try_unfold(self, |mut data| async move {
            Ok(data.next().await?.map(|piece| (piece, data)))
        })
    }

    /// An error decompressing this object.
    fn error(&self, reason: String) -> StorageError {
        StorageError::Decompress { url: self.url.clone(), format: self.format, reason }
    }
}

/// The decoding thread: decompresses `object` and sends the data in pieces until its end, or
/// until the receiver is gone.
fn decode(
    object: Location,
    size: u64,
    format: Compression,
    runtime: Handle,
    pieces: &mpsc::Sender<Bytes>,
) -> Result<(), StorageError> {
    let mut source = RangedReader { object, size, runtime, next: 0, buffer: Bytes::new(), error: None };
    let decoded = send_pieces(format.decoder(&mut source), pieces);
    // A failed GET comes first: the decoder only saw that its input broke off.
    match (source.error, decoded) {
        (Some(error), _) => Err(error),
        (None, Ok(())) => Ok(()),
        (None, Err(error)) => Err(StorageError::Decompress {
            url: source.object.url().to_owned(),
            format,
            reason: error.to_string(),
        }),
    }
}

/// Reads `decoder` to its end, sending what it reads in pieces of [`PIECE_SIZE`] bytes; stops
/// early, with no error, when the receiver is gone.
fn send_pieces(mut decoder: impl Read, pieces: &mpsc::Sender<Bytes>) -> io::Result<()> {
    loop {
        let mut piece = Vec::with_capacity(PIECE_SIZE);
        decoder.by_ref().take(PIECE_SIZE as u64).read_to_end(&mut piece)?;
        if piece.is_empty() {
            return Ok(());
        }
        // A short piece is the last one: `take` stopped at the decoder's end.
        let last = piece.len() < PIECE_SIZE;
        if pieces.blocking_send(piece.into()).is_err() || last {
            return Ok(());
        }
    }
}

/// A blocking [`BufRead`] over the first `size` bytes of an object, fetched with ranged GETs of
/// at most [`FETCH_SIZE`] bytes as they are needed.
struct RangedReader {
    object: Location,
    size: u64,
    runtime: Handle,
    /// Offset of the next byte to fetch.
    next: u64,
    /// Fetched bytes not read yet.
    buffer: Bytes,
    /// Why a GET failed; the reader then reports only an I/O error to the decoder.
    error: Option<StorageError>,
}

impl RangedReader {
    /// Fetches the next range of the object into the buffer.
    fn fetch(&mut self) -> Result<(), StorageError> {
        let range = self.next..self.size.min(self.next + FETCH_SIZE);
        let get = self.object.store().get_range(self.object.path(), range);
        let bytes = self.runtime.block_on(get).map_err(|source| self.object.store_error(source))?;
        if bytes.is_empty() {
            return Err(StorageError::UnexpectedEof { url: self.object.url().to_owned(), offset: self.next });
        }
        self.next += bytes.len() as u64;
        self.buffer = bytes;
        Ok(())
    }
}

impl BufRead for RangedReader {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.buffer.is_empty()
            && self.next < self.size
            && let Err(error) = self.fetch()
        {
            let message = error.to_string();
            self.error = Some(error);
            return Err(io::Error::other(message));
        }
        Ok(&self.buffer)
    }

    fn consume(&mut self, amount: usize) {
        self.buffer.advance(amount);
    }
}

impl Read for RangedReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let len = available.len().min(buf.len());
        buf[..len].copy_from_slice(&available[..len]);
        self.consume(len);
        Ok(len)
    }
}

/// The data of every frame of a Zstandard stream: ruzstd's decoder reads one frame at a time.
struct ZstdFrames<R> {
    source: R,
    frame: FrameDecoder,
    /// Whether `frame` holds a frame whose data is not all read yet.
    in_frame: bool,
}

impl<R: BufRead> ZstdFrames<R> {
    /// Checks a finished frame's content checksum, when it has one.
    fn check_checksum(&self) -> io::Result<()> {
        match (self.frame.get_checksum_from_data(), self.frame.get_calculated_checksum()) {
            (Some(expected), Some(actual)) if expected != actual => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("frame checksum mismatch: {actual:#010x} computed, {expected:#010x} stored"),
            )),
            _ => Ok(()),
        }
    }
}

impl<R: BufRead> Read for ZstdFrames<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if self.in_frame {
                while self.frame.can_collect() == 0 && !self.frame.is_finished() {
                    self.frame
                        .decode_blocks(&mut self.source, BlockDecodingStrategy::UptoBlocks(1))
                        .map_err(invalid_data)?;
                }
                let len = self.frame.read(buf)?;
                if len > 0 {
                    return Ok(len);
                }
                self.check_checksum()?;
                self.in_frame = false;
            }
            if self.source.fill_buf()?.is_empty() {
                return Ok(0);
            }
            match self.frame.reset(&mut self.source) {
                Ok(()) => self.in_frame = true,
                Err(FrameDecoderError::ReadFrameHeaderError(ReadFrameHeaderError::SkipFrame {
                    length,
                    ..
                })) => {
                    let length = u64::from(length);
                    let skipped = io::copy(&mut (&mut self.source).take(length), &mut io::sink())?;
                    if skipped < length {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "truncated skippable frame",
                        ));
                    }
                }
                Err(error) => return Err(invalid_data(error)),
            }
        }
    }
}

/// A decoder's error as an I/O error.
fn invalid_data(error: FrameDecoderError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, error)
}

impl Compression {
    /// `data` compressed in this format, as one gzip member or one zstd frame (fast settings):
    /// for writing test data and generated inputs.
    pub fn compress(self, data: &[u8]) -> Vec<u8> {
        match self {
            Compression::Gzip => {
                let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                io::Write::write_all(&mut encoder, data).expect("writing to memory cannot fail");
                encoder.finish().expect("writing to memory cannot fail")
            }
            Compression::Zstd => {
                ruzstd::encoding::compress_to_vec(data, ruzstd::encoding::CompressionLevel::Fastest)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;

    const FORMATS: [Compression; 2] = [Compression::Gzip, Compression::Zstd];

    /// A location in the in-memory store for `url`.
    fn memory(url: &str) -> Location {
        Location::parse(url, std::path::Path::new("/")).unwrap()
    }

    /// Stores `compressed` at `url` and decompresses it, checking the size of every piece.
    async fn decompress(url: &str, compressed: &[u8]) -> Result<Vec<u8>, StorageError> {
        let object = memory(url);
        object.store().put(object.path(), compressed.to_vec().into()).await.unwrap();
        let format = Compression::of(object.path()).unwrap();
        let mut data = Decompressed::start(object, compressed.len() as u64, format);
        let mut decompressed = Vec::new();
        while let Some(piece) = data.next().await? {
            assert!(!piece.is_empty() && piece.len() <= PIECE_SIZE, "piece of {} bytes", piece.len());
            decompressed.extend_from_slice(&piece);
        }
        Ok(decompressed)
    }

    #[test]
    fn formats_are_known_by_the_extension() {
        let of = |name: &str| Compression::of(&Path::from(name));
        assert_eq!(of("in/a.gz"), Some(Compression::Gzip));
        assert_eq!(of("A.GZ"), Some(Compression::Gzip));
        assert_eq!(of("logs.tar.gz"), Some(Compression::Gzip));
        assert_eq!(of("in/b.zst"), Some(Compression::Zstd));
        assert_eq!(of("b.ZsT"), Some(Compression::Zstd));
        for plain in ["a.txt", "a.gz.txt", "a.gzip", "a.zstd", "gz", "zst", "dir.gz/a", "a.", ""] {
            assert_eq!(of(plain), None, "{plain}");
        }
        assert_eq!(Compression::Gzip.to_string(), "gzip");
        assert_eq!(Compression::Zstd.to_string(), "zstd");
    }

    #[tokio::test]
    async fn every_gzip_member_and_zstd_frame_is_read() {
        let parts: [&[u8]; 4] = [b"one\ntw", b"", b"o\r\nthree\n", b"four"];
        for format in FORMATS {
            let compressed: Vec<u8> = parts.iter().flat_map(|part| format.compress(part)).collect();
            let url = format!(
                "memory://compression-parts/data.{}",
                if format == Compression::Gzip { "gz" } else { "zst" }
            );
            assert_eq!(decompress(&url, &compressed).await.unwrap(), parts.concat(), "{format}");
        }
        // Skippable zstd frames (magic 0x184D2A5?, then a 4-byte length) carry no data.
        let mut compressed = b"\x50\x2a\x4d\x18\x03\x00\x00\x00abc".to_vec();
        compressed.extend(Compression::Zstd.compress(b"x\n"));
        compressed.extend(b"\x5f\x2a\x4d\x18\x00\x00\x00\x00");
        compressed.extend(Compression::Zstd.compress(b"y\n"));
        assert_eq!(decompress("memory://compression-parts/skip.zst", &compressed).await.unwrap(), b"x\ny\n");
        // Compressed empty data is no data.
        for format in FORMATS {
            let url = format!(
                "memory://compression-parts/empty.{}",
                if format == Compression::Gzip { "gz" } else { "zst" }
            );
            assert_eq!(decompress(&url, &format.compress(b"")).await.unwrap(), b"");
        }
    }

    #[tokio::test]
    async fn corrupt_or_truncated_data_is_an_error_naming_the_object() {
        let text = b"the quick brown fox\njumps over\r\nthe lazy dog\n".repeat(4);
        for format in FORMATS {
            let url = format!(
                "memory://compression-corrupt/bad.{}",
                if format == Compression::Gzip { "gz" } else { "zst" }
            );
            let compressed = format.compress(&text);
            let mut flipped = compressed.clone();
            flipped[compressed.len() / 2] ^= 0x10;
            let mut trailing = compressed.clone();
            trailing.extend_from_slice(b"garbage");
            let mut cases = vec![b"not compressed at all\n".to_vec(), flipped, trailing];
            cases.extend((1..compressed.len()).map(|len| compressed[..len].to_vec()));
            for (i, case) in cases.iter().enumerate() {
                match decompress(&url, case).await {
                    Err(error @ StorageError::Decompress { .. }) => {
                        let StorageError::Decompress { url: named, format: named_format, .. } = &error else {
                            unreachable!()
                        };
                        assert_eq!((named.as_str(), *named_format), (url.as_str(), format));
                        let message = error.to_string();
                        assert!(message.contains(&url) && message.contains(&format.to_string()), "{message}");
                    }
                    other => panic!("{format} case {i}: {other:?}"),
                }
            }
        }
    }

    #[tokio::test]
    async fn a_failed_get_is_reported_as_a_storage_error() {
        let object = memory("memory://compression-missing/gone.gz");
        let mut data = Decompressed::start(object, 100, Compression::Gzip);
        match data.next().await {
            Err(StorageError::ObjectStore { url, .. }) => {
                assert_eq!(url, "memory://compression-missing/gone.gz")
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(data.next().await, Err(StorageError::Decompress { .. })), "an error stays an error");
    }

    #[tokio::test]
    async fn dropping_the_data_stops_the_decoder() {
        let object = memory("memory://compression-drop/big.zst");
        let compressed = Compression::Zstd.compress(&b"line\n".repeat(1 << 20));
        object.store().put(object.path(), compressed.clone().into()).await.unwrap();
        let idle = Arc::strong_count(object.store());
        let mut data = Decompressed::start(object.clone(), compressed.len() as u64, Compression::Zstd);
        assert!(data.next().await.unwrap().is_some());
        assert!(Arc::strong_count(object.store()) > idle, "the decoder holds the store");
        drop(data);
        for _ in 0..1000 {
            if Arc::strong_count(object.store()) == idle {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the decoder still runs 10 s after its data was dropped");
    }
}
