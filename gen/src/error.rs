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

    /// Writing the output object failed (its upload was aborted).
    #[error(transparent)]
    Storage(#[from] flicker_storage::StorageError),
}
