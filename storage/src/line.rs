//! Line numbers for error messages.

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{GetOptions, ObjectStoreExt};

use crate::compression::Decompressed;
use crate::{Compression, Location, StorageError};

/// The 1-based line number of the record starting at byte `offset` of `object` (in `loc`'s
/// store): one more than the number of `\n` before it. For a compressed object (see
/// [`Compression`]), `offset` and the lines are those of the decompressed data, as in the
/// [`Chunk`](crate::Chunk)s a [`SplitReader`](crate::SplitReader) reads.
///
/// Streams the object's first `offset` bytes (decompressing as much as needed), so keep it for
/// error messages.
pub async fn line_number_at(loc: &Location, object: &Path, offset: u64) -> Result<u64, StorageError> {
    if offset == 0 {
        return Ok(1);
    }
    let object = loc.at(object.clone());
    let mut pieces = match Compression::of(object.path()) {
        None => prefix(&object, offset).await?,
        Some(format) => {
            let meta =
                object.store().head(object.path()).await.map_err(|source| object.store_error(source))?;
            Decompressed::start(object.clone(), meta.size, format).into_stream().boxed()
        }
    };
    let (mut seen, mut newlines) = (0u64, 0u64);
    while seen < offset
        && let Some(piece) = pieces.try_next().await?
    {
        let wanted = usize::try_from(offset - seen).unwrap_or(usize::MAX);
        let piece = &piece[..piece.len().min(wanted)];
        seen += piece.len() as u64;
        newlines += piece.iter().filter(|&&b| b == b'\n').count() as u64;
    }
    if seen < offset {
        return Err(StorageError::UnexpectedEof { url: object.url().to_owned(), offset });
    }
    Ok(newlines + 1)
}

/// The first `len` bytes of a plain object, as a stream of pieces.
async fn prefix(
    object: &Location,
    len: u64,
) -> Result<BoxStream<'static, Result<Bytes, StorageError>>, StorageError> {
    let options = GetOptions::new().with_range(Some(0..len));
    let result =
        object.store().get_opts(object.path(), options).await.map_err(|source| object.store_error(source))?;
    let object = object.clone();
    Ok(result.into_stream().map_err(move |source| object.store_error(source)).boxed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn counts_the_newlines_before_the_offset() {
        let loc = Location::parse("memory://line-number/", std::path::Path::new("/")).unwrap();
        let object = Path::from("data.txt");
        loc.store().put(&object, "a\nbb\r\n\nccc".into()).await.unwrap();
        for (offset, line) in [(0, 1), (2, 2), (6, 3), (7, 4), (10, 4)] {
            assert_eq!(line_number_at(&loc, &object, offset).await.unwrap(), line, "offset {offset}");
        }
        match line_number_at(&loc, &object, 11).await {
            Err(StorageError::UnexpectedEof { url, offset: 11 }) => {
                assert_eq!(url, "memory://line-number/data.txt")
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn counts_the_lines_of_decompressed_data() {
        let text = b"a\nbb\r\n\nccc".repeat(3);
        for (name, format) in [("data.gz", Compression::Gzip), ("data.ZST", Compression::Zstd)] {
            let loc = Location::parse("memory://line-number-compressed/", std::path::Path::new("/")).unwrap();
            let object = Path::from(name);
            let half = text.len() / 2;
            let compressed = [format.compress(&text[..half]), format.compress(&text[half..])].concat();
            loc.store().put(&object, compressed.into()).await.unwrap();
            for (offset, line) in [(0, 1), (2, 2), (6, 3), (7, 4), (10, 4), (11, 4), (12, 5), (30, 10)] {
                assert_eq!(
                    line_number_at(&loc, &object, offset).await.unwrap(),
                    line,
                    "{name} offset {offset}"
                );
            }
            match line_number_at(&loc, &object, 31).await {
                Err(StorageError::UnexpectedEof { url, offset: 31 }) => {
                    assert_eq!(url, format!("memory://line-number-compressed/{name}"))
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn corrupt_compressed_data_is_reported() {
        let loc = Location::parse("memory://line-number-corrupt/", std::path::Path::new("/")).unwrap();
        let object = Path::from("bad.gz");
        loc.store().put(&object, "a\nb\n".into()).await.unwrap();
        match line_number_at(&loc, &object, 3).await {
            Err(StorageError::Decompress { url, format: Compression::Gzip, .. }) => {
                assert_eq!(url, "memory://line-number-corrupt/bad.gz")
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn streams_local_files() {
        let dir = tempfile::tempdir().unwrap();
        let text = "x\n".repeat(50_000);
        std::fs::write(dir.path().join("big.txt"), &text).unwrap();
        let loc = Location::parse(".", dir.path()).unwrap();
        let object = loc.child("big.txt").path().clone();
        assert_eq!(line_number_at(&loc, &object, 2 * 40_000).await.unwrap(), 40_001);
    }
}
