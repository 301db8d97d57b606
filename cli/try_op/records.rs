//! The input records of `flicker test`, and the chunks they are handed to an operator in.

use anyhow::{Context, bail};
use std::fmt;
use std::io::Read;
use std::path::PathBuf;

/// One input record: a line of an `--input` or of an `--input-file`.
pub(super) struct Record {
    /// 1-based position among all the records.
    pub(super) number: usize,
    /// The file it is a line of, and the line's 1-based number.
    pub(super) file: Option<(String, usize)>,
    pub(super) text: String,
}

impl fmt::Display for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "record {} {:?}", self.number, self.text)?;
        match &self.file {
            Some((file, line)) => write!(f, " ({file} line {line})"),
            None => Ok(()),
        }
    }
}

/// The records of the `--input` texts, then of the `--input-file`s, one per line.
pub(super) fn read_records(inputs: &[String], files: &[PathBuf]) -> anyhow::Result<Vec<Record>> {
    let mut records = Vec::new();
    let mut add = |text: &str, file: Option<(String, usize)>| {
        records.push(Record { number: records.len() + 1, file, text: text.to_owned() });
    };
    for input in inputs {
        input.lines().for_each(|line| add(line, None));
    }
    for path in files {
        let (name, text) = if path.as_os_str() == "-" {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text).context("cannot read the records from stdin")?;
            ("stdin".to_owned(), text)
        } else {
            let text =
                std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
            (path.display().to_string(), text)
        };
        for (index, line) in text.lines().enumerate() {
            add(line, Some((name.clone(), index + 1)));
        }
    }
    if records.is_empty() {
        bail!("no input records: give them with --input TEXT or --input-file PATH");
    }
    Ok(records)
}

/// Records handed to an operator in one call, and what it is handed for them: their lines (a
/// parser's chunk), or the batch of their rows.
pub(super) struct Chunk<'r> {
    pub(super) records: &'r [Record],
    pub(super) input: Vec<u8>,
}

impl<'r> Chunk<'r> {
    /// The chunk of `records` as lines.
    fn lines(records: &'r [Record]) -> Self {
        let input = records.iter().flat_map(|r| [r.text.as_bytes(), b"\n"]).flatten().copied().collect();
        Self { records, input }
    }

    /// The record a bad-record error names: by its byte offset in the chunk when it gives one
    /// (a parser), else by its index (the line of a chunk, the row of a batch).
    pub(super) fn record(&self, index: u32, offset: Option<u64>) -> Option<&'r Record> {
        let Some(offset) = offset else { return self.records.get(index as usize) };
        let mut end = 0;
        self.records.iter().find(|record| {
            end += record.text.len() as u64 + 1;
            offset < end
        })
    }
}

/// `records` in chunks of whole records of at most `chunk_size` bytes (or one record, if longer).
pub(super) fn chunks(records: &[Record], chunk_size: u64) -> Vec<Chunk<'_>> {
    let mut chunks = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (index, record) in records.iter().enumerate() {
        let len = record.text.len() as u64 + 1;
        if index > start && bytes + len > chunk_size {
            chunks.push(Chunk::lines(&records[start..index]));
            (start, bytes) = (index, 0);
        }
        bytes += len;
    }
    if start < records.len() {
        chunks.push(Chunk::lines(&records[start..]));
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(lines: &[&str]) -> Vec<Record> {
        let texts: Vec<String> = lines.iter().map(|line| line.to_string()).collect();
        read_records(&texts, &[]).unwrap()
    }

    #[test]
    fn chunks_hold_whole_records_up_to_the_chunk_size() {
        let records = records(&["aaa", "bb", "c", "dddddddddd"]);
        let sizes = |size| chunks(&records, size).iter().map(|c| c.records.len()).collect::<Vec<_>>();
        assert_eq!(sizes(1 << 20), [4]);
        // "aaa\n" and "bb\n" fill 7 bytes; "c\n" would make 9; a record longer than the size is
        // a chunk of its own.
        assert_eq!(sizes(8), [2, 1, 1]);
        assert_eq!(sizes(1), [1, 1, 1, 1]);
        assert_eq!(chunks(&records, 8)[1].input, b"c\n");
    }

    #[test]
    fn a_bad_record_is_found_by_offset_or_by_index() {
        // An empty line is a record too; a parser's offsets count it.
        let records = records(&["Oslo;1\n\nBergen;x\nAbha;40"]);
        let whole = chunks(&records, 1 << 20);
        let named = |index, offset| whole[0].record(index, offset).map(|r| r.number);
        // "Oslo;1\n" is bytes 0..7, "\n" byte 7, "Bergen;x\n" bytes 8..17.
        assert_eq!(named(9, Some(0)), Some(1));
        assert_eq!(named(9, Some(8)), Some(3));
        assert_eq!(named(9, Some(16)), Some(3));
        assert_eq!(named(9, Some(17)), Some(4));
        assert_eq!(named(9, Some(99)), None);
        assert_eq!(named(3, None), Some(4));
        assert_eq!(named(4, None), None);
        let one_each = chunks(&records, 1);
        assert_eq!(one_each[2].record(0, None).map(|r| r.number), Some(3), "indexes count within a chunk");
    }

    #[test]
    fn a_record_says_where_it_came_from() {
        let mut record = records(&["a", "Bergen;x"]).remove(1);
        assert_eq!(record.to_string(), r#"record 2 "Bergen;x""#);
        record.file = Some(("rows.txt".into(), 7));
        assert_eq!(record.to_string(), r#"record 2 "Bergen;x" (rows.txt line 7)"#);
    }

    #[test]
    fn an_input_of_several_lines_is_several_records_and_no_input_is_refused() {
        let texts = ["Oslo;1\nBergen;2".to_owned(), "Abha;3".to_owned()];
        let read = read_records(&texts, &[]).unwrap();
        let read: Vec<(usize, &str)> = read.iter().map(|r| (r.number, r.text.as_str())).collect();
        assert_eq!(read, [(1, "Oslo;1"), (2, "Bergen;2"), (3, "Abha;3")]);
        assert!(read_records(&[], &[]).is_err());
    }
}
