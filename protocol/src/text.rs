//! Texts that come from operators (error messages, bad records, config errors), bounded before
//! they are logged, journaled or sent, so that no report comes near a frame's limit.

/// The most bytes of one text from an operator that flicker keeps: 8 KiB.
pub const MAX_OPERATOR_TEXT: usize = 8 << 10;

/// `text` cut to at most `max` bytes (at a character boundary), marked `… [N bytes cut]` when it
/// was longer.
pub fn bounded(mut text: String, max: usize) -> String {
    if text.len() <= max {
        return text;
    }
    let cut = (0..=max).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
    let dropped = text.len() - cut;
    text.truncate(cut);
    text.push_str(&format!("… [{dropped} bytes cut]"));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_text_keeps_its_start_and_says_how_much_was_cut() {
        assert_eq!(bounded("short".into(), 8), "short");
        assert_eq!(bounded("exactly8".into(), 8), "exactly8");
        assert_eq!(bounded("0123456789".into(), 4), "0123… [6 bytes cut]");
        // Never inside a character: `é` is two bytes.
        assert_eq!(bounded("abcé".into(), 4), "abc… [2 bytes cut]");
        let huge = bounded("x".repeat(8 << 20), MAX_OPERATOR_TEXT);
        assert!(huge.len() < MAX_OPERATOR_TEXT + 32, "{}", huge.len());
        assert!(huge.ends_with(&format!("… [{} bytes cut]", (8 << 20) - MAX_OPERATOR_TEXT)));
    }
}
