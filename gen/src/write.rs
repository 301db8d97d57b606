//! Writing a data set as one object: blocks of lines generated on several threads, handed to
//! the store in order as they come.

use std::sync::Arc;
use std::thread::JoinHandle;

use bytes::Bytes;
use flicker_storage::{Compression, Location, ObjectWriter};
use tokio::sync::mpsc;

use crate::{GenError, Weather};

/// The lines of one block: generated on one thread, compressed as one gzip member or zstd frame.
pub const BLOCK_ROWS: u64 = 1 << 18;
/// Blocks each thread may have generated ahead of the upload.
const BLOCKS_AHEAD: usize = 2;
/// The most threads generating blocks.
const MAX_THREADS: usize = 8;

/// What [`write()`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    /// Lines.
    pub rows: u64,
    /// Bytes of the lines.
    pub bytes: u64,
    /// Bytes of the object: [`bytes`](Written::bytes), compressed if the object's name says so.
    pub stored_bytes: u64,
}

/// Writes `rows` lines of `weather` as the single object `to`, replacing any object there. An
/// object named `*.gz` or `*.zst` is compressed, each block of lines as one gzip member or
/// zstd frame, which flicker (and `zcat`, `zstdcat`) read as one stream.
///
/// Block `i` holds [`BLOCK_ROWS`] lines (the last one fewer) of [`Weather::lines`]`(i)`, so
/// the bytes depend on `weather` and `rows` only. The blocks are generated on a thread per core
/// (at most 8), a few blocks ahead, and uploaded in order: memory stays at a few blocks per
/// thread and a few upload pieces, whatever `rows` is. A local object appears only once it is
/// complete (it is written aside, then renamed); if the upload fails it is aborted.
pub async fn write(weather: &Arc<Weather>, rows: u64, to: &Location) -> Result<Written, GenError> {
    let threads = std::thread::available_parallelism().map_or(1, usize::from).min(MAX_THREADS);
    write_on(weather, rows, to, threads).await
}

/// [`write()`] with blocks generated on `threads` threads.
async fn write_on(
    weather: &Arc<Weather>,
    rows: u64,
    to: &Location,
    threads: usize,
) -> Result<Written, GenError> {
    let mut blocks = Blocks::start(weather, rows, Compression::of(to.path()), threads);
    // An upload that fails is aborted when its writer is dropped.
    let mut upload = ObjectWriter::new(to.clone());
    let mut written = Written { rows, bytes: 0, stored_bytes: 0 };
    while let Some(block) = blocks.next().await {
        written.bytes += block.lines_len;
        written.stored_bytes += block.stored.len() as u64;
        upload.write(block.stored).await?;
    }
    upload.finish().await?;
    Ok(written)
}

/// One block, ready to upload.
struct Block {
    /// Bytes of its lines.
    lines_len: u64,
    /// Its lines as stored: compressed or not.
    stored: Bytes,
}

/// The blocks of a data set, generated on threads a few blocks ahead and handed out in order.
///
/// Thread `t` of `n` generates blocks `t`, `t + n`, `t + 2n`, … and sends them on its own
/// channel, so taking them from the channels in turn gives them in order. Dropping it stops the
/// threads at their next block.
struct Blocks {
    count: u64,
    next: u64,
    channels: Vec<mpsc::Receiver<Block>>,
    threads: Vec<Option<JoinHandle<()>>>,
}

impl Blocks {
    /// Starts generating the blocks of `rows` lines of `weather` on `threads` threads (fewer if
    /// there are fewer blocks), compressed in `compression`. No rows make one empty block: a
    /// compressed empty object is one empty member or frame.
    fn start(weather: &Arc<Weather>, rows: u64, compression: Option<Compression>, threads: usize) -> Blocks {
        let count = rows.div_ceil(BLOCK_ROWS).max(1);
        let threads = usize::try_from(count).map_or(threads, |count| threads.min(count)).max(1);
        let (channels, threads) = (0..threads)
            .map(|first| {
                let (sender, receiver) = mpsc::channel(BLOCKS_AHEAD);
                let weather = Arc::clone(weather);
                let thread = std::thread::spawn(move || {
                    for index in (first as u64..count).step_by(threads) {
                        let block_rows = (rows - index * BLOCK_ROWS).min(BLOCK_ROWS);
                        let mut lines = Vec::new();
                        // A block's rows fit in memory, so in a usize.
                        weather.lines(index).write(block_rows as usize, &mut lines);
                        let lines_len = lines.len() as u64;
                        let stored = match compression {
                            Some(format) => format.compress(&lines),
                            None => lines,
                        };
                        if sender.blocking_send(Block { lines_len, stored: stored.into() }).is_err() {
                            return; // The writer stopped.
                        }
                    }
                });
                (receiver, Some(thread))
            })
            .unzip();
        Blocks { count, next: 0, channels, threads }
    }

