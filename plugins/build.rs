//! Builds the guest crates (standard operators, the test plugins, the example plugins) for
//! `wasm32-wasip2` with a nested cargo in a target directory of their own, then embeds the
//! standard operators into this crate.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The standard operators: `std:<name>` is built from the package `std-<name>`.
const STD: &[&str] = &[
    "parse-csv",
    "parse-lines",
    "key-by",
    "filter",
    "split-words",
    "max",
    "min",
    "sum",
    "count",
    "mean",
    "stats",
    "distinct",
    "top-k",
    "sort",
    "join",
    "format-csv",
    "format-jsonl",
];

/// Guest packages built for the tests and the README's examples.
const EXTRA: &[&str] = &[
    "flicker-test-plugin",
    "flicker-test-aggregate",
    "flicker-test-parse",
    "celsius-to-fahrenheit",
    "warmest-reading",
    "temperature-range",
    "station-countries",
];

fn main() {
    let here = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let root = here.parent().expect("plugins/ lives in the workspace root").to_path_buf();
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    for watched in [
        "wit",
        "guest-sdk",
        "batch/src",
        "batch/Cargo.toml",
        "plugins/std",
        "plugins/test",
        "plugins/test-malformed",
        "plugins/test-aggregate",
        "plugins/test-parse",
        "examples/plugins",
    ] {
        println!("cargo::rerun-if-changed={}", root.join(watched).display());
    }
    println!("cargo::rerun-if-changed=build.rs");

    let target_dir = out.join("guest");
    // The standard operators are built as one optimised whole each (link-time optimisation, one
    // codegen unit): 10-20 % faster in the sandbox (docs/PERFORMANCE.md). The test and example
    // plugins are built as before: the tests of a trap's backtrace look for the test plugin's
    // own functions, which whole-program inlining may fold into their callers.
    build_guests(&root, &target_dir, STD.iter().map(|name| format!("std-{name}")), true);
    build_guests(&root, &target_dir, EXTRA.iter().map(|p| p.to_string()), false);

    let wasm_dir = target_dir.join("wasm32-wasip2").join("release");
    let artifact = |package: &str| wasm_dir.join(format!("{}.wasm", package.replace('-', "_")));
    let mut code = String::from("/// The standard operators, by name without the `std:` prefix.\n");
    code.push_str("pub static STD_PLUGINS: &[(&str, &[u8])] = &[\n");
    for name in STD {
        writeln!(code, "    ({name:?}, include_bytes!({:?})),", path_str(&artifact(&format!("std-{name}"))))
            .unwrap();
    }
    code.push_str("];\n");
    code.push_str("/// Where the guest packages built alongside (test plugin, examples) were written.\n");
    writeln!(code, "pub const GUEST_ARTIFACT_DIR: &str = {:?};", path_str(&wasm_dir)).unwrap();
    std::fs::write(out.join("plugins.rs"), code).expect("writing plugins.rs");
}

/// Builds `packages` for `wasm32-wasip2` into `target_dir`, stripped; each as one optimised
/// whole (link-time optimisation, one codegen unit) if `whole`.
fn build_guests(root: &Path, target_dir: &Path, packages: impl Iterator<Item = String>, whole: bool) {
    let mut cargo = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTC_WRAPPER",
        "CARGO_PROFILE_RELEASE_LTO",
        "CARGO_PROFILE_RELEASE_CODEGEN_UNITS",
    ] {
        cargo.env_remove(var);
    }
    cargo
        .current_dir(root)
        .args(["build", "--release", "--target", "wasm32-wasip2", "--target-dir"])
        .arg(target_dir)
        .env("CARGO_PROFILE_RELEASE_STRIP", "true")
        .env("CARGO_PROFILE_RELEASE_DEBUG", "false")
        // wasmtime compiles wasm SIMD to native vector instructions: memchr and friends use it.
        .env("CARGO_TARGET_WASM32_WASIP2_RUSTFLAGS", "-Ctarget-feature=+simd128");
    if whole {
        cargo.env("CARGO_PROFILE_RELEASE_LTO", "fat").env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "1");
    } else {
        // The test plugin keeps its function names (30 KB more), for the tests of a trap's
        // backtrace.
        cargo.args(["--config", "profile.release.package.flicker-test-plugin.strip=\"debuginfo\""]);
    }
    for package in packages {
        cargo.args(["-p", &package]);
    }
    let status = cargo.status().expect("running cargo for the guest crates");
    if !status.success() {
        panic!(
            "building the operator components for wasm32-wasip2 failed (see above); if the target is missing, run `rustup target add wasm32-wasip2`"
        );
    }
}

fn path_str(path: &Path) -> String {
    path.to_str().expect("the build directory path is UTF-8").to_owned()
}
