//! What a trap tells the user: the Rust panic the guest reported on its stderr, and a short
//! backtrace of the guest functions it trapped in.
//!
//! A Rust guest that panics has its standard library write a report to stderr, then aborts with
//! an `unreachable` instruction, which wasmtime turns into a trap:
//!
//! ```text
//! thread '<unnamed>' (1) panicked at src/lib.rs:63:37:
//! boom
//! note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace
//! ```
//!
//! [`Panic::find`] takes the location and the message out of such a report. The note cannot help
//! (a guest has no environment), so nothing shown keeps it ([`is_backtrace_note`]). wasmtime names
//! each frame of a trap's [`WasmBacktrace`] from the component's name section, which
//! `strip = true` removes and `strip = "debuginfo"` keeps; a [`GuestBacktrace`] holds those names
//! demangled, without the frames of the panic machinery and of the bindings' export glue.

use std::fmt;
use std::ops::Range;
use wasmtime::{FrameInfo, WasmBacktrace};

/// A Rust panic, as the guest's standard library reported it on stderr.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Panic {
    /// Where it panicked: `src/lib.rs:63:37`.
    pub location: String,
    /// What it said (several lines when the message has several).
    pub message: String,
}

impl Panic {
    /// The last panic reported in `stderr`, if any.
    pub(crate) fn find(stderr: &str) -> Option<Panic> {
        Report::find(&stderr.lines().collect::<Vec<_>>()).map(|report| report.panic)
    }
}

/// Whether `line` is the note std adds to a panic's report, `note: run with `RUST_BACKTRACE=1` …`:
/// advice a guest cannot follow, to leave out of whatever shows its stderr.
pub fn is_backtrace_note(line: &str) -> bool {
    line.starts_with("note: run with `RUST_BACKTRACE=1`")
}

/// A panic's report among the lines of a guest's stderr.
struct Report {
    /// Its lines: the header, the message, the note.
    lines: Range<usize>,
    panic: Panic,
}

impl Report {
    /// The last report in `lines`.
    fn find(lines: &[&str]) -> Option<Report> {
        let (header, location) =
            lines.iter().enumerate().rev().find_map(|(i, line)| Some((i, header_location(line)?)))?;
        let body = header + 1;
        let note = lines[body..].iter().position(|line| is_backtrace_note(line)).map(|n| body + n);
        let end = note.unwrap_or(lines.len());
        let panic = Panic { location: location.to_owned(), message: lines[body..end].join("\n") };
        Some(Report { lines: header..note.map_or(end, |note| note + 1), panic })
    }
}

/// The location in a report's first line, `thread '<name>' (<id>) panicked at <location>:`.
fn header_location(line: &str) -> Option<&str> {
    let (_name, rest) = line.strip_prefix("thread '")?.split_once("' ")?;
    rest.split_once("panicked at ")?.1.strip_suffix(':')
}

/// What a guest wrote to stderr, as an error shows it: without the note, without the panic's
/// report when the error shows the panic on its own (`panic_shown`), trimmed.
pub fn shown_stderr(stderr: &str, panic_shown: bool) -> String {
    let lines: Vec<&str> = stderr.lines().collect();
    let report = Report::find(&lines).filter(|_| panic_shown).map_or(0..0, |report| report.lines);
    let kept = lines.iter().enumerate().filter(|(i, line)| !report.contains(i) && !is_backtrace_note(line));
    kept.map(|(_, line)| *line).collect::<Vec<_>>().join("\n").trim().to_owned()
}

/// wasmtime's account of a trap without its backtrace: the kind of trap first, in the words of
/// its [`Trap`](wasmtime::Trap) without `wasm trap: `, then the details wasmtime added, in
/// brackets (`out of bounds memory access (memory fault at wasm address 0x… in linear memory of
/// size 0x…)`, `call stack exhausted`).
pub(crate) fn trap_message(error: &wasmtime::Error) -> String {
    // wasmtime adds the backtrace as the outermost context of the error it returns.
    let frames = usize::from(error.downcast_ref::<WasmBacktrace>().is_some());
    let (mut kind, mut details) = (None, Vec::new());
    for cause in error.chain().skip(frames) {
        match cause.downcast_ref::<wasmtime::Trap>() {
            Some(trap) => kind = Some(trap.to_string().trim_start_matches("wasm trap: ").to_owned()),
            None => details.push(cause.to_string()),
        }
    }
    match kind {
        Some(kind) if details.is_empty() => kind,
        Some(kind) => format!("{kind} ({})", details.join(": ")),
        None => details.join(": "),
    }
}

