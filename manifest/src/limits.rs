//! How large a manifest, and the parts of it the scheduler keeps and shows, may be.
//!
//! A manifest is submitted to a shared scheduler, which journals it, shows its name in every
//! `flicker status`, and keeps it until the job is forgotten: these caps keep one submission from
//! making those costly for everyone. Each is checked where its part is read, and refused with a
//! [`ManifestError::TooLarge`] naming the file and line.

use crate::error::ManifestError;
use std::fmt;
use std::path::Path;

/// The most bytes a manifest's text may have (params filled in): 1 MiB. A job's data belongs in
/// its sources, not in its manifest.
pub const MAX_MANIFEST_BYTES: usize = 1 << 20;

/// The most characters a job's name may have: 200, enough for any name a person reads in a list.
pub const MAX_NAME_CHARS: usize = 200;

/// The most `[[source]]`, `[[step]]` and `[[sink]]` tables a manifest may have together: 1,000.
pub const MAX_SECTIONS: usize = 1000;

/// The most `partitions` a step may have: 100,000. Each is a task the scheduler tracks and a block
/// every map task writes; Spark's default is 200.
pub const MAX_PARTITIONS: u32 = 100_000;

/// The most bytes a step's or sink's `config` may have, keys and values together: 64 KiB.
pub const MAX_CONFIG_BYTES: usize = 64 << 10;

// A submission carries the manifest's text and repeats its plugin references, in one request.
const _: () = assert!(2 * MAX_MANIFEST_BYTES <= flicker_protocol::scheduler::MAX_REQUEST);

/// Which cap a manifest passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManifestLimit {
    /// [`MAX_MANIFEST_BYTES`].
    Text,
    /// [`MAX_NAME_CHARS`].
    Name,
    /// [`MAX_SECTIONS`].
    Sections,
    /// [`MAX_CONFIG_BYTES`].
    Config,
}

impl ManifestLimit {
    /// The cap.
    pub fn max(self) -> usize {
        match self {
            ManifestLimit::Text => MAX_MANIFEST_BYTES,
            ManifestLimit::Name => MAX_NAME_CHARS,
            ManifestLimit::Sections => MAX_SECTIONS,
            ManifestLimit::Config => MAX_CONFIG_BYTES,
        }
    }
}

/// How a [`ManifestError::TooLarge`] reads after its `file:line: section: `.
pub(crate) struct Exceeded {
    pub(crate) limit: ManifestLimit,
    pub(crate) size: usize,
}

impl Exceeded {
    /// The message of `limit` passed by a part of `size`.
    pub(crate) fn of(limit: &ManifestLimit, size: &usize) -> Self {
        Exceeded { limit: *limit, size: *size }
    }
}

impl fmt::Display for Exceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (size, max) = (self.size, self.limit.max());
        match self.limit {
            ManifestLimit::Text => write!(
                f,
                "the manifest is {size} bytes, more than the {max} a manifest may have; keep the job's data in its sources"
            ),
            ManifestLimit::Name => write!(
                f,
                "the job name is {size} characters long, more than the {max} a name may have; choose a shorter one"
            ),
            ManifestLimit::Sections => write!(
                f,
                "the manifest has more than {max} sources, steps and sinks; split the job into smaller ones"
            ),
            ManifestLimit::Config => write!(
                f,
                "the config is {size} bytes (keys and values), more than the {max} a config may have; pass large data as the job's input"
            ),
        }
    }
}

/// Refuses a manifest `text` longer than [`MAX_MANIFEST_BYTES`], naming the line the cap falls on;
/// checked before anything else is read of it.
pub(crate) fn check_text(file: &Path, text: &str) -> Result<(), ManifestError> {
    if text.len() <= MAX_MANIFEST_BYTES {
        return Ok(());
    }
    let line = 1 + text.as_bytes()[..MAX_MANIFEST_BYTES].iter().filter(|&&b| b == b'\n').count();
    Err(ManifestError::TooLarge {
        file: file.to_path_buf(),
        line,
        section: crate::decode::TOP_LEVEL.to_owned(),
        limit: ManifestLimit::Text,
        size: text.len(),
    })
}
