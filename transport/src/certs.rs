//! The cluster's certificates.
//!
//! A cluster has one certificate authority and every process presents a certificate it signed.
//! A certificate names its holder (the subject's common name), the holder's [`Role`] (the
//! subject's organizational unit) and, for a client or an admin, the holder's tenant (the
//! subject's organization): what it may ask of whom is decided from these, request by request
//! ([`Peer`]). A node certificate also carries the DNS name of its role
//! ([`Role::server_name`], `scheduler.flicker.cluster`), and a process connects to a peer by the
//! role it expects there, so an address alone never decides whom a process trusts: an executor's
//! certificate cannot pose as the scheduler. Node certificates (scheduler, executor) serve and
//! connect; client certificates only connect.
//!
//! [`init_cluster`] writes the CA, whose key stays in the `ca/` directory (for whoever runs the
//! cluster, never given to a node), the CA's certificate `ca.pem` for the nodes, and one
//! certificate per role; [`issue`] adds more (one per executor, say); [`Identity`] is what a
//! running process loads.

use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedKey, DistinguishedName, DnType, ExtendedKeyUsagePurpose,
    IsCa, Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::CipherSuite;
use rustls::RootCertStore;
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::ClientCertVerifier;
use rustls::sign;

use crate::der;
use flicker_protocol::TenantId;

/// The domain of the DNS names node certificates carry: `<role>.flicker.cluster`.
pub const SERVER_DOMAIN: &str = "flicker.cluster";

/// The common name of the cluster CA.
const CA_NAME: &str = "flicker cluster CA";

/// The file name, without extension, of the cluster CA.
const CA_FILE: &str = "ca";

/// The directory, within a cluster's certificate directory, of the CA's key (and a copy of its
/// certificate): for whoever runs the cluster, not for the nodes.
const CA_DIR: &str = "ca";

/// How long before its creation a certificate is already valid, so a peer whose clock is a little
/// behind accepts it.
const BACKDATE: Duration = Duration::from_secs(24 * 3600);

/// How long a leaf certificate is valid unless `cert issue --days` says otherwise: a year.
pub const DEFAULT_VALIDITY_DAYS: u32 = 365;

/// How long the CA is valid: twenty years, so certificates issued later do not outlive it soon.
const CA_VALIDITY: Duration = Duration::from_secs(7305 * 24 * 3600);

/// What a certificate allows its holder to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The scheduler: a node, accepts and opens connections.
    Scheduler,
    /// An executor: a node, accepts and opens connections.
    Executor,
    /// A client (the CLI): only opens connections; a member of a tenant, which owns its jobs.
    Client,
    /// An admin (the CLI of whoever runs the cluster): only opens connections; sees and manages
    /// every tenant's jobs.
    Admin,
}

impl Role {
    /// Every role, in the order `init_cluster` writes their certificates.
    const ALL: [Role; 4] = [Role::Scheduler, Role::Executor, Role::Client, Role::Admin];

    /// The DNS name a certificate of this role carries, which a process connecting to a peer of
    /// this role asks for: `scheduler.flicker.cluster`, `executor.flicker.cluster`.
    pub fn server_name(self) -> String {
        format!("{}.{SERVER_DOMAIN}", self.name())
    }

