//! Glue between the operator traits and the generated WIT resources (used by the export macros).

use crate::bindings::{aggregate, cogroup, format, map, parse, types};
use crate::operator::{Aggregate, CoGroup, Format, Map, Parse};
use crate::{Config, Error};
use std::cell::RefCell;

/// A WIT resource wrapping an operator: the component model hands out `&self`, operators want
/// `&mut self`, and a component instance is single-threaded, so a `RefCell` bridges the two.
pub struct Resource<T>(RefCell<T>);

type WitResult<T> = Result<T, types::Error>;

fn build<T>(
    config: Vec<(String, String)>,
    new: impl FnOnce(&Config) -> Result<T, Error>,
) -> WitResult<Resource<T>> {
    Ok(Resource(RefCell::new(new(&Config::new(config))?)))
}

impl<T> Resource<T> {
    fn with<R>(&self, call: impl FnOnce(&mut T) -> Result<R, Error>) -> WitResult<R> {
        call(&mut self.0.borrow_mut()).map_err(Into::into)
    }
}

impl<T: Parse> parse::exports::flicker::operator::parse::GuestParser for Resource<T> {
    fn create(config: Vec<(String, String)>) -> WitResult<parse::exports::flicker::operator::parse::Parser> {
        build(config, T::new).map(parse::exports::flicker::operator::parse::Parser::new)
    }
    fn parse(&self, chunk: Vec<u8>) -> WitResult<parse::exports::flicker::operator::parse::Parsed> {
        self.with(|op| op.parse(&chunk)).map(|p| parse::exports::flicker::operator::parse::Parsed {
            rows: p.rows,
            skipped: p.skipped,
            records: p.records,
        })
    }
}

impl<T: Map> map::exports::flicker::operator::map::GuestMapper for Resource<T> {
    fn create(config: Vec<(String, String)>) -> WitResult<map::exports::flicker::operator::map::Mapper> {
        build(config, T::new).map(map::exports::flicker::operator::map::Mapper::new)
    }
    fn map(&self, input: Vec<u8>) -> WitResult<Vec<u8>> {
        self.with(|op| op.map(&input))
    }
}

impl<T: Aggregate> aggregate::exports::flicker::operator::aggregate::GuestAggregator for Resource<T> {
    fn create(
        config: Vec<(String, String)>,
    ) -> WitResult<aggregate::exports::flicker::operator::aggregate::Aggregator> {
        build(config, T::new).map(aggregate::exports::flicker::operator::aggregate::Aggregator::new)
    }
    fn update(&self, input: Vec<u8>) -> WitResult<()> {
        self.with(|op| op.update(&input))
    }
    fn partials(&self) -> WitResult<Vec<u8>> {
        self.with(T::partials)
    }
    fn merge(&self, partials: Vec<u8>) -> WitResult<()> {
        self.with(|op| op.merge(&partials))
    }
    fn finish(&self) -> WitResult<Vec<u8>> {
        self.with(T::finish)
    }
    fn state_bytes(&self) -> u64 {
        self.0.borrow().state_bytes()
    }
}

impl<T: CoGroup> cogroup::exports::flicker::operator::cogroup::GuestCogrouper for Resource<T> {
    fn create(
        config: Vec<(String, String)>,
        inputs: u32,
    ) -> WitResult<cogroup::exports::flicker::operator::cogroup::Cogrouper> {
        build(config, |config| T::new(config, inputs))
            .map(cogroup::exports::flicker::operator::cogroup::Cogrouper::new)
    }
    fn prepare(&self, input: u32, rows: Vec<u8>) -> WitResult<Vec<u8>> {
        self.with(|op| op.prepare(input, &rows))
    }
    fn keep(&self, input: u32, rows: Vec<u8>) -> WitResult<()> {
        self.with(|op| op.keep(input, &rows))
    }
    fn cogroup(&self, inputs: Vec<Vec<u8>>) -> WitResult<Vec<u8>> {
        self.with(|op| op.cogroup(&inputs))
    }
}

impl<T: Format> format::exports::flicker::operator::format::GuestFormatter for Resource<T> {
    fn create(
        config: Vec<(String, String)>,
    ) -> WitResult<format::exports::flicker::operator::format::Formatter> {
        build(config, T::new).map(format::exports::flicker::operator::format::Formatter::new)
    }
    fn format(&self, input: Vec<u8>) -> WitResult<Vec<u8>> {
        self.with(|op| op.format(&input))
    }
}

/// The WIT `*-schema` functions of each operator kind: the operator is built from `config` (a
/// config it rejects is reported as the reason), then asked.
pub mod output_type {
    use super::types;
    use crate::operator::{Aggregate, CoGroup, Format, Map, Parse};
    use crate::{Config, Error};
    use flicker_batch::{RowType, TypeMismatch};

    /// A step's config, as the WIT functions take it.
    pub type Pairs = Vec<(String, String)>;
    /// What a WIT `output-type` function returns.
    pub type WitAnswer = Result<Option<types::RowType>, types::TypeMismatch>;

    /// The answer of a parse operator.
    pub fn parse<T: Parse>(config: Pairs) -> WitAnswer {
        let op = build::<T>(config, T::new)?;
        Ok(op.output_type().map(Into::into))
    }

    /// The answer of a map operator.
    pub fn map<T: Map>(config: Pairs, input: types::RowType) -> WitAnswer {
        let op = build::<T>(config, T::new)?;
        answer(op.output_type(&input.into()))
    }

    /// The answer of an aggregate operator.
    pub fn aggregate<T: Aggregate>(config: Pairs, input: types::RowType) -> WitAnswer {
        let op = build::<T>(config, T::new)?;
        answer(op.output_type(&input.into()))
    }

    /// The answer of a co-group operator, built for as many inputs as `inputs` holds.
    pub fn cogroup<T: CoGroup>(config: Pairs, inputs: Vec<types::RowType>) -> WitAnswer {
        let op = build::<T>(config, |config| T::new(config, inputs.len() as u32))?;
        let inputs: Vec<RowType> = inputs.into_iter().map(Into::into).collect();
        answer(op.output_type(&inputs))
    }

    /// The answer of a format operator, which outputs bytes: whether it takes rows of `input`.
    pub fn format<T: Format>(config: Pairs, input: types::RowType) -> Result<(), types::TypeMismatch> {
        let op = build::<T>(config, T::new)?;
        op.check_input(&input.into()).map_err(Into::into)
    }

    fn build<T>(
        config: Pairs,
        new: impl FnOnce(&Config) -> Result<T, Error>,
    ) -> Result<T, types::TypeMismatch> {
        new(&Config::new(config)).map_err(|error| types::TypeMismatch::Other(format!("{error}")))
    }

    fn answer(output: Result<Option<RowType>, TypeMismatch>) -> WitAnswer {
        output.map(|output| output.map(Into::into)).map_err(Into::into)
    }

    flicker_batch::wit_row_type_conversions!(types);
}
