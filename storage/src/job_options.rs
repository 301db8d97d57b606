//! A job's own store settings: what a manifest's `[storage]` tables may set, and the check that
//! decides it.
//!
//! A job may tune how requests are made (region, addressing style, checksums, timeouts, …), with
//! values of the kind each key is for ([`ValueRule`]), but not where they go, through which proxy, or with which credentials: a job choosing the endpoint
//! would have the node's credentials sign or carry requests to a server of its choice, and a
//! manifest is stored by the scheduler and sent to every executor. Which keys are which is
//! object_store's to know, so the check lives here, next to [`Service`].
//!
//! [`JobStoreOptions::check`] takes the settings as plain text, each with a tag of the caller's
//! choosing that comes back with a refusal, rather than a manifest type: so neither this crate nor
//! the manifest's depends on the other (the manifest, and what depends on it, stay free of
//! object_store). The caller, which knows both, passes the manifest's settings tagged with
//! themselves and turns a refusal into a manifest error at the setting's line.

use crate::job_values::ValueRule;
use crate::options::{Service, StoreOptionError, StoreOptions};
use crate::request_host::{S3Target, check_host};

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
    /// The value is not of the kind the key takes.
    #[error("the value must be {}", rule.expected())]
    BadValue {
        /// The store.
        service: Service,
        /// The key as given.
        key: String,
        /// What its values may be.
        rule: ValueRule,
    },
    /// Laid over the node's settings, the job's would send the node's requests to another host.
    #[error(
        "with this setting the node's {service} requests would go to {host} instead of {expected}: a job may tune requests but not choose where they go"
    )]
    MovedHost {
        /// The store.
        service: Service,
        /// Where the requests would go.
        host: String,
        /// Where they may go.
        expected: String,
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
/// credential nor a setting that chooses where requests go, with a value its key's
/// [`ValueRule`] accepts.
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
    ///
    /// This is what a submitter can check without knowing the nodes; a node checks with
    /// [`check_on`](JobStoreOptions::check_on).
    pub fn check<'a, T>(
        settings: impl IntoIterator<Item = (T, JobSetting<'a>)>,
    ) -> Result<JobStoreOptions, RefusedSetting<T>> {
        checked(settings, None)
    }

    /// [`check`](JobStoreOptions::check), and also that the settings, laid over the `node`'s
    /// (and the node's environment, as its stores are opened), send requests to the host the
    /// node's own send them to, or to an AWS host of the same form when the node names no
    /// endpoint: the first setting after which they would not is refused.
    pub fn check_on<'a, T>(
        node: &StoreOptions,
        settings: impl IntoIterator<Item = (T, JobSetting<'a>)>,
    ) -> Result<JobStoreOptions, RefusedSetting<T>> {
        checked(settings, Some(node))
    }
}

/// A bucket name to compute hosts with: bucket names cannot move a host (see
/// [`Location::parse_with`](crate::Location::parse_with)), so one stands for all.
const ANY_BUCKET: &str = "bucket";

/// [`JobStoreOptions::check`], and the host check over `node` if given.
fn checked<'a, T>(
    settings: impl IntoIterator<Item = (T, JobSetting<'a>)>,
    node: Option<&StoreOptions>,
) -> Result<JobStoreOptions, RefusedSetting<T>> {
    let node = node.map(|node| (node, S3Target::of(node)));
    let mut options = StoreOptions::default();
    for (tag, setting) in settings {
        let added = add(&mut options, setting).and_then(|service| match (service, &node) {
            (Service::S3, Some((node, target))) => {
                let job = S3Target::of(&node.merged(&options));
                check_host(target, &job, ANY_BUCKET).map_err(|moved| JobSettingError::MovedHost {
                    service,
                    host: moved.host,
                    expected: moved.expected,
                })
            }
            _ => Ok(()),
        });
        if let Err(reason) = added {
            return Err(RefusedSetting { setting: tag, reason });
        }
    }
    Ok(JobStoreOptions { options })
}

/// Adds `setting` to `options` if a job may set it; returns its store.
fn add(options: &mut StoreOptions, setting: JobSetting<'_>) -> Result<Service, JobSettingError> {
    let JobSetting { scheme, key, value } = setting;
    let service = Service::from_scheme(scheme)
        .ok_or_else(|| JobSettingError::UnknownService { scheme: scheme.to_owned() })?;
    if service.is_credential(key) {
        return Err(JobSettingError::Credential { service, key: key.to_owned() });
    }
    service.check_key(key)?;
    let Some(rule) = service.job_rule(key) else {
        return Err(JobSettingError::NodeOnly { service, key: key.to_owned() });
    };
    if !rule.accepts(value) {
        return Err(JobSettingError::BadValue { service, key: key.to_owned(), rule });
    }
    options.set(service, key, value)?;
    Ok(service)
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
    fn every_value_is_checked_against_its_keys_rule() {
        for (scheme, key, value, rule) in [
            ("s3", "region", "x@some-host/", ValueRule::Region),
            ("s3", "aws_region", "eu-west-1.evil.com", ValueRule::Region),
            ("s3", "default_region", "us/east", ValueRule::Region),
            ("s3", "allow_http", "yes", ValueRule::Boolean),
            ("s3", "virtual_hosted_style_request", "1", ValueRule::Boolean),
            ("gs", "timeout", "soon", ValueRule::Duration),
            ("s3", "pool_max_idle_per_host", "many", ValueRule::Count),
            ("s3", "user_agent", "a\r\nHost: evil", ValueRule::Text),
            ("s3", "checksum_algorithm", "md5", ValueRule::Checksum),
        ] {
            let service = Service::from_scheme(scheme).unwrap();
            let reason = refusal(scheme, key, value);
            assert_eq!(
                reason,
                JobSettingError::BadValue { service, key: key.into(), rule },
                "{key} = {value}"
            );
            assert!(!reason.to_string().contains(value), "the value is not shown: {reason}");
        }
        assert!(refusal("s3", "region", "x@h/").to_string().contains("lowercase letters, digits and '-'"));
    }

    #[test]
    fn on_a_node_the_settings_keep_the_nodes_host() {
        let mut node = StoreOptions::default();
        node.set(Service::S3, "endpoint", "http://127.0.0.1:9000").unwrap();
        let settings = [
            (0, JobSetting { scheme: "s3", key: "region", value: "eu-west-1" }),
            (1, JobSetting { scheme: "s3", key: "virtual_hosted_style_request", value: "true" }),
        ];
        let job = JobStoreOptions::check_on(&node, settings).unwrap();
        assert_eq!(S3Target::of(&node.overridden_by(&job)).host("b"), "127.0.0.1");
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