    /// The lowercase name of the role, also the file name `init_cluster` gives its certificate.
    fn name(self) -> &'static str {
        match self {
            Role::Scheduler => "scheduler",
            Role::Executor => "executor",
            Role::Client => "client",
            Role::Admin => "admin",
        }
    }

    /// Nodes may serve and connect, clients only connect.
    fn key_usages(self) -> Vec<ExtendedKeyUsagePurpose> {
        match self {
            Role::Scheduler | Role::Executor => {
                vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth]
            }
            Role::Client | Role::Admin => vec![ExtendedKeyUsagePurpose::ClientAuth],
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Role {
    type Err = CertError;

    fn from_str(role: &str) -> Result<Self, CertError> {
        Role::ALL
            .into_iter()
            .find(|known| known.name() == role)
            .ok_or_else(|| CertError::UnknownRole { role: role.to_owned() })
    }
}

/// A certificate that cannot be created, read or used.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// A certificate name with characters other than letters, digits, `-` and `_`.
    #[error("invalid certificate name {name:?}: use only letters, digits, '-' and '_' (at most 64)")]
    InvalidName {
        /// The name given.
        name: String,
    },
    /// A tenant name with characters other than letters, digits, `-` and `_`.
    #[error("invalid tenant name {tenant:?}: use only letters, digits, '-' and '_' (at most 64)")]
    InvalidTenant {
        /// The name given.
        tenant: String,
    },
    /// A tenant given to a node's certificate: only clients and admins belong to tenants.
    #[error("a {role} certificate belongs to no tenant: only client and admin certificates name one")]
    NodeTenant {
        /// The node's role.
        role: Role,
    },
    /// A role name that is not `scheduler`, `executor`, `client` or `admin`.
    #[error("unknown role {role:?}: expected scheduler, executor, client or admin")]
    UnknownRole {
        /// The name given.
        role: String,
    },
    /// A certificate whose serial number cannot be read.
    #[error("{certificate} has no readable serial number")]
    NoSerial {
        /// The certificate file.
        certificate: PathBuf,
    },
    /// A revocation list that cannot be read.
    #[error("cannot read the revocation list {path}: {source}")]
    Revocations {
        /// The file.
        path: PathBuf,
        /// Why.
        source: pem::Error,
    },
    /// A certificate that names no role (one issued before roles existed).
    #[error(
        "{certificate} names no role (it was issued before flicker checked roles): issue a new one with `flicker cert issue`"
    )]
    NoRole {
        /// The certificate file.
        certificate: PathBuf,
    },
    /// A file that would be overwritten.
    #[error("{path} already exists: refusing to overwrite it")]
    Exists {
        /// The file.
        path: PathBuf,
    },
    /// A file or directory that cannot be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A PEM file that is missing, unreadable or holds no item of the expected kind.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: pem::Error,
    },
    /// A CA key file whose key cannot sign.
    #[error("{path} does not hold a usable CA key: {source}")]
    Key {
        /// The key file.
        path: PathBuf,
        /// Why.
        source: rcgen::Error,
    },
    /// A certificate that is not signed by the cluster CA, or whose key does not belong to it.
    #[error("{certificate} is not a valid identity for the cluster CA {ca}: {source}")]
    Invalid {
        /// The certificate file.
        certificate: PathBuf,
        /// The CA certificate file.
        ca: PathBuf,
        /// What TLS found wrong.
        source: rustls::Error,
    },
    /// Generating a key or certificate failed.
    #[error("cannot generate a certificate: {source}")]
    Generate {
        /// Why.
        #[from]
        source: rcgen::Error,
    },
    /// The in-memory certificates of an [`EphemeralCa`] are not usable by TLS.
    #[error("cannot use throwaway certificates: {source}")]
    Throwaway {
        /// What TLS found wrong.
        source: rustls::Error,
    },
}

/// Creates a cluster in `dir` (created if needed): the CA, its key in `<dir>/ca/` (`ca.pem`,
/// `ca.key`: for whoever runs the cluster, never for a node) and its certificate as
/// `<dir>/ca.pem` for the nodes, and one certificate per role, `scheduler`, `executor` and
/// `client`, each as `<name>.pem` and `<name>.key`, valid for [`DEFAULT_VALIDITY_DAYS`]. Refuses to
/// overwrite any of these files. Key files are readable by their owner only.
pub fn init_cluster(dir: &Path) -> Result<(), CertError> {
    let ca_dir = dir.join(CA_DIR);
    fs::create_dir_all(&ca_dir).map_err(|source| CertError::Write { path: ca_dir.clone(), source })?;
    let leaves = Role::ALL.map(Role::name).into_iter().flat_map(|name| file_pair(dir, name));
    let mut files: Vec<PathBuf> = file_pair(&ca_dir, CA_FILE).into_iter().chain(leaves).collect();
    files.push(dir.join(format!("{CA_FILE}.pem")));
    refuse_existing(&files)?;
    let (ca, ca_pem) = Ca::generate()?;
    write_pair(&ca_dir, CA_FILE, &ca_pem, ca.issuer.key())?;
    write_new(&dir.join(format!("{CA_FILE}.pem")), &ca_pem, false)?;
    for role in Role::ALL {
        let leaf = ca.issue(role.name(), role, None, DEFAULT_VALIDITY_DAYS)?;
        write_pair(dir, role.name(), &leaf.cert.pem(), &leaf.signing_key)?;
    }
    Ok(())
}

