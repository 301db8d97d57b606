//! Storage URLs: which store, and where in it.

use std::collections::HashMap;
use std::path::{Component, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use percent_encoding::percent_decode_str;

use crate::StorageError;
use crate::confined::{ConfinedFileSystem, denied};
use crate::metered::MeteredStore;
use crate::options::{Service, StoreOptions};
use crate::policy::LocalRoots;

/// A place in an object store: a single object, a prefix ("directory") or a glob.
///
/// Made by [`Location::parse`] from what a user writes in a manifest:
///
/// | written                    | store                                  | path             |
/// |----------------------------|----------------------------------------|------------------|
/// | `file:///data/in/`         | the local file system (root `/`)       | `data/in`        |
/// | `/data/in/*.csv`           | the local file system                  | `data/in/*.csv`  |
/// | `in/2024` (relative)       | the local file system                  | `<base>/in/2024` |
/// | `memory://tests/in`        | the process-wide in-memory store `tests` | `in`           |
/// | `s3://bucket/logs/*.csv`   | the S3 bucket `bucket`                 | `logs/*.csv`     |
/// | `gs://bucket/logs/`        | the Google Cloud Storage bucket `bucket` | `logs`         |
///
/// Its `Debug` form is its URL: the store's client (and any credential in it) is never shown.
#[derive(Clone)]
pub struct Location {
    store: Arc<dyn ObjectStore>,
    backend: Backend,
    path: Path,
    url: String,
}

/// What kind of place a location is.
pub(crate) enum Place<'a> {
    /// On the local file system, at this path if it has one.
    Local(Option<PathBuf>),
    /// In a process-wide `memory://` store.
    Memory,
    /// In a cloud store's bucket.
    Cloud {
        /// The store.
        service: Service,
        /// The bucket.
        bucket: &'a str,
    },
}

/// The concrete store behind a location, for the few things that differ between them.
#[derive(Debug, Clone)]
enum Backend {
    /// The local file system, confined to a node's allowed roots if `roots` says so (then the
    /// location's store is a [`ConfinedFileSystem`] around `fs`).
    Local {
        fs: Arc<LocalFileSystem>,
        roots: Option<Arc<LocalRoots>>,
    },
    Memory {
        name: String,
    },
    Cloud {
        service: Service,
        bucket: String,
    },
}

impl Backend {
    /// The canonical URL of `path` in this store, for messages.
    fn url_of(&self, path: &Path) -> String {
        match self {
            Backend::Local { .. } => format!("file:///{path}"),
            Backend::Memory { name } => format!("memory://{name}/{path}"),
            Backend::Cloud { service, bucket } => format!("{service}://{bucket}/{path}"),
        }
    }
}

impl Location {
    /// [`parse_with`](Location::parse_with) with no settings beyond the stores' environment.
    pub fn parse(url: &str, base_dir: &std::path::Path) -> Result<Location, StorageError> {
        Location::parse_with(url, base_dir, &StoreOptions::default())
    }

