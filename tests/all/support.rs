//! What the end-to-end tests share: the `flicker` binary, a runtime, scratch directories.

use flicker_host::{Runtime, RuntimeConfig};
use std::path::PathBuf;
use std::process::{Command, Output};

/// Where tests cache compiled components (shared by all tests of a build).
pub fn cache_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("component-cache")
}

/// A wasmtime runtime with the shared component cache.
pub fn runtime() -> Runtime {
    Runtime::new(RuntimeConfig { cache_dir: Some(cache_dir()), ..Default::default() })
        .expect("runtime starts")
}

/// The `flicker` binary built with these tests, using the shared component cache.
pub fn flicker() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_flicker"));
    command.env("FLICKER_CACHE_DIR", cache_dir()).env_remove("FLICKER_LOG");
    command
}

/// Runs `flicker` with `args`; returns its output.
pub fn run_flicker(args: &[&str]) -> Output {
    flicker().args(args).output().expect("the flicker binary runs")
}

/// The bytes of a guest package built alongside the tests (`flicker-test-plugin`, ...).
pub fn guest_plugin(package: &str) -> Vec<u8> {
    let path = flicker_plugins::guest_artifact(package);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// Config pairs from `key, value` tuples.
pub fn config(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// The deterministic generator of test data: the one `flicker gen` uses, so generated test data
/// is the same on every run and on every machine.
pub use flicker_gen::Rng;

/// One of `items`, chosen by `rng`.
pub fn pick<'a, T>(rng: &mut Rng, items: &'a [T]) -> &'a T {
    &items[rng.below(items.len() as u64) as usize]
}

/// Writes `text` as `job.toml` in `dir`; returns its path.
pub fn write_manifest(dir: &std::path::Path, text: &str) -> PathBuf {
    let path = dir.join("job.toml");
    std::fs::write(&path, text).expect("writing the manifest");
    path
}

/// Writes `text` to `path`, creating its parent directories.
pub fn write_file(path: &std::path::Path, text: &str) {
    std::fs::create_dir_all(path.parent().expect("a file has a parent")).expect("creating a directory");
    std::fs::write(path, text).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}

/// Runs `flicker run MANIFEST EXTRA...`.
pub fn run_job(manifest: &std::path::Path, extra: &[&str]) -> Output {
    flicker().arg("run").arg(manifest).args(extra).output().expect("the flicker binary runs")
}

/// The standard output of a run, as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("stdout is UTF-8")
}

/// The standard error of a run, as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).expect("stderr is UTF-8")
}

/// Asserts that the run succeeded; returns its summary (stdout).
pub fn assert_succeeded(output: &Output) -> String {
    assert!(
        output.status.success(),
        "flicker failed with {}:\n--- stderr\n{}\n--- stdout\n{}",
        output.status,
        stderr(output),
        stdout(output)
    );
    stdout(output)
}

/// Asserts that the run failed with exit code 1 and printed no summary; returns its stderr.
pub fn assert_failed(output: &Output) -> String {
    assert_eq!(
        output.status.code(),
        Some(1),
        "expected flicker to fail:\n--- stderr\n{}\n--- stdout\n{}",
        stderr(output),
        stdout(output)
    );
    assert_eq!(stdout(output), "", "a failed run prints no summary");
    stderr(output)
}

/// Asserts that the stderr text `error` contains every one of `expected`.
pub fn assert_mentions(error: &str, expected: &[impl AsRef<str>]) {
    for expected in expected.iter().map(AsRef::as_ref) {
        assert!(error.contains(expected), "stderr lacks {expected:?}:\n{error}");
    }
}

/// A committed output directory, read back after checking it: `_SUCCESS` exists and lists exactly
/// the `part-*` files in `dir`, each with its size, and no `_temporary` directory is left.
/// Returns each listed part's name and text, in `_SUCCESS` order.
pub fn read_committed(dir: &std::path::Path) -> Vec<(String, String)> {
    let marker = std::fs::read_to_string(dir.join("_SUCCESS"))
        .unwrap_or_else(|e| panic!("reading {}/_SUCCESS: {e}", dir.display()));
    let listed: Vec<(String, u64)> = marker
        .lines()
        .map(|line| {
            let (name, size) = line.split_once('\t').unwrap_or_else(|| panic!("bad _SUCCESS line {line:?}"));
            (name.to_owned(), size.parse().unwrap_or_else(|_| panic!("bad size in _SUCCESS line {line:?}")))
        })
        .collect();
    let mut listed_names: Vec<&str> = listed.iter().map(|(name, _)| name.as_str()).collect();
    listed_names.sort_unstable();
    assert_eq!(
        listed_names,
        part_files(dir),
        "_SUCCESS of {} lists other parts than there are",
        dir.display()
    );
    assert!(!dir.join("_temporary").exists(), "{}/_temporary is left behind", dir.display());
    listed
        .into_iter()
        .map(|(name, size)| {
            let text = std::fs::read_to_string(dir.join(&name)).expect("reading a part");
            assert_eq!(text.len() as u64, size, "size of {name} differs from its _SUCCESS entry");
            (name, text)
        })
        .collect()
}

