//! A parse operator for the tests that blame a malformed batch on its producer: `std:parse-lines`
//! (config `field`, `line` by default, as there), whose rows come out malformed with config
//! `malformed = "parse"`, in the shape of config `shape`: `garbage`, or `extra-value` (the
//! default; see `flicker_test_malformed::Shape`). With `malformed = "none"`, the default, it
//! parses as `std:parse-lines` does.

use flicker_guest::{Config, Error, Parse, Parsed, RowType, export_parse};
use flicker_std_ops::ParseLines;
use flicker_test_malformed::Breaker;

/// `std:parse-lines`, whose rows are malformed on request.
struct MalformedLines {
    lines: ParseLines,
    breaker: Breaker,
}

impl Parse for MalformedLines {
    fn new(config: &Config) -> Result<Self, Error> {
        let (breaker, rest) = Breaker::from_config(config, &["parse"])?;
        Ok(Self { lines: ParseLines::new(&rest)?, breaker })
    }

    fn parse(&mut self, chunk: &[u8]) -> Result<Parsed, Error> {
        let parsed = self.lines.parse(chunk)?;
        Ok(Parsed { rows: self.breaker.returned("parse", parsed.rows)?, ..parsed })
    }

    fn output_type(&self) -> Option<RowType> {
        self.lines.output_type()
    }
}

export_parse!(MalformedLines);