/// Issues a certificate named `name` for `role` (and, for a client or an admin, a member of
/// `tenant`), valid for `days` days, signed by the CA of the cluster in `dir` (its key in
/// `<dir>/ca/`, or in `<dir>` for a cluster made before), as `<name>.pem` and `<name>.key` in
/// `dir`. Returns the path of the certificate. `name` and `tenant` must be made of letters,
/// digits, `-` and `_`, and the files must not exist yet.
pub fn issue(
    dir: &Path,
    name: &str,
    role: Role,
    tenant: Option<&str>,
    days: u32,
) -> Result<PathBuf, CertError> {
    if !is_valid_name(name) {
        return Err(CertError::InvalidName { name: name.to_owned() });
    }
    if let Some(tenant) = tenant {
        if !is_valid_name(tenant) {
            return Err(CertError::InvalidTenant { tenant: tenant.to_owned() });
        }
        if matches!(role, Role::Scheduler | Role::Executor) {
            return Err(CertError::NodeTenant { role });
        }
    }
    refuse_existing(&file_pair(dir, name))?;
    let ca = Ca::load(dir)?;
    let leaf = ca.issue(name, role, tenant, days)?;
    write_pair(dir, name, &leaf.cert.pem(), &leaf.signing_key)
}

/// Whether `name` is a valid certificate or tenant name: 1 to 64 letters, digits, `-` and `_`.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The file, in a cluster's certificate directory, of its revocation list: nodes load it.
const CRL_FILE: &str = "crl.pem";

/// The file, in the CA's directory, listing what was revoked: a line per certificate, its serial
/// number in hex and its name.
const REVOKED_FILE: &str = "revoked.txt";

/// Revokes the certificate `<dir>/<name>.pem` of the cluster in `dir`: adds it to the list in
/// `<dir>/ca/` and writes the revocation list, signed by the CA, as `<dir>/crl.pem`, which the
/// nodes load when they start and check every peer's certificate against. Returns the list's
/// path. Revoking a certificate twice changes nothing.
pub fn revoke(dir: &Path, name: &str) -> Result<PathBuf, CertError> {
    let [certificate_path, _] = file_pair(dir, name);
    let certificate: CertificateDer<'static> = read_pem(&certificate_path)?;
    let serial = der::serial_number(&certificate)
        .ok_or_else(|| CertError::NoSerial { certificate: certificate_path.clone() })?;
    let ca = Ca::load(dir)?;
    let list_path = ca.home.join(REVOKED_FILE);
    let listed = match fs::read_to_string(&list_path) {
        Ok(text) => text,
        Err(error) if error.kind() == io::ErrorKind::NotFound => String::new(),
        Err(source) => return Err(CertError::Write { path: list_path, source }),
    };
    let mut serials: Vec<Vec<u8>> =
        listed.lines().filter_map(|line| hex_serial(line.split(' ').next()?)).collect();
    if !serials.contains(&serial) {
        serials.push(serial.clone());
        let line = format!("{} {name}\n", serial.iter().map(|b| format!("{b:02x}")).collect::<String>());
        replace_file(&list_path, &(listed + &line))?;
    }
    let now = now();
    let crl = rcgen::CertificateRevocationListParams {
        this_update: now,
        next_update: now + CA_VALIDITY,
        crl_number: rcgen::SerialNumber::from(serials.len() as u64),
        issuing_distribution_point: None,
        revoked_certs: serials
            .into_iter()
            .map(|serial| rcgen::RevokedCertParams {
                serial_number: rcgen::SerialNumber::from_slice(&serial),
                revocation_time: now,
                reason_code: None,
                invalidity_date: None,
            })
            .collect(),
        key_identifier_method: rcgen::KeyIdMethod::Sha256,
    }
    .signed_by(&ca.issuer)?;
    let crl_path = dir.join(CRL_FILE);
    replace_file(&crl_path, &crl.pem()?)?;
    Ok(crl_path)
}

/// The bytes of a serial number written in hex.
fn hex_serial(hex: &str) -> Option<Vec<u8>> {
    (hex.len().is_multiple_of(2) && !hex.is_empty()).then(|| {
        (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok()).collect()
    })?
}

/// Writes `contents` to `path` whole: to a temporary file first, renamed over it.
fn replace_file(path: &Path, contents: &str) -> Result<(), CertError> {
    let temporary = path.with_extension("tmp");
    fs::write(&temporary, contents)
        .and_then(|()| fs::rename(&temporary, path))
        .map_err(|source| CertError::Write { path: path.to_owned(), source })
}

