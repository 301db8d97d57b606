//! How the test plugins break a batch they return, for the tests that check that the host blames a
//! malformed batch on the step that returned it (the map `flicker-test-plugin`, the aggregate
//! `flicker-test-aggregate`, the parser `flicker-test-parse`).
//!
//! Config `shape` picks how a batch is broken ([`Shape`]). The aggregate and the parser wrap a
//! standard operator and break the batch of the call named by config `malformed` ([`Breaker`]);
//! the rest of their config goes to the operator they wrap.

use flicker_guest::{BatchReader, BatchWriter, Config, Error, Schema};

/// How a batch is broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Bytes that start like a batch but do not follow the framing (`shape = "garbage"`).
    Garbage,
    /// The batch's rows under a header that names one value field less, so that every row has
    /// one value more than the header has fields (`shape = "extra-value"`, the default).
    ExtraValue,
}

impl Shape {
    /// The shape config `shape` asks for.
    pub fn from_config(config: &Config) -> Result<Self, Error> {
        match config.get("shape") {
            Some("garbage") => Ok(Self::Garbage),
            None | Some("extra-value") => Ok(Self::ExtraValue),
            Some(other) => {
                Err(Error::config(format!("unknown shape `{other}` (`garbage` or `extra-value`)")))
            }
        }
    }

    /// `batch` broken in this shape.
    pub fn apply(self, batch: &[u8]) -> Result<Vec<u8>, Error> {
        match self {
            Self::Garbage => Ok(b"FLB1 not a batch".to_vec()),
            Self::ExtraValue => {
                let batch = BatchReader::new(batch)?;
                let schema = batch.schema();
                let Some((_, fewer)) = schema.value_fields.split_first() else {
                    return Err(Error::failed("the batch has no value field to leave out of its header"));
                };
                let fewer = Schema { key_fields: schema.key_fields.clone(), value_fields: fewer.to_vec() };
                let header = BatchWriter::new(&fewer).finish();
                Ok([BatchReader::new(&header)?.header_bytes(), batch.row_bytes()].concat())
            }
        }
    }
}

/// Breaks the batch of one call of an operator: the call config `malformed` names (or none, when
/// it is `none`, the default), in the [`Shape`] config `shape` asks for.
#[derive(Debug, Clone)]
pub struct Breaker {
    call: Option<String>,
    shape: Shape,
}

impl Breaker {
    /// The config keys a breaker reads.
    const KEYS: [&str; 2] = ["malformed", "shape"];

    /// The breaker `config` asks for, `malformed` being one of `calls` or `none`; with the config
    /// left for the operator it wraps.
    pub fn from_config(config: &Config, calls: &[&str]) -> Result<(Self, Config), Error> {
        let call = match config.get("malformed").unwrap_or("none") {
            "none" => None,
            call if calls.contains(&call) => Some(call.to_owned()),
            other => {
                return Err(Error::config(format!(
                    "unknown call `{other}` to return a malformed batch (one of {calls:?}, or `none`)"
                )));
            }
        };
        let rest = config.pairs().iter().filter(|(key, _)| !Self::KEYS.contains(&key.as_str())).cloned();
        Ok((Self { call, shape: Shape::from_config(config)? }, Config::new(rest.collect())))
    }

    /// The batch `call` returned: broken if it is the call to break, as it is otherwise.
    pub fn returned(&self, call: &str, batch: Vec<u8>) -> Result<Vec<u8>, Error> {
        if self.call.as_deref() == Some(call) { self.shape.apply(&batch) } else { Ok(batch) }
    }
}