    /// Parses a storage URL; relative paths are resolved against `base_dir` (e.g. the manifest's
    /// directory, itself made absolute against the current directory if needed).
    ///
    /// Accepted: `file:///abs/path` (or `file://localhost/abs/path`), plain absolute paths,
    /// relative paths, `s3://bucket/prefix`, `gs://bucket/prefix` and `memory://name/prefix`. A
    /// trailing `/` is ignored, `%xx` escapes in URLs are decoded, and `.`/`..` segments of local
    /// paths are resolved. The path may be a glob (`*`, `?`, `[...]`): see
    /// [`list_inputs`](crate::list_inputs). Nothing is checked for existence and no request is
    /// made, so an output directory that does not exist yet is fine.
    ///
    /// An S3 or GCS client is configured from its standard environment, then `options`. The
    /// process keeps one client per service, bucket and settings, so every location in the same
    /// bucket shares its connections. Every `memory://name` with the same `name` opens the same
    /// store for the life of the process, so a test can write inputs through one location and
    /// read them through another.
    pub fn parse_with(
        url: &str,
        base_dir: &std::path::Path,
        options: &StoreOptions,
    ) -> Result<Location, StorageError> {
        let Some((scheme, rest)) = url.split_once("://").filter(|(scheme, _)| is_scheme(scheme)) else {
            return Location::local(url, &base_dir.join(url));
        };
        let invalid = |reason| StorageError::InvalidUrl { url: url.to_owned(), reason };
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let path = percent_decode_str(path)
            .decode_utf8()
            .map_err(|_| invalid("percent-encoded bytes are not valid UTF-8"))?;
        match scheme.to_ascii_lowercase().as_str() {
            "file" => {
                if !(authority.is_empty() || authority.eq_ignore_ascii_case("localhost")) {
                    return Err(invalid("a file url names no host: write file:///absolute/path"));
                }
                Location::local(url, &std::path::Path::new("/").join(&*path))
            }
            "memory" => {
                if authority.is_empty() {
                    return Err(invalid("a memory url needs a store name: memory://name/prefix"));
                }
                let path = Path::parse(&*path)
                    .map_err(|source| StorageError::InvalidPath { url: url.to_owned(), source })?;
                let store = memory_store(authority);
                Ok(Location::new(
                    MeteredStore::wrap(store),
                    Backend::Memory { name: authority.to_owned() },
                    path,
                ))
            }
            scheme => {
                let Some(service) = Service::from_scheme(scheme) else {
                    return Err(StorageError::UnsupportedScheme { url: url.to_owned() });
                };
                if authority.is_empty() {
                    return Err(invalid("an s3:// or gs:// url needs a bucket: s3://bucket/prefix"));
                }
                if !is_bucket_name(authority) {
                    return Err(invalid("a bucket name is letters, digits, '.', '-' and '_'"));
                }
                let path = Path::parse(&*path)
                    .map_err(|source| StorageError::InvalidPath { url: url.to_owned(), source })?;
                let store = cloud_store(service, authority, options)
                    .map_err(|error| StorageError::StoreConfig { url: url.to_owned(), error })?;
                Ok(Location::new(store, Backend::Cloud { service, bucket: authority.to_owned() }, path))
            }
        }
    }

    /// A location on the local file system for `path`, which `url` was written as.
    fn local(url: &str, path: &std::path::Path) -> Result<Location, StorageError> {
        let invalid = |reason| StorageError::InvalidUrl { url: url.to_owned(), reason };
        let absolute = std::path::absolute(path).map_err(|_| invalid("the path cannot be made absolute"))?;
        let normalized = normalize(&absolute);
        let text = normalized.to_str().ok_or_else(|| invalid("the path is not valid UTF-8"))?;
        let path =
            Path::parse(text).map_err(|source| StorageError::InvalidPath { url: url.to_owned(), source })?;
        let store = Arc::new(LocalFileSystem::new());
        Ok(Location::new(MeteredStore::wrap(store.clone()), Backend::Local { fs: store, roots: None }, path))
    }

    fn new(store: Arc<dyn ObjectStore>, backend: Backend, path: Path) -> Location {
        let url = backend.url_of(&path);
        Location { store, backend, path, url }
    }

    /// The store holding the objects.
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// The path inside the store (no leading or trailing `/`).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A canonical URL for this location, for messages: `file:///data/in`, `memory://t/in`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The location of `name` directly below this one. `name` is one path segment: characters
    /// that cannot appear in one (such as `/`) are percent-encoded.
    pub fn child(&self, name: &str) -> Location {
        self.at(self.path.clone().join(name))
    }

    /// Another path in the same store, e.g. an object found by
    /// [`list_inputs`](crate::list_inputs).
    pub fn at(&self, path: Path) -> Location {
        Location::new(Arc::clone(&self.store), self.backend.clone(), path)
    }

