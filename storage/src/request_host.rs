//! Where an S3 client sends a bucket's requests, and whether a job's settings moved that.
//!
//! A job may set request settings such as the region, which object_store builds into the URL of
//! every request when the node names no endpoint (`https://s3.<region>.amazonaws.com/<bucket>`,
//! or `https://<bucket>.s3.<region>.amazonaws.com` for virtual-hosted-style requests). The node's
//! credentials sign those requests, so once a job's settings are laid over the node's, the host
//! must still be the node's own, or an AWS host of one of those two forms when the node has no
//! endpoint. Values are checked on their own first ([`ValueRule`](crate::ValueRule)); this is the
//! check of where they lead, made the way object_store's builder computes the URL.
//!
//! Google Cloud Storage has no such setting a job may make: its host comes from the node only.

use object_store::aws::AmazonS3ConfigKey;

use crate::job_values::ValueRule;
use crate::location::s3_builder;
use crate::options::{Service, StoreOptions};

/// What decides the host of an S3 client's requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct S3Target {
    /// The endpoint (`s3_endpoint`, else `endpoint`), if one is set.
    pub(crate) endpoint: Option<String>,
    /// The region (`us-east-1` if none is set).
    pub(crate) region: String,
    /// Whether the bucket goes into the host name (virtual-hosted-style requests).
    pub(crate) virtual_hosted: bool,
}

impl S3Target {
    /// The target of an S3 client made from the standard environment, then `options`.
    pub(crate) fn of(options: &StoreOptions) -> S3Target {
        let builder = s3_builder(options.of(Service::S3))
            .expect("StoreOptions::set accepts only keys of the S3 client");
        let value = |key| builder.get_config_value(&key);
        S3Target {
            endpoint: value(AmazonS3ConfigKey::S3Endpoint).or_else(|| value(AmazonS3ConfigKey::Endpoint)),
            region: value(AmazonS3ConfigKey::Region).unwrap_or_else(|| "us-east-1".to_owned()),
            virtual_hosted: value(AmazonS3ConfigKey::VirtualHostedStyleRequest).is_some_and(|v| truthy(&v)),
        }
    }

    /// The host of `bucket`'s requests, from the URL object_store's builder makes.
    pub(crate) fn host(&self, bucket: &str) -> String {
        let region = &self.region;
        let url = match (&self.endpoint, self.virtual_hosted) {
            (Some(endpoint), true) => endpoint.clone(),
            (Some(endpoint), false) => format!("{}/{bucket}", endpoint.trim_end_matches('/')),
            (None, true) => format!("https://{bucket}.s3.{region}.amazonaws.com"),
            (None, false) => format!("https://s3.{region}.amazonaws.com/{bucket}"),
        };
        host_of(&url)
    }
}

/// Why a job's S3 settings would send requests elsewhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MovedHost {
    /// Where they would go.
    pub(crate) host: String,
    /// Where they may go.
    pub(crate) expected: String,
}

/// Checks that `job` (the node's settings with a job's over them) sends `bucket`'s requests to
/// the host `node` does or, if the node names no endpoint, to an AWS host
/// `s3.<region>.amazonaws.com` or `<bucket>.s3.<region>.amazonaws.com`.
pub(crate) fn check_host(node: &S3Target, job: &S3Target, bucket: &str) -> Result<(), MovedHost> {
    let (host, expected) = (job.host(bucket), node.host(bucket));
    let aws = || {
        let rest = host.strip_prefix(bucket).and_then(|rest| rest.strip_prefix('.')).unwrap_or(&host);
        rest.strip_prefix("s3.")
            .and_then(|rest| rest.strip_suffix(".amazonaws.com"))
            .is_some_and(|region| ValueRule::Region.accepts(region))
    };
    if host == expected || (node.endpoint.is_none() && aws()) {
        Ok(())
    } else {
        let expected = match node.endpoint {
            Some(_) => expected,
            None => format!("s3.<region>.amazonaws.com or {bucket}.s3.<region>.amazonaws.com"),
        };
        Err(MovedHost { host, expected })
    }
}

/// The host of `url` (lowercase, without user information or port), as an HTTP client would
/// connect to.
fn host_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#', '\\']).next().unwrap_or_default();
    let host_and_port = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let host = match host_and_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host_and_port.split(':').next().unwrap_or_default(),
    };
    host.to_ascii_lowercase()
}

/// Whether object_store reads `value` as `true`.
fn truthy(value: &str) -> bool {
    matches!(value.to_ascii_lowercase().as_str(), "1" | "true" | "on" | "yes" | "y")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(endpoint: Option<&str>, region: &str, virtual_hosted: bool) -> S3Target {
        S3Target { endpoint: endpoint.map(str::to_owned), region: region.to_owned(), virtual_hosted }
    }

    #[test]
    fn hosts_are_those_object_store_builds() {
        assert_eq!(target(None, "eu-west-1", false).host("b"), "s3.eu-west-1.amazonaws.com");
        assert_eq!(target(None, "eu-west-1", true).host("b"), "b.s3.eu-west-1.amazonaws.com");
        assert_eq!(target(Some("http://127.0.0.1:9000/"), "x", false).host("b"), "127.0.0.1");
        assert_eq!(target(Some("https://B.Minio.Example:443"), "x", true).host("b"), "b.minio.example");
        assert_eq!(host_of("http://user@[::1]:9000/x"), "::1");
    }

    #[test]
    fn a_region_may_change_the_aws_host_but_never_leave_aws() {
        let node = target(None, "us-east-1", false);
        for job in [target(None, "eu-west-1", false), target(None, "ap-south-2", true)] {
            assert_eq!(check_host(&node, &job, "bucket"), Ok(()), "{job:?}");
        }
        // Regions that a value check would refuse, were it skipped: each moves the host.
        for (region, host) in [
            ("x@some-host/", "some-host"),
            ("evil.com/", "s3.evil.com"),
            ("x.evil.com#", "s3.x.evil.com"),
            ("a:1@evil.com?", "evil.com"),
        ] {
            let moved = check_host(&node, &target(None, region, false), "bucket").unwrap_err();
            assert_eq!(moved.host, host, "{region}");
            assert!(moved.expected.contains("s3.<region>.amazonaws.com"), "{moved:?}");
        }
    }

    #[test]
    fn a_nodes_endpoint_stays_the_host() {
        let node = target(Some("http://127.0.0.1:9000"), "us-east-1", false);
        for job in [
            target(Some("http://127.0.0.1:9000"), "eu-west-1", false),
            target(Some("http://127.0.0.1:9000"), "x", true),
        ] {
            assert_eq!(check_host(&node, &job, "bucket"), Ok(()), "{job:?}");
        }
        // Were an endpoint ever lost, even an AWS host would be refused.
        let moved = check_host(&node, &target(None, "eu-west-1", false), "bucket").unwrap_err();
        assert_eq!(
            moved,
            MovedHost { host: "s3.eu-west-1.amazonaws.com".into(), expected: "127.0.0.1".into() }
        );
    }

    #[test]
    fn a_target_is_read_from_settings_as_object_store_reads_them() {
        let mut options = StoreOptions::default();
        options.set(Service::S3, "endpoint", "http://127.0.0.1:9000").unwrap();
        options.set(Service::S3, "region", "eu-west-1").unwrap();
        options.set(Service::S3, "virtual_hosted_style_request", "true").unwrap();
        let target = S3Target::of(&options);
        assert_eq!(target.region, "eu-west-1");
        assert!(target.virtual_hosted);
        assert_eq!(target.host("bucket"), "127.0.0.1");
    }
}
