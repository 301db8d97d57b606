//! A map operator for the sandbox tests. Config `behave` picks what `map` does:
//! `echo` (returns its input), `loop` (never returns), `alloc` (allocates without end),
//! `read-file` (tries to read `path`, default `/etc/passwd`, and returns its bytes),
//! `panic` (panics with the message in `message`, after writing `flood` bytes to stderr, 0 by
//! default), `recurse` (recurses without end: the call stack runs out), `huge-output` (returns
//! `bytes` bytes),
//! `fail` (returns an operator error, padded with `size` more bytes, 0 by default),
//! `bad-record` (rejects row 0 with a message of `size` bytes), `slow` (returns its input after `millis` ms, 100 by default,
//! of busy waiting: a long call), `print` (writes `stdout: <message>` to stdout and
//! `stderr: <message>` to stderr, `times` times each, 1 by default, then returns its input).
//! `malformed` returns its input broken in the shape of config `shape`: `garbage` (not a batch)
//! or `extra-value` (the default: each row has one value more than the header has fields; see
//! `flicker_test_malformed::Shape`).
//! `sleep` sleeps `millis` ms (30,000 by default) with `std::thread::sleep`, a wait on the WASI
//! monotonic clock, then returns its input.
//! Config `on-create = "loop"`, `"alloc"` or `"sleep"` makes creating the operator loop,
//! allocate without end, or sleep `millis` ms instead.

use flicker_guest::{Config, Error, Map, export_map};
use flicker_test_malformed::Shape;

enum Behaviour {
    Echo,
    Loop,
    Alloc,
    ReadFile(String),
    Panic { message: String, flood: usize },
    Recurse,
    Malformed(Shape),
    HugeOutput(usize),
    Fail(usize),
    BadRecord(usize),
    Slow(std::time::Duration),
    Sleep(std::time::Duration),
    Print { message: String, times: usize },
}

struct Misbehave(Behaviour);

impl Map for Misbehave {
    fn new(config: &Config) -> Result<Self, Error> {
        let sleep = || config.parse_or("millis", 30_000).map(std::time::Duration::from_millis);
        match config.get("on-create") {
            Some("loop") => spin(),
            Some("alloc") => hoard(),
            Some("sleep") => std::thread::sleep(sleep()?),
            _ => {}
        }
        Ok(Self(match config.require("behave")? {
            "echo" => Behaviour::Echo,
            "loop" => Behaviour::Loop,
            "alloc" => Behaviour::Alloc,
            "read-file" => Behaviour::ReadFile(config.get("path").unwrap_or("/etc/passwd").to_owned()),
            "panic" => Behaviour::Panic {
                message: config.get("message").unwrap_or("boom").to_owned(),
                flood: config.parse_or("flood", 0)?,
            },
            "recurse" => Behaviour::Recurse,
            "malformed" => Behaviour::Malformed(Shape::from_config(config)?),
            "huge-output" => Behaviour::HugeOutput(config.parse_or("bytes", 64 << 20)?),
            "fail" => Behaviour::Fail(config.parse_or("size", 0)?),
            "bad-record" => Behaviour::BadRecord(config.parse_or("size", 100)?),
            "slow" => Behaviour::Slow(std::time::Duration::from_millis(config.parse_or("millis", 100)?)),
            "sleep" => Behaviour::Sleep(sleep()?),
            "print" => Behaviour::Print {
                message: config.get("message").unwrap_or("hello").to_owned(),
                times: config.parse_or("times", 1)?,
            },
            other => return Err(Error::config(format!("unknown behaviour `{other}`"))),
        }))
    }

    fn map(&mut self, input: &[u8]) -> Result<Vec<u8>, Error> {
        match &self.0 {
            Behaviour::Echo => Ok(input.to_vec()),
            Behaviour::Loop => spin(),
            Behaviour::Alloc => hoard(),
            Behaviour::ReadFile(path) => {
                std::fs::read(path).map_err(|e| Error::failed(format!("cannot read {path}: {e}")))
            }
            Behaviour::Panic { message, flood } => {
                eprint!("{}", "~".repeat(*flood));
                panic!("{message}")
            }
            Behaviour::Recurse => Ok(vec![0; recurse(std::hint::black_box(1))]),
            Behaviour::Malformed(shape) => shape.apply(input),
            Behaviour::HugeOutput(bytes) => Ok(vec![0; *bytes]),
            Behaviour::Fail(size) => Err(Error::failed(format!("failing as asked{}", "!".repeat(*size)))),
            Behaviour::BadRecord(size) => Err(Error::bad_record(0, "?".repeat(*size))),
            Behaviour::Slow(wait) => {
                let start = std::time::Instant::now();
                while start.elapsed() < *wait {
                    std::hint::spin_loop();
                }
                Ok(input.to_vec())
            }
            Behaviour::Sleep(wait) => {
                std::thread::sleep(*wait);
                Ok(input.to_vec())
            }
            Behaviour::Print { message, times } => {
                for _ in 0..*times {
                    println!("stdout: {message}");
                    eprintln!("stderr: {message}");
                }
                Ok(input.to_vec())
            }
        }
    }
}

/// Loops without end.
fn spin() -> ! {
    let mut n: u64 = 0;
    loop {
        n = std::hint::black_box(n.wrapping_add(1));
    }
}

/// Allocates a MiB at a time without end.
fn hoard() -> ! {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        hoard.push(vec![1; 1 << 20]);
        std::hint::black_box(&hoard);
    }
}

/// Calls itself until wasmtime's call stack runs out (each frame lives in wasm locals only, not
/// in linear memory, so the guest's own stack in its memory does not run out first).
fn recurse(depth: usize) -> usize {
    std::hint::black_box(recurse(std::hint::black_box(depth + 1))) + 1
}

export_map!(Misbehave);
