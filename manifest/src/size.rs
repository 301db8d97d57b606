//! Byte sizes as written in a manifest: `"64MiB"`, `"100MB"`, `"1048576"`.
//!
//! A size is a whole number followed by an optional unit, with an optional space between them.
//! `kB`/`KB`, `MB` and `GB` are powers of 1000; `KiB`, `MiB` and `GiB` are powers of 1024; `B` or no
//! unit at all means bytes. Zero is rejected: every size in a manifest is a limit or a split length,
//! and zero of either makes no sense.

/// Why a text is not a valid size.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    /// The text holds no number, or the number is not a whole non-negative number.
    #[error(
        "\"{text}\" is not a size; write a whole number with an optional unit, e.g. \"64MiB\" or \"100MB\""
    )]
    NotANumber {
        /// The text as given.
        text: String,
    },
    /// The number is followed by something that is not a known unit.
    #[error(
        "\"{text}\" has the unknown unit \"{unit}\"; use B, kB, MB, GB (powers of 1000) or KiB, MiB, GiB (powers of 1024)"
    )]
    UnknownUnit {
        /// The text as given.
        text: String,
        /// The part after the number.
        unit: String,
    },
    /// The size is zero bytes.
    #[error("\"{text}\" is zero; a size must be at least 1 byte")]
    Zero {
        /// The text as given.
        text: String,
    },
    /// The size does not fit in 64 bits.
    #[error("\"{text}\" is too large")]
    Overflow {
        /// The text as given.
        text: String,
    },
}

/// The units a size may carry, with the number of bytes in one of each.
const UNITS: &[(&str, u64)] = &[
    ("", 1),
    ("B", 1),
    ("kB", 1000),
    ("KB", 1000),
    ("MB", 1000 * 1000),
    ("GB", 1000 * 1000 * 1000),
    ("KiB", 1 << 10),
    ("MiB", 1 << 20),
    ("GiB", 1 << 30),
];

/// Parses a size such as `"64MiB"`, `"100 MB"` or `"1048576"` into a number of bytes.
pub fn parse_size(text: &str) -> Result<u64, SizeError> {
    let trimmed = text.trim();
    let digits_end = trimmed.find(|c: char| !c.is_ascii_digit()).unwrap_or(trimmed.len());
    let (digits, rest) = trimmed.split_at(digits_end);
    if digits.is_empty() || rest.starts_with('.') {
        return Err(SizeError::NotANumber { text: text.to_owned() });
    }
    let unit = rest.trim_start();
    let Some(&(_, scale)) = UNITS.iter().find(|(name, _)| *name == unit) else {
        return Err(SizeError::UnknownUnit { text: text.to_owned(), unit: unit.to_owned() });
    };
    let overflow = || SizeError::Overflow { text: text.to_owned() };
    let bytes = digits.parse::<u64>().map_err(|_| overflow())?.checked_mul(scale).ok_or_else(overflow)?;
    if bytes == 0 {
        return Err(SizeError::Zero { text: text.to_owned() });
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_units_are_powers_of_1024() {
        assert_eq!(parse_size("64MiB"), Ok(64 * 1024 * 1024));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("512KiB"), Ok(512 * 1024));
    }

    #[test]
    fn decimal_units_are_powers_of_1000() {
        assert_eq!(parse_size("100MB"), Ok(100_000_000));
        assert_eq!(parse_size("10kB"), Ok(10_000));
        assert_eq!(parse_size("10KB"), Ok(10_000));
        assert_eq!(parse_size("2GB"), Ok(2_000_000_000));
    }

    #[test]
    fn plain_numbers_and_bytes() {
        assert_eq!(parse_size("1048576"), Ok(1_048_576));
        assert_eq!(parse_size("7B"), Ok(7));
    }

    #[test]
    fn a_space_before_the_unit_is_allowed() {
        assert_eq!(parse_size("64 MiB"), Ok(64 << 20));
        assert_eq!(parse_size(" 1 GiB "), Ok(1 << 30));
    }

    #[test]
    fn zero_is_rejected() {
        assert!(matches!(parse_size("0"), Err(SizeError::Zero { .. })));
        assert!(matches!(parse_size("0MiB"), Err(SizeError::Zero { .. })));
    }

    #[test]
    fn garbage_is_rejected() {
        for text in ["", "MiB", "abc", "-5", "1.5GiB", " "] {
            assert!(matches!(parse_size(text), Err(SizeError::NotANumber { .. })), "{text:?}");
        }
        assert_eq!(
            parse_size("64mib"),
            Err(SizeError::UnknownUnit { text: "64mib".into(), unit: "mib".into() })
        );
        assert!(matches!(parse_size("64 MiB x"), Err(SizeError::UnknownUnit { .. })));
    }

    #[test]
    fn overflow_is_rejected() {
        assert!(matches!(parse_size("99999999999999999999"), Err(SizeError::Overflow { .. })));
        assert!(matches!(parse_size("17179869184GiB"), Err(SizeError::Overflow { .. })));
    }

    #[test]
    fn messages_say_what_to_write() {
        let message = parse_size("lots").unwrap_err().to_string();
        assert!(message.contains("\"lots\"") && message.contains("64MiB"), "{message}");
    }
}
