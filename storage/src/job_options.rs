//! A job's own store settings: what a manifest's `[storage]` tables may set, and the check that
//! decides it.
//!
//! A job may tune how requests are made (region, addressing style, checksums, timeouts, …) but
//! not where they go, through which proxy, or with which credentials: a job choosing the endpoint
//! would have the node's credentials sign or carry requests to a server of its choice, and a
//! manifest is stored by the scheduler and sent to every executor. Which keys are which is
//! object_store's to know, so the check lives here, next to [`Service`].
//!
//! [`JobStoreOptions::check`] takes the settings as plain text, each with a tag of the caller's
//! choosing that comes back with a refusal, rather than a manifest type: so neither this crate nor
//! the manifest's depends on the other (the manifest, and what depends on it, stay free of
//! object_store). The caller, which knows both, passes the manifest's settings tagged with
//! themselves and turns a refusal into a manifest error at the setting's line.

use crate::options::{Service, StoreOptionError, StoreOptions};

/// One store setting a job asks for, as written in its manifest.
#[derive(Clone, Copy)]
pub struct JobSetting<'a> {
    /// The URL scheme of the store, which names its table: `s3` or `gs`.
    pub scheme: &'a str,
    /// The key, in any spelling object_store accepts (`region` or `aws_region`).
    pub key: &'a str,
    /// The value as text.
    pub value: &'a str,
}

/// Why a job may not set a store setting. No variant holds or shows the value, which may be a
/// secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobSettingError {
    /// The scheme names no cloud store.
    #[error("`{scheme}` is not the scheme of a cloud store; the stores are s3 and gs")]
    UnknownService {
        /// The scheme as given.
        scheme: String,
    },
    /// The key holds a credential, which only a node may give.
    #[error(
        "credentials do not belong in a manifest, which the scheduler stores and sends to every executor: give them to the nodes through their environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, GOOGLE_SERVICE_ACCOUNT, ...) or the [storage] table of their cluster.toml"
    )]
    Credential {
        /// The store.
        service: Service,
        /// The key as given.
        key: String,
    },
    /// The key chooses where requests go or which credentials sign them, which only a node may
    /// decide.
    #[error(
        "this setting chooses where requests go or which credentials sign them, so only the nodes' environment or cluster.toml may set it (a job could otherwise send the node's credentials to a server of its choice); a manifest may set request settings such as region, virtual_hosted_style_request, checksum_algorithm, skip_signature, allow_http or timeout"
    )]
    NodeOnly {
        /// The store.
        service: Service,
        /// The key as given.
        key: String,
    },
    /// The key is no setting of the store's client, or is the bucket.
    #[error(transparent)]
    Invalid {
        /// What [`StoreOptions::set`] said.
        #[from]
        source: StoreOptionError,
    },
}

/// A setting that [`JobStoreOptions::check`] refused.
#[derive(Debug)]
pub struct RefusedSetting<T> {
    /// The tag the caller gave with the setting, to say which one it is.
    pub setting: T,
    /// Why it is refused.
    pub reason: JobSettingError,
}

/// A job's own store settings, each one checked: a key of its store's client, neither a
/// credential nor a setting that chooses where requests go.
///
/// Only [`JobStoreOptions::check`] makes one, and a node's settings take a job's only in this form
/// ([`StoreOptions::overridden_by`]), so no job setting reaches a store unchecked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobStoreOptions {
    pub(crate) options: StoreOptions,
}

impl JobStoreOptions {
    /// Checks a job's `settings`, each given with a tag of the caller's choosing (such as where it
    /// was written), and keeps them; a later value of a key replaces an earlier one. The first
    /// setting refused is returned with its tag and the reason.
    pub fn check<'a, T>(
        settings: impl IntoIterator<Item = (T, JobSetting<'a>)>,
    ) -> Result<JobStoreOptions, RefusedSetting<T>> {
        let mut options = StoreOptions::default();
        for (tag, setting) in settings {
            if let Err(reason) = add(&mut options, setting) {
                return Err(RefusedSetting { setting: tag, reason });
            }
        }
        Ok(JobStoreOptions { options })
    }
}

