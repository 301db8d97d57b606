//! Turning byte offsets from the TOML parser into 1-based line numbers for error messages.

use std::ops::Range;

/// The byte offset at which each line of a text starts.
#[derive(Debug)]
pub(crate) struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    /// Indexes the lines of `text`.
    pub(crate) fn new(text: &str) -> Self {
        let starts = std::iter::once(0).chain(text.match_indices('\n').map(|(at, _)| at + 1)).collect();
        LineIndex { starts }
    }

    /// The 1-based line on which `span` starts.
    pub(crate) fn line(&self, span: Range<usize>) -> usize {
        self.starts.partition_point(|&start| start <= span.start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_map_to_1_based_lines() {
        let index = LineIndex::new("a = 1\nb = 2\n\nc = 3");
        assert_eq!(index.line(0..1), 1);
        assert_eq!(index.line(5..6), 1, "the newline belongs to its line");
        assert_eq!(index.line(6..7), 2);
        assert_eq!(index.line(12..12), 3);
        assert_eq!(index.line(13..14), 4);
        assert_eq!(index.line(1000..1000), 4, "offsets past the end stay on the last line");
    }
}
