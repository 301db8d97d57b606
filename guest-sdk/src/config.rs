//! The step's config, as given in the manifest, and which of its keys the operator asked about.

use crate::Error;
use std::cell::RefCell;
use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

/// The `config` table of a manifest step: string keys and values, in manifest order.
///
/// A config remembers every key the operator asks about, set or not: through [`get`](Self::get),
/// [`require`](Self::require), [`parse_or`](Self::parse_or), [`allow_only`](Self::allow_only)
/// (its known keys) and [`pairs`](Self::pairs) (all keys). Those are the operator's known keys:
/// once a typed operator is built, the SDK rejects any other key (see
/// [`FromConfig`](crate::FromConfig)).
#[derive(Debug, Clone, Default)]
pub struct Config {
    pairs: Vec<(String, String)>,
    asked: RefCell<BTreeSet<String>>,
}

/// Two configs are equal when their pairs are; which keys were asked about is not compared.
impl PartialEq for Config {
    fn eq(&self, other: &Self) -> bool {
        self.pairs == other.pairs
    }
}

impl Eq for Config {}

impl Config {
    /// Wraps the pairs handed to an operator's `create` function.
    pub fn new(pairs: Vec<(String, String)>) -> Self {
        Self { pairs, asked: RefCell::default() }
    }

    /// The value of `key`, if set.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.note(key);
        self.pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// The value of `key`, or an invalid-config error saying it is missing (and which key, set but
    /// not asked about, looks like a misspelling of it, if one does).
    pub fn require(&self, key: &str) -> Result<&str, Error> {
        self.get(key).ok_or_else(|| {
            let asked = self.asked.borrow();
            let set: Vec<&str> =
                self.pairs.iter().map(|(k, _)| k.as_str()).filter(|k| !asked.contains(*k)).collect();
            Error::config(match closest(key, &set) {
                Some(typo) => format!("missing config key `{key}` (is `{typo}` a misspelling of it?)"),
                None => format!("missing config key `{key}`"),
            })
        })
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

    /// Rejects any key not in `known`, naming it, the keys that are accepted and the one it most
    /// likely misspells. The keys in `known` count as asked about.
    pub fn allow_only(&self, known: &[&str]) -> Result<(), Error> {
        known.iter().for_each(|key| self.note(key));
        Ok(self.check_known(known)?)
    }

    /// All pairs, in manifest order. Every key counts as asked about: an operator reading them all
    /// takes any key.
    pub fn pairs(&self) -> &[(String, String)] {
        self.pairs.iter().for_each(|(key, _)| self.note(key));
        &self.pairs
    }

    /// Rejects any key the operator has not asked about, as [`allow_only`](Self::allow_only)
    /// would with the keys it asked about.
    pub(crate) fn reject_unasked(&self) -> Result<(), Error> {
        let asked = self.asked.borrow();
        let known: Vec<&str> = asked.iter().map(String::as_str).collect();
        Ok(self.check_known(&known)?)
    }

    /// Records that the operator asked about `key`.
    fn note(&self, key: &str) {
        let mut asked = self.asked.borrow_mut();
        if !asked.contains(key) {
            asked.insert(key.to_owned());
        }
    }

    /// Fails on the first key, in manifest order, that is not in `known`.
    fn check_known(&self, known: &[&str]) -> Result<(), UnknownKey> {
        match self.pairs.iter().find(|(k, _)| !known.contains(&k.as_str())) {
            None => Ok(()),
            Some((key, _)) => Err(UnknownKey {
                key: key.clone(),
                known: known.iter().map(|k| k.to_string()).collect(),
                suggestion: closest(key, known).map(str::to_owned),
            }),
        }
    }
}

/// A config key the operator does not know.
#[derive(Debug, PartialEq, Eq)]
struct UnknownKey {
    /// The key, as set in the manifest.
    key: String,
    /// The keys the operator knows.
    known: Vec<String>,
    /// The known key it most likely misspells.
    suggestion: Option<String>,
}

impl fmt::Display for UnknownKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let known = if self.known.is_empty() { "none".to_owned() } else { self.known.join(", ") };
        write!(f, "unknown config key `{}` (known keys: {known})", self.key)?;
        match &self.suggestion {
            Some(suggestion) => write!(f, "; did you mean `{suggestion}`?"),
            None => Ok(()),
        }
    }
}

impl From<UnknownKey> for Error {
    fn from(unknown: UnknownKey) -> Self {
        Error::config(unknown.to_string())
    }
}