/// Makes `out` (created if needed) the directory one node needs, and nothing more: the CA's
/// certificate, the revocation list if there is one, and the node's own certificate and key
/// (`name`), copied from the cluster in `dir`. The CA's key and the other nodes' keys stay
/// behind. Refuses to overwrite a file. Returns `out`.
pub fn bundle(dir: &Path, name: &str, out: &Path) -> Result<PathBuf, CertError> {
    let [certificate, key] = file_pair(dir, name);
    let mut files = vec![(dir.join(format!("{CA_FILE}.pem")), false), (certificate, false), (key, true)];
    let crl = dir.join(CRL_FILE);
    if crl.exists() {
        files.push((crl, false));
    }
    let targets: Vec<PathBuf> =
        files.iter().map(|(path, _)| out.join(path.file_name().unwrap_or_default())).collect();
    refuse_existing(&targets)?;
    fs::create_dir_all(out).map_err(|source| CertError::Write { path: out.to_owned(), source })?;
    for ((source, secret), target) in files.iter().zip(&targets) {
        let contents = fs::read_to_string(source)
            .map_err(|error| CertError::Read { path: source.clone(), source: pem::Error::Io(error) })?;
        write_new(target, &contents, *secret)?;
    }
    Ok(out.to_owned())
}

/// Who the holder of a certificate of the cluster is: the name, the role and the tenant it was
/// issued for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Peer {
    /// The name (`scheduler`, `exec-2`, `alice`).
    pub name: String,
    /// The role.
    pub role: Role,
    /// The tenant its certificate names (a client's or an admin's), if any.
    pub tenant: Option<TenantId>,
}

impl Peer {
    /// The peer a DER-encoded certificate names; `None` when it names no role (or no name).
    pub fn of(certificate: &[u8]) -> Option<Peer> {
        let role = der::organizational_unit(certificate)?.parse().ok()?;
        let tenant = der::organization(certificate).map(TenantId);
        Some(Peer { name: der::common_name(certificate)?, role, tenant })
    }

    /// The tenant it acts for: the one its certificate names, or the default tenant for a client
    /// whose certificate names none; `None` for nodes and for an admin without a tenant.
    pub fn acting_tenant(&self) -> Option<TenantId> {
        match (&self.tenant, self.role) {
            (Some(tenant), _) => Some(tenant.clone()),
            (None, Role::Client) => Some(TenantId::default_tenant()),
            (None, _) => None,
        }
    }
}

impl Peer {
    /// Who `peer` is, for a log line: its role and name, or that its certificate names none.
    pub fn describe(peer: Option<&Peer>) -> String {
        peer.map_or_else(|| "a peer without a role".to_owned(), ToString::to_string)
    }
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {:?}", self.role, self.name)?;
        match &self.tenant {
            Some(tenant) => write!(f, " of tenant {:?}", tenant.0),
            None => Ok(()),
        }
    }
}

/// What a process presents to its peers and whom it trusts: its certificate and key, and the
/// cluster CA. Cheap to clone.
#[derive(Clone)]
pub struct Identity(Arc<IdentityParts>);

struct IdentityParts {
    /// The certificate (alone in its chain: peers know the CA) with its key, ready to sign.
    key: Arc<sign::CertifiedKey>,
    /// Accepts server certificates signed by the cluster CA and not revoked.
    server_verifier: Arc<WebPkiServerVerifier>,
    /// Accepts client certificates signed by the cluster CA and not revoked, refuses everything
    /// else.
    verifier: Arc<dyn ClientCertVerifier>,
    /// The same, but also lets a client without a certificate in (HTTPS, where a bearer token may
    /// stand in for the certificate).
    optional_verifier: Arc<dyn ClientCertVerifier>,
}

impl Identity {
    /// Loads the identity `name` from a cluster directory: `<dir>/<name>.pem`, `<dir>/<name>.key`,
    /// the CA, `<dir>/ca.pem`, and the revocation list `<dir>/crl.pem` if there is one (peers
    /// whose certificate it lists are refused). Checks that the certificate is signed by that
    /// CA, that the key is its key, that it names a role, and that it is not revoked.
    pub fn load(dir: &Path, name: &str) -> Result<Identity, CertError> {
        let [certificate_path, key_path] = file_pair(dir, name);
        let ca_path = dir.join(format!("{CA_FILE}.pem"));
        let certificate = read_pem(&certificate_path)?;
        let key = read_pem(&key_path)?;
        let ca = read_pem(&ca_path)?;
        let crl_path = dir.join(CRL_FILE);
        let crls = if crl_path.exists() {
            CertificateRevocationListDer::pem_file_iter(&crl_path)
                .and_then(|crls| crls.collect::<Result<Vec<_>, _>>())
                .map_err(|source| CertError::Revocations { path: crl_path, source })?
        } else {
            Vec::new()
        };
        let identity = Identity::new(certificate, key, ca, crls).map_err(|source| CertError::Invalid {
            certificate: certificate_path.clone(),
            ca: ca_path,
            source,
        })?;
        match identity.peer() {
            Some(_) => Ok(identity),
            None => Err(CertError::NoRole { certificate: certificate_path }),
        }
    }

