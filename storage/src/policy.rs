//! Which data a job may reach: a node's data-access policy, [`AccessPolicy`].

use std::fmt;
use std::path::{Path as FsPath, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use object_store::path::Path;

use crate::location::{Location, Place};
use crate::options::{Service, StoreOptions};

/// What a node lets a job's sources and sinks reach.
///
/// A manifest names its sources and sinks by URL, and a node opens them with its own rights: on a
/// cluster, a job could otherwise read whatever the scheduler or an executor may read (system
/// files, the cluster CA's private key) and write wherever they may write. A policy
/// says what a node lets a job reach:
///
/// - **Local paths** only under the directories the node allows (`--allow-local-root`), none by
///   default on a cluster; anywhere for `flicker run`, where the files are the user's own. A path
///   is judged by its canonical form: `..` resolved, and the symbolic links of the part that
///   exists followed (a sink's directory need not exist yet). The node's own directories (its
///   certificates, its state, its shuffle files) stay out of reach even under an allowed root.
///   A location the policy admits is opened through a store that checks every object it touches
///   the same way, so a symbolic link inside an allowed root that points out of it is refused
///   when it is listed, read or written, not followed.
/// - **`memory://`** stores live in one process: they are for tests and `flicker run`, never a
///   cluster's (a job could grow an executor's memory without bound).
/// - **Cloud locations** (`s3://`, `gs://`) anywhere the node's credentials reach, unless the node
///   lists the buckets or prefixes it allows (`--allow-location`).
///
/// [`AccessPolicy::admit`] applies the policy to a [`Location`]: the scheduler when a job is
/// submitted (a refusal names the manifest's line), each executor again when it prepares the job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessPolicy {
    /// The local directories a job may reach, or `None` for anywhere the process may.
    local: Option<Arc<LocalRoots>>,
    /// Whether `memory://` stores are allowed.
    memory: bool,
    /// The cloud locations a job may reach; all of them if empty.
    locations: Vec<AllowedLocation>,
    /// The cloud locations a job of one tenant may reach, within `locations`; no further
    /// restriction if empty.
    narrowed: Vec<AllowedLocation>,
}

impl AccessPolicy {
    /// Everything the process may reach, `memory://` included: `flicker run`'s policy, whose jobs
    /// are the user's own and read and write the user's own files.
    pub fn unrestricted() -> AccessPolicy {
        AccessPolicy { local: None, memory: true, locations: Vec::new(), narrowed: Vec::new() }
    }

    /// A cluster node's policy before its settings: no local path, no `memory://`, and any cloud
    /// location the node's credentials reach.
    pub fn cluster() -> AccessPolicy {
        AccessPolicy {
            local: Some(Arc::default()),
            memory: false,
            locations: Vec::new(),
            narrowed: Vec::new(),
        }
    }

    /// The policy with the directory `root` (which must exist) and everything below it allowed.
    /// An unrestricted policy allows it already and stays as it is.
    pub fn allow_local_root(mut self, root: &FsPath) -> Result<AccessPolicy, PolicyError> {
        let canonical = std::fs::canonicalize(root)
            .map_err(|source| PolicyError::Root { path: root.to_path_buf(), source })?;
        if !canonical.is_dir() {
            let source = std::io::Error::new(std::io::ErrorKind::NotADirectory, "not a directory");
            return Err(PolicyError::Root { path: root.to_path_buf(), source });
        }
        if let Some(local) = &mut self.local {
            Arc::make_mut(local).allowed.push(canonical);
        }
        Ok(self)
    }

    /// The policy with `path` (a directory or a file of the node itself, which need not exist
    /// yet) out of every job's reach, even under an allowed root. An unrestricted policy stays as
    /// it is.
    pub fn protect(mut self, path: &FsPath) -> Result<AccessPolicy, PolicyError> {
        let absolute = std::path::absolute(path)
            .map_err(|source| PolicyError::Protected { path: path.to_path_buf(), source })?;
        let canonical = canonical(&crate::location::normalize(&absolute))
            .map_err(|source| PolicyError::Protected { path: path.to_path_buf(), source })?;
        if let Some(local) = &mut self.local {
            Arc::make_mut(local).protected.push(canonical);
        }
        Ok(self)
    }

