//! Every store a [`Location`](crate::Location) opens is wrapped in a [`MeteredStore`], which
//! counts its requests by operation (`flicker_object_store_requests_total`) and the bytes they
//! read and write (`flicker_object_store_bytes_total`), once per request: whatever reads or
//! writes through a location (listing, split readers, object writers, commits) is counted here
//! and nowhere else, except the positioned reads of a local input file, which bypass the store
//! and count themselves with [`count_read`].

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use flicker_metrics::{OBJECT_STORE_BYTES, OBJECT_STORE_REQUESTS};
use futures::stream::{BoxStream, StreamExt};
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions, Result, UploadPart,
};

/// Counts one request of `operation` (a literal from the list in `flicker_metrics`' docs).
pub(crate) fn count_request(operation: &'static str) {
    metrics::counter!(OBJECT_STORE_REQUESTS, "operation" => operation).increment(1);
}

/// Counts `bytes` written.
fn count_written(bytes: usize) {
    metrics::counter!(OBJECT_STORE_BYTES, "direction" => "written").increment(bytes as u64);
}

/// Counts a read of `bytes`: a `get` request and the bytes it read.
pub(crate) fn count_read(bytes: u64) {
    count_request("get");
    metrics::counter!(OBJECT_STORE_BYTES, "direction" => "read").increment(bytes);
}

/// A store whose requests are counted.
#[derive(Debug)]
pub(crate) struct MeteredStore {
    inner: Arc<dyn ObjectStore>,
}

impl MeteredStore {
    /// `inner`, its requests counted from now on.
    pub(crate) fn wrap(inner: Arc<dyn ObjectStore>) -> Arc<dyn ObjectStore> {
        Arc::new(MeteredStore { inner })
    }
}

impl fmt::Display for MeteredStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

#[async_trait]
impl ObjectStore for MeteredStore {
    async fn put_opts(&self, location: &Path, payload: PutPayload, opts: PutOptions) -> Result<PutResult> {
        count_request("put");
        count_written(payload.content_length());
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        count_request("put_multipart");
        let inner = self.inner.put_multipart_opts(location, opts).await?;
        Ok(Box::new(MeteredUpload { inner }))
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        if options.head {
            count_request("head");
            return self.inner.get_opts(location, options).await;
        }
        let result = self.inner.get_opts(location, options).await;
        // The bytes the answer holds, counted whether or not the caller reads them all.
        count_read(result.as_ref().map_or(0, |result| result.range.end - result.range.start));
        result
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        let result = self.inner.get_ranges(location, ranges).await;
        count_read(result.as_ref().map_or(0, |parts| parts.iter().map(|part| part.len() as u64).sum()));
        result
    }

    fn delete_stream(&self, locations: BoxStream<'static, Result<Path>>) -> BoxStream<'static, Result<Path>> {
        let counted = locations.inspect(|_| count_request("delete"));
        self.inner.delete_stream(counted.boxed())
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        count_request("list");
        self.inner.list(prefix)
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        count_request("list");
        self.inner.list_with_offset(prefix, offset)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        count_request("list");
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        count_request("copy");
        self.inner.copy_opts(from, to, options).await
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> Result<()> {
        count_request("rename");
        self.inner.rename_opts(from, to, options).await
    }
}

/// A multipart upload whose parts, completion and abort are counted.
#[derive(Debug)]
struct MeteredUpload {
    inner: Box<dyn MultipartUpload>,
}

#[async_trait]
impl MultipartUpload for MeteredUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        count_request("put_part");
        count_written(data.content_length());
        self.inner.put_part(data)
    }

    async fn complete(&mut self) -> Result<PutResult> {
        count_request("complete_multipart");
        self.inner.complete().await
    }

    async fn abort(&mut self) -> Result<()> {
        count_request("abort_multipart");
        self.inner.abort().await
    }
}

#[cfg(test)]
mod tests {
    use crate::Location;
    use futures::TryStreamExt;
    use object_store::ObjectStoreExt;

    #[test]
    fn every_request_is_counted_once_with_its_bytes() {
        let dir = tempfile::tempdir().unwrap();
        // A runtime of this thread's, which the test's recorder is local to.
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let work = async {
            for url in ["memory://metered/data", dir.path().join("data").to_str().unwrap()] {
                let loc = Location::parse(url, std::path::Path::new("/")).unwrap();
                let (store, object) = (loc.store(), loc.child("a.txt"));
                store.put(object.path(), "hello world".into()).await.unwrap();
                assert_eq!(store.get_range(object.path(), 0..5).await.unwrap(), "hello");
                assert_eq!(store.head(object.path()).await.unwrap().size, 11);
                assert_eq!(store.list(Some(loc.path())).try_collect::<Vec<_>>().await.unwrap().len(), 1);
                let mut upload = store.put_multipart(loc.child("b.txt").path()).await.unwrap();
                upload.put_part("abc".into()).await.unwrap();
                upload.complete().await.unwrap();
                store.copy(object.path(), loc.child("c.txt").path()).await.unwrap();
                store.delete(object.path()).await.unwrap();
            }
        };
        let samples = flicker_metrics::recorded(|| runtime.block_on(work)).unwrap();
        let expected = [
            r#"flicker_object_store_bytes_total{direction="read"} 10"#,
            r#"flicker_object_store_bytes_total{direction="written"} 28"#,
            r#"flicker_object_store_requests_total{operation="complete_multipart"} 2"#,
            r#"flicker_object_store_requests_total{operation="copy"} 2"#,
            r#"flicker_object_store_requests_total{operation="delete"} 2"#,
            r#"flicker_object_store_requests_total{operation="get"} 2"#,
            r#"flicker_object_store_requests_total{operation="head"} 2"#,
            r#"flicker_object_store_requests_total{operation="list"} 2"#,
            r#"flicker_object_store_requests_total{operation="put"} 2"#,
            r#"flicker_object_store_requests_total{operation="put_multipart"} 2"#,
            r#"flicker_object_store_requests_total{operation="put_part"} 2"#,
        ];
        assert_eq!(samples, expected);
    }
}
