//! The scheduler's plugin store: components by sha256 in a directory, so a component is uploaded
//! once however many jobs use it.
//!
//! An upload is bounded before its first byte is read: its announced size must be at most
//! [`MAX_COMPONENT`], and at most [`MAX_UPLOADS`] are received at once (the others wait for their
//! turn holding no buffer: their bytes wait at the sender, under QUIC's flow control). Its bytes go
//! to a temporary file in chunks of at most 1 MiB as they arrive, hashed on the way ([`Upload`]);
//! an upload that sends nothing for [`UPLOAD_STALL`] is dropped. The file is renamed into place
//! only if it has the announced size and digest and is a WebAssembly component
//! ([`flicker_host::check_component`]: validated, not compiled, so that nothing of an upload is
//! kept in memory); otherwise, and when the stream ends or fails half way, it is removed.
//!
//! A component belongs to the tenants that uploaded it, listed in `<hex>.tenants` next to it: a
//! tenant's jobs may use only its own components (and the standard operators, which are built
//! into every node), and another tenant's are as good as absent to it, so it learns nothing of
//! them; uploading the same bytes again makes them its own too.
//!
//! Components are removed once no job the scheduler keeps uses them (see
//! `flicker_scheduler_core::retention`); at start-up, every component no journaled job uses and
//! every upload a crash cut short are removed.

use bytes::Bytes;
use flicker_host::{HostError, PluginDigest, check_component};
use flicker_job::{ComponentError, ComponentSource};
use flicker_protocol::scheduler::{MAX_COMPONENT, Oversized, RequestError};
use flicker_protocol::{PluginHasher, TenantId};
use flicker_transport::{FrameReceiver, TransportError};
use futures::StreamExt;
use std::collections::HashSet;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::Semaphore;

/// How many uploads the store receives at once: each holds a chunk of at most 1 MiB while it
/// streams, and its whole component (at most [`MAX_COMPONENT`]) while it is validated.
pub const MAX_UPLOADS: usize = 4;

/// How long an upload may send nothing before it is dropped, so that idle uploads cannot keep
/// the others from their turn.
pub const UPLOAD_STALL: Duration = Duration::from_secs(10);

/// The extension of an upload being received.
const PARTIAL: &str = "part";

/// The extension of the list of the tenants a component belongs to.
const OWNERS: &str = "tenants";

/// Components in `<dir>/<sha256 hex>.wasm`, their tenants in `<dir>/<hex>.tenants`; uploads
/// being received in `<dir>/<hex>.<n>.part`.
/// Cheap to clone: clones share the turns of uploads.
#[derive(Debug, Clone)]
pub struct PluginStore {
    dir: PathBuf,
    uploads: Arc<Semaphore>,
    /// Held while a list of tenants is read and written again, so two tenants uploading the same
    /// component at once are both listed.
    owners: Arc<parking_lot::Mutex<()>>,
}

impl PluginStore {
    /// The store in `dir`, created if needed; uploads a crash cut short are removed.
    pub fn open(dir: PathBuf) -> std::io::Result<Self> {
        std::fs::create_dir_all(&dir)?;
        let store = Self { dir, uploads: Arc::new(Semaphore::new(MAX_UPLOADS)), owners: Arc::default() };
        // Cut uploads, and lists of tenants whose component is gone, are removed.
        for (path, digest) in store.entries()? {
            let is_list = path.extension().is_some_and(|extension| extension == OWNERS);
            if digest.is_none() && !(is_list && path.with_extension("wasm").exists()) {
                remove(&path)?;
            }
        }
        Ok(store)
    }

    fn path(&self, digest: &PluginDigest) -> PathBuf {
        self.dir.join(format!("{}.wasm", digest.to_hex()))
    }

    fn owners_path(&self, digest: &PluginDigest) -> PathBuf {
        self.dir.join(format!("{}.{OWNERS}", digest.to_hex()))
    }

    /// Whether the store holds this component and `tenant` uploaded it.
    pub fn owned_by(&self, digest: &PluginDigest, tenant: &TenantId) -> bool {
        self.contains(digest) && self.owners(digest).iter().any(|owner| owner == &tenant.0)
    }

    /// The tenants that uploaded the component.
    fn owners(&self, digest: &PluginDigest) -> Vec<String> {
        std::fs::read_to_string(self.owners_path(digest))
            .map(|text| text.lines().map(str::to_owned).collect())
            .unwrap_or_default()
    }