    /// What kind of place this is, for an [`AccessPolicy`](crate::AccessPolicy).
    pub(crate) fn place(&self) -> Place<'_> {
        match &self.backend {
            Backend::Local { .. } => Place::Local(self.local_path()),
            Backend::Memory { .. } => Place::Memory,
            Backend::Cloud { service, bucket } => Place::Cloud { service: *service, bucket },
        }
    }

    /// This location, if it is a local one, confined to `roots`: every object it or a location
    /// made from it ([`child`](Location::child), [`at`](Location::at)) touches must lead under
    /// them. Other locations are returned as they are.
    pub(crate) fn confined(self, roots: Arc<LocalRoots>) -> Location {
        let Backend::Local { fs, .. } = &self.backend else { return self };
        let fs = Arc::clone(fs);
        let store =
            MeteredStore::wrap(Arc::new(ConfinedFileSystem::new(Arc::clone(&fs), Arc::clone(&roots))));
        Location { store, backend: Backend::Local { fs, roots: Some(roots) }, ..self }
    }

    /// This location's path on the local file system to read it directly, bypassing the store,
    /// if it is a local one; checked against its roots first if it is confined (see
    /// [`Location::confined`]).
    pub(crate) fn local_file(&self) -> Option<Result<PathBuf, object_store::Error>> {
        let Backend::Local { fs, roots } = &self.backend else { return None };
        let path = fs.path_to_filesystem(&self.path);
        Some(match (path, roots) {
            (Ok(path), Some(roots)) => {
                roots.check(&path).map(|()| path).map_err(|refused| denied(&self.path, refused))
            }
            (path, _) => path,
        })
    }

    /// This location's path (a directory's or a file's) on the local file system, if it is a
    /// local one.
    pub(crate) fn local_path(&self) -> Option<PathBuf> {
        match &self.backend {
            Backend::Local { fs, .. } => fs.path_to_filesystem(&self.path).ok(),
            Backend::Memory { .. } | Backend::Cloud { .. } => None,
        }
    }

    /// Wraps an error the store reported about this location.
    pub(crate) fn store_error(&self, source: object_store::Error) -> StorageError {
        StorageError::ObjectStore { url: self.url.clone(), error: source }
    }
}

impl std::fmt::Debug for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Location").field(&self.url).finish()
    }
}

