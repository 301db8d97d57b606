//! Operator projects: a folder holding one operator's source in Rust, Python or JavaScript.
//!
//! [`Project::open`] finds out a folder's language and operator kind from its project file
//! (`Cargo.toml`, `pyproject.toml` with `[tool.flicker] kind`, `package.json` with
//! `"flicker": {"kind": …}`), and [`Project::build`] runs that language's component builder,
//! returning the `.wasm` it wrote; [`new::create`] writes a ready project from a template.
//!
//! The builders are outside programs: `cargo` (with the `wasm32-wasip2` target), componentize-py
//! and componentize-qjs. Each is found by an environment variable naming it, else on `PATH`; one
//! that is missing is [`ProjectError::MissingBuilder`], which says how to install it.

mod js;
pub mod new;
mod python;
mod rust;
mod tool;

use std::fmt;
use std::path::{Path, PathBuf};

/// The languages an operator project is written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Language {
    /// Rust, with the `flicker-guest` crate; built by cargo for `wasm32-wasip2`.
    Rust,
    /// Python, with the `flicker_guest` package; built by componentize-py.
    Python,
    /// JavaScript, with the `flicker-guest` module; built by componentize-qjs.
    Js,
}

impl Language {
    /// Every language, in the order `flicker new --lang` lists them.
    pub const ALL: [Language; 3] = [Language::Rust, Language::Python, Language::Js];

    /// The language named `name` on the command line, if any.
    pub fn from_name(name: &str) -> Option<Language> {
        Language::ALL.into_iter().find(|language| language.name() == name)
    }

    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Language::Rust => "rust",
            Language::Python => "python",
            Language::Js => "js",
        }
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The operator kinds a project can hold (co-groups are written in Rust only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Batch to batch (`wit` world `map-plugin`).
    Map,
    /// A keyed aggregate (`aggregate-plugin`).
    Aggregate,
    /// Lines to rows (`parse-plugin`).
    Parse,
    /// Rows to the bytes of an output part (`format-plugin`).
    Format,
}

impl Kind {
    /// Every kind, in the order `flicker new --kind` lists them.
    pub const ALL: [Kind; 4] = [Kind::Map, Kind::Aggregate, Kind::Parse, Kind::Format];

    /// Its name in manifests, project files and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Map => "map",
            Kind::Aggregate => "aggregate",
            Kind::Parse => "parse",
            Kind::Format => "format",
        }
    }

    /// The kind named `name`, if any.
    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|kind| kind.name() == name)
    }

    /// The WIT world a component of this kind is built for (operator and schema exports).
    pub fn world(self) -> String {
        format!("{}-plugin", self.name())
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a project cannot be opened, created or built.
#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    /// The folder holds none of the project files.
    #[error(
        "{dir} is not an operator project: it has no Cargo.toml, pyproject.toml or package.json (make one with `flicker new`)"
    )]
    NotAProject {
        /// The folder.
        dir: PathBuf,
    },
    /// A project file is unreadable or lacks what `flicker build` needs.
    #[error("{file}: {problem}")]
    BadProjectFile {
        /// The file.
        file: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// The language's component builder is not installed.
    #[error("{tool} is not installed (not found as ${env} nor on PATH): {install}")]
    MissingBuilder {
        /// The program.
        tool: &'static str,
        /// The environment variable that may name it.
        env: &'static str,
        /// How to install it.
        install: &'static str,
    },
    /// The builder ran and failed.
    #[error("{tool} failed ({status}):\n{output}")]
    BuildFailed {
        /// The program.
        tool: String,
        /// How it exited.
        status: String,
        /// The end of what it printed.
        output: String,
    },
    /// `flicker new` would overwrite something.
    #[error("{path} exists already: choose another name or remove it")]
    Exists {
        /// What exists.
        path: PathBuf,
    },
    /// A project name that cannot be a package name.
    #[error(
        "invalid project name {name:?}: use 1 to 64 lowercase ASCII letters, digits and `-`, starting with a letter"
    )]
    BadName {
        /// The name given.
        name: String,
    },
    /// A Rust project needs the `flicker-guest` crate, and it is not where it was looked for.
    #[error(
        "the flicker-guest crate is not at {path} (a Rust operator depends on it by path): pass --sdk <flicker checkout>/guest-sdk"
    )]
    MissingSdk {
        /// Where it was looked for.
        path: PathBuf,
    },
    /// Reading or writing the project's files failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// An I/O error on `path`.
pub(crate) fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> ProjectError + '_ {
    move |source| ProjectError::Io { path: path.to_path_buf(), source }
}

/// An operator project: its folder, language, package name and (for Python and JavaScript, where
/// the builder needs it) its operator kind.
#[derive(Clone, Debug)]
pub struct Project {
    /// The project's folder.
    pub dir: PathBuf,
    /// Its language.
    pub language: Language,
    /// Its package name (the `.wasm` is named after it).
    pub name: String,
    /// The kind of operator it holds (Rust projects say it in their code, not their files).
    pub kind: Option<Kind>,
}

/// A component `flicker build` wrote.
#[derive(Clone, Debug)]
pub struct Built {
    /// Where it is.
    pub wasm: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
}

impl Project {
    /// Opens the project in `dir`, from its project file.
    pub fn open(dir: &Path) -> Result<Project, ProjectError> {
        let dir = &std::path::absolute(dir).map_err(io_error(dir))?;
        if dir.join("Cargo.toml").is_file() {
            rust::open(dir)
        } else if dir.join("pyproject.toml").is_file() {
            python::open(dir)
        } else if dir.join("package.json").is_file() {
            js::open(dir)
        } else {
            Err(ProjectError::NotAProject { dir: dir.to_path_buf() })
        }
    }

    /// Builds the project's component with its language's builder, and returns where it is.
    pub fn build(&self) -> Result<Built, ProjectError> {
        let wasm = match self.language {
            Language::Rust => rust::build(self)?,
            Language::Python => python::build(self)?,
            Language::Js => js::build(self)?,
        };
        let bytes = std::fs::metadata(&wasm).map_err(io_error(&wasm))?.len();
        Ok(Built { wasm, bytes })
    }

    /// Where `flicker build` puts the project's component: `target/<name>.wasm`.
    fn script_output(&self) -> PathBuf {
        self.dir.join("target").join(format!("{}.wasm", self.name))
    }
}

/// The kind a Python or JavaScript project file names, as `value` read from `file`.
fn kind_named(file: &Path, value: Option<&str>, key: &str) -> Result<Kind, ProjectError> {
    let bad = |problem: String| ProjectError::BadProjectFile { file: file.to_path_buf(), problem };
    let names = Kind::ALL.map(Kind::name).join(", ");
    match value {
        None => Err(bad(format!("{key} is not set: it names the operator's kind ({names})"))),
        Some(name) => {
            Kind::from_name(name).ok_or_else(|| bad(format!("{key} = {name:?} is not a kind ({names})")))
        }
    }
}

/// `name` as the stem of a file name: it may not climb out of `target/` or hide itself.
pub(crate) fn file_name(name: &str) -> Result<String, String> {
    let fits = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if fits { Ok(name.to_owned()) } else { Err(format!("the package name {name:?} cannot name a file")) }
}

/// Reads a project file as text.
fn read_file(file: &Path) -> Result<String, ProjectError> {
    std::fs::read_to_string(file).map_err(io_error(file))
}
