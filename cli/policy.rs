//! What the jobs a node runs may reach: `--allow-local-root` and `--allow-location` of
//! `flicker scheduler` and `flicker executor`, added to the `allowed_local_roots` and
//! `allowed_locations` of their cluster file (see `flicker_storage::AccessPolicy`).

use crate::config::ConfigFileArgs;
use flicker_storage::{AccessPolicy, AllowedLocation, NodeStorage};
use std::path::{Path, PathBuf};

/// The flags of a node's data-access policy.
#[derive(clap::Args)]
pub struct PolicyArgs {
    /// A directory whose files (and everything below it) jobs may read and write; repeatable,
    /// and added to `allowed_local_roots` of the cluster file. None by default: every local path
    /// of a job is refused. The node's own directories and files (certificates, state, shuffle
    /// files, cluster file) stay out of reach even below one.
    #[arg(long = "allow-local-root", value_name = "DIR")]
    local_roots: Vec<PathBuf>,
    /// An s3:// or gs:// bucket, or a prefix in one (s3://bucket/prefix), that jobs may read and
    /// write; repeatable, and added to `allowed_locations` of the cluster file. If none is given,
    /// jobs may reach any the node's credentials reach.
    #[arg(long = "allow-location", value_name = "URL")]
    locations: Vec<AllowedLocation>,
}

impl PolicyArgs {
    /// The node's storage: the cloud-store settings of its cluster `file`, and a policy allowing
    /// these flags' and the file's roots and locations, with `own` (the node's own directories,
    /// those it has) and the file itself kept out of every job's reach.
    pub fn node_storage(&self, file: &ConfigFileArgs, own: &[Option<&Path>]) -> anyhow::Result<NodeStorage> {
        let access = file.access()?;
        let mut policy = AccessPolicy::cluster();
        for root in self.local_roots.iter().chain(&access.local_roots) {
            policy = policy.allow_local_root(root)?;
        }
        for location in self.locations.iter().chain(&access.locations) {
            policy = policy.allow_location(location.clone());
        }
        for path in own.iter().copied().flatten().chain(access.file.as_deref()) {
            policy = policy.protect(path)?;
        }
        Ok(NodeStorage { options: file.storage()?, policy })
    }
}
