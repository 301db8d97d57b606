//! Settings for the cloud stores, on top of what each store reads from its standard environment.

use std::collections::BTreeMap;
use std::fmt;

use object_store::ClientConfigKey;
use object_store::aws::AmazonS3ConfigKey;
use object_store::gcp::GoogleConfigKey;

use crate::job_options::JobStoreOptions;
use crate::job_values::ValueRule;

/// A cloud object-store service that storage URLs can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Service {
    /// Amazon S3 and S3-compatible stores: `s3://bucket/prefix`.
    S3,
    /// Google Cloud Storage: `gs://bucket/prefix`.
    Gcs,
}

impl Service {
    /// Every service, in the order of their names.
    pub const ALL: [Service; 2] = [Service::Gcs, Service::S3];

    /// Its URL scheme, which is also the name of its table in `[storage]`: `s3`, `gs`.
    pub fn scheme(self) -> &'static str {
        match self {
            Service::S3 => "s3",
            Service::Gcs => "gs",
        }
    }

    /// The service whose URL scheme is `scheme` (ASCII case ignored).
    pub fn from_scheme(scheme: &str) -> Option<Service> {
        Service::ALL.into_iter().find(|service| service.scheme().eq_ignore_ascii_case(scheme))
    }

    /// Whether `key` (any spelling object_store accepts, e.g. `secret_access_key` or
    /// `aws_secret_access_key`) holds a credential: a secret, or the name paired with one.
    pub(crate) fn is_credential(self, key: &str) -> bool {
        match self {
            Service::S3 => matches!(
                key.parse(),
                Ok(AmazonS3ConfigKey::AccessKeyId
                    | AmazonS3ConfigKey::SecretAccessKey
                    | AmazonS3ConfigKey::Token)
            ),
            Service::Gcs => {
                matches!(key.parse(), Ok(GoogleConfigKey::ServiceAccountKey | GoogleConfigKey::BearerToken))
            }
        }
    }

    /// The rule of the values a job (a manifest's `[storage]`) may give `key`, if a job may set
    /// it at all: only keys that tune requests, never a credential nor where requests go (see
    /// [`JobStoreOptions`] for why).
    pub(crate) fn job_rule(self, key: &str) -> Option<ValueRule> {
        let client = |key: &ClientConfigKey| match key {
            ClientConfigKey::AllowHttp | ClientConfigKey::Http1Only | ClientConfigKey::Http2Only => {
                Some(ValueRule::Boolean)
            }
            ClientConfigKey::ConnectTimeout | ClientConfigKey::Timeout | ClientConfigKey::PoolIdleTimeout => {
                Some(ValueRule::Duration)
            }
            ClientConfigKey::UserAgent => Some(ValueRule::Text),
            ClientConfigKey::DefaultContentType => Some(ValueRule::MediaType),
            ClientConfigKey::PoolMaxIdlePerHost => Some(ValueRule::Count),
            _ => None,
        };
        match self {
            Service::S3 => match key.parse().ok()? {
                AmazonS3ConfigKey::Client(key) => client(&key),
                AmazonS3ConfigKey::Region | AmazonS3ConfigKey::DefaultRegion => Some(ValueRule::Region),
                AmazonS3ConfigKey::VirtualHostedStyleRequest
                | AmazonS3ConfigKey::UnsignedPayload
                | AmazonS3ConfigKey::SkipSignature
                | AmazonS3ConfigKey::RequestPayer
                | AmazonS3ConfigKey::DisableTagging => Some(ValueRule::Boolean),
                AmazonS3ConfigKey::Checksum => Some(ValueRule::Checksum),
                _ => None,
            },
            Service::Gcs => match key.parse().ok()? {
                GoogleConfigKey::Client(key) => client(&key),
                GoogleConfigKey::SkipSignature => Some(ValueRule::Boolean),
                _ => None,
            },
        }
    }

    /// Whether `key`'s value is the path of a file (a service-account JSON, a token file), which
    /// a configuration file should resolve against its own directory.
    pub fn names_a_file(self, key: &str) -> bool {
        match self {
            Service::S3 => matches!(
                key.parse(),
                Ok(AmazonS3ConfigKey::WebIdentityTokenFile
                    | AmazonS3ConfigKey::ContainerAuthorizationTokenFile)
            ),
            Service::Gcs => {
                matches!(
                    key.parse(),
                    Ok(GoogleConfigKey::ServiceAccount | GoogleConfigKey::ApplicationCredentials)
                )
            }
        }
    }

    /// Checks that `key` is a setting of this service's object_store client other than the
    /// bucket, which URLs give.
    pub(crate) fn check_key(self, key: &str) -> Result<(), StoreOptionError> {
        let bucket = match self {
            Service::S3 => key.parse::<AmazonS3ConfigKey>().map(|k| k == AmazonS3ConfigKey::Bucket),
            Service::Gcs => key.parse::<GoogleConfigKey>().map(|k| k == GoogleConfigKey::Bucket),
        };
        match bucket {
            Ok(false) => Ok(()),
            Ok(true) => Err(StoreOptionError::Bucket { service: self }),
            Err(_) => Err(StoreOptionError::UnknownKey { service: self, key: key.to_owned() }),
        }
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.scheme())
    }
}

