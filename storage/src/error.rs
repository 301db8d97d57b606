//! The one error type of this crate.

/// Everything that can go wrong while locating, reading or committing data.
///
/// Every variant names the URL it is about, so a message is useful on its own.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The URL uses a scheme this build cannot open.
    #[error(
        "unsupported storage scheme in `{url}`: use a local path, file:///absolute/path, s3://bucket/prefix, gs://bucket/prefix or memory://name/prefix"
    )]
    UnsupportedScheme {
        /// The URL as given.
        url: String,
    },

    /// The URL is malformed.
    #[error("invalid storage url `{url}`: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// The store's client cannot be set up from its environment and settings.
    #[error("cannot set up the store for {url}: {error}")]
    StoreConfig {
        /// The URL as given.
        url: String,
        /// What object_store reported (shown in the message: the cluster reports task errors as
        /// one line).
        error: object_store::Error,
    },

    /// The URL is well formed but its path cannot name an object.
    #[error("invalid object path in `{url}`")]
    InvalidPath {
        /// The URL as given.
        url: String,
        /// Why the path was rejected.
        #[source]
        source: object_store::path::Error,
    },

    /// Listing an input found no object.
    #[error(
        "no input found at {url}: no object, no visible object under that prefix, or nothing matching that glob"
    )]
    NoInput {
        /// The input location.
        url: String,
    },

    /// The object store reported an error.
    #[error("storage operation on {url} failed: {error}")]
    ObjectStore {
        /// The location the operation was about.
        url: String,
        /// The store's error (shown in the message: the cluster reports task errors as one
        /// line).
        error: object_store::Error,
    },

    /// An object does not have the size it had when it was listed or written.
    #[error("{url} is {actual} bytes but was {expected} bytes before: was it modified while the job ran?")]
    ObjectChanged {
        /// The object.
        url: String,
        /// The size recorded earlier.
        expected: u64,
        /// The size found now.
        actual: u64,
    },

    /// An object ended before an offset that should exist.
    #[error("{url} ends before byte {offset}: was it truncated while the job ran?")]
    UnexpectedEof {
        /// The object.
        url: String,
        /// The offset that could not be reached.
        offset: u64,
    },

    /// A compressed object's data cannot be decompressed.
    #[error(
        "cannot decompress {url} as {format}: {reason}; is the object corrupt or truncated, or is its extension wrong?"
    )]
    Decompress {
        /// The object.
        url: String,
        /// The format its name says it has.
        format: crate::Compression,
        /// What the decoder reported.
        reason: String,
    },

    /// The output has no `_SUCCESS` marker, so it was never committed (or is being replaced).
    #[error("no committed output at {url}: `_SUCCESS` is missing")]
    NotCommitted {
        /// The output location.
        url: String,
    },

    /// The output location holds a committed output that must not be replaced.
    #[error(
        "{url} already holds a committed output (its `_SUCCESS` exists): set mode = \"overwrite\" on the sink to replace it, or write elsewhere"
    )]
    AlreadyCommitted {
        /// The output location.
        url: String,
    },

    /// An output location holds data no committed output lists, and the sink's mode refuses it.
    #[error(
        "{url} holds {count} object(s) that no committed output lists ({names}): flicker never deletes what it did not write, so with mode = \"error\" it refuses this location; move them away, write elsewhere, or set mode = \"overwrite\" on the sink to write the output beside them"
    )]
    ForeignObjects {
        /// The output location.
        url: String,
        /// The first few of them, by name (a folder ends with `/`).
        names: String,
        /// How many there are.
        count: usize,
    },

    /// The `_SUCCESS` marker cannot be parsed.
    #[error("corrupt `_SUCCESS` file {url}: line {line} is not `<part name><TAB><size>`")]
    CorruptSuccessFile {
        /// The `_SUCCESS` object.
        url: String,
        /// The 1-based number of the first bad line.
        line: usize,
    },

    /// A part file extension would not make a plain file name.
    #[error(
        "invalid part file extension `{extension}` for output {url}: use letters, digits, `.`, `-` or `_`"
    )]
    InvalidPartExtension {
        /// The output location.
        url: String,
        /// The extension as given.
        extension: String,
    },

    /// A part to commit was never written (or was already removed).
    #[error("part file {url} is missing: it was not written by this run or was already committed")]
    MissingPart {
        /// The temporary part object.
        url: String,
    },

    /// The same part was listed twice in a commit.
    #[error("part `{name}` is listed twice in the commit of {url}")]
    DuplicatePart {
        /// The output location.
        url: String,
        /// The repeated part name.
        name: String,
    },
}