    /// Makes the stored component `digest` `tenant`'s too (written whole: to a temporary file,
    /// renamed over the list).
    pub fn add_owner(&self, digest: &PluginDigest, tenant: &TenantId) -> Result<(), PutError> {
        let _listing = self.owners.lock();
        let mut owners = self.owners(digest);
        if owners.contains(&tenant.0) {
            return Ok(());
        }
        owners.push(tenant.0.clone());
        let path = self.owners_path(digest);
        static WRITES: AtomicU64 = AtomicU64::new(0);
        let temporary = path.with_extension(format!("{}.{PARTIAL}", WRITES.fetch_add(1, Ordering::Relaxed)));
        std::fs::write(&temporary, owners.join("\n") + "\n")
            .and_then(|()| std::fs::rename(&temporary, &path))
            .map_err(|source| PutError::Io { path, source })
    }

    /// Every file of the store, with the digest (in hex) of those that are components.
    fn entries(&self) -> std::io::Result<Vec<(PathBuf, Option<String>)>> {
        let mut entries = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let path = entry?.path();
            let digest = match (path.file_stem(), path.extension()) {
                (Some(stem), Some(extension)) if extension == "wasm" => stem.to_str().map(str::to_owned),
                _ => None,
            };
            entries.push((path, digest));
        }
        Ok(entries)
    }

    /// Every component stored, with its size, when it was stored and its tenants.
    pub fn list(&self) -> std::io::Result<Vec<StoredPlugin>> {
        let mut plugins = Vec::new();
        for (path, hex) in self.entries()? {
            let Some(digest) = hex.and_then(|hex| PluginDigest::from_hex(&hex)) else { continue };
            // A component removed since the listing is left out.
            let Ok(metadata) = std::fs::metadata(&path) else { continue };
            let stored_unix_ms = metadata
                .modified()
                .ok()
                .and_then(|at| at.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |at| at.as_millis() as u64);
            let tenants = self.owners(&digest).into_iter().map(TenantId).collect();
            plugins.push(StoredPlugin { digest, size: metadata.len(), stored_unix_ms, tenants });
        }
        plugins.sort_by_key(|plugin| plugin.stored_unix_ms);
        Ok(plugins)
    }

    /// Whether the store holds this component.
    pub fn contains(&self, digest: &PluginDigest) -> bool {
        self.path(digest).exists()
    }

    /// The component's bytes.
    pub fn get(&self, digest: &PluginDigest) -> std::io::Result<Vec<u8>> {
        std::fs::read(self.path(digest))
    }

    /// Starts storing a component announced as `len` bytes with digest `digest`; refused if `len`
    /// is above [`MAX_COMPONENT`].
    pub fn begin(&self, digest: PluginDigest, len: u64) -> Result<Upload, PutError> {
        if len > MAX_COMPONENT {
            return Err(PutError::TooLarge { len, max: MAX_COMPONENT });
        }
        // A name no other upload uses, of this component or another.
        static UPLOADS: AtomicU64 = AtomicU64::new(0);
        let number = UPLOADS.fetch_add(1, Ordering::Relaxed);
        let temporary = self.dir.join(format!("{}.{number}.{PARTIAL}", digest.to_hex()));
        let file =
            File::create(&temporary).map_err(|source| PutError::Io { path: temporary.clone(), source })?;
        Ok(Upload {
            digest,
            len,
            written: 0,
            hasher: PluginHasher::default(),
            file,
            temporary,
            path: self.path(&digest),
            stored: false,
        })
    }

    /// Receives the `len` bytes of a component announced with digest `digest` from `recv` and
    /// stores them (see the [module](self)). On an error the bytes received are removed, and a
    /// sender still sending is told to stop.
    pub async fn receive(
        &self,
        digest: PluginDigest,
        len: u64,
        recv: &mut FrameReceiver,
    ) -> Result<(), PutError> {
        let received = self.receive_from(digest, len, &mut *recv).await;
        if received.is_err() {
            recv.refuse();
        }
        received
    }

    /// Receives the `len` bytes of a component announced with digest `digest` from the chunks of
    /// `body` (an HTTP request's) and stores them, as [`receive`](Self::receive) does.
    pub async fn receive_body<E: std::fmt::Display>(
        &self,
        digest: PluginDigest,
        len: u64,
        body: impl futures::Stream<Item = Result<Bytes, E>>,
    ) -> Result<(), PutError> {
        self.receive_from(digest, len, &mut Body(std::pin::pin!(body))).await
    }

    /// Receives and stores a component whose chunks `next` gives (asked for at most the bytes
    /// still expected; `None` at the end).
    async fn receive_from(
        &self,
        digest: PluginDigest,
        len: u64,
        source: &mut impl Chunks,
    ) -> Result<(), PutError> {
        if len > MAX_COMPONENT {
            return Err(PutError::TooLarge { len, max: MAX_COMPONENT });
        }
        let _turn = self.uploads.acquire().await.expect("the store never closes its semaphore");
        let mut upload = self.begin(digest, len)?;
        while upload.written < len {
            let chunk = tokio::time::timeout(UPLOAD_STALL, source.next(len - upload.written))
                .await
                .map_err(|_| PutError::Stalled { after: UPLOAD_STALL })??
                .ok_or(PutError::Length { expected: len, got: upload.written })?;
            upload = self
                .blocking(move || {
                    upload.write(&chunk)?;
                    Ok(upload)
                })
                .await?;
        }
        self.blocking(move || upload.finish()).await
    }

    /// Runs `work`, which blocks on the disk, off the async threads.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, PutError> + Send + 'static,
    ) -> Result<T, PutError> {
        tokio::task::spawn_blocking(work).await.unwrap_or_else(|stopped| {
            Err(PutError::Io { path: self.dir.clone(), source: std::io::Error::other(stopped) })
        })
    }

    /// Removes the component `digest` and its list of tenants, if the store holds them.
    pub fn remove(&self, digest: &PluginDigest) -> std::io::Result<()> {
        remove(&self.path(digest))?;
        remove(&self.owners_path(digest))
    }

    /// Removes every component but those `keep` (by digest); returns how many were removed.
    pub fn retain(&self, keep: &HashSet<PluginDigest>) -> std::io::Result<usize> {
        let keep: HashSet<String> = keep.iter().map(PluginDigest::to_hex).collect();
        let mut removed = 0;
        for (path, digest) in self.entries()? {
            if digest.is_some_and(|digest| !keep.contains(&digest)) {
                remove(&path)?;
                remove(&path.with_extension(OWNERS))?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

/// Removes `path`; that it is gone already is no error.
fn remove(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(error),
        _ => Ok(()),
    }
}

/// A component being stored: written to a temporary file and hashed as its bytes come, published
/// by [`Upload::finish`], removed if dropped before.
#[derive(Debug)]
pub struct Upload {
    digest: PluginDigest,
    len: u64,
    written: u64,
    hasher: PluginHasher,
    file: File,
    temporary: PathBuf,
    path: PathBuf,
    stored: bool,
}

impl Upload {
    /// Writes the next bytes of the component; more than announced is an error.
    pub fn write(&mut self, piece: &[u8]) -> Result<(), PutError> {
        let written = self.written + piece.len() as u64;
        if written > self.len {
            return Err(PutError::Length { expected: self.len, got: written });
        }
        self.file.write_all(piece).map_err(|source| PutError::Io { path: self.temporary.clone(), source })?;
        self.hasher.update(piece);
        self.written = written;
        Ok(())
    }

    /// Stores the component if it has the announced size and digest and is a WebAssembly
    /// component: on disk, then renamed into place, so a reader never sees part of one.
    pub fn finish(mut self) -> Result<(), PutError> {
        if self.written != self.len {
            return Err(PutError::Length { expected: self.len, got: self.written });
        }
        let actual = std::mem::take(&mut self.hasher).finish();
        if actual != self.digest {
            return Err(PutError::DigestMismatch { expected: self.digest, actual });
        }
        let io = |source| PutError::Io { path: self.temporary.clone(), source };
        self.file.sync_all().map_err(io)?;
        let bytes = std::fs::read(&self.temporary).map_err(io)?;
        check_component(&bytes)
            .map_err(|source| PutError::NotAComponent { digest: self.digest, source: Box::new(source) })?;
        std::fs::rename(&self.temporary, &self.path).map_err(io)?;
        self.stored = true;
        Ok(())
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        if !self.stored
            && let Err(error) = remove(&self.temporary)
        {
            tracing::warn!(path = %self.temporary.display(), %error, "cannot remove an unfinished upload");
        }
    }
}

/// Why a component was not stored.
#[derive(Debug, thiserror::Error)]
pub enum PutError {
    /// The announced size is above [`MAX_COMPONENT`]; nothing was read.
    #[error("a component of {len} bytes is larger than the {max} bytes the scheduler accepts")]
    TooLarge {
        /// The size announced.
        len: u64,
        /// The most accepted.
        max: u64,
    },
    /// The bytes received are not as many as announced.
    #[error("the upload has {got} bytes, not the {expected} announced")]
    Length {
        /// The size announced.
        expected: u64,
        /// The bytes received (so far).
        got: u64,
    },
    /// Nothing arrived for too long.
    #[error("the upload sent nothing for {after:?}; send it again")]
    Stalled {
        /// How long.
        after: Duration,
    },
    /// The bytes do not have the digest they were sent with.
    #[error("the component's bytes have digest {actual}, not {expected}")]
    DigestMismatch {
        /// The digest announced.
        expected: PluginDigest,
        /// The digest of the bytes.
        actual: PluginDigest,
    },
    /// The bytes are not a WebAssembly component.
    #[error("component {digest}: {source}")]
    NotAComponent {
        /// Its digest.
        digest: PluginDigest,
        /// What the validator found (boxed: a `HostError` is large, and this error travels in
        /// every `Result` of an upload).
        source: Box<HostError>,
    },
    /// The stream broke.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The upload's body was cut.
    #[error("the upload was cut: {reason}")]
    Interrupted {
        /// Why.
        reason: String,
    },
    /// The store's disk failed.
    #[error("cannot write {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Where the bytes of an upload come from, in chunks.
trait Chunks {
    /// The next chunk, of at most `max` bytes if the source can tell; `None` at the end.
    async fn next(&mut self, max: u64) -> Result<Option<Bytes>, PutError>;
}

impl Chunks for FrameReceiver {
    async fn next(&mut self, max: u64) -> Result<Option<Bytes>, PutError> {
        Ok(self.recv_chunk(max).await?)
    }
}

/// The body of an HTTP request.
struct Body<S>(S);

impl<S: futures::Stream<Item = Result<Bytes, E>> + Unpin, E: std::fmt::Display> Chunks for Body<S> {
    async fn next(&mut self, _max: u64) -> Result<Option<Bytes>, PutError> {
        self.0.next().await.transpose().map_err(|e| PutError::Interrupted { reason: e.to_string() })
    }
}

/// A component the store holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPlugin {
    /// Its sha256.
    pub digest: PluginDigest,
    /// Its size in bytes.
    pub size: u64,
    /// When it was first stored, in milliseconds since the Unix epoch.
    pub stored_unix_ms: u64,
    /// The tenants that uploaded it.
    pub tenants: Vec<TenantId>,
}

impl From<PutError> for RequestError {
    fn from(error: PutError) -> Self {
        match error {
            PutError::TooLarge { len, max } => {
                RequestError::TooLarge { what: Oversized::Component, size: len, max }
            }
            PutError::DigestMismatch { expected, actual } => {
                RequestError::DigestMismatch { expected, actual }
            }
            PutError::NotAComponent { digest, source } => {
                RequestError::NotAComponent { digest, reason: source.to_string() }
            }
            other => RequestError::BadRequest { reason: other.to_string() },
        }
    }
}

impl ComponentSource for PluginStore {
    fn fetch(&self, digest: &PluginDigest) -> Result<Vec<u8>, ComponentError> {
        self.get(digest).map_err(|error| ComponentError {
            digest: *digest,
            from: "the plugin store",
            source: Box::new(error),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The preamble of a component, which alone is an empty component.
    const COMPONENT: &[u8] = b"\0asm\x0d\0\x01\0";

    fn store() -> (tempfile::TempDir, PluginStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = PluginStore::open(dir.path().join("plugins")).unwrap();
        (dir, store)
    }

    /// The names of the files in the store's directory, sorted.
    fn files(store: &PluginStore) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&store.dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    /// Stores `bytes` in pieces of at most `piece` bytes, announced with `digest`.
    fn put(store: &PluginStore, digest: PluginDigest, bytes: &[u8], piece: usize) -> Result<(), PutError> {
        let mut upload = store.begin(digest, bytes.len() as u64)?;
        for piece in bytes.chunks(piece) {
            upload.write(piece)?;
        }
        upload.finish()
    }

    #[test]
    fn a_component_written_in_pieces_is_stored_by_digest() {
        let (_dir, store) = store();
        let digest = PluginDigest::of(COMPONENT);
        assert!(!store.contains(&digest));
        put(&store, digest, COMPONENT, 3).unwrap();
        assert!(store.contains(&digest));
        assert_eq!(store.fetch(&digest).unwrap(), COMPONENT);
        assert_eq!(files(&store), [format!("{}.wasm", digest.to_hex())], "no temporary file is left");
        assert!(store.fetch(&PluginDigest::of(b"x")).is_err());
    }

    #[test]
    fn bytes_that_are_not_the_component_announced_are_not_stored_and_leave_nothing() {
        let (_dir, store) = store();
        let digest = PluginDigest::of(COMPONENT);
        let refused = put(&store, PluginDigest::of(b"other"), COMPONENT, 5);
        assert!(matches!(refused, Err(PutError::DigestMismatch { actual, .. }) if actual == digest));
        let script = b"#!/bin/sh\necho hello\n";
        let refused = put(&store, PluginDigest::of(script), script, 4);
        assert!(
            matches!(refused, Err(PutError::NotAComponent { source, .. }) if matches!(*source, HostError::Compile { .. }))
        );
        let mut upload = store.begin(digest, COMPONENT.len() as u64).unwrap();
        upload.write(COMPONENT).unwrap();
        assert!(matches!(upload.write(b"x"), Err(PutError::Length { expected: 8, got: 9 })));
        drop(upload);
        let mut upload = store.begin(digest, COMPONENT.len() as u64).unwrap();
        upload.write(&COMPONENT[..4]).unwrap();
        assert!(matches!(upload.finish(), Err(PutError::Length { expected: 8, got: 4 })));
        assert!(files(&store).is_empty(), "{:?}", files(&store));
    }

    #[test]
    fn an_upload_over_the_cap_is_refused_before_a_byte_and_a_half_sent_one_is_removed() {
        let (_dir, store) = store();
        let digest = PluginDigest::of(COMPONENT);
        let refused = store.begin(digest, MAX_COMPONENT + 1);
        assert!(
            matches!(refused, Err(PutError::TooLarge { len, max: MAX_COMPONENT }) if len == MAX_COMPONENT + 1)
        );
        let mut upload = store.begin(digest, MAX_COMPONENT).unwrap();
        upload.write(&[0; 1000]).unwrap();
        assert_eq!(files(&store).len(), 1, "the bytes so far are on disk");
        drop(upload);
        assert!(files(&store).is_empty());
        let error = RequestError::from(PutError::TooLarge { len: MAX_COMPONENT + 1, max: MAX_COMPONENT });
        assert_eq!(
            error.to_string(),
            "a component of 268435457 bytes is larger than the 268435456 bytes (256 MiB) the scheduler accepts"
        );
    }

    #[test]
    fn opening_removes_cut_uploads_and_retain_keeps_only_the_components_named() {
        let (_dir, store) = store();
        let (kept, dropped) = (PluginDigest::of(COMPONENT), PluginDigest::of(b"gone"));
        put(&store, kept, COMPONENT, 8).unwrap();
        std::fs::write(store.path(&dropped), b"gone").unwrap();
        let mut cut = store.begin(kept, 100).unwrap();
        cut.write(b"half").unwrap();
        // A crash: the upload's file stays.
        std::mem::forget(cut);
        assert_eq!(files(&store).len(), 3);
        let store = PluginStore::open(store.dir.clone()).unwrap();
        assert_eq!(files(&store).len(), 2, "the cut upload is gone");
        assert_eq!(store.retain(&HashSet::from([kept])).unwrap(), 1);
        assert_eq!(files(&store), [format!("{}.wasm", kept.to_hex())]);
        store.remove(&kept).unwrap();
        store.remove(&kept).unwrap();
        assert!(files(&store).is_empty());
    }

    #[test]
    fn a_component_belongs_to_the_tenants_that_uploaded_it_and_goes_with_its_list() {
        let (_dir, store) = store();
        let (acme, zeta) = (TenantId("acme".into()), TenantId("zeta".into()));
        let digest = PluginDigest::of(COMPONENT);
        assert!(!store.owned_by(&digest, &acme));
        put(&store, digest, COMPONENT, 8).unwrap();
        assert!(!store.owned_by(&digest, &acme), "stored, but nobody's yet");
        store.add_owner(&digest, &acme).unwrap();
        store.add_owner(&digest, &acme).unwrap();
        assert!(store.owned_by(&digest, &acme) && !store.owned_by(&digest, &zeta));
        store.add_owner(&digest, &zeta).unwrap();
        // A list whose component is gone (removed as the list was written) goes at the next start.
        let gone = PluginDigest::of(b"gone");
        store.add_owner(&gone, &acme).unwrap();
        let store = PluginStore::open(store.dir.clone()).unwrap();
        assert!(store.owned_by(&digest, &acme) && store.owned_by(&digest, &zeta), "kept across restarts");
        assert_eq!(files(&store).len(), 2);
        assert_eq!(store.retain(&HashSet::new()).unwrap(), 1);
        assert!(files(&store).is_empty(), "the list goes with its component");
    }
}
