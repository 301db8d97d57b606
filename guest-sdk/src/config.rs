//! The step's config, as given in the manifest.

use crate::Error;
use std::str::FromStr;

/// The `config` table of a manifest step: string keys and values, in manifest order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    pairs: Vec<(String, String)>,
}

impl Config {
    /// Wraps the pairs handed to an operator's `create` function.
    pub fn new(pairs: Vec<(String, String)>) -> Self {
        Self { pairs }
    }

    /// The value of `key`, if set.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// The value of `key`, or an invalid-config error saying it is missing.
    pub fn require(&self, key: &str) -> Result<&str, Error> {
        self.get(key).ok_or_else(|| Error::config(format!("missing config key `{key}`")))
    }

    /// The value of `key` parsed as `T`, `default` when unset, or an invalid-config error.
    pub fn parse_or<T: FromStr>(&self, key: &str, default: T) -> Result<T, Error>
    where
        T::Err: std::fmt::Display,
    {
        match self.get(key) {
            None => Ok(default),
            Some(raw) => raw
                .parse()
                .map_err(|e| Error::config(format!("config key `{key}` = {raw:?} is invalid: {e}"))),
        }
    }

    /// Rejects any key not in `known`, naming it and the keys that are accepted.
    pub fn allow_only(&self, known: &[&str]) -> Result<(), Error> {
        match self.pairs.iter().find(|(k, _)| !known.contains(&k.as_str())) {
            None => Ok(()),
            Some((key, _)) => Err(Error::config(format!(
                "unknown config key `{key}` (known keys: {})",
                if known.is_empty() { "none".to_owned() } else { known.join(", ") }
            ))),
        }
    }

    /// All pairs, in manifest order.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }
}