    /// The name and role this identity's certificate was issued for.
    pub fn peer(&self) -> Option<Peer> {
        Peer::of(self.0.key.end_entity_cert().ok()?)
    }

    /// The common name of this identity's certificate: the name it was issued for.
    pub fn name(&self) -> Option<String> {
        der::common_name(self.0.key.end_entity_cert().ok()?)
    }

    fn new(
        certificate: CertificateDer<'static>,
        key: PrivateKeyDer<'static>,
        ca: CertificateDer<'static>,
        crls: Vec<CertificateRevocationListDer<'static>>,
    ) -> Result<Identity, rustls::Error> {
        let provider = crypto_provider();
        let key = sign::CertifiedKey::from_der(vec![certificate], key, &provider)?;
        let mut roots = RootCertStore::empty();
        roots.add(ca)?;
        let roots = Arc::new(roots);
        let general = |error: rustls::server::VerifierBuilderError| rustls::Error::General(error.to_string());
        let client_verifier = || {
            WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
                .with_crls(crls.clone())
                .only_check_end_entity_revocation()
        };
        let verifier = client_verifier().build().map_err(general)?;
        let optional_verifier = client_verifier().allow_unauthenticated().build().map_err(general)?;
        let server_verifier = WebPkiServerVerifier::builder_with_provider(roots, provider)
            .with_crls(crls)
            .only_check_end_entity_revocation()
            .build()
            .map_err(general)?;
        verifier.verify_client_cert(key.end_entity_cert()?, &[], UnixTime::now())?;
        Ok(Identity(Arc::new(IdentityParts {
            key: Arc::new(key),
            server_verifier,
            verifier,
            optional_verifier,
        })))
    }

    pub(crate) fn certified_key(&self) -> Arc<sign::CertifiedKey> {
        self.0.key.clone()
    }

    pub(crate) fn server_verifier(&self) -> Arc<WebPkiServerVerifier> {
        self.0.server_verifier.clone()
    }

    pub(crate) fn verifier(&self) -> Arc<dyn ClientCertVerifier> {
        self.0.verifier.clone()
    }

    pub(crate) fn optional_verifier(&self) -> Arc<dyn ClientCertVerifier> {
        self.0.optional_verifier.clone()
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity").field("name", &self.name()).finish_non_exhaustive()
    }
}

/// The one TLS provider of flicker: aws-lc's, with AES-128-GCM the first cipher suite of TLS 1.3
/// (aws-lc's order puts AES-256-GCM first). Both are sound; AES-128 takes 10 rounds per block
/// where AES-256 takes 14, and encryption is a tenth of the CPU of a shuffle fetch on loopback
/// (docs/PERFORMANCE.md). A client offers its suites in this order and a server takes the client's
/// first it supports, so two flicker nodes agree on AES-128-GCM; the others stay for any peer.
pub(crate) fn crypto_provider() -> Arc<CryptoProvider> {
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    provider.cipher_suites.sort_by_key(|suite| suite.suite() != CipherSuite::TLS13_AES_128_GCM_SHA256);
    Arc::new(provider)
}

/// A CA that lives in memory only, and the identities it issues: for a cluster inside one
/// process (local mode) and for tests; nothing touches the disk.
pub struct EphemeralCa(Ca);

impl EphemeralCa {
    /// A fresh CA.
    pub fn new() -> Result<Self, CertError> {
        Ok(Self(Ca::generate()?.0))
    }

    /// An identity named `name` in `role`, signed by this CA.
    pub fn identity(&self, name: &str, role: Role) -> Result<Identity, CertError> {
        self.member(name, role, None)
    }

    /// An identity named `name` in `role`, a member of `tenant`, signed by this CA.
    pub fn member(&self, name: &str, role: Role, tenant: Option<&str>) -> Result<Identity, CertError> {
        let leaf = self.0.issue(name, role, tenant, DEFAULT_VALIDITY_DAYS)?;
        self.0.identity(&leaf).map_err(|source| CertError::Throwaway { source })
    }
}

/// The cluster CA, ready to sign.
struct Ca {
    certificate: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
    /// The directory of its key.
    home: PathBuf,
}

impl Ca {
    /// A new CA, with its certificate in PEM.
    fn generate() -> Result<(Ca, String), CertError> {
        let key = KeyPair::generate()?;
        let params = ca_params();
        let certificate = params.self_signed(&key)?;
        Ok((
            Ca {
                certificate: certificate.der().clone(),
                issuer: Issuer::new(params, key),
                home: PathBuf::new(),
            },
            certificate.pem(),
        ))
    }