/// How many frames an error shows.
const SHOWN_FRAMES: usize = 5;

/// The guest functions a trap happened in, as far as the component names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GuestBacktrace {
    /// The demangled names of the frames, innermost first, without the panic machinery (std's
    /// `panicking`, `__rustc::rust_begin_unwind`, libc's `abort` …) and the export glue the
    /// bindings generate (`flicker:operator/map@0.2.2#[method]mapper.map`, `cabi_*`). Empty when
    /// wasmtime gave no frames.
    Named(Vec<String>),
    /// The component has no function names (it was built with `strip = true`).
    Unnamed,
}

impl GuestBacktrace {
    /// The backtrace wasmtime attached to `error`.
    pub(crate) fn of(error: &wasmtime::Error) -> GuestBacktrace {
        let frames = error.downcast_ref::<WasmBacktrace>().map_or(&[][..], WasmBacktrace::frames);
        GuestBacktrace::from_names(frames.iter().map(FrameInfo::func_name))
    }

    /// The backtrace of frames with these function names, innermost first (`None`: no name).
    fn from_names<'a>(names: impl IntoIterator<Item = Option<&'a str>>) -> GuestBacktrace {
        let mut frames = 0;
        let mut named = Vec::new();
        for name in names {
            frames += 1;
            named.extend(name.map(|name| format!("{:#}", rustc_demangle::demangle(name))));
        }
        if frames > 0 && named.is_empty() {
            return GuestBacktrace::Unnamed;
        }
        named.retain(|name| !is_noise(name));
        GuestBacktrace::Named(named)
    }
}

/// Shown after the trap: ` (in f ← g ← …)`, innermost first and at most five frames, or a hint to
/// keep the names; nothing when there are no frames.
impl fmt::Display for GuestBacktrace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GuestBacktrace::Named(names) if names.is_empty() => Ok(()),
            GuestBacktrace::Named(names) => {
                let mut shown = names.iter().take(SHOWN_FRAMES).map(String::as_str).collect::<Vec<_>>();
                if names.len() > SHOWN_FRAMES {
                    shown.push("…");
                }
                write!(f, " (in {})", shown.join(" ← "))
            }
            GuestBacktrace::Unnamed => f.write_str(
                " (no function names: build the operator with `strip = \"debuginfo\"` to see where)",
            ),
        }
    }
}

/// Frames of std's and libc's panic and abort machinery, and glue of the component's bindings.
fn is_noise(name: &str) -> bool {
    const RUNTIME: [&str; 3] = ["std::", "core::", "alloc::"];
    const PANICKING: [&str; 4] = ["panic", "abort", "_fail", "__rust_end_short_backtrace"];
    const BARE: [&str; 6] =
        ["abort", "__assert_fail", "rust_panic", "rust_begin_unwind", "__rust_start_panic", "__rust_abort"];
    let runtime = RUNTIME.iter().any(|krate| name.starts_with(krate));
    name.starts_with("__rustc::")
        || (runtime && PANICKING.iter().any(|word| name.contains(word)))
        || BARE.contains(&name)
        || name.starts_with("cabi_")
        // Exports are named `<interface>#<function>`.
        || name.contains('#')
}

#[cfg(test)]
mod tests {
    use super::*;

    const STDERR: &str = "reading row 1\n\nthread '<unnamed>' (1) panicked at src/lib.rs:63:37:\nboom\nat row 2\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n";

    /// The frames of a panic in the test plugin, as wasmtime names them.
    const PANIC_FRAMES: [&str; 13] = [
        "abort",
        "_RNvNtNtNtNtCshXfaRvt2tfW_3std3sys3pal4wasi7helpers14abort_internal",
        "_RNvNtCshXfaRvt2tfW_3std7process5abort",
        "_RNvCsfLfy6EI15iL_7___rustc12___rust_abort",
        "_RNvCsfLfy6EI15iL_7___rustc18___rust_start_panic",
        "_RNvCsfLfy6EI15iL_7___rustc10rust_panic",
        "_RNvNtCshXfaRvt2tfW_3std9panicking15panic_with_hook",
        "_RNCNvNtCshXfaRvt2tfW_3std9panicking13panic_handler0B5_",
        "_RINvNtNtCshXfaRvt2tfW_3std3sys9backtrace26___rust_end_short_backtraceNCNvNtB6_9panicking13panic_handler0zEB6_",
        "_RNvCsfLfy6EI15iL_7___rustc17rust_begin_unwind",
        "_RNvNtCs9pv848UzQwQ_4core9panicking9panic_fmt",
        "_ZN79_$LT$flicker_test_plugin..Misbehave$u20$as$u20$flicker_guest..operator..Map$GT$3map17hd3b1e574b4915b98E",
        "flicker:operator/map@0.2.2#[method]mapper.map",
    ];

