//! Writing one object as a stream, with one put when it stays small and a multipart upload when
//! it grows.

use bytes::Bytes;
use object_store::{ObjectStoreExt, PutPayload, WriteMultipart};

use crate::{Location, StorageError};

/// How many pieces of one object upload at once.
const PIECES_IN_FLIGHT: usize = 2;

/// Streams one object to its location: the bytes are held until they reach 8 MiB and then sent
/// as a multipart upload of 8 MiB pieces (at most two in flight), or with one put at
/// [`finish`](ObjectWriter::finish) if they never do, so memory stays bounded whatever the
/// object's size. Nothing is visible at the location before `finish`.
///
/// Dropping it unfinished aborts the upload.
pub struct ObjectWriter {
    target: Location,
    /// The bytes not sent yet, before the upload starts.
    held: Vec<Bytes>,
    held_len: usize,
    upload: Option<WriteMultipart>,
    written: u64,
    runtime: tokio::runtime::Handle,
}

impl ObjectWriter {
    /// The size of the pieces of a multipart upload; an object smaller than this is written
    /// with one put. S3 wants at least 5 MiB per piece but the last.
    pub const PIECE_SIZE: usize = 8 << 20;

    /// A writer of the object at `target`. Call it within a tokio runtime, which aborts the
    /// upload if the writer is dropped unfinished.
    pub fn new(target: Location) -> Self {
        let runtime = tokio::runtime::Handle::current();
        ObjectWriter { target, held: Vec::new(), held_len: 0, upload: None, written: 0, runtime }
    }

    /// Appends `bytes` to the object.
    pub async fn write(&mut self, bytes: Bytes) -> Result<(), StorageError> {
        self.written += bytes.len() as u64;
        if let Some(upload) = &mut self.upload {
            let ready = upload.wait_for_capacity(PIECES_IN_FLIGHT).await;
            ready.map_err(|source| self.target.store_error(source))?;
            upload.put(bytes);
            return Ok(());
        }
        self.held_len += bytes.len();
        self.held.push(bytes);
        if self.held_len >= Self::PIECE_SIZE {
            let started = self.target.store().put_multipart(self.target.path()).await;
            let started = started.map_err(|source| self.target.store_error(source))?;
            let mut upload = WriteMultipart::new_with_chunk_size(started, Self::PIECE_SIZE);
            for held in self.held.drain(..) {
                upload.put(held);
            }
            self.held_len = 0;
            self.upload = Some(upload);
        }
        Ok(())
    }

    /// Whether the object is going up as a multipart upload (it grew past one piece).
    pub fn is_multipart(&self) -> bool {
        self.upload.is_some()
    }

    /// Completes the object; returns its size.
    pub async fn finish(mut self) -> Result<u64, StorageError> {
        let written = match self.upload.take() {
            Some(upload) => upload.finish().await,
            None => {
                let payload: PutPayload = std::mem::take(&mut self.held).into_iter().collect();
                self.target.store().put(self.target.path(), payload).await
            }
        };
        written.map_err(|source| self.target.store_error(source))?;
        Ok(self.written)
    }
}

impl Drop for ObjectWriter {
    fn drop(&mut self) {
        if let Some(upload) = self.upload.take() {
            let url = self.target.url().to_owned();
            self.runtime.spawn(async move {
                if let Err(error) = upload.abort().await {
                    tracing::warn!(url, %error, "could not abort the upload of an unfinished object");
                }
            });
        }
    }
}

impl std::fmt::Debug for ObjectWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectWriter").field("target", &self.target).field("written", &self.written).finish()
    }
}
