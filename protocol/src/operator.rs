//! What the manifest says about an operator and the host enforces: the kind a component exports
//! and the sandbox limits a step gives it.
//!
//! Plain data shared by `flicker-manifest`, which reads them from a job, and `flicker-host`, which
//! runs the components; here so that neither depends on the other (the host needs none of the
//! manifest's storage settings).

use std::fmt;
use std::time::Duration;

/// The kind of operator a plugin exports, which decides where in a job it may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OperatorKind {
    /// Turns the raw lines of a source into records; reads a source.
    Parse,
    /// Turns each record into zero or more records; reads a step.
    Map,
    /// Combines the records of each key; reads a step.
    Aggregate,
    /// Combines several inputs by key (Spark's `cogroup`, joins); reads steps.
    CoGroup,
    /// Turns records into bytes to be written; used by sinks only.
    Format,
}

impl OperatorKind {
    /// "a" or "an", to go before the kind's name in a sentence.
    pub fn article(self) -> &'static str {
        match self {
            OperatorKind::Aggregate => "an",
            OperatorKind::Parse | OperatorKind::Map | OperatorKind::CoGroup | OperatorKind::Format => "a",
        }
    }
}

impl fmt::Display for OperatorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OperatorKind::Parse => "parse",
            OperatorKind::Map => "map",
            OperatorKind::Aggregate => "aggregate",
            OperatorKind::CoGroup => "cogroup",
            OperatorKind::Format => "format",
        })
    }
}

/// Sandbox limits given by a step or sink; `None` keeps the engine's default.
#[derive(Default, Clone, Copy, Debug, PartialEq, Eq)]
pub struct LimitOverrides {
    /// The most memory the operator's instance may grow to, in bytes.
    pub memory: Option<u64>,
    /// The longest one call into the operator may take.
    pub call_timeout: Option<Duration>,
    /// The most bytes one call may output.
    pub output: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_read_as_words_with_their_article() {
        let words = [
            OperatorKind::Parse,
            OperatorKind::Map,
            OperatorKind::Aggregate,
            OperatorKind::CoGroup,
            OperatorKind::Format,
        ]
        .map(|kind| format!("{} {kind}", kind.article()));
        assert_eq!(words, ["a parse", "a map", "an aggregate", "a cogroup", "a format"]);
    }
}
