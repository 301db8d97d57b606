//! An aggregate operator for the tests that blame a malformed batch on its producer: `std:count`
//! (config `field`, optional, as there), whose `partials` (config `malformed = "partials"`, the
//! map side of the shuffle) or `finish` (`malformed = "finish"`, the reduce side) returns its
//! batch malformed, in the shape of config `shape`: `garbage`, or `extra-value` (the default; see
//! `flicker_test_malformed::Shape`). With `malformed = "none"`, the default, it counts as
//! `std:count` does.

use flicker_guest::{Aggregate, Config, Error, RowType, TypeMismatch, export_aggregate};
use flicker_std_ops::Count;
use flicker_test_malformed::Breaker;

/// `std:count`, one of whose calls returns a malformed batch.
struct MalformedCount {
    count: Count,
    breaker: Breaker,
}

impl Aggregate for MalformedCount {
    fn new(config: &Config) -> Result<Self, Error> {
        let (breaker, rest) = Breaker::from_config(config, &["partials", "finish"])?;
        Ok(Self { count: Count::new(&rest)?, breaker })
    }

    fn update(&mut self, input: &[u8]) -> Result<(), Error> {
        self.count.update(input)
    }

    fn partials(&mut self) -> Result<Vec<u8>, Error> {
        self.breaker.returned("partials", self.count.partials()?)
    }

    fn merge(&mut self, partials: &[u8]) -> Result<(), Error> {
        self.count.merge(partials)
    }

    fn finish(&mut self) -> Result<Vec<u8>, Error> {
        self.breaker.returned("finish", self.count.finish()?)
    }

    fn state_bytes(&self) -> u64 {
        self.count.state_bytes()
    }

    fn output_type(&self, input: &RowType) -> Result<Option<RowType>, TypeMismatch> {
        self.count.output_type(input)
    }
}

export_aggregate!(MalformedCount);
