//! The values a job may give the store settings it may set: every such key has a [`ValueRule`],
//! and a value reaches a client only once its rule accepts it.
//!
//! A client takes its settings as text and makes what it will of them; some end up in a request's
//! URL (a region is part of the AWS host name). So a job's value must be exactly the kind of value
//! the key is for: a region cannot carry an `@`, a `/` or a `.` that would move the host, a
//! boolean is `true` or `false`.

/// What values a store setting a job may set can take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueRule {
    /// An AWS region: lowercase letters, digits and `-` (`eu-west-1`).
    Region,
    /// `true` or `false`.
    Boolean,
    /// A duration such as `30s`, `1m 30s` or `500ms`.
    Duration,
    /// A whole number, such as `16`.
    Count,
    /// Printable ASCII text of at most [`MAX_TEXT`] characters, such as a user agent.
    Text,
    /// A media type such as `text/csv`.
    MediaType,
    /// A checksum algorithm of S3: `sha256` or `crc64nvme`.
    Checksum,
}

/// The longest text a [`ValueRule::Text`] setting may hold.
pub const MAX_TEXT: usize = 256;

/// The longest AWS region name accepted (the longest today are about 15 characters).
const MAX_REGION: usize = 32;

impl ValueRule {
    /// Whether `value` is a value of this rule.
    pub fn accepts(self, value: &str) -> bool {
        match self {
            ValueRule::Region => {
                (1..=MAX_REGION).contains(&value.len())
                    && value.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            }
            ValueRule::Boolean => matches!(value, "true" | "false"),
            ValueRule::Duration => humantime::parse_duration(value).is_ok(),
            ValueRule::Count => value.parse::<u32>().is_ok(),
            ValueRule::Text => value.len() <= MAX_TEXT && value.bytes().all(|b| (b' '..=b'~').contains(&b)),
            ValueRule::MediaType => value.split_once('/').is_some_and(|(kind, subtype)| {
                let token = |part: &str| {
                    !part.is_empty()
                        && part.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
                };
                token(kind) && token(subtype)
            }),
            ValueRule::Checksum => value.parse::<object_store::aws::Checksum>().is_ok(),
        }
    }

    /// What a value of this rule looks like, for a message that refuses one.
    pub fn expected(self) -> &'static str {
        match self {
            ValueRule::Region => "an AWS region: lowercase letters, digits and '-', such as \"eu-west-1\"",
            ValueRule::Boolean => "true or false",
            ValueRule::Duration => "a duration such as \"30s\" or \"500ms\"",
            ValueRule::Count => "a whole number such as 16",
            ValueRule::Text => "printable ASCII text of at most 256 characters",
            ValueRule::MediaType => "a media type such as \"text/csv\"",
            ValueRule::Checksum => "a checksum algorithm: \"sha256\" or \"crc64nvme\"",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_are_names_that_cannot_move_a_host() {
        for good in ["eu-west-1", "us-east-1", "ap-southeast-2", "local"] {
            assert!(ValueRule::Region.accepts(good), "{good}");
        }
        for bad in
            ["", "x@some-host/", "eu-west-1.evil.com", "us-east-1/", "EU-WEST-1", "a b", "a#b", "a?b", "a:1"]
        {
            assert!(!ValueRule::Region.accepts(bad), "{bad}");
        }
        assert!(!ValueRule::Region.accepts(&"a".repeat(MAX_REGION + 1)));
    }

    #[test]
    fn booleans_durations_and_counts_parse() {
        assert!(ValueRule::Boolean.accepts("true") && ValueRule::Boolean.accepts("false"));
        for bad in ["yes", "1", "True", ""] {
            assert!(!ValueRule::Boolean.accepts(bad), "{bad}");
        }
        for good in ["30s", "500ms", "1m 30s"] {
            assert!(ValueRule::Duration.accepts(good), "{good}");
        }
        for bad in ["soon", "30", ""] {
            assert!(!ValueRule::Duration.accepts(bad), "{bad}");
        }
        assert!(ValueRule::Count.accepts("16"));
        assert!(!ValueRule::Count.accepts("-1") && !ValueRule::Count.accepts("0x10"));
    }

    #[test]
    fn text_media_types_and_checksums_are_bounded() {
        assert!(ValueRule::Text.accepts("flicker/0.1 (batch)"));
        assert!(!ValueRule::Text.accepts("a\r\nHost: evil"));
        assert!(!ValueRule::Text.accepts(&"a".repeat(MAX_TEXT + 1)));
        assert!(
            ValueRule::MediaType.accepts("text/csv") && ValueRule::MediaType.accepts("application/x-ndjson")
        );
        for bad in ["text", "text/", "/csv", "text/csv\r\nX: y", "a/b/c"] {
            assert!(!ValueRule::MediaType.accepts(bad), "{bad}");
        }
        assert!(ValueRule::Checksum.accepts("sha256"));
        assert!(!ValueRule::Checksum.accepts("md5"));
    }
}