/// Adds `setting` to `options` if a job may set it.
fn add(options: &mut StoreOptions, setting: JobSetting<'_>) -> Result<(), JobSettingError> {
    let JobSetting { scheme, key, value } = setting;
    let service = Service::from_scheme(scheme)
        .ok_or_else(|| JobSettingError::UnknownService { scheme: scheme.to_owned() })?;
    if service.is_credential(key) {
        return Err(JobSettingError::Credential { service, key: key.to_owned() });
    }
    service.check_key(key)?;
    if !service.job_may_set(key) {
        return Err(JobSettingError::NodeOnly { service, key: key.to_owned() });
    }
    Ok(options.set(service, key, value)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The settings `(scheme, key, value)`, each tagged with its position.
    fn check(
        settings: &[(&'static str, &'static str, &'static str)],
    ) -> Result<JobStoreOptions, RefusedSetting<usize>> {
        JobStoreOptions::check(
            settings
                .iter()
                .enumerate()
                .map(|(at, &(scheme, key, value))| (at, JobSetting { scheme, key, value })),
        )
    }

    /// Why the single setting `(scheme, key, value)` is refused.
    fn refusal(scheme: &'static str, key: &'static str, value: &'static str) -> JobSettingError {
        check(&[(scheme, key, value)]).map(|_| ()).expect_err("a refused setting").reason
    }

    #[test]
    fn request_settings_are_kept() {
        let job = check(&[
            ("s3", "region", "eu-west-1"),
            ("s3", "allow_http", "true"),
            ("gs", "timeout", "30s"),
            ("s3", "region", "us-east-1"),
        ])
        .unwrap();
        let mut expected = StoreOptions::default();
        expected.set(Service::S3, "region", "us-east-1").unwrap();
        expected.set(Service::S3, "allow_http", "true").unwrap();
        expected.set(Service::Gcs, "timeout", "30s").unwrap();
        assert_eq!(job.options, expected);
    }

    #[test]
    fn credentials_and_settings_that_redirect_requests_are_refused_without_showing_the_value() {
        for (service, key, credential) in [
            (Service::S3, "secret_access_key", true),
            (Service::S3, "aws_access_key_id", true),
            (Service::S3, "token", true),
            (Service::Gcs, "service_account_key", true),
            (Service::S3, "endpoint", false),
            (Service::S3, "aws_endpoint_url", false),
            (Service::S3, "proxy_url", false),
            (Service::Gcs, "base_url", false),
            (Service::Gcs, "service_account_path", false),
        ] {
            let (expected, why) = if credential {
                (
                    JobSettingError::Credential { service, key: key.into() },
                    "credentials do not belong in a manifest",
                )
            } else {
                (
                    JobSettingError::NodeOnly { service, key: key.into() },
                    "only the nodes' environment or cluster.toml may set it",
                )
            };
            let reason = refusal(service.scheme(), key, "hunter2-value");
            assert_eq!(reason, expected);
            let message = reason.to_string();
            assert!(message.contains(why), "{message}");
            assert!(!message.contains("hunter2") && !format!("{reason:?}").contains("hunter2"), "{message}");
        }
    }

    #[test]
    fn unknown_keys_the_bucket_and_unknown_stores_are_refused() {
        let reason = refusal("s3", "endpiont", "x");
        assert_eq!(
            reason,
            JobSettingError::Invalid {
                source: StoreOptionError::UnknownKey { service: Service::S3, key: "endpiont".into() }
            }
        );
        assert!(reason.to_string().contains("not a setting of the s3 store"), "{reason}");
        let reason = refusal("gs", "bucket", "b");
        assert_eq!(
            reason,
            JobSettingError::Invalid { source: StoreOptionError::Bucket { service: Service::Gcs } }
        );
        assert!(reason.to_string().contains("comes from its URL"), "{reason}");
        assert_eq!(
            refusal("azure", "region", "x"),
            JobSettingError::UnknownService { scheme: "azure".into() }
        );
    }

    #[test]
    fn the_first_refused_setting_comes_back_with_its_tag() {
        let refused =
            check(&[("s3", "region", "eu-west-1"), ("s3", "endpoint", "http://a"), ("s3", "token", "t")])
                .map(|_| ())
                .unwrap_err();
        assert_eq!(refused.setting, 1);
        assert!(matches!(refused.reason, JobSettingError::NodeOnly { .. }), "{refused:?}");
    }
}
