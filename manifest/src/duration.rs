//! Durations as written in a manifest: `"30s"`, `"500ms"`, `"2m"`, `"1h"`, `"1.5s"`.
//!
//! A duration is a number, optionally with a fractional part, followed by a unit (`ms`, `s`, `m` or
//! `h`), with an optional space between them. The unit is required, so that `"30"` is not silently read
//! as seconds or milliseconds. Fractions below a nanosecond are dropped; zero is rejected.

use std::time::Duration;

/// Why a text is not a valid duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// The text does not start with a number.
    #[error("\"{text}\" is not a duration; write a number and a unit, e.g. \"30s\", \"500ms\" or \"1.5s\"")]
    NotANumber {
        /// The text as given.
        text: String,
    },
    /// The number has no unit after it.
    #[error("\"{text}\" has no unit; add one of ms, s, m, h, e.g. \"{text}s\"")]
    MissingUnit {
        /// The text as given.
        text: String,
    },
    /// The number is followed by something that is not a known unit.
    #[error("\"{text}\" has the unknown unit \"{unit}\"; use ms, s, m or h")]
    UnknownUnit {
        /// The text as given.
        text: String,
        /// The part after the number.
        unit: String,
    },
    /// The duration is zero (or below one nanosecond).
    #[error("\"{text}\" is zero; a duration must be longer than that")]
    Zero {
        /// The text as given.
        text: String,
    },
    /// The duration does not fit in a [`Duration`].
    #[error("\"{text}\" is too long")]
    Overflow {
        /// The text as given.
        text: String,
    },
}

/// The units a duration may carry, with the number of nanoseconds in one of each.
const UNITS: &[(&str, u128)] =
    &[("ms", 1_000_000), ("s", 1_000_000_000), ("m", 60 * 1_000_000_000), ("h", 3600 * 1_000_000_000)];

/// Fraction digits beyond this many are below a nanosecond even for hours, and are ignored.
const MAX_FRACTION_DIGITS: usize = 18;

const NANOS_PER_SEC: u128 = 1_000_000_000;

/// Parses a duration such as `"30s"`, `"500ms"`, `"2m"`, `"1h"` or `"1.5s"`.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let trimmed = text.trim();
    let not_a_number = || DurationError::NotANumber { text: text.to_owned() };
    let overflow = || DurationError::Overflow { text: text.to_owned() };

    let number_end = trimmed.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(trimmed.len());
    let (number, rest) = trimmed.split_at(number_end);
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() || (number.contains('.') && fraction.is_empty()) || fraction.contains('.') {
        return Err(not_a_number());
    }

    let unit = rest.trim_start();
    if unit.is_empty() {
        return Err(DurationError::MissingUnit { text: text.to_owned() });
    }
    let Some(&(_, scale)) = UNITS.iter().find(|(name, _)| *name == unit) else {
        return Err(DurationError::UnknownUnit { text: text.to_owned(), unit: unit.to_owned() });
    };

    let whole_nanos =
        whole.parse::<u128>().map_err(|_| overflow())?.checked_mul(scale).ok_or_else(overflow)?;
    let fraction = &fraction[..fraction.len().min(MAX_FRACTION_DIGITS)];
    let fraction_nanos = if fraction.is_empty() {
        0
    } else {
        // At most 18 digits times at most 3.6e12 fits easily in a u128.
        let digits = fraction.parse::<u128>().map_err(|_| not_a_number())?;
        digits * scale / 10u128.pow(fraction.len() as u32)
    };
    let nanos = whole_nanos.checked_add(fraction_nanos).ok_or_else(overflow)?;
    if nanos == 0 {
        return Err(DurationError::Zero { text: text.to_owned() });
    }
    let secs = u64::try_from(nanos / NANOS_PER_SEC).map_err(|_| overflow())?;
    let subsec = u32::try_from(nanos % NANOS_PER_SEC).map_err(|_| overflow())?;
    Ok(Duration::new(secs, subsec))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_units() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
    }

    #[test]
    fn fractions_are_exact() {
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("0.1s"), Ok(Duration::from_millis(100)));
        assert_eq!(parse_duration("0.5h"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_duration("1.25ms"), Ok(Duration::from_micros(1250)));
    }

    #[test]
    fn a_space_before_the_unit_is_allowed() {
        assert_eq!(parse_duration("30 s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration(" 2 m "), Ok(Duration::from_secs(120)));
    }

    #[test]
    fn zero_is_rejected() {
        for text in ["0s", "0.0ms", "0.0000000001s"] {
            assert!(matches!(parse_duration(text), Err(DurationError::Zero { .. })), "{text:?}");
        }
    }

    #[test]
    fn a_unit_is_required() {
        assert_eq!(parse_duration("30"), Err(DurationError::MissingUnit { text: "30".into() }));
    }

    #[test]
    fn garbage_is_rejected() {
        for text in ["", "s", "soon", "-1s", ".5s", "1.s", "1.2.3s"] {
            assert!(matches!(parse_duration(text), Err(DurationError::NotANumber { .. })), "{text:?}");
        }
        assert_eq!(
            parse_duration("3days"),
            Err(DurationError::UnknownUnit { text: "3days".into(), unit: "days".into() })
        );
        assert!(matches!(parse_duration("30 S"), Err(DurationError::UnknownUnit { .. })));
    }

    #[test]
    fn overflow_is_rejected() {
        assert!(matches!(parse_duration("99999999999999999999999h"), Err(DurationError::Overflow { .. })));
        assert!(matches!(
            parse_duration("999999999999999999999999999999999999999999s"),
            Err(DurationError::Overflow { .. })
        ));
    }

    #[test]
    fn messages_say_what_to_write() {
        let message = parse_duration("30").unwrap_err().to_string();
        assert!(message.contains("\"30s\""), "{message}");
    }
}