    /// The CA of the cluster in `dir`: its key in `<dir>/ca/`, or in `dir` itself for a cluster
    /// made before the key had a directory of its own. The issuer's name is rebuilt from
    /// [`ca_params`], as [`init_cluster`] wrote it, so no X.509 parser is needed.
    fn load(dir: &Path) -> Result<Ca, CertError> {
        let ca_dir = dir.join(CA_DIR);
        let home = if ca_dir.join(format!("{CA_FILE}.key")).exists() { ca_dir } else { dir.to_owned() };
        let [certificate_path, key_path] = file_pair(&home, CA_FILE);
        let home = home.clone();
        let certificate = read_pem(&certificate_path)?;
        let key = KeyPair::try_from(&read_pem::<PrivateKeyDer<'static>>(&key_path)?)
            .map_err(|source| CertError::Key { path: key_path, source })?;
        Ok(Ca { certificate, issuer: Issuer::new(ca_params(), key), home })
    }

    /// A new certificate and key for `name` in `role`, valid for `days` days: the name as its
    /// common name, the role as its organizational unit, the tenant (if any) as its organization,
    /// and for a node the DNS name of its role.
    fn issue(
        &self,
        name: &str,
        role: Role,
        tenant: Option<&str>,
        days: u32,
    ) -> Result<CertifiedKey<KeyPair>, CertError> {
        let server_names = match role {
            Role::Scheduler | Role::Executor => vec![role.server_name()],
            Role::Client | Role::Admin => Vec::new(),
        };
        let mut params = CertificateParams::new(server_names)?;
        params.distinguished_name = common_name(name);
        params.distinguished_name.push(DnType::OrganizationalUnitName, role.name());
        if let Some(tenant) = tenant {
            params.distinguished_name.push(DnType::OrganizationName, tenant);
        }
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = role.key_usages();
        set_validity(&mut params, Duration::from_secs(u64::from(days) * 24 * 3600));
        let signing_key = KeyPair::generate()?;
        let cert = params.signed_by(&signing_key, &self.issuer)?;
        Ok(CertifiedKey { cert, signing_key })
    }

    /// The identity of a certificate this CA issued, without going through files.
    fn identity(&self, leaf: &CertifiedKey<KeyPair>) -> Result<Identity, rustls::Error> {
        let key = PrivateKeyDer::Pkcs8(leaf.signing_key.serialize_der().into());
        Identity::new(leaf.cert.der().clone(), key, self.certificate.clone(), Vec::new())
    }
}

/// The parameters of the cluster CA; signing only needs its name and key usages to be stable.
fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = common_name(CA_NAME);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages =
        vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    set_validity(&mut params, CA_VALIDITY);
    params
}

fn common_name(name: &str) -> DistinguishedName {
    let mut distinguished_name = DistinguishedName::new();
    distinguished_name.push(DnType::CommonName, name);
    distinguished_name
}

/// Makes `params` valid from a day ago for `validity` from now.
fn set_validity(params: &mut CertificateParams, validity: Duration) {
    let now = now();
    params.not_before = now - BACKDATE;
    params.not_after = now + validity;
}

/// Now, as certificates put it. A clock set before 1970 is not worth an error: it reads 1970.
fn now() -> time::OffsetDateTime {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    rcgen::date_time_ymd(1970, 1, 1) + since_epoch
}

/// `<dir>/<name>.pem` and `<dir>/<name>.key`.
fn file_pair(dir: &Path, name: &str) -> [PathBuf; 2] {
    ["pem", "key"].map(|extension| dir.join(format!("{name}.{extension}")))
}

fn refuse_existing(paths: &[PathBuf]) -> Result<(), CertError> {
    match paths.iter().find(|path| path.exists()) {
        Some(path) => Err(CertError::Exists { path: path.clone() }),
        None => Ok(()),
    }
}

/// Writes `<dir>/<name>.key` (owner-only) and `<dir>/<name>.pem`; returns the certificate's path.
fn write_pair(dir: &Path, name: &str, certificate_pem: &str, key: &KeyPair) -> Result<PathBuf, CertError> {
    let [certificate_path, key_path] = file_pair(dir, name);
    write_new(&key_path, &key.serialize_pem(), true)?;
    write_new(&certificate_path, certificate_pem, false)?;
    Ok(certificate_path)
}