    /// The policy with `location` allowed; once one is, cloud locations outside every allowed
    /// one are refused.
    pub fn allow_location(mut self, location: AllowedLocation) -> AccessPolicy {
        self.locations.push(location);
        self
    }

    /// The policy of a tenant's jobs: cloud locations only within `locations` (the tenant's
    /// `allowed_locations`) as well as within the node's; an empty list narrows nothing.
    pub fn narrow_locations(mut self, locations: Vec<AllowedLocation>) -> AccessPolicy {
        self.narrowed = locations;
        self
    }

    /// `location` if this policy lets a job reach it. A local location is returned opened
    /// through a store that checks every object it touches against the policy, so a symbolic
    /// link below it cannot lead a job out of its allowed roots. Makes no request but looks at
    /// the local file system.
    pub fn admit(&self, location: Location) -> Result<Location, AccessRefused> {
        match location.place() {
            Place::Local(path) => match &self.local {
                None => Ok(location),
                Some(roots) => {
                    let path = path.ok_or_else(|| AccessRefused::Unresolvable {
                        path: PathBuf::from(location.url()),
                        source: std::io::Error::other("not a file system path"),
                    })?;
                    roots.check(&path)?;
                    Ok(location.confined(Arc::clone(roots)))
                }
            },
            Place::Memory if self.memory => Ok(location),
            Place::Memory => Err(AccessRefused::Memory { url: location.url().to_owned() }),
            Place::Cloud { service, bucket } => {
                let within = |list: &[AllowedLocation]| {
                    list.is_empty()
                        || list.iter().any(|allowed| allowed.contains(service, bucket, location.path()))
                };
                match [&self.locations, &self.narrowed].into_iter().find(|list| !within(list)) {
                    None => Ok(location),
                    Some(list) => Err(AccessRefused::OutsideLocations {
                        url: location.url().to_owned(),
                        allowed: list.iter().map(ToString::to_string).collect(),
                    }),
                }
            }
        }
    }
}

/// A node's storage: the settings of its cloud stores' clients, under which each job's own go,
/// and what its jobs may reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeStorage {
    /// The settings of the cloud stores' clients.
    pub options: StoreOptions,
    /// What jobs may reach.
    pub policy: AccessPolicy,
}

impl NodeStorage {
    /// `flicker run`'s storage: `options`, and everything the process may reach.
    pub fn unrestricted(options: StoreOptions) -> NodeStorage {
        NodeStorage { options, policy: AccessPolicy::unrestricted() }
    }
}

/// The local directories a cluster node lets jobs reach, all canonical.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct LocalRoots {
    /// A path under one of these is allowed…
    allowed: Vec<PathBuf>,
    /// …unless it is under one of these: the node's own files.
    protected: Vec<PathBuf>,
}

impl LocalRoots {
    /// Checks that `path` (absolute, without `.` or `..`) leads under an allowed root and not
    /// into a protected directory, once its symbolic links are followed.
    pub(crate) fn check(&self, path: &FsPath) -> Result<(), AccessRefused> {
        if self.allowed.is_empty() {
            return Err(AccessRefused::NoLocalAccess { path: path.to_path_buf() });
        }
        let resolved = canonical(path)
            .map_err(|source| AccessRefused::Unresolvable { path: path.to_path_buf(), source })?;
        if let Some(dir) = self.protected.iter().find(|dir| resolved.starts_with(dir)) {
            return Err(AccessRefused::Protected { path: path.to_path_buf(), dir: dir.clone() });
        }
        if self.allowed.iter().any(|root| resolved.starts_with(root)) {
            Ok(())
        } else {
            Err(AccessRefused::OutsideRoots {
                path: path.to_path_buf(),
                resolved,
                roots: self.allowed.clone(),
            })
        }
    }
}

