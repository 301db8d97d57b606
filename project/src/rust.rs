//! Rust projects: a cargo package (`crate-type = ["cdylib"]`) using the `flicker-guest` crate,
//! built by `cargo build --release --target wasm32-wasip2`; `cargo component build` builds the
//! same package too.

use crate::tool::{self, Tool};
use crate::{Language, Project, ProjectError, io_error, read_file};
use std::path::{Path, PathBuf};
use std::process::Command;

/// cargo, with the `wasm32-wasip2` target.
const CARGO: Tool = Tool {
    name: "cargo",
    env: "CARGO",
    install: "install Rust with rustup (https://rustup.rs), then `rustup target add wasm32-wasip2`",
};

/// Opens the Rust project in `dir`.
pub(crate) fn open(dir: &Path) -> Result<Project, ProjectError> {
    let file = dir.join("Cargo.toml");
    let bad = |problem: String| ProjectError::BadProjectFile { file: file.clone(), problem };
    let doc: toml::Table = toml::from_str(&read_file(&file)?).map_err(|e| bad(e.to_string()))?;
    let name =
        doc.get("package").and_then(|package| package.get("name")).and_then(toml::Value::as_str).ok_or_else(
            || bad("[package] name is not set (a workspace is not an operator project)".to_owned()),
        )?;
    let name = crate::file_name(name).map_err(bad)?;
    Ok(Project { dir: dir.to_path_buf(), language: Language::Rust, name, kind: None })
}

/// Builds the project with cargo and copies the `.wasm` cargo reports it wrote to
/// `target/<name>.wasm`, where the other languages' builds put theirs (wherever cargo's target
/// folder is).
pub(crate) fn build(project: &Project) -> Result<PathBuf, ProjectError> {
    let mut command = Command::new(CARGO.find()?);
    command.current_dir(&project.dir).args([
        "build",
        "--release",
        "--target",
        "wasm32-wasip2",
        "--message-format=json-render-diagnostics",
    ]);
    let messages = tool::run(command)?;
    let built = messages
        .lines()
        .filter_map(|line| serde_json::from_str::<Artifact>(line).ok())
        .filter(|artifact| {
            artifact.reason == "compiler-artifact" && artifact.package_id_matches(&project.name)
        })
        .flat_map(|artifact| artifact.filenames)
        .find(|file| file.extension().is_some_and(|ext| ext == "wasm"))
        .ok_or_else(|| ProjectError::BadProjectFile {
            file: project.dir.join("Cargo.toml"),
            problem: format!(
                "cargo built no .wasm for package {:?}: set `crate-type = [\"cdylib\"]` under [lib]",
                project.name
            ),
        })?;
    let out = project.script_output();
    let partial = out.with_extension("wasm.partial");
    std::fs::create_dir_all(out.parent().expect("target/ is a folder")).map_err(io_error(&out))?;
    std::fs::copy(&built, &partial).map_err(io_error(&built))?;
    std::fs::rename(&partial, &out).map_err(io_error(&out))?;
    Ok(out)
}

/// What cargo reports of a compiled target (`--message-format=json`).
#[derive(serde::Deserialize)]
struct Artifact {
    reason: String,
    #[serde(default)]
    target: Target,
    #[serde(default)]
    filenames: Vec<PathBuf>,
}

#[derive(serde::Deserialize, Default)]
struct Target {
    #[serde(default)]
    name: String,
}

impl Artifact {
    /// Whether the artifact is the package `name`'s own library (cargo names the target with
    /// `-` as `_`).
    fn package_id_matches(&self, name: &str) -> bool {
        self.target.name.replace('-', "_") == name.replace('-', "_")
    }
}
