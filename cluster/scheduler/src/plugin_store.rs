//! The scheduler's plugin store: components by sha256 in a directory, so a component is uploaded
//! once however many jobs use it.

use flicker_host::PluginDigest;
use flicker_job::ComponentSource;
use std::path::PathBuf;

/// Components in `<dir>/<sha256 hex>.wasm`.
#[derive(Debug, Clone)]
pub struct PluginStore {
    dir: PathBuf,
}

impl PluginStore {
    /// The store in `dir`, created if needed.
    pub fn open(dir: PathBuf) -> std::io::Result<Self> {
        std::fs::create_dir_all(&dir)?;
        Ok(Self { dir })
    }

    fn path(&self, digest: &PluginDigest) -> PathBuf {
        self.dir.join(format!("{}.wasm", digest.to_hex()))
    }

    /// Whether the store holds this component.
    pub fn contains(&self, digest: &PluginDigest) -> bool {
        self.path(digest).exists()
    }

    /// Stores `bytes`, which must have digest `digest`: written under a temporary name and renamed,
    /// so a reader never sees part of a component.
    pub fn put(&self, digest: &PluginDigest, bytes: &[u8]) -> Result<(), PutError> {
        let actual = PluginDigest::of(bytes);
        if actual != *digest {
            return Err(PutError::DigestMismatch { expected: *digest, actual });
        }
        let path = self.path(digest);
        let temporary =
            path.with_extension(format!("tmp-{}-{:?}", std::process::id(), std::thread::current().id()));
        std::fs::write(&temporary, bytes)
            .and_then(|()| std::fs::rename(&temporary, &path))
            .map_err(|source| PutError::Io { path, source })
    }

    /// The component's bytes.
    pub fn get(&self, digest: &PluginDigest) -> std::io::Result<Vec<u8>> {
        std::fs::read(self.path(digest))
    }
}

/// Why a component was not stored.
#[derive(Debug, thiserror::Error)]
pub enum PutError {
    /// The bytes do not have the digest they were sent with.
    #[error("the component's bytes have digest {actual}, not {expected}")]
    DigestMismatch {
        /// The digest announced.
        expected: PluginDigest,
        /// The digest of the bytes.
        actual: PluginDigest,
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

impl ComponentSource for PluginStore {
    fn fetch(&self, digest: &PluginDigest) -> Result<Vec<u8>, String> {
        self.get(digest).map_err(|e| format!("the plugin store has no component {digest}: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_are_stored_by_digest_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let store = PluginStore::open(dir.path().join("plugins")).unwrap();
        let digest = PluginDigest::of(b"component");
        assert!(!store.contains(&digest));
        assert!(matches!(store.put(&digest, b"other"), Err(PutError::DigestMismatch { .. })));
        store.put(&digest, b"component").unwrap();
        assert!(store.contains(&digest));
        assert_eq!(store.fetch(&digest).unwrap(), b"component");
        assert!(store.fetch(&PluginDigest::of(b"x")).is_err());
    }
}