/// The canonical form of `path` (absolute, without `.` or `..`): its longest existing prefix with
/// every symbolic link followed, then the rest as written. The rest does not exist yet, so no
/// link in it can lead elsewhere; but a dangling link (which a write would follow to create its
/// target) is an error rather than a name to append to.
pub(crate) fn canonical(path: &FsPath) -> std::io::Result<PathBuf> {
    let mut existing = path;
    let mut missing = Vec::new();
    loop {
        match std::fs::canonicalize(existing) {
            Ok(mut resolved) => {
                resolved.extend(missing.iter().rev());
                return Ok(resolved);
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                if std::fs::symlink_metadata(existing).is_ok() {
                    let message = format!("{} is a symbolic link to nothing", existing.display());
                    return Err(std::io::Error::new(std::io::ErrorKind::NotFound, message));
                }
                match (existing.parent(), existing.file_name()) {
                    (Some(parent), Some(name)) => {
                        missing.push(name);
                        existing = parent;
                    }
                    _ => return Err(error),
                }
            }
            Err(error) => return Err(error),
        }
    }
}

/// A cloud location a node lets jobs reach: a bucket, or a prefix in one
/// (`s3://bucket`, `gs://bucket/prefix`); parsed from that text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedLocation {
    service: Service,
    bucket: String,
    prefix: Path,
}

impl AllowedLocation {
    /// Whether the object, prefix or glob `path` of `bucket` in `service` lies in this location.
    /// A glob is only inside if its literal start is: `s3://b/logs/*` is inside `s3://b/logs`,
    /// `s3://b/lo*` is not.
    fn contains(&self, service: Service, bucket: &str, path: &Path) -> bool {
        self.service == service && self.bucket == bucket && path.prefix_matches(&self.prefix)
    }
}

impl FromStr for AllowedLocation {
    type Err = PolicyError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = |reason| PolicyError::Location { text: text.to_owned(), reason };
        let (scheme, rest) = text.split_once("://").ok_or_else(|| invalid("write s3://bucket/prefix"))?;
        let service = Service::from_scheme(scheme).ok_or_else(|| invalid("the schemes are s3 and gs"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if !crate::location::is_bucket_name(bucket) {
            return Err(invalid("a bucket name is letters, digits, '.', '-' and '_'"));
        }
        let prefix = Path::parse(prefix).map_err(|_| invalid("the prefix is no object path"))?;
        Ok(AllowedLocation { service, bucket: bucket.to_owned(), prefix })
    }
}

impl fmt::Display for AllowedLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.service, self.bucket)?;
        if !self.prefix.is_root() {
            write!(f, "/{}", self.prefix)?;
        }
        Ok(())
    }
}

