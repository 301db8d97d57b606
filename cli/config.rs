//! Where the scheduler is and where the TLS files are: flags, then `FLICKER_SCHEDULER` /
//! `FLICKER_TLS_DIR`, then a `cluster.toml` (from `--config`, `FLICKER_CONFIG`, or the current
//! directory). The same file's `[storage.s3]` / `[storage.gs]` tables set up the cloud stores
//! of the processes that read or write data, a node's `allowed_local_roots` and
//! `allowed_locations` say what its jobs may reach (see `crate::policy`), and the scheduler's
//! `[tenants.NAME]` tables declare the tenants sharing the cluster.

use anyhow::{Context, bail};
use flicker_protocol::TenantId;
use flicker_scheduler::{TenantConfig, TenantPolicy, Tenants};
use flicker_storage::{AllowedLocation, Service, StoreOptions};
use flicker_transport::{CertError, certs};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The flags every client and node command shares.
#[derive(clap::Args, Debug, Clone)]
pub struct ClusterArgs {
    /// The scheduler's address (host:port).
    #[arg(long, env = "FLICKER_SCHEDULER")]
    pub scheduler: Option<String>,
    /// Directory holding `ca.pem` and this process's certificate and key.
    #[arg(long, env = "FLICKER_TLS_DIR")]
    pub tls_dir: Option<PathBuf>,
    #[command(flatten)]
    pub file: ConfigFileArgs,
}

/// The `--config` flag of every command that reads the cluster file.
#[derive(clap::Args, Debug, Clone)]
pub struct ConfigFileArgs {
    /// A `cluster.toml` with `scheduler = "host:port"` and `tls_dir = "dir"` for what the flags
    /// and environment leave unset, `[storage.s3]`/`[storage.gs]` settings of the cloud stores,
    /// and (for a node) the `allowed_local_roots` and `allowed_locations` of its jobs
    /// (default: ./cluster.toml when it exists).
    #[arg(long, env = "FLICKER_CONFIG")]
    pub config: Option<PathBuf>,
}

#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ClusterFile {
    scheduler: Option<String>,
    tls_dir: Option<PathBuf>,
    #[serde(default)]
    storage: BTreeMap<String, BTreeMap<String, toml::Value>>,
    #[serde(default)]
    allowed_local_roots: Vec<PathBuf>,
    #[serde(default)]
    allowed_locations: Vec<String>,
    #[serde(default)]
    tenants: BTreeMap<String, TenantTable>,
}

/// A `[tenants.NAME]` table: the tenant's weight and limits (sizes such as `"4GiB"`, durations
/// such as `"2h"`), the cloud locations its jobs may reach and its admins.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct TenantTable {
    #[serde(default = "one")]
    weight: u32,
    max_running_jobs: Option<u32>,
    max_queued_jobs: Option<u32>,
    max_slots: Option<u32>,
    max_memory: Option<String>,
    max_disk: Option<String>,
    max_cpu_per_job: Option<String>,
    cpu_per_day: Option<String>,
    #[serde(default)]
    allowed_locations: Vec<String>,
    #[serde(default)]
    admins: Vec<String>,
}

fn one() -> u32 {
    1
}

impl TenantTable {
    /// The tenant's config and locations; `name` for the errors.
    fn config(&self, name: &str) -> anyhow::Result<(TenantConfig, Vec<AllowedLocation>)> {
        let at = |key: &str| format!("cluster file: [tenants.{name}] {key}");
        if self.weight == 0 {
            bail!("{}: must be at least 1", at("weight"));
        }
        for (key, value) in [("max_running_jobs", self.max_running_jobs), ("max_slots", self.max_slots)] {
            if value == Some(0) {
                bail!("{}: must be at least 1 (a tenant that may run nothing is not declared)", at(key));
            }
        }
        let size = |key: &str, text: &Option<String>| {
            text.as_deref().map(flicker_manifest::parse_size).transpose().with_context(|| at(key))
        };
        let duration = |key: &str, text: &Option<String>| {
            text.as_deref().map(flicker_manifest::parse_duration).transpose().with_context(|| at(key))
        };
        let locations = self
            .allowed_locations
            .iter()
            .map(|text| text.parse().with_context(|| at("allowed_locations")))
            .collect::<anyhow::Result<_>>()?;
        let config = TenantConfig {
            weight: self.weight,
            max_running_jobs: self.max_running_jobs,
            max_queued_jobs: self.max_queued_jobs,
            max_slots: self.max_slots,
            max_memory: size("max_memory", &self.max_memory)?,
            max_disk: size("max_disk", &self.max_disk)?,
            max_cpu_per_job: duration("max_cpu_per_job", &self.max_cpu_per_job)?,
            cpu_per_day: duration("cpu_per_day", &self.cpu_per_day)?,
            admins: self.admins.iter().cloned().collect(),
        };
        Ok((config, locations))
    }
}

/// What a node's cluster file lets its jobs reach.
pub struct FileAccess {
    /// Its `allowed_local_roots`, relative ones resolved against its directory.
    pub local_roots: Vec<PathBuf>,
    /// Its `allowed_locations`.
    pub locations: Vec<AllowedLocation>,
    /// The file itself, if there is one: it may hold credentials, so no job may read it.
    pub file: Option<PathBuf>,
}

