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
    Runtime::new(RuntimeConfig { cache_dir: Some(cache_dir()), max_instances: 16, ..Default::default() })
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