/// Why a node's policy cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// An allowed local root is no directory that can be resolved.
    #[error("cannot allow {} as a local root: {source}; give an existing directory", path.display())]
    Root {
        /// The root as given.
        path: PathBuf,
        /// Why it cannot be resolved.
        source: std::io::Error,
    },
    /// A directory of the node cannot be resolved, so it could not be kept from jobs.
    #[error("cannot resolve {}, to keep it out of jobs' reach: {source}", path.display())]
    Protected {
        /// The directory as given.
        path: PathBuf,
        /// Why it cannot be resolved.
        source: std::io::Error,
    },
    /// An allowed cloud location is malformed.
    #[error("`{text}` is not a cloud location to allow: {reason}")]
    Location {
        /// The text as given.
        text: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// Why a node's policy refuses a source or sink.
#[derive(Debug, thiserror::Error)]
pub enum AccessRefused {
    /// The node allows no local path.
    #[error(
        "{} is a local path, and this cluster lets jobs reach none: start its scheduler and executors with --allow-local-root DIR (or allowed_local_roots in their cluster.toml) to allow a directory, or use an s3:// or gs:// location",
        path.display()
    )]
    NoLocalAccess {
        /// The path.
        path: PathBuf,
    },
    /// The path leads outside every allowed root.
    #[error(
        "{} is outside the local directories this cluster lets jobs reach{}: {}; move the data under one of them, or ask for its directory to be allowed (--allow-local-root)",
        path.display(),
        if path == resolved { String::new() } else { format!(" (it leads to {})", resolved.display()) },
        roots.iter().map(|root| root.display().to_string()).collect::<Vec<_>>().join(", ")
    )]
    OutsideRoots {
        /// The path.
        path: PathBuf,
        /// Where it leads once its symbolic links are followed.
        resolved: PathBuf,
        /// The allowed roots.
        roots: Vec<PathBuf>,
    },
    /// The path leads into a directory of the node itself.
    #[error(
        "{} leads into {}, which holds the node's own files (certificates, state or shuffle data) and no job may reach",
        path.display(),
        dir.display()
    )]
    Protected {
        /// The path.
        path: PathBuf,
        /// The node's directory it leads into.
        dir: PathBuf,
    },
    /// The path cannot be resolved, so where it leads is unknown.
    #[error("cannot tell where {} leads: {source}", path.display())]
    Unresolvable {
        /// The path.
        path: PathBuf,
        /// Why it cannot be resolved.
        source: std::io::Error,
    },
    /// `memory://` on a cluster.
    #[error(
        "{url}: memory:// stores live inside one process and are for tests and `flicker run`; a cluster's jobs use files under an allowed directory or s3:// and gs:// locations"
    )]
    Memory {
        /// The location.
        url: String,
    },
    /// The cloud location lies outside every allowed one.
    #[error(
        "{url} is outside the cloud locations this cluster lets jobs reach: {}; use one of them, or ask for this one to be allowed (--allow-location)",
        allowed.join(", ")
    )]
    OutsideLocations {
        /// The location.
        url: String,
        /// The allowed locations.
        allowed: Vec<String>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// A directory `root` with `root/data/in.txt`, and a policy allowing `root/data` only.
    struct Tree {
        dir: tempfile::TempDir,
        policy: AccessPolicy,
    }

    impl Tree {
        fn new() -> Tree {
            let dir = tempfile::tempdir().unwrap();
            std::fs::create_dir_all(dir.path().join("data")).unwrap();
            std::fs::write(dir.path().join("data/in.txt"), "x\n").unwrap();
            std::fs::create_dir_all(dir.path().join("secret")).unwrap();
            std::fs::write(dir.path().join("secret/key"), "k\n").unwrap();
            let policy = AccessPolicy::cluster().allow_local_root(&dir.path().join("data")).unwrap();
            Tree { dir, policy }
        }

        fn path(&self, relative: &str) -> String {
            format!("{}/{relative}", self.dir.path().display())
        }

        fn admit(&self, url: &str) -> Result<Location, AccessRefused> {
            self.policy.admit(Location::parse(url, self.dir.path()).unwrap())
        }
    }

    #[test]
    fn paths_under_an_allowed_root_are_admitted_even_before_they_exist() {
        let tree = Tree::new();
        for url in ["data/in.txt", "data/", "data/*.txt", "data/out/deeper/", "secret/../data/in.txt"] {
            assert!(tree.admit(url).is_ok(), "{url}");
        }
        assert!(tree.admit(&format!("file://{}", tree.path("data/new"))).is_ok());
    }

    #[test]
    fn paths_outside_every_root_are_refused_with_where_they_lead() {
        let tree = Tree::new();
        for url in ["secret/key", "data/../secret/key", "/etc/passwd", "data2", "*/in.txt", "."] {
            assert!(matches!(tree.admit(url), Err(AccessRefused::OutsideRoots { .. })), "{url}");
        }
        let refused = tree.admit("data/../secret/key").unwrap_err();
        assert!(refused.to_string().contains("--allow-local-root"), "{refused}");
    }

    #[test]
    fn symbolic_links_are_judged_by_where_they_lead() {
        let tree = Tree::new();
        symlink(tree.dir.path().join("secret"), tree.dir.path().join("data/link")).unwrap();
        symlink(tree.dir.path().join("data"), tree.dir.path().join("inside")).unwrap();
        symlink(tree.dir.path().join("nowhere/x"), tree.dir.path().join("data/dangling")).unwrap();
        // A link in an allowed root leading out is refused, in the URL or below it.
        match tree.admit("data/link/key") {
            Err(AccessRefused::OutsideRoots { resolved, .. }) => {
                assert_eq!(resolved, std::fs::canonicalize(tree.dir.path().join("secret/key")).unwrap())
            }
            other => panic!("{other:?}"),
        }
        assert!(tree.admit("data/link/new/out/").is_err());
        // A link from outside leading into an allowed root is fine.
        assert!(tree.admit("inside/in.txt").is_ok());
        // A dangling link would be followed by a write: refused.
        assert!(matches!(tree.admit("data/dangling"), Err(AccessRefused::Unresolvable { .. })));
    }

    #[tokio::test]
    async fn an_admitted_location_refuses_what_a_link_below_it_leads_to() {
        use futures::TryStreamExt;
        use object_store::ObjectStoreExt;
        let tree = Tree::new();
        symlink(tree.dir.path().join("secret/key"), tree.dir.path().join("data/key.txt")).unwrap();
        let data = tree.admit("data/").unwrap();
        // Listing the root meets the link and refuses it rather than read through it.
        let listed: Result<Vec<_>, _> = data.store().list(Some(data.path())).try_collect().await;
        assert!(matches!(listed, Err(object_store::Error::PermissionDenied { .. })), "{listed:?}");
        let key = data.child("key.txt");
        let read = key.store().get(key.path()).await;
        assert!(matches!(read, Err(object_store::Error::PermissionDenied { .. })), "{:?}", read.err());
        // Reading a split, which opens a local file directly, is refused too.
        let split = crate::Split { object: key.path().clone(), object_size: 2, start: 0, end: 2 };
        match crate::SplitReader::open(&data, &split, 1024).await {
            Err(crate::StorageError::ObjectStore {
                error: object_store::Error::PermissionDenied { .. },
                ..
            }) => {}
            other => panic!("{:?}", other.err()),
        }
        let written = key.store().put(key.path(), "overwritten".into()).await;
        assert!(matches!(written, Err(object_store::Error::PermissionDenied { .. })), "{written:?}");
        assert_eq!(std::fs::read_to_string(tree.dir.path().join("secret/key")).unwrap(), "k\n");
        // What lies inside the root is read and written as usual.
        let fine = data.child("in.txt");
        assert_eq!(&fine.store().get(fine.path()).await.unwrap().bytes().await.unwrap()[..], b"x\n");
        let new = data.child("new.txt");
        new.store().put(new.path(), "y".into()).await.unwrap();
    }

    #[test]
    fn a_nodes_own_directories_stay_out_of_reach_under_an_allowed_root() {
        let tree = Tree::new();
        let policy = AccessPolicy::cluster()
            .allow_local_root(tree.dir.path())
            .unwrap()
            .protect(&tree.dir.path().join("secret"))
            .unwrap()
            .protect(&tree.dir.path().join("state-not-yet-made"))
            .unwrap();
        let admit = |url: &str| policy.admit(Location::parse(url, tree.dir.path()).unwrap());
        assert!(admit("data/in.txt").is_ok());
        assert!(matches!(admit("secret/key"), Err(AccessRefused::Protected { .. })));
        assert!(matches!(admit("state-not-yet-made/x"), Err(AccessRefused::Protected { .. })));
    }

    #[test]
    fn a_cluster_allows_no_local_path_nor_memory_until_told() {
        let base = FsPath::new("/");
        let cluster = AccessPolicy::cluster();
        let refused = cluster.admit(Location::parse("/tmp/x", base).unwrap()).unwrap_err();
        assert!(matches!(refused, AccessRefused::NoLocalAccess { .. }), "{refused:?}");
        assert!(refused.to_string().contains("--allow-local-root DIR"), "{refused}");
        let refused = cluster.admit(Location::parse("memory://t/x", base).unwrap()).unwrap_err();
        assert!(matches!(refused, AccessRefused::Memory { .. }), "{refused:?}");
        let local = AccessPolicy::unrestricted();
        for url in ["/etc/passwd", "memory://t/x"] {
            let location = Location::parse(url, base).unwrap();
            let store = Arc::clone(location.store());
            let admitted = local.admit(location).unwrap();
            assert!(Arc::ptr_eq(&store, admitted.store()), "{url}: opened as it is");
        }
    }

    #[test]
    fn allowed_roots_must_be_directories() {
        let tree = Tree::new();
        for root in [tree.dir.path().join("missing"), tree.dir.path().join("data/in.txt")] {
            let error = AccessPolicy::cluster().allow_local_root(&root).unwrap_err();
            assert!(matches!(error, PolicyError::Root { .. }), "{error:?}");
        }
    }

    #[test]
    fn cloud_locations_are_free_unless_some_are_listed() {
        let base = FsPath::new("/");
        let mut options = StoreOptions::default();
        options.set(Service::S3, "endpoint", "http://127.0.0.1:9").unwrap();
        options.set(Service::S3, "region", "us-east-1").unwrap();
        let location = |url: &str| Location::parse_with(url, base, &options).unwrap();
        assert!(AccessPolicy::cluster().admit(location("s3://any/thing")).is_ok());
        let policy = AccessPolicy::cluster()
            .allow_location("s3://logs/2026".parse().unwrap())
            .allow_location("gs://whole".parse().unwrap());
        for url in ["s3://logs/2026", "s3://logs/2026/", "s3://logs/2026/03/*.csv"] {
            assert!(policy.admit(location(url)).is_ok(), "{url}");
        }
        for url in ["s3://logs/2025", "s3://logs/2026x", "s3://logs/20*", "s3://logs", "s3://other/2026"] {
            let refused = policy.admit(location(url)).unwrap_err();
            assert!(matches!(refused, AccessRefused::OutsideLocations { .. }), "{url}: {refused:?}");
            assert!(refused.to_string().contains("s3://logs/2026, gs://whole"), "{refused}");
        }
        // A tenant's locations narrow the node's, never widen them.
        let tenant = policy
            .narrow_locations(vec!["s3://logs/2026/acme".parse().unwrap(), "s3://other".parse().unwrap()]);
        assert!(tenant.admit(location("s3://logs/2026/acme/x.csv")).is_ok());
        for url in ["s3://logs/2026/zeta/x.csv", "gs://whole/a", "s3://other/a"] {
            let refused = tenant.admit(location(url)).unwrap_err();
            assert!(matches!(refused, AccessRefused::OutsideLocations { .. }), "{url}: {refused:?}");
        }
    }

    #[test]
    fn allowed_locations_parse_and_show_as_written() {
        let parsed: AllowedLocation = "s3://bucket/pre/fix/".parse().unwrap();
        assert_eq!(parsed.to_string(), "s3://bucket/pre/fix");
        assert_eq!("gs://b".parse::<AllowedLocation>().unwrap().to_string(), "gs://b");
        for text in ["bucket/prefix", "hdfs://b/x", "s3://", "s3://b#x/y", "s3://b/../x"] {
            assert!(matches!(text.parse::<AllowedLocation>(), Err(PolicyError::Location { .. })), "{text}");
        }
    }
}
