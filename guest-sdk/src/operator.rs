//! The five operator traits, one per operator kind, over framed batches.
//!
//! These are the fast, byte-level traits the standard operators implement. Most authors use the
//! typed traits of [`crate::typed`] instead.

use crate::{Config, Error};
use flicker_batch::{RowType, TypeMismatch};

/// What a [`Parse`] call produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    /// The rows, as a framed batch.
    pub rows: Vec<u8>,
    /// How many records were skipped as bad.
    pub skipped: u32,
    /// How many records were read into rows (more than the rows when the parser combined them).
    pub records: u32,
}

impl Parsed {
    /// A batch of one row per record read, `skipped` records left out.
    pub fn rows(rows: Vec<u8>, skipped: u32) -> Self {
        let records = crate::BatchReader::new(&rows)
            .map_or(0, |batch| flicker_batch::Rows::count_framed(batch.row_bytes()) as u32);
        Self { rows, skipped, records }
    }
}

/// Turns chunks of whole newline-delimited records into batches.
pub trait Parse: Sized + 'static {
    /// Builds the operator from the step's config; reject bad config with [`Error::InvalidConfig`].
    fn new(config: &Config) -> Result<Self, Error>;
    /// Parses one chunk holding only whole records.
    fn parse(&mut self, chunk: &[u8]) -> Result<Parsed, Error>;
    /// The type of the rows it outputs, if it can say before it sees them (the default: `None`,
    /// so later steps are checked at run time).
    fn output_type(&self) -> Option<RowType> {
        None
    }
}

/// Maps a batch to a batch: map, filter, flat-map, key-by.
pub trait Map: Sized + 'static {
    /// Builds the operator from the step's config; reject bad config with [`Error::InvalidConfig`].
    fn new(config: &Config) -> Result<Self, Error>;
    /// Maps one framed batch to another.
    fn map(&mut self, input: &[u8]) -> Result<Vec<u8>, Error>;
    /// The type of the rows it outputs for input rows of type `input`, if it can say before it
    /// sees them, or why it cannot take such rows. The default takes any rows and cannot say.
    fn output_type(&self, input: &RowType) -> Result<Option<RowType>, TypeMismatch> {
        let _ = input;
        Ok(None)
    }
}

/// A keyed, associative aggregate run on both sides of a shuffle.
pub trait Aggregate: Sized + 'static {
    /// Builds the operator from the step's config; reject bad config with [`Error::InvalidConfig`].
    fn new(config: &Config) -> Result<Self, Error>;
    /// Folds a batch of keyed rows into the per-key state.
    fn update(&mut self, input: &[u8]) -> Result<(), Error>;
    /// Returns the partial state per key and empties the state.
    fn partials(&mut self) -> Result<Vec<u8>, Error>;
    /// Folds a batch returned by `partials` into the per-key state.
    fn merge(&mut self, partials: &[u8]) -> Result<(), Error>;
    /// Returns the final value per key and empties the state.
    fn finish(&mut self) -> Result<Vec<u8>, Error>;
    /// The bytes of memory the per-key state holds ([`GroupTable::state_bytes`](crate::GroupTable::state_bytes)
    /// counts them for a table). The host empties the state with `partials` when this passes a
    /// third of the step's memory limit; the default, 0, means never.
    fn state_bytes(&self) -> u64 {
        0
    }
    /// The type of the rows `finish` outputs for input rows of type `input`, if it can say before
    /// it sees them, or why it cannot take such rows. The default takes any rows and cannot say.
    fn output_type(&self, input: &RowType) -> Result<Option<RowType>, TypeMismatch> {
        let _ = input;
        Ok(None)
    }
}

/// Several inputs to one output, by key (Spark's `cogroup`): the kind of joins.
///
/// Map side, `prepare` keys each input's rows by the co-group key; the host hash-partitions them
/// by it, so that rows of equal keys of every input meet in one reduce task. Reduce side,
/// `cogroup` gets one batch per input, and every key in a call comes with all its rows of every
/// input (the host cuts calls where keys end). Broadcast (only for operators whose kept input is
/// a build side, like `std:join`'s), the host hands one input's rows to `keep` once and then
/// calls `cogroup` with an empty batch in that input's place.
pub trait CoGroup: Sized + 'static {
    /// Builds the operator from the step's config for `inputs` inputs; reject bad config, or a
    /// number of inputs it cannot take, with [`Error::InvalidConfig`].
    fn new(config: &Config, inputs: u32) -> Result<Self, Error>;
    /// Map side: the rows of input `input` keyed by the co-group key. The default keeps the rows
    /// as they are (keyed by an earlier key-by).
    fn prepare(&mut self, input: u32, rows: &[u8]) -> Result<Vec<u8>, Error> {
        let _ = input;
        Ok(rows.to_vec())
    }
    /// Broadcast: prepared rows of input `input` that every later `cogroup` call takes as part of
    /// that input. The default refuses: an operator must say it can run this way.
    fn keep(&mut self, input: u32, rows: &[u8]) -> Result<(), Error> {
        let _ = rows;
        Err(Error::failed(format!("this operator cannot take input {input} broadcast")))
    }
    /// Reduce side: the output rows of the keys of `inputs` (one framed batch per input).
    fn cogroup(&mut self, inputs: &[Vec<u8>]) -> Result<Vec<u8>, Error>;
    /// The type of the rows it outputs for inputs of the row types `inputs` (each input's rows
    /// before `prepare`), if it can say before it sees them, or why it cannot take such rows.
    /// The default takes any rows and cannot say.
    fn output_type(&self, inputs: &[RowType]) -> Result<Option<RowType>, TypeMismatch> {
        let _ = inputs;
        Ok(None)
    }
}

/// Turns batches into the bytes of one output part.
pub trait Format: Sized + 'static {
    /// Builds the operator from the step's config; reject bad config with [`Error::InvalidConfig`].
    fn new(config: &Config) -> Result<Self, Error>;
    /// Formats one batch (the first call may emit a header first).
    fn format(&mut self, input: &[u8]) -> Result<Vec<u8>, Error>;
    /// Why it cannot take rows of type `input`, if it cannot. The default takes any rows.
    fn check_input(&self, input: &RowType) -> Result<(), TypeMismatch> {
        let _ = input;
        Ok(())
    }
}
