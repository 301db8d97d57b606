//! Bounded captures of a guest's stdout and stderr: each keeps its first bytes, counts the rest
//! and drops them.

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

/// The kept start of one output stream, and how much of it was dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CapturedText {
    /// The first bytes written, as text (invalid UTF-8 replaced).
    pub text: String,
    /// Bytes written past the capacity, dropped.
    pub dropped: u64,
}

impl CapturedText {
    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.text.is_empty() && self.dropped == 0
    }
}

/// The bytes kept of a stream, and the count of those dropped.
#[derive(Debug, Default)]
struct Kept {
    bytes: Vec<u8>,
    dropped: u64,
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

    fn append(&self, bytes: &[u8]) {
        let mut kept = self.lock();
        let room = self.capacity.saturating_sub(kept.bytes.len());
        let taken = bytes.len().min(room);
        kept.bytes.extend_from_slice(&bytes[..taken]);
        kept.dropped += (bytes.len() - taken) as u64;
    }

    /// What was captured so far, as text.
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.lock().bytes).into_owned()
    }

    /// What was captured so far, and how much was dropped.
    pub(crate) fn captured(&self) -> CapturedText {
        let kept = self.lock();
        CapturedText { text: String::from_utf8_lossy(&kept.bytes).into_owned(), dropped: kept.dropped }
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
    fn keeps_the_first_bytes_and_counts_the_dropped_ones() {
        let captured = CapturedOutput::new(8);
        assert!(captured.captured().is_empty());
        let mut stream = captured.p2_stream();
        stream.write(Bytes::from_static(b"hello ")).unwrap();
        stream.write(Bytes::from_static(b"world\n")).unwrap();
        stream.write(Bytes::from_static(b"more")).unwrap();
        assert_eq!(captured.captured(), CapturedText { text: "hello wo".into(), dropped: 8 });
        assert_eq!(captured.text(), "hello wo");
    }

    #[test]
    fn the_async_stream_writes_to_the_same_capture() {
        use tokio::io::AsyncWriteExt;
        let captured = CapturedOutput::new(4);
        let mut stream = Box::into_pin(captured.async_stream());
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let written = runtime.block_on(stream.write(b"abcdef"));
        assert_eq!(written.unwrap(), 6, "the writer is told everything was taken");
        assert_eq!(captured.captured(), CapturedText { text: "abcd".into(), dropped: 2 });
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