/// Creates `path` with `contents`, failing if it exists.
fn write_new(path: &Path, contents: &str, secret: bool) -> Result<(), CertError> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    if secret {
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    }
    #[cfg(not(unix))]
    let _ = secret;
    let written = options.open(path).and_then(|mut file| file.write_all(contents.as_bytes()));
    written.map_err(|source| match source.kind() {
        io::ErrorKind::AlreadyExists => CertError::Exists { path: path.to_owned() },
        _ => CertError::Write { path: path.to_owned(), source },
    })
}

fn read_pem<T: PemObject>(path: &Path) -> Result<T, CertError> {
    T::from_pem_file(path).map_err(|source| CertError::Read { path: path.to_owned(), source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_print_and_parse() {
        for role in Role::ALL {
            assert_eq!(role.to_string().parse::<Role>().unwrap(), role);
        }
        assert_eq!(Role::Executor.to_string(), "executor");
        assert!(matches!("root".parse::<Role>(), Err(CertError::UnknownRole { role }) if role == "root"));
    }

    #[test]
    fn init_writes_every_file_once() {
        let dir = tempfile::tempdir().unwrap();
        let cluster = dir.path().join("cluster");
        init_cluster(&cluster).unwrap();
        for name in ["scheduler", "executor", "client", "admin"] {
            for path in file_pair(&cluster, name) {
                assert!(path.is_file(), "{} missing", path.display());
            }
        }
        assert!(cluster.join("ca.pem").is_file());
        assert!(cluster.join("ca").join("ca.key").is_file());
        assert!(!cluster.join("ca.key").exists(), "the CA key is not where the nodes' files are");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(cluster.join("ca").join("ca.key")).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        match init_cluster(&cluster) {
            Err(CertError::Exists { path }) => assert_eq!(path, cluster.join("ca").join("ca.pem")),
            other => panic!("expected Exists, got {other:?}"),
        }
        for role in Role::ALL {
            let name = role.to_string();
            let identity = Identity::load(&cluster, &name).unwrap();
            assert_eq!(identity.peer(), Some(Peer { name, role, tenant: None }));
        }
    }

    #[test]
    fn issue_checks_names_and_existing_files() {
        let dir = tempfile::tempdir().unwrap();
        init_cluster(dir.path()).unwrap();
        for bad in ["", "../x", "a b", "x.y", "é"] {
            assert!(matches!(
                issue(dir.path(), bad, Role::Executor, None, 30),
                Err(CertError::InvalidName { .. })
            ));
        }
        let path = issue(dir.path(), "exec_2", Role::Executor, None, 30).unwrap();
        assert_eq!(path, dir.path().join("exec_2.pem"));
        let peer = Identity::load(dir.path(), "exec_2").unwrap().peer();
        assert_eq!(peer, Some(Peer { name: "exec_2".into(), role: Role::Executor, tenant: None }));
        assert!(matches!(issue(dir.path(), "exec_2", Role::Client, None, 30), Err(CertError::Exists { .. })));
        assert!(matches!(issue(dir.path(), "ca", Role::Client, None, 30), Err(CertError::Exists { .. })));
    }

    #[test]
    fn a_client_or_an_admin_certificate_carries_its_tenant_and_a_nodes_none() {
        let dir = tempfile::tempdir().unwrap();
        init_cluster(dir.path()).unwrap();
        issue(dir.path(), "alice", Role::Client, Some("acme"), 30).unwrap();
        issue(dir.path(), "root", Role::Admin, None, 30).unwrap();
        let alice = Identity::load(dir.path(), "alice").unwrap().peer().unwrap();
        let tenant = Some(TenantId("acme".into()));
        assert_eq!(alice, Peer { name: "alice".into(), role: Role::Client, tenant: tenant.clone() });
        assert_eq!(alice.acting_tenant(), tenant);
        assert_eq!(alice.to_string(), "client \"alice\" of tenant \"acme\"");
        let root = Identity::load(dir.path(), "root").unwrap().peer().unwrap();
        assert_eq!((root.role, root.acting_tenant()), (Role::Admin, None), "an admin acts for no tenant");
        let client = Identity::load(dir.path(), "client").unwrap().peer().unwrap();
        assert_eq!(client.acting_tenant(), Some(TenantId::default_tenant()), "a client without one: default");
        assert!(matches!(
            issue(dir.path(), "exec-9", Role::Executor, Some("acme"), 30),
            Err(CertError::NodeTenant { role: Role::Executor })
        ));
        for bad in ["", "a b", "../x", &"t".repeat(65)] {
            assert!(matches!(
                issue(dir.path(), "bob", Role::Client, Some(bad), 30),
                Err(CertError::InvalidTenant { .. })
            ));
        }
    }

    #[test]
    fn load_names_the_file_at_fault() {
        let dir = tempfile::tempdir().unwrap();
        init_cluster(dir.path()).unwrap();
        match Identity::load(dir.path(), "nobody") {
            Err(CertError::Read { path, .. }) => assert_eq!(path, dir.path().join("nobody.pem")),
            other => panic!("expected Read, got {other:?}"),
        }
        // A certificate of another cluster, and a key that is not the certificate's.
        let other = tempfile::tempdir().unwrap();
        init_cluster(other.path()).unwrap();
        fs::copy(other.path().join("client.pem"), dir.path().join("foreign.pem")).unwrap();
        fs::copy(other.path().join("client.key"), dir.path().join("foreign.key")).unwrap();
        fs::copy(dir.path().join("client.pem"), dir.path().join("mixed.pem")).unwrap();
        fs::copy(dir.path().join("executor.key"), dir.path().join("mixed.key")).unwrap();
        for name in ["foreign", "mixed"] {
            match Identity::load(dir.path(), name) {
                Err(CertError::Invalid { certificate, .. }) => {
                    assert_eq!(certificate, dir.path().join(format!("{name}.pem")))
                }
                other => panic!("expected Invalid, got {other:?}"),
            }
        }
    }

    #[test]
    fn a_revoked_certificate_is_listed_once_and_its_holder_cannot_load_it() {
        let dir = tempfile::tempdir().unwrap();
        init_cluster(dir.path()).unwrap();
        issue(dir.path(), "bob", Role::Client, None, 30).unwrap();
        let crl = revoke(dir.path(), "bob").unwrap();
        assert_eq!(crl, dir.path().join("crl.pem"));
        revoke(dir.path(), "bob").unwrap();
        let listed = fs::read_to_string(dir.path().join("ca").join("revoked.txt")).unwrap();
        assert_eq!(listed.lines().count(), 1, "{listed}");
        assert!(listed.ends_with(" bob\n"), "{listed}");
        match Identity::load(dir.path(), "bob") {
            Err(CertError::Invalid { source, .. }) => {
                assert!(source.to_string().to_lowercase().contains("revoked"), "{source}")
            }
            other => panic!("expected a revoked certificate, got {other:?}"),
        }
        Identity::load(dir.path(), "client").expect("others stay valid");
        assert!(matches!(revoke(dir.path(), "nobody"), Err(CertError::Read { .. })));
    }

    #[test]
    fn a_bundle_holds_what_one_node_needs_and_no_other_key() {
        let dir = tempfile::tempdir().unwrap();
        init_cluster(dir.path()).unwrap();
        issue(dir.path(), "exec-1", Role::Executor, None, 30).unwrap();
        revoke(dir.path(), "client").unwrap();
        let out = dir.path().join("nodes").join("exec-1");
        bundle(dir.path(), "exec-1", &out).unwrap();
        let mut files: Vec<String> =
            fs::read_dir(&out).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        files.sort();
        assert_eq!(files, ["ca.pem", "crl.pem", "exec-1.key", "exec-1.pem"]);
        let peer = Identity::load(&out, "exec-1").unwrap().peer();
        assert_eq!(peer, Some(Peer { name: "exec-1".into(), role: Role::Executor, tenant: None }));
        assert!(matches!(bundle(dir.path(), "exec-1", &out), Err(CertError::Exists { .. })));
    }

    #[test]
    fn a_ca_key_that_is_not_a_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        init_cluster(dir.path()).unwrap();
        let key = dir.path().join("ca").join("ca.key");
        fs::write(&key, "not a key").unwrap();
        match issue(dir.path(), "exec-3", Role::Executor, None, 30) {
            Err(CertError::Read { path, .. }) => assert_eq!(path, key),
            other => panic!("expected Read, got {other:?}"),
        }
    }

    #[test]
    fn aes_128_gcm_is_offered_first_and_the_other_suites_stay() {
        let suites: Vec<CipherSuite> = crypto_provider().cipher_suites.iter().map(|s| s.suite()).collect();
        let defaults: Vec<CipherSuite> =
            rustls::crypto::aws_lc_rs::default_provider().cipher_suites.iter().map(|s| s.suite()).collect();
        assert_eq!(suites.first(), Some(&CipherSuite::TLS13_AES_128_GCM_SHA256));
        let (mut sorted, mut expected) = (suites.clone(), defaults);
        sorted.sort_by_key(|s| u16::from(*s));
        expected.sort_by_key(|s| u16::from(*s));
        assert_eq!(sorted, expected, "only the order changes");
    }
}
