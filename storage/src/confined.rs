//! The local file system seen through a node's allowed roots: every object a job's location
//! touches (listed, read, written, moved or deleted) is checked where it leads before the store
//! acts on it.
//!
//! [`AccessPolicy::admit`](crate::AccessPolicy::admit) checks a location's own path, but a
//! directory under an allowed root may hold a symbolic link leading out of it, which listing
//! would follow; and a link may appear after the job was admitted. So an admitted local location
//! is opened through this store, which refuses such an object with `PermissionDenied` instead.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions, Result,
};

use crate::policy::{AccessRefused, LocalRoots};

/// A [`LocalFileSystem`] that acts only on objects leading under its allowed roots.
#[derive(Debug, Clone)]
pub(crate) struct ConfinedFileSystem {
    inner: Arc<LocalFileSystem>,
    roots: Arc<LocalRoots>,
}

impl ConfinedFileSystem {
    /// `inner` confined to `roots`.
    pub(crate) fn new(inner: Arc<LocalFileSystem>, roots: Arc<LocalRoots>) -> ConfinedFileSystem {
        ConfinedFileSystem { inner, roots }
    }

    /// Checks that `location` leads under the allowed roots.
    fn check(&self, location: &Path) -> Result<()> {
        let path = self.inner.path_to_filesystem(location)?;
        self.roots.check(&path).map_err(|refused| denied(location, refused))
    }

    /// `meta` if the object it describes leads under the allowed roots.
    fn checked(&self, meta: Result<ObjectMeta>) -> Result<ObjectMeta> {
        let meta = meta?;
        self.check(&meta.location)?;
        Ok(meta)
    }
}

/// The error of a store refusing `location` because `refused`.
pub(crate) fn denied(location: &Path, refused: AccessRefused) -> object_store::Error {
    object_store::Error::PermissionDenied { path: location.to_string(), source: Box::new(refused) }
}

impl fmt::Display for ConfinedFileSystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Confined({})", self.inner)
    }
}

#[async_trait]
impl ObjectStore for ConfinedFileSystem {
    async fn put_opts(&self, location: &Path, payload: PutPayload, opts: PutOptions) -> Result<PutResult> {
        self.check(location)?;
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.check(location)?;
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        self.check(location)?;
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        self.check(location)?;
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(&self, locations: BoxStream<'static, Result<Path>>) -> BoxStream<'static, Result<Path>> {
        let this = self.clone();
        let checked = locations.map(move |location| location.and_then(|l| this.check(&l).map(|()| l)));
        self.inner.delete_stream(checked.boxed())
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        let this = self.clone();
        self.inner.list(prefix).map(move |meta| this.checked(meta)).boxed()
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        let this = self.clone();
        self.inner.list_with_offset(prefix, offset).map(move |meta| this.checked(meta)).boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        let listed = self.inner.list_with_delimiter(prefix).await?;
        for meta in &listed.objects {
            self.check(&meta.location)?;
        }
        Ok(listed)
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.check(from)?;
        self.check(to)?;
        self.inner.copy_opts(from, to, options).await
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> Result<()> {
        self.check(from)?;
        self.check(to)?;
        self.inner.rename_opts(from, to, options).await
    }
}