/// A setting that [`StoreOptions::set`] refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreOptionError {
    /// The key is no setting of the service's client.
    #[error(
        "`{key}` is not a setting of the {service} store (see object_store's {}ConfigKey for the settings)",
        match service { Service::S3 => "AmazonS3", Service::Gcs => "Google" }
    )]
    UnknownKey {
        /// The service.
        service: Service,
        /// The key as written.
        key: String,
    },
    /// The key names the bucket, which comes from each URL.
    #[error(
        "the bucket of a {service} location comes from its URL ({service}://bucket/prefix), not from a setting"
    )]
    Bucket {
        /// The service.
        service: Service,
    },
}

/// Settings for opening cloud stores (endpoint, region, `allow_http`, a service-account file, …),
/// applied on top of what each store's standard environment gives (`AWS_*` as
/// `AmazonS3Builder::from_env` reads it, `GOOGLE_*` as `GoogleCloudStorageBuilder::from_env` does).
///
/// Keys are those of object_store's `AmazonS3ConfigKey` and `GoogleConfigKey`, in any spelling
/// they accept (`endpoint` or `aws_endpoint`). `Debug` shows credential values as `<redacted>`.
///
/// These are a node's settings, which may hold anything; a job's come as [`JobStoreOptions`],
/// checked, and are laid over them with [`StoreOptions::overridden_by`].
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct StoreOptions {
    values: BTreeMap<(Service, String), String>,
}

impl StoreOptions {
    /// Sets `key` of `service` to `value`, replacing an earlier value.
    pub fn set(
        &mut self,
        service: Service,
        key: &str,
        value: impl Into<String>,
    ) -> Result<(), StoreOptionError> {
        service.check_key(key)?;
        self.values.insert((service, key.to_owned()), value.into());
        Ok(())
    }

    /// These settings (a node's) with a job's replacing those of the same key.
    pub fn overridden_by(&self, job: &JobStoreOptions) -> StoreOptions {
        self.merged(&job.options)
    }

    /// These settings with `over`'s replacing those of the same key.
    pub(crate) fn merged(&self, over: &StoreOptions) -> StoreOptions {
        let mut merged = self.clone();
        merged.values.extend(over.values.iter().map(|(key, value)| (key.clone(), value.clone())));
        merged
    }

    /// The settings of `service`, by key.
    pub(crate) fn of(&self, service: Service) -> impl Iterator<Item = (&str, &str)> {
        self.values
            .iter()
            .filter(move |((s, _), _)| *s == service)
            .map(|((_, key), value)| (key.as_str(), value.as_str()))
    }