impl ConfigFileArgs {
    /// The cluster file's path, if there is one.
    fn path(&self) -> Option<PathBuf> {
        match &self.config {
            Some(path) => Some(path.clone()),
            None if Path::new("cluster.toml").exists() => Some(PathBuf::from("cluster.toml")),
            None => None,
        }
    }

    /// The cluster file and its directory; an empty one without a file.
    fn load(&self) -> anyhow::Result<(ClusterFile, PathBuf)> {
        let Some(path) = self.path() else { return Ok((ClusterFile::default(), PathBuf::new())) };
        let text =
            std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let file = toml::from_str(&text)
            .with_context(|| format!("{} is not a valid cluster file", path.display()))?;
        Ok((file, path.parent().map(Path::to_path_buf).unwrap_or_default()))
    }

    /// The cloud-store settings of the cluster file's `[storage]` tables (credentials allowed:
    /// the file stays on its node), under which each job's manifest settings go. Relative file
    /// paths (`service_account_path`, …) are resolved against the file's directory.
    pub fn storage(&self) -> anyhow::Result<StoreOptions> {
        let mut options = StoreOptions::default();
        let (file, base) = self.load()?;
        for (table, settings) in &file.storage {
            let service = Service::from_scheme(table).with_context(|| {
                format!("cluster file: unknown table [storage.{table}]; use [storage.s3] or [storage.gs]")
            })?;
            for (key, value) in settings {
                let text = match value {
                    // A file named by a relative path is found next to the cluster file, as `tls_dir`.
                    toml::Value::String(path) if service.names_a_file(key) => {
                        base.join(path).to_str().context("a cluster file path is not UTF-8")?.to_owned()
                    }
                    toml::Value::String(text) => text.clone(),
                    toml::Value::Integer(_) | toml::Value::Boolean(_) => value.to_string(),
                    _ => bail!("cluster file: [storage.{table}] {key} must be a string, integer or boolean"),
                };
                options
                    .set(service, key, text)
                    .with_context(|| format!("cluster file: [storage.{table}] {key}"))?;
            }
        }
        Ok(options)
    }

    /// The tenants its `[tenants.NAME]` tables declare; an open cluster (any tenant, no limit)
    /// without any.
    pub fn tenants(&self) -> anyhow::Result<TenantPolicy> {
        let (file, _) = self.load()?;
        if file.tenants.is_empty() {
            return Ok(TenantPolicy::default());
        }
        let mut declared = BTreeMap::new();
        let mut locations = BTreeMap::new();
        for (name, table) in &file.tenants {
            if !certs::is_valid_name(name) {
                bail!(
                    "cluster file: [tenants.{name}]: {}",
                    CertError::InvalidTenant { tenant: name.clone() }
                );
            }
            let (config, allowed) = table.config(name)?;
            declared.insert(TenantId(name.clone()), config);
            if !allowed.is_empty() {
                locations.insert(TenantId(name.clone()), allowed);
            }
        }
        Ok(TenantPolicy { tenants: Tenants::declared(declared), locations })
    }

    /// The cluster file's `allowed_local_roots` and `allowed_locations`, and the file.
    pub fn access(&self) -> anyhow::Result<FileAccess> {
        let (file, base) = self.load()?;
        let locations = file
            .allowed_locations
            .iter()
            .map(|text| text.parse().with_context(|| "cluster file: allowed_locations"))
            .collect::<anyhow::Result<_>>()?;
        Ok(FileAccess {
            local_roots: file.allowed_local_roots.iter().map(|root| base.join(root)).collect(),
            locations,
            file: self.path(),
        })
    }
}

impl ClusterArgs {
    fn file(&self) -> anyhow::Result<(ClusterFile, PathBuf)> {
        self.file.load()
    }

    /// The scheduler's address.
    pub fn scheduler(&self) -> anyhow::Result<SocketAddr> {
        let text = match &self.scheduler {
            Some(text) => text.clone(),
            None => match self.file()?.0.scheduler {
                Some(text) => text,
                None => bail!(
                    "no scheduler address: pass --scheduler, set FLICKER_SCHEDULER, or put `scheduler` in cluster.toml"
                ),
            },
        };
        resolve(&text)
    }

    /// The TLS directory.
    pub fn tls_dir(&self) -> anyhow::Result<PathBuf> {
        if let Some(dir) = &self.tls_dir {
            return Ok(dir.clone());
        }
        let (file, base) = self.file()?;
        match file.tls_dir {
            Some(dir) => Ok(base.join(dir)),
            None => bail!(
                "no TLS directory: pass --tls-dir, set FLICKER_TLS_DIR, or put `tls_dir` in cluster.toml"
            ),
        }
    }
}

/// A `host:port` as a socket address (the first the name resolves to).
pub fn resolve(text: &str) -> anyhow::Result<SocketAddr> {
    use std::net::ToSocketAddrs;
    text.to_socket_addrs()
        .with_context(|| format!("{text:?} is not a host:port address"))?
        .next()
        .with_context(|| format!("{text:?} resolves to no address"))
}
