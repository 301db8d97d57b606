//! Temperatures as text: tenths of a degree written with one decimal and the line's newline,
//! looked up in a table built at compile time instead of formatted line by line.

/// The largest temperature written, in tenths (99.9); the smallest is its negation.
pub(crate) const MAX_TENTHS: i32 = 999;

/// Entries of [`TEXTS`]: every temperature from -99.9 to 99.9.
const COUNT: usize = 2 * MAX_TENTHS as usize + 1;

/// One temperature's text, `-12.3\n` at the longest.
#[derive(Clone, Copy)]
struct Text {
    bytes: [u8; 6],
    len: u8,
}

/// The text of `tenths - MAX_TENTHS` at index `tenths`.
static TEXTS: [Text; COUNT] = texts();

/// The text of `tenths` (within ±[`MAX_TENTHS`]) with one decimal and a newline: `-0.5\n`,
/// `0.0\n` (never `-0.0`), `12.3\n`.
pub(crate) fn text_of(tenths: i32) -> &'static [u8] {
    let text = &TEXTS[(tenths + MAX_TENTHS) as usize];
    &text.bytes[..usize::from(text.len)]
}

/// Builds [`TEXTS`].
const fn texts() -> [Text; COUNT] {
    let mut texts = [Text { bytes: [0; 6], len: 0 }; COUNT];
    let mut index = 0;
    while index < COUNT {
        let tenths = index as i32 - MAX_TENTHS;
        let magnitude = tenths.unsigned_abs();
        let mut text = Text { bytes: [0; 6], len: 0 };
        if tenths < 0 {
            text = push(text, b'-');
        }
        if magnitude >= 100 {
            text = push(text, b'0' + (magnitude / 100) as u8);
        }
        text = push(text, b'0' + (magnitude / 10 % 10) as u8);
        text = push(text, b'.');
        text = push(text, b'0' + (magnitude % 10) as u8);
        texts[index] = push(text, b'\n');
        index += 1;
    }
    texts
}

/// `text` with `byte` appended.
const fn push(mut text: Text, byte: u8) -> Text {
    text.bytes[text.len as usize] = byte;
    text.len += 1;
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_temperature_reads_as_std_formats_it() {
        for tenths in -MAX_TENTHS..=MAX_TENTHS {
            let expected = format!("{:.1}\n", f64::from(tenths) / 10.0);
            assert_eq!(std::str::from_utf8(text_of(tenths)).unwrap(), expected);
        }
        assert_eq!(text_of(-5), b"-0.5\n");
        assert_eq!(text_of(0), b"0.0\n");
        assert_eq!(text_of(-999), b"-99.9\n");
    }
}