/// Whether `text` is a URL scheme (RFC 3986: a letter, then letters, digits, `+`, `-`, `.`).
fn is_scheme(text: &str) -> bool {
    let mut chars = text.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// Whether `name` can be a bucket's: letters, digits, `.`, `-` and `_` (what S3 and GCS allow
/// and more), so that a bucket, which some requests put in the host name, cannot change the host.
pub(crate) fn is_bucket_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

/// Resolves `.` and `..` in an absolute path without touching the file system.
pub(crate) fn normalize(path: &std::path::Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// The process-wide in-memory store called `name`, created on first use.
fn memory_store(name: &str) -> Arc<InMemory> {
    static STORES: OnceLock<Mutex<HashMap<String, Arc<InMemory>>>> = OnceLock::new();
    let mut stores = STORES.get_or_init(Default::default).lock().unwrap_or_else(PoisonError::into_inner);
    Arc::clone(stores.entry(name.to_owned()).or_default())
}

/// The process-wide client of `service` for `bucket` with `options` (its requests counted), built
/// on first use from the service's environment and then `options`.
fn cloud_store(
    service: Service,
    bucket: &str,
    options: &StoreOptions,
) -> Result<Arc<dyn ObjectStore>, object_store::Error> {
    type Key = (Service, String, Vec<(String, String)>);
    static STORES: OnceLock<Mutex<HashMap<Key, Arc<dyn ObjectStore>>>> = OnceLock::new();
    let settings: Vec<(String, String)> =
        options.of(service).map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
    let key = (service, bucket.to_owned(), settings);
    let mut stores = STORES.get_or_init(Default::default).lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(store) = stores.get(&key) {
        return Ok(Arc::clone(store));
    }
    let store = MeteredStore::wrap(match service {
        Service::S3 => Arc::new(
            s3_builder(key.2.iter().map(|(k, v)| (k.as_str(), v.as_str())))?
                .with_bucket_name(bucket)
                .build()?,
        ),
        Service::Gcs => {
            let mut builder = GoogleCloudStorageBuilder::from_env().with_bucket_name(bucket);
            for (name, value) in &key.2 {
                builder = builder.with_config(name.parse()?, value);
            }
            Arc::new(builder.build()?)
        }
    });
    stores.insert(key, Arc::clone(&store));
    Ok(store)
}

/// An S3 client's builder from the standard environment, then `settings` in order.
pub(crate) fn s3_builder<'a>(
    settings: impl Iterator<Item = (&'a str, &'a str)>,
) -> Result<AmazonS3Builder, object_store::Error> {
    let mut builder = AmazonS3Builder::from_env();
    for (name, value) in settings {
        builder = builder.with_config(name.parse()?, value);
    }
    Ok(builder)
}

#[cfg(test)]
mod tests {
    use object_store::ObjectStoreExt;

    use super::*;

    fn parse(url: &str) -> Result<Location, StorageError> {
        Location::parse(url, std::path::Path::new("/jobs/wordcount"))
    }

    fn path_of(url: &str) -> String {
        parse(url).unwrap().path().to_string()
    }

    #[test]
    fn file_urls_and_absolute_paths_name_the_same_place() {
        assert_eq!(path_of("file:///data/in/"), "data/in");
        assert_eq!(path_of("file:///data/in"), "data/in");
        assert_eq!(path_of("file://localhost/data/in"), "data/in");
        assert_eq!(path_of("/data/in/"), "data/in");
        assert_eq!(parse("/data/in/").unwrap().url(), "file:///data/in");
    }

    #[test]
    fn relative_paths_resolve_against_the_base_directory() {
        assert_eq!(path_of("input.csv"), "jobs/wordcount/input.csv");
        assert_eq!(path_of("./in/../data/"), "jobs/wordcount/data");
        assert_eq!(path_of("../shared/x"), "jobs/shared/x");
    }

    #[test]
    fn percent_escapes_are_decoded_and_globs_kept() {
        assert_eq!(path_of("file:///data/my%20dir/x"), "data/my dir/x");
        assert_eq!(path_of("file:///data/part-?.csv"), "data/part-?.csv");
        assert_eq!(path_of("memory://t/in/*.[ct]sv"), "in/*.[ct]sv");
    }

    #[test]
    fn child_appends_one_segment() {
        let out = parse("memory://t/out/").unwrap();
        let part = out.child("_temporary").child("part-00000.csv");
        assert_eq!(part.path().as_ref(), "out/_temporary/part-00000.csv");
        assert_eq!(part.url(), "memory://t/out/_temporary/part-00000.csv");
        assert_eq!(out.child("a/b").path().as_ref(), "out/a%2Fb");
    }

    #[test]
    fn local_path_is_only_known_for_files() {
        assert_eq!(parse("/data/out").unwrap().local_path(), Some(PathBuf::from("/data/out")));
        assert_eq!(parse("memory://t/out").unwrap().local_path(), None);
    }

    #[test]
    fn other_schemes_are_unsupported() {
        for url in ["http://host/x", "hdfs://nn/data", "gcs://bucket/key"] {
            match parse(url) {
                Err(StorageError::UnsupportedScheme { url: named }) => assert_eq!(named, url),
                other => panic!("{url}: {other:?}"),
            }
        }
    }

    #[test]
    fn malformed_urls_are_rejected() {
        for url in
            ["file://host/data", "memory:///in", "memory://t/in%ff", "s3:///key", "gs:///key", "s3://b#x/key"]
        {
            assert!(matches!(parse(url), Err(StorageError::InvalidUrl { .. })), "{url}");
        }
        assert!(matches!(parse("memory://t/a//b"), Err(StorageError::InvalidPath { .. })));
    }

    fn s3_options(secret: &str) -> StoreOptions {
        let mut options = StoreOptions::default();
        options.set(Service::S3, "endpoint", "http://127.0.0.1:9").unwrap();
        options.set(Service::S3, "region", "us-east-1").unwrap();
        options.set(Service::S3, "access_key_id", "flicker").unwrap();
        options.set(Service::S3, "secret_access_key", secret).unwrap();
        options
    }

    #[test]
    fn bucket_urls_name_the_bucket_and_the_key() {
        let options = s3_options("s3cr3t");
        let loc =
            Location::parse_with("s3://bucket/logs/2026-*/part-*.csv", std::path::Path::new("/"), &options);
        let loc = loc.unwrap();
        assert_eq!(loc.path().as_ref(), "logs/2026-*/part-*.csv");
        assert_eq!(loc.url(), "s3://bucket/logs/2026-*/part-*.csv");
        assert_eq!(loc.child("_SUCCESS").url(), "s3://bucket/logs/2026-*/part-*.csv/_SUCCESS");
        let root = Location::parse_with("s3://bucket", std::path::Path::new("/"), &options).unwrap();
        assert!(root.path().is_root());
        assert_eq!(root.local_path(), None);
    }

    #[test]
    fn one_client_per_bucket_and_settings() {
        let base = std::path::Path::new("/");
        let options = s3_options("one-client");
        let a = Location::parse_with("s3://shared/a", base, &options).unwrap();
        let b = Location::parse_with("s3://shared/b/c", base, &options).unwrap();
        assert!(Arc::ptr_eq(a.store(), b.store()), "same bucket, same settings: one client");
        let other_bucket = Location::parse_with("s3://other/a", base, &options).unwrap();
        assert!(!Arc::ptr_eq(a.store(), other_bucket.store()));
        let other_settings = Location::parse_with("s3://shared/a", base, &s3_options("another")).unwrap();
        assert!(!Arc::ptr_eq(a.store(), other_settings.store()));
    }

    #[test]
    fn a_location_never_shows_its_client() {
        let loc =
            Location::parse_with("s3://bucket/in", std::path::Path::new("/"), &s3_options("hunter2-key"))
                .unwrap();
        let shown = format!("{loc:?}");
        assert_eq!(shown, r#"Location("s3://bucket/in")"#);
    }

    #[test]
    fn gcs_takes_an_emulator_service_account_file() {
        let dir = tempfile::tempdir().unwrap();
        let account = dir.path().join("service-account.json");
        std::fs::write(
            &account,
            r#"{"gcs_base_url": "http://127.0.0.1:9", "disable_oauth": true,
                "private_key": "", "private_key_id": "", "client_email": ""}"#,
        )
        .unwrap();
        let mut options = StoreOptions::default();
        options.set(Service::Gcs, "service_account_path", account.to_str().unwrap()).unwrap();
        options.set(Service::Gcs, "allow_http", "true").unwrap();
        let loc = Location::parse_with("gs://bucket/in/", dir.path(), &options).unwrap();
        assert_eq!(loc.url(), "gs://bucket/in");
        // A missing service-account file is a configuration error naming the URL.
        let mut broken = StoreOptions::default();
        broken.set(Service::Gcs, "service_account_path", "/nonexistent/sa.json").unwrap();
        match Location::parse_with("gs://bucket-broken/in", dir.path(), &broken) {
            Err(error @ StorageError::StoreConfig { .. }) => {
                assert!(error.to_string().contains("gs://bucket-broken/in"), "{error}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn the_same_memory_name_gives_the_same_store() {
        let writer = parse("memory://location-test/in/a.txt").unwrap();
        writer.store().put(writer.path(), "hello".into()).await.unwrap();
        let reader = parse("memory://location-test/in/a.txt").unwrap();
        let bytes = reader.store().get(reader.path()).await.unwrap().bytes().await.unwrap();
        assert_eq!(&bytes[..], b"hello");
        let other = parse("memory://location-test-2/in/a.txt").unwrap();
        assert!(other.store().head(other.path()).await.is_err());
    }

    #[tokio::test]
    async fn output_into_a_missing_directory_creates_it() {
        let dir = tempfile::tempdir().unwrap();
        let out = Location::parse("out/deeper/", dir.path()).unwrap().child("x.txt");
        out.store().put(out.path(), "x".into()).await.unwrap();
        assert_eq!(std::fs::read(dir.path().join("out/deeper/x.txt")).unwrap(), b"x");
    }
}
