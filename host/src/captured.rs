//! Bounded captures of a guest's stdout and stderr: each keeps its first and its last bytes (half
//! of its capacity each), and counts what it cut between them, so that what a guest wrote last (a
//! panic after a flood of output) is still there.

use bytes::Bytes;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// What an operator instance wrote to its stdout and stderr so far, as far as it was kept
/// ([`Limits::stderr`](crate::Limits::stderr) bytes of each).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OperatorOutput {
    /// What it wrote to stdout (Rust's `println!`).
    pub stdout: CapturedText,
    /// What it wrote to stderr (Rust's `eprintln!`, and a panic's message).
    pub stderr: CapturedText,
}

impl OperatorOutput {
    /// Whether the operator wrote nothing to either stream.
    pub fn is_empty(&self) -> bool {
        self.stdout.is_empty() && self.stderr.is_empty()
    }
}

/// The kept start and end of one output stream, and how much was cut between them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CapturedText {
    /// The first bytes written and the last ones, as text (invalid UTF-8 replaced), with a line
    /// saying how many bytes were cut between them when some were.
    pub text: String,
    /// Bytes written past the capacity, cut from the middle.
    pub dropped: u64,
}

impl CapturedText {
    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.text.is_empty() && self.dropped == 0
    }
}

/// The bytes kept of a stream: its start, its end so far, and the count of those cut between.
#[derive(Debug, Default)]
struct Kept {
    head: Vec<u8>,
    tail: std::collections::VecDeque<u8>,
    dropped: u64,
}

impl Kept {
    /// The kept bytes as text, with the cut marked.
    fn text(&self) -> String {
        let mut bytes = self.head.clone();
        if self.dropped > 0 {
            bytes.extend_from_slice(format!("\n[... {} bytes cut ...]\n", self.dropped).as_bytes());
        }
        bytes.extend(self.tail.iter());
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

/// Captured output shared between the WASI context and the host.
#[derive(Debug, Clone)]
pub(crate) struct CapturedOutput {
    capacity: usize,
    kept: Arc<Mutex<Kept>>,
}

impl CapturedOutput {
    pub(crate) fn new(capacity: usize) -> Self {
        Self { capacity, kept: Arc::default() }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Kept> {
        self.kept.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Keeps `bytes`: in the head while it has room (half the capacity), then in the tail, whose
    /// oldest bytes are cut once it holds the other half.
    fn append(&self, bytes: &[u8]) {
        let mut kept = self.lock();
        let head_room = (self.capacity / 2).saturating_sub(kept.head.len());
        let (head, rest) = bytes.split_at(bytes.len().min(head_room));
        kept.head.extend_from_slice(head);
        let tail_capacity = self.capacity - self.capacity / 2;
        // Only the last `tail_capacity` bytes of `rest` can stay.
        let (cut, rest) = rest.split_at(rest.len().saturating_sub(tail_capacity));
        kept.dropped += cut.len() as u64;
        let overflow = (kept.tail.len() + rest.len()).saturating_sub(tail_capacity);
        kept.tail.drain(..overflow);
        kept.dropped += overflow as u64;
        kept.tail.extend(rest);
    }

    /// What was captured so far, as text.
    pub(crate) fn text(&self) -> String {
        self.lock().text()
    }

    /// What was captured so far, and how much was cut.
    pub(crate) fn captured(&self) -> CapturedText {
        let kept = self.lock();
        CapturedText { text: kept.text(), dropped: kept.dropped }
    }
}

impl IsTerminal for CapturedOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CapturedOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for CapturedOutput {
    async fn ready(&mut self) {}
}

impl OutputStream for CapturedOutput {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.append(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 << 10)
    }
}

impl tokio::io::AsyncWrite for CapturedOutput {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        self.append(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_first_and_the_last_bytes_and_counts_those_cut_between() {
        let captured = CapturedOutput::new(8);
        assert!(captured.captured().is_empty());
        let mut stream = captured.p2_stream();
        stream.write(Bytes::from_static(b"hel")).unwrap();
        assert_eq!(captured.text(), "hel", "nothing cut yet");
        stream.write(Bytes::from_static(b"lo ")).unwrap();
        assert_eq!(captured.text(), "hello ", "the head and the tail meet");
        stream.write(Bytes::from_static(b"world\n")).unwrap();
        stream.write(Bytes::from_static(b"more")).unwrap();
        let text = "hell\n[... 8 bytes cut ...]\nmore";
        assert_eq!(captured.captured(), CapturedText { text: text.into(), dropped: 8 });
        // A write larger than the whole capture keeps its own last bytes.
        stream.write(Bytes::from_static(b"0123456789")).unwrap();
        assert_eq!(
            captured.captured(),
            CapturedText { text: "hell\n[... 18 bytes cut ...]\n6789".into(), dropped: 18 }
        );
    }

    #[test]
    fn what_a_guest_writes_last_survives_a_flood() {
        let captured = CapturedOutput::new(64 << 10);
        for _ in 0..10_000 {
            captured.append(b"flooding the stream\n");
        }
        captured.append(b"thread '<unnamed>' panicked at src/lib.rs:1:1:\nboom\n");
        let text = captured.text();
        assert!(text.starts_with("flooding the stream\n"), "{}", &text[..40]);
        assert!(text.ends_with("panicked at src/lib.rs:1:1:\nboom\n"), "{}", &text[text.len() - 80..]);
        assert!(text.contains("bytes cut ...]"));
        assert!(text.len() < (64 << 10) + 64, "{}", text.len());
    }

    #[test]
    fn the_async_stream_writes_to_the_same_capture() {
        use tokio::io::AsyncWriteExt;
        let captured = CapturedOutput::new(4);
        let mut stream = Box::into_pin(captured.async_stream());
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let written = runtime.block_on(stream.write(b"abcdef"));
        assert_eq!(written.unwrap(), 6, "the writer is told everything was taken");
        assert_eq!(
            captured.captured(),
            CapturedText { text: "ab\n[... 2 bytes cut ...]\nef".into(), dropped: 2 }
        );
    }

    #[test]
    fn a_write_that_is_not_utf8_is_kept_as_replacement_characters() {
        let captured = CapturedOutput::new(16);
        captured.append(b"ok \xff");
        assert_eq!(captured.captured().text, "ok \u{fffd}");
    }

    #[test]
    fn operator_output_is_empty_only_when_nothing_was_written() {
        let nothing = OperatorOutput::default();
        assert!(nothing.is_empty());
        let all_dropped = OperatorOutput {
            stdout: CapturedText { text: String::new(), dropped: 3 },
            ..OperatorOutput::default()
        };
        assert!(!all_dropped.is_empty(), "a capacity of 0 still counts what was written");
    }
}