/// The candidate `key` most likely misspells: the nearest one that differs from it only in case
/// and `-`/`_`, or by at most one edit (two for keys longer than five characters), if any.
fn closest<'a>(key: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let key = normalize(key);
    let budget = if key.chars().count() > 5 { 2 } else { 1 };
    candidates
        .iter()
        // The fewest insertions, deletions, substitutions and swaps of two neighbours.
        .map(|candidate| (strsim::osa_distance(&key, &normalize(candidate)), *candidate))
        .filter(|(distance, _)| *distance <= budget)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// `key` in lower case with `-` as `_`, so keys differing only in those compare equal.
fn normalize(key: &str) -> String {
    key.chars().map(|c| if c == '-' { '_' } else { c.to_ascii_lowercase() }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Config {
        Config::new(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }

    fn message(result: Result<impl fmt::Debug, Error>) -> String {
        match result {
            Err(Error::InvalidConfig(message)) => message,
            other => panic!("expected an invalid-config error, got {other:?}"),
        }
    }

    #[test]
    fn allow_only_names_the_unknown_key_the_known_ones_and_the_likely_one() {
        let config = config(&[("field", "t"), ("limt", "3")]);
        assert_eq!(
            config.check_known(&["field", "limit"]),
            Err(UnknownKey {
                key: "limt".into(),
                known: vec!["field".into(), "limit".into()],
                suggestion: Some("limit".into()),
            })
        );
        assert_eq!(
            message(config.allow_only(&["field", "limit"])),
            "unknown config key `limt` (known keys: field, limit); did you mean `limit`?"
        );
        assert_eq!(message(config.allow_only(&[])), "unknown config key `field` (known keys: none)");
        assert_eq!(config.allow_only(&["limt", "field"]), Ok(()));
    }

    #[test]
    fn the_known_keys_are_those_asked_about_set_or_not() {
        let config = config(&[("field", "t"), ("colour", "red")]);
        assert_eq!(config.get("field"), Some("t"));
        assert_eq!(config.parse_or("limit", 10), Ok(10));
        assert_eq!(
            message(config.reject_unasked()),
            "unknown config key `colour` (known keys: field, limit)"
        );
        assert_eq!(config.get("colour"), Some("red"));
        assert_eq!(config.reject_unasked(), Ok(()));
    }

    #[test]
    fn allow_only_and_pairs_count_as_asking() {
        let declared = config(&[("header", "true")]);
        declared.allow_only(&["delimiter", "header"]).unwrap();
        assert_eq!(declared.reject_unasked(), Ok(()));
        let all = config(&[("a", "1"), ("b", "2")]);
        assert_eq!(all.pairs().len(), 2);
        assert_eq!(all.reject_unasked(), Ok(()));
    }

    #[test]
    fn a_missing_key_points_at_a_set_key_that_misspells_it() {
        let typo = config(&[("feild", "t")]);
        assert_eq!(
            message(typo.require("field")),
            "missing config key `field` (is `feild` a misspelling of it?)"
        );
        // A key the operator already asked about is its own, not a misspelling.
        let fields = config(&[("fields", "a")]);
        fields.get("fields");
        assert_eq!(message(fields.require("field")), "missing config key `field`");
    }

    #[test]
    fn the_likely_key_differs_in_case_separators_or_a_few_edits() {
        let known = ["field", "on_error", "temperature", "limit"];
        for (typo, meant) in [
            ("Field", "field"),
            ("on-error", "on_error"),
            ("ON-ERROR", "on_error"),
            ("feild", "field"),
            ("fild", "field"),
            ("tempature", "temperature"),
            ("temprature", "temperature"),
            ("limits", "limit"),
        ] {
            assert_eq!(closest(typo, &known), Some(meant), "{typo}");
        }
        for far in ["colour", "lmt", "x", "on_errors_x"] {
            assert_eq!(closest(far, &known), None, "{far}");
        }
        // The nearest wins; between equally near ones, the first.
        assert_eq!(closest("fielt", &["feild", "field"]), Some("field"));
        assert_eq!(closest("ab", &["ax", "xb"]), Some("ax"));
    }

    #[test]
    fn the_distance_counts_insertions_deletions_substitutions_and_swaps() {
        for (a, b, distance) in [
            ("", "", 0),
            ("", "abc", 3),
            ("abc", "", 3),
            ("field", "field", 0),
            ("field", "feild", 1),
            ("kitten", "sitting", 3),
            ("tempature", "temperature", 2),
            ("ca", "abc", 3),
        ] {
            assert_eq!(strsim::osa_distance(a, b), distance, "{a} -> {b}");
            assert_eq!(strsim::osa_distance(b, a), distance, "{b} -> {a}");
        }
    }
}