    /// The next block, or `None` after the last one.
    async fn next(&mut self) -> Option<Block> {
        if self.next == self.count {
            return None;
        }
        let thread = (self.next % self.channels.len() as u64) as usize;
        if let Some(block) = self.channels[thread].recv().await {
            self.next += 1;
            return Some(block);
        }
        // A thread stops sending before its last block only by panicking: pass the panic on.
        let panic = self.threads[thread].take().and_then(|thread| thread.join().err());
        std::panic::resume_unwind(panic.unwrap_or_else(|| Box::new("a generating thread stopped early")))
    }
}

#[cfg(test)]
mod tests {
    use object_store::ObjectStoreExt;

    use super::*;

    /// The object at `to`.
    async fn read(to: &Location) -> Vec<u8> {
        to.store().get(to.path()).await.unwrap().bytes().await.unwrap().to_vec()
    }

    /// `rows` lines of `weather` as [`write()`] cuts them into blocks, generated here in one go.
    fn expected(weather: &Weather, rows: u64) -> Vec<u8> {
        let mut out = Vec::new();
        for index in 0..rows.div_ceil(BLOCK_ROWS) {
            let block_rows = (rows - index * BLOCK_ROWS).min(BLOCK_ROWS);
            weather.lines(index).write(block_rows as usize, &mut out);
        }
        out
    }

    #[tokio::test]
    async fn the_bytes_do_not_depend_on_the_threads() {
        let weather = Arc::new(Weather::new(400, 11).unwrap());
        let rows = 2 * BLOCK_ROWS + 5;
        let want = expected(&weather, rows);
        for threads in [1, 2, 3, 8] {
            let to =
                Location::parse(&format!("memory://gen-threads/out-{threads}.txt"), "/".as_ref()).unwrap();
            let written = write_on(&weather, rows, &to, threads).await.unwrap();
            let got = read(&to).await;
            assert!(got == want, "{threads} threads give other bytes");
            let len = want.len() as u64;
            assert_eq!(written, Written { rows, bytes: len, stored_bytes: len });
        }
        assert_eq!(want.iter().filter(|&&b| b == b'\n').count() as u64, rows);
    }

    #[tokio::test]
    async fn a_local_output_is_written_in_pieces_into_new_directories() {
        let dir = tempfile::tempdir().unwrap();
        let weather = Arc::new(Weather::new(7, 3).unwrap());
        // More than one upload piece, so a multipart upload.
        let rows = 3 * BLOCK_ROWS;
        let to = Location::parse("deep/er/readings.txt", dir.path()).unwrap();
        let written = write(&weather, rows, &to).await.unwrap();
        let text = std::fs::read(dir.path().join("deep/er/readings.txt")).unwrap();
        assert!(text.len() > flicker_storage::ObjectWriter::PIECE_SIZE);
        assert_eq!(written.bytes, text.len() as u64);
        assert!(text == expected(&weather, rows));
        let names: Vec<_> = std::fs::read_dir(dir.path().join("deep/er")).unwrap().collect();
        assert_eq!(names.len(), 1, "nothing but the object is left: {names:?}");
    }

    #[tokio::test]
    async fn no_rows_make_an_empty_object() {
        let weather = Arc::new(Weather::new(1, 1).unwrap());
        let to = Location::parse("memory://gen-empty/readings.txt", "/".as_ref()).unwrap();
        assert_eq!(write(&weather, 0, &to).await.unwrap(), Written { rows: 0, bytes: 0, stored_bytes: 0 });
        assert!(read(&to).await.is_empty());
    }

    #[tokio::test]
    async fn compressed_outputs_hold_one_member_or_frame_per_block() {
        let weather = Arc::new(Weather::new(50, 2).unwrap());
        let rows = BLOCK_ROWS + 10;
        let lines = expected(&weather, rows);
        for (name, format) in [("readings.txt.gz", Compression::Gzip), ("readings.zst", Compression::Zstd)] {
            let to = Location::parse(&format!("memory://gen-compressed/{name}"), "/".as_ref()).unwrap();
            let written = write(&weather, rows, &to).await.unwrap();
            let (first, second) = lines.split_at(expected(&weather, BLOCK_ROWS).len());
            let want = [format.compress(first), format.compress(second)].concat();
            let got = read(&to).await;
            assert!(got == want, "{name}: not one {format} unit per block");
            assert_eq!(written.stored_bytes, want.len() as u64);
            assert_eq!(written.bytes, lines.len() as u64);
            // Even no rows make a valid compressed stream.
            write(&weather, 0, &to).await.unwrap();
            assert_eq!(read(&to).await, format.compress(b""));
        }
    }
}
