//! Helpers shared by the unit tests of several modules.

use proptest::prelude::*;

/// Objects made of lines: empty ones, `\r\n` ones, and maybe an unterminated last line (so also
/// the empty object, `"\n"` alone, and objects with no newline at all).
pub(crate) fn content() -> impl Strategy<Value = Vec<u8>> {
    let line = (0usize..6, any::<bool>()).prop_map(|(len, crlf)| {
        let mut line = vec![b'x'; len];
        line.extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
        line
    });
    (proptest::collection::vec(line, 0..10), 0usize..4).prop_map(|(lines, tail)| {
        let mut text = lines.concat();
        text.extend(std::iter::repeat_n(b'y', tail));
        text
    })
}
