//! The one error type of this crate.

/// What can go wrong generating data or writing it.
#[derive(Debug, thiserror::Error)]
pub enum GenError {
    /// A data set was asked for with no station.
    #[error("no stations: weather data needs at least one station")]
    NoStations,

    /// A data set was asked for with more stations than the generator draws from.
    #[error("{count} stations are too many: at most {max}")]
    TooManyStations {
        /// The count asked for.
        count: usize,
        /// The largest count allowed.
        max: usize,
    },

    /// Uploading a piece of the output failed (the upload was then aborted).
    #[error("cannot write {url}: {error}")]
    Write {
        /// The output object.
        url: String,
        /// What the store reported (shown in the message, as storage errors are).
        error: object_store::Error,
    },

    /// Completing the output object failed.
    #[error("cannot complete {url}: {error}")]
    Complete {
        /// The output object.
        url: String,
        /// What the store's writer reported.
        error: std::io::Error,
    },
}
