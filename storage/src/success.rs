//! The `_SUCCESS` marker's contents: one line `<part name><TAB><size>` per committed part.

use crate::PartFile;

/// The `_SUCCESS` text listing `parts`.
pub(crate) fn render(parts: &[PartFile]) -> String {
    parts.iter().map(|part| format!("{}\t{}\n", part.name, part.size)).collect()
}

/// The parts a `_SUCCESS` text lists, or the 1-based number of its first bad line. Empty lines
/// are ignored; an empty file lists no part (like Hadoop's own empty `_SUCCESS`).
pub(crate) fn parse(text: &[u8]) -> Result<Vec<PartFile>, usize> {
    text.split(|&b| b == b'\n')
        .enumerate()
        .filter(|(_, line)| !line.is_empty())
        .map(|(index, line)| parse_line(line).ok_or(index + 1))
        .collect()
}

fn parse_line(line: &[u8]) -> Option<PartFile> {
    let (name, size) = std::str::from_utf8(line).ok()?.split_once('\t')?;
    if name.is_empty() {
        return None;
    }
    Some(PartFile { name: name.to_owned(), size: size.parse().ok()? })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(name: &str, size: u64) -> PartFile {
        PartFile { name: name.to_owned(), size }
    }

    #[test]
    fn renders_and_parses_back() {
        let parts = [part("part-00000.csv", 12), part("part-00001.csv", 0)];
        let text = render(&parts);
        assert_eq!(text, "part-00000.csv\t12\npart-00001.csv\t0\n");
        assert_eq!(parse(text.as_bytes()).unwrap(), parts);
        assert_eq!(parse(b"").unwrap(), []);
    }

    #[test]
    fn reports_the_first_bad_line() {
        assert_eq!(parse(b"part-00000\t1\npart-00001 2\n"), Err(2));
        assert_eq!(parse(b"part-00000\tx\n"), Err(1));
        assert_eq!(parse(b"\t3\n"), Err(1));
        assert_eq!(parse(b"a\t1\n\n\xff\t1\n"), Err(3));
    }
}
