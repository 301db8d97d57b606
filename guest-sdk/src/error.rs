//! The error an operator returns.

use crate::bindings::types;
use std::fmt;

/// Why an operator call failed. Crosses the boundary as the WIT `error` variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The config was rejected (return it from `new`).
    InvalidConfig(String),
    /// One record could not be handled.
    BadRecord {
        /// Index of the row in the input batch, or of the line in the parsed chunk.
        index: u32,
        /// For parse: byte offset of the record in the chunk.
        offset: Option<u64>,
        /// What is wrong with the record.
        message: String,
    },
    /// Any other failure.
    Failed(String),
}

impl Error {
    /// An invalid-config error.
    pub fn config(message: impl Into<String>) -> Self {
        Self::InvalidConfig(message.into())
    }

    /// A bad-record error for row `index` of the input batch.
    pub fn bad_record(index: usize, message: impl Into<String>) -> Self {
        Self::BadRecord { index: saturate(index), offset: None, message: message.into() }
    }

    /// A bad-record error for line `index` of a parsed chunk, starting at byte `offset` of it.
    pub fn bad_line(index: usize, offset: usize, message: impl Into<String>) -> Self {
        Self::BadRecord { index: saturate(index), offset: Some(offset as u64), message: message.into() }
    }

    /// Any other failure.
    pub fn failed(message: impl Into<String>) -> Self {
        Self::Failed(message.into())
    }
}

fn saturate(index: usize) -> u32 {
    u32::try_from(index).unwrap_or(u32::MAX)
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidConfig(m) => write!(f, "invalid config: {m}"),
            Error::BadRecord { index, message, .. } => write!(f, "bad record {index}: {message}"),
            Error::Failed(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for Error {}

impl From<flicker_batch::FrameError> for Error {
    fn from(err: flicker_batch::FrameError) -> Self {
        Error::Failed(err.to_string())
    }
}

impl From<flicker_batch::RowError> for Error {
    fn from(err: flicker_batch::RowError) -> Self {
        Error::Failed(err.to_string())
    }
}

impl From<Error> for types::Error {
    fn from(err: Error) -> Self {
        match err {
            Error::InvalidConfig(m) => types::Error::InvalidConfig(m),
            Error::BadRecord { index, offset, message } => {
                types::Error::BadRecord(types::BadRecord { index, offset, message })
            }
            Error::Failed(m) => types::Error::Failed(m),
        }
    }
}