    /// Whether no setting is given.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

impl fmt::Debug for StoreOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.values.iter().map(|((service, key), value)| {
                let shown = if service.is_credential(key) { "<redacted>" } else { value.as_str() };
                (format!("{service}.{key}"), shown)
            }))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job_options::JobSetting;

    #[test]
    fn keys_are_checked_against_the_clients_settings() {
        let mut options = StoreOptions::default();
        options.set(Service::S3, "endpoint", "http://127.0.0.1:9000").unwrap();
        options.set(Service::S3, "aws_region", "eu-west-1").unwrap();
        options.set(Service::S3, "allow_http", "true").unwrap();
        options.set(Service::Gcs, "service_account_path", "/etc/sa.json").unwrap();
        options.set(Service::Gcs, "allow_http", "true").unwrap();
        assert_eq!(
            options.set(Service::S3, "endpiont", "x"),
            Err(StoreOptionError::UnknownKey { service: Service::S3, key: "endpiont".into() })
        );
        assert_eq!(
            options.set(Service::Gcs, "bucket", "b"),
            Err(StoreOptionError::Bucket { service: Service::Gcs })
        );
        let s3: Vec<_> = options.of(Service::S3).collect();
        assert_eq!(
            s3,
            [("allow_http", "true"), ("aws_region", "eu-west-1"), ("endpoint", "http://127.0.0.1:9000")]
        );
    }

    #[test]
    fn a_jobs_settings_replace_the_same_key_only() {
        let mut node = StoreOptions::default();
        node.set(Service::S3, "region", "us-east-1").unwrap();
        node.set(Service::S3, "endpoint", "http://a").unwrap();
        let region = JobSetting { scheme: "s3", key: "region", value: "eu-west-1" };
        let job = JobStoreOptions::check([((), region)]).unwrap();
        let merged = node.overridden_by(&job);
        let s3: Vec<_> = merged.of(Service::S3).collect();
        assert_eq!(s3, [("endpoint", "http://a"), ("region", "eu-west-1")]);
    }

    #[test]
    fn credentials_are_recognised_in_every_spelling_and_never_shown() {
        for key in
            ["access_key_id", "aws_secret_access_key", "secret_access_key", "token", "aws_session_token"]
        {
            assert!(Service::S3.is_credential(key), "{key}");
        }
        for key in ["service_account_key", "google_service_account_key", "bearer_token"] {
            assert!(Service::Gcs.is_credential(key), "{key}");
        }
        assert!(!Service::S3.is_credential("endpoint"));
        assert!(!Service::Gcs.is_credential("service_account_path"));
        let mut options = StoreOptions::default();
        options.set(Service::S3, "secret_access_key", "hunter2-secret").unwrap();
        options.set(Service::S3, "region", "eu-west-1").unwrap();
        let shown = format!("{options:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(
            shown.contains("s3.secret_access_key")
                && shown.contains("<redacted>")
                && shown.contains("eu-west-1")
        );
    }

    #[test]
    fn jobs_may_tune_requests_but_not_redirect_them() {
        for key in [
            "region",
            "aws_region",
            "virtual_hosted_style_request",
            "allow_http",
            "timeout",
            "skip_signature",
        ] {
            assert!(Service::S3.job_rule(key).is_some(), "{key}");
        }
        for key in [
            "endpoint",
            "aws_endpoint_url",
            "proxy_url",
            "metadata_endpoint",
            "role_arn",
            "secret_access_key",
        ] {
            assert_eq!(Service::S3.job_rule(key), None, "{key}");
        }
        for key in ["timeout", "allow_http", "skip_signature"] {
            assert!(Service::Gcs.job_rule(key).is_some(), "{key}");
        }
        for key in
            ["base_url", "service_account_path", "application_credentials", "proxy_url", "bearer_token"]
        {
            assert_eq!(Service::Gcs.job_rule(key), None, "{key}");
        }
        assert_eq!(Service::S3.job_rule("no_such_key"), None);
        assert_eq!(Service::S3.job_rule("aws_region"), Some(ValueRule::Region));
        assert_eq!(Service::Gcs.job_rule("timeout"), Some(ValueRule::Duration));
    }

    #[test]
    fn file_settings_are_known() {
        assert!(Service::Gcs.names_a_file("service_account_path"));
        assert!(Service::Gcs.names_a_file("google_application_credentials"));
        assert!(Service::S3.names_a_file("web_identity_token_file"));
        assert!(!Service::S3.names_a_file("endpoint"));
        assert!(!Service::Gcs.names_a_file("service_account_key"));
    }

    #[test]
    fn schemes_name_services() {
        assert_eq!(Service::from_scheme("S3"), Some(Service::S3));
        assert_eq!(Service::from_scheme("gs"), Some(Service::Gcs));
        assert_eq!(Service::from_scheme("gcs"), None);
    }
}