    #[test]
    fn a_panic_is_found_in_stderr() {
        let panic = Panic::find(STDERR).expect("a panic");
        assert_eq!(panic, Panic { location: "src/lib.rs:63:37".into(), message: "boom\nat row 2".into() });
        let older = "thread '<unnamed>' panicked at src/lib.rs:1:2:\nhalt";
        assert_eq!(
            Panic::find(older).map(|p| (p.location, p.message)),
            Some(("src/lib.rs:1:2".into(), "halt".into()))
        );
        assert_eq!(Panic::find("thread 'x' is fine\nno panic here\n"), None);
    }

    #[test]
    fn shown_stderr_leaves_out_the_note_and_a_shown_panic() {
        assert_eq!(shown_stderr(STDERR, true), "reading row 1");
        assert_eq!(
            shown_stderr(STDERR, false),
            "reading row 1\n\nthread '<unnamed>' (1) panicked at src/lib.rs:63:37:\nboom\nat row 2"
        );
        assert_eq!(shown_stderr("\nthread '<unnamed>' panicked at a.rs:1:1:\nboom\n", true), "");
    }

    #[test]
    fn the_backtrace_keeps_the_operator_s_frames_demangled() {
        let backtrace = GuestBacktrace::from_names(PANIC_FRAMES.map(Some));
        assert_eq!(
            backtrace,
            GuestBacktrace::Named(vec![
                "<flicker_test_plugin::Misbehave as flicker_guest::operator::Map>::map".into()
            ])
        );
        let c = GuestBacktrace::from_names([
            Some("abort"),
            Some("__assert_fail"),
            Some("parse_row"),
            None,
            Some("main"),
        ]);
        assert_eq!(c, GuestBacktrace::Named(vec!["parse_row".into(), "main".into()]));
        let kept = ["core::slice::sort::merge", "alloc::vec::Vec<u8>::push", "my_op::panic_free"];
        assert_eq!(
            GuestBacktrace::from_names(kept.map(Some)),
            GuestBacktrace::Named(kept.map(String::from).to_vec())
        );
    }

    #[test]
    fn a_stripped_component_has_an_unnamed_backtrace() {
        assert_eq!(GuestBacktrace::from_names([None, None]), GuestBacktrace::Unnamed);
        assert_eq!(GuestBacktrace::from_names([]), GuestBacktrace::Named(Vec::new()));
    }

    #[test]
    fn the_backtrace_shows_at_most_five_frames() {
        let names = |n: usize| GuestBacktrace::Named((1..=n).map(|i| format!("f{i}")).collect());
        assert_eq!(names(2).to_string(), " (in f1 ← f2)");
        assert_eq!(names(5).to_string(), " (in f1 ← f2 ← f3 ← f4 ← f5)");
        assert_eq!(names(7).to_string(), " (in f1 ← f2 ← f3 ← f4 ← f5 ← …)");
        assert_eq!(names(0).to_string(), "");
        assert!(GuestBacktrace::Unnamed.to_string().contains("strip = \"debuginfo\""));
    }

    #[test]
    fn the_trap_message_names_the_kind_of_trap_first_and_leaves_out_the_frames() {
        let engine = wasmtime::Engine::default();
        let store = wasmtime::Store::new(&engine, ());
        let fault = wasmtime::Error::from(wasmtime::Trap::MemoryOutOfBounds).context("memory fault at 0x10");
        let error = fault.context(WasmBacktrace::force_capture(&store));
        // The kind of trap comes first, the details after it (issue 15).
        assert_eq!(trap_message(&error), "out of bounds memory access (memory fault at 0x10)");
        let overflow = wasmtime::Error::from(wasmtime::Trap::StackOverflow);
        assert_eq!(trap_message(&overflow), "call stack exhausted");
        let plain = wasmtime::Error::from(wasmtime::Trap::UnreachableCodeReached);
        assert_eq!(trap_message(&plain), "wasm `unreachable` instruction executed");
    }
}