/// The `part-*` files directly in `dir` named by their index and extension, without the run id
/// every part name carries (`part-00003-job-17-1.csv` → `part-00003.csv`), sorted.
pub fn part_indexes(dir: &std::path::Path) -> Vec<String> {
    part_files(dir)
        .into_iter()
        .map(|name| {
            let (index, rest) = name.split_at("part-00000".len().min(name.len()));
            let extension = rest.split_once('.').map_or(String::new(), |(_, ext)| format!(".{ext}"));
            assert!(rest.starts_with('-'), "part {name:?} has no run id");
            format!("{index}{extension}")
        })
        .collect()
}

/// The names of the `part-*` files directly in `dir`, sorted (none if `dir` does not exist).
pub fn part_files(dir: &std::path::Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut names: Vec<String> = entries
        .map(|entry| entry.expect("listing a directory").file_name().into_string().expect("a UTF-8 name"))
        .filter(|name| name.starts_with("part-"))
        .collect();
    names.sort_unstable();
    names
}

/// The rows of a committed CSV output (see [`read_committed`]) whose every part starts with the
/// header line `header`; each row split into its fields.
pub fn read_csv_output(dir: &std::path::Path, header: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    for (name, text) in read_committed(dir) {
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some(header), "the header of {name}");
        rows.extend(lines.map(csv_fields));
    }
    rows
}

/// Splits one CSV line (delimiter `,`) into its fields, undoing RFC 4180 quoting. Panics on text
/// that RFC 4180 does not allow, such as a quote inside an unquoted field.
pub fn csv_fields(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                    None => panic!("unclosed quoted field in CSV line {line:?}"),
                }
            }
            fields.push(field);
            match chars.next() {
                None => return fields,
                Some(',') => {}
                Some(c) => panic!("{c:?} after a quoted field in CSV line {line:?}"),
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        fields.push(field);
                        return fields;
                    }
                    Some(',') => break,
                    Some('"') => panic!("a quote inside an unquoted field in CSV line {line:?}"),
                    Some(c) => field.push(c),
                }
            }
            fields.push(field);
        }
    }
}

/// `field` as a CSV field for `delimiter`: quoted RFC 4180 style when it holds the delimiter, a
/// quote or a line break, as is otherwise.
pub fn csv_quote(field: &str, delimiter: char) -> String {
    if field.contains([delimiter, '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_owned()
    }
}

/// `text` as a TOML basic string, quotes included.
pub fn toml_string(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The 1-based line of the `[[...]]` header of the source, step or sink with id `id` in `manifest`.
pub fn header_line(manifest: &str, id: &str) -> usize {
    let lines: Vec<&str> = manifest.lines().collect();
    let id_line = lines
        .iter()
        .position(|line| line.trim() == format!("id = \"{id}\""))
        .unwrap_or_else(|| panic!("no id {id:?} in the manifest"));
    let header = lines[..id_line]
        .iter()
        .rposition(|line| line.trim_start().starts_with("[["))
        .unwrap_or_else(|| panic!("no table header before id {id:?}"));
    header + 1
}

/// The 1-based line of the first line of `manifest` that contains `needle`.
pub fn line_containing(manifest: &str, needle: &str) -> usize {
    manifest
        .lines()
        .position(|line| line.contains(needle))
        .unwrap_or_else(|| panic!("no {needle:?} in the manifest"))
        + 1
}

/// Copies the examples `names` (each its `job.toml` and any `data/`) into `dir`, side by side as
/// in `examples/`, where their relative URLs find each other.
pub fn copy_examples(dir: &std::path::Path, names: &[&str]) {
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    for example in names {
        let to = dir.join(example);
        std::fs::create_dir_all(to.join("data")).unwrap();
        if examples.join(example).join("job.toml").exists() {
            std::fs::copy(examples.join(example).join("job.toml"), to.join("job.toml")).unwrap();
        }
        if let Ok(entries) = std::fs::read_dir(examples.join(example).join("data")) {
            for entry in entries {
                let entry = entry.unwrap();
                std::fs::copy(entry.path(), to.join("data").join(entry.file_name())).unwrap();
            }
        }
    }
}
