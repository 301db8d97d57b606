//! Line numbers for error messages.

use futures::TryStreamExt;
use object_store::GetOptions;
use object_store::path::Path;

use crate::{Location, StorageError};

/// The 1-based line number of the record starting at byte `offset` of `object` (in `loc`'s
/// store): one more than the number of `\n` before it.
///
/// Streams the object's first `offset` bytes, so keep it for error messages.
pub async fn line_number_at(loc: &Location, object: &Path, offset: u64) -> Result<u64, StorageError> {
    if offset == 0 {
        return Ok(1);
    }
    let object = loc.at(object.clone());
    let options = GetOptions::new().with_range(Some(0..offset));
    let result =
        object.store().get_opts(object.path(), options).await.map_err(|source| object.store_error(source))?;
    let mut pieces = result.into_stream();
    let (mut seen, mut newlines) = (0u64, 0u64);
    while let Some(piece) = pieces.try_next().await.map_err(|source| object.store_error(source))? {
        seen += piece.len() as u64;
        newlines += piece.iter().filter(|&&b| b == b'\n').count() as u64;
    }
    if seen < offset {
        return Err(StorageError::UnexpectedEof { url: object.url().to_owned(), offset });
    }
    Ok(newlines + 1)
}

#[cfg(test)]
mod tests {
    use object_store::ObjectStoreExt;

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
    async fn streams_local_files() {
        let dir = tempfile::tempdir().unwrap();
        let text = "x\n".repeat(50_000);
        std::fs::write(dir.path().join("big.txt"), &text).unwrap();
        let loc = Location::parse(".", dir.path()).unwrap();
        let object = loc.child("big.txt").path().clone();
        assert_eq!(line_number_at(&loc, &object, 2 * 40_000).await.unwrap(), 40_001);
    }
}
