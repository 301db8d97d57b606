//! `flicker new`: a ready operator project from a template, for a kind and a language: the
//! operator, a sample input, a job manifest using it, a README of ten lines and a test.
//!
//! Every template does the same per kind, so that the languages can be compared: a map converting
//! readings to Fahrenheit, an aggregate keeping the warmest reading per station, a parser of
//! `station;temperature` lines and a format writing `station: temperature` lines.

use crate::{Kind, Language, Project, ProjectError, io_error, js, python};
use std::path::{Path, PathBuf};

/// A template file: its path in the project and its text (with `{{placeholders}}`).
type File = (&'static str, &'static str);

const READINGS: File = ("data/readings.txt", include_str!("../templates/common/readings.txt"));
const README: &str = include_str!("../templates/common/README.md");

/// The manifest using the operator, per kind.
fn job(kind: Kind) -> &'static str {
    match kind {
        Kind::Map => include_str!("../templates/common/map.toml"),
        Kind::Aggregate => include_str!("../templates/common/aggregate.toml"),
        Kind::Parse => include_str!("../templates/common/parse.toml"),
        Kind::Format => include_str!("../templates/common/format.toml"),
    }
}

/// What the operator of a kind does, in words (for the README).
fn what(kind: Kind) -> &'static str {
    match kind {
        Kind::Map => "converts each reading's temperature from Celsius to Fahrenheit",
        Kind::Aggregate => "keeps the warmest reading of each station",
        Kind::Parse => "reads `station;temperature` lines into rows",
        Kind::Format => "writes each reading as a line `station: temperature`",
    }
}

/// The `flicker test` arguments trying the operator of a kind on a few records.
fn try_args(kind: Kind) -> &'static str {
    match kind {
        Kind::Map | Kind::Format => "--schema station:string,temperature:f64 --input 'Oslo;-4.5'",
        Kind::Aggregate => {
            "--schema station:string,temperature:f64 --key station --input 'Oslo;-4.5' --input 'Oslo;3'"
        }
        Kind::Parse => "--input 'Oslo;-4.5'",
    }
}

/// The language's own files: the project file, the operator and its test, and `.gitignore`.
fn sources(language: Language, kind: Kind) -> Vec<File> {
    match language {
        Language::Rust => vec![
            ("Cargo.toml", include_str!("../templates/rust/Cargo.toml")),
            (
                "src/lib.rs",
                match kind {
                    Kind::Map => include_str!("../templates/rust/map.rs"),
                    Kind::Aggregate => include_str!("../templates/rust/aggregate.rs"),
                    Kind::Parse => include_str!("../templates/rust/parse.rs"),
                    Kind::Format => include_str!("../templates/rust/format.rs"),
                },
            ),
            (".gitignore", include_str!("../templates/rust/gitignore")),
        ],
        Language::Python => vec![
            ("pyproject.toml", include_str!("../templates/python/pyproject.toml")),
            (
                "app.py",
                match kind {
                    Kind::Map => include_str!("../templates/python/map.py"),
                    Kind::Aggregate => include_str!("../templates/python/aggregate.py"),
                    Kind::Parse => include_str!("../templates/python/parse.py"),
                    Kind::Format => include_str!("../templates/python/format.py"),
                },
            ),
            (
                "test_app.py",
                match kind {
                    Kind::Map => include_str!("../templates/python/test_map.py"),
                    Kind::Aggregate => include_str!("../templates/python/test_aggregate.py"),
                    Kind::Parse => include_str!("../templates/python/test_parse.py"),
                    Kind::Format => include_str!("../templates/python/test_format.py"),
                },
            ),
            (".gitignore", include_str!("../templates/python/gitignore")),
        ],
        Language::Js => vec![
            ("package.json", include_str!("../templates/js/package.json")),
            (
                "app.js",
                match kind {
                    Kind::Map => include_str!("../templates/js/map.js"),
                    Kind::Aggregate => include_str!("../templates/js/aggregate.js"),
                    Kind::Parse => include_str!("../templates/js/parse.js"),
                    Kind::Format => include_str!("../templates/js/format.js"),
                },
            ),
            (
                "app.test.js",
                match kind {
                    Kind::Map => include_str!("../templates/js/map.test.js"),
                    Kind::Aggregate => include_str!("../templates/js/aggregate.test.js"),
                    Kind::Parse => include_str!("../templates/js/parse.test.js"),
                    Kind::Format => include_str!("../templates/js/format.test.js"),
                },
            ),
            (".gitignore", include_str!("../templates/js/gitignore")),
        ],
    }
}

/// The language's name in prose, its operator file and its test command.
fn language_words(language: Language) -> (&'static str, &'static str, &'static str) {
    match language {
        Language::Rust => ("Rust", "src/lib.rs", "cargo test"),
        Language::Python => ("Python", "app.py", "python3 -m unittest"),
        Language::Js => ("JavaScript", "app.js", "node --test"),
    }
}

/// What `flicker new` is asked for.
#[derive(Clone, Debug)]
pub struct Request {
    /// The project's name: its folder and package name.
    pub name: String,
    /// The operator kind.
    pub kind: Kind,
    /// The language.
    pub language: Language,
    /// The folder the project's folder is made in.
    pub parent: PathBuf,
    /// Where the `flicker-guest` crate is, for a Rust project's path dependency.
    pub rust_sdk: PathBuf,
}

/// Where the `flicker-guest` crate of the checkout this flicker was built from is.
pub fn default_rust_sdk() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("project/ lives in the workspace").join("guest-sdk")
}

/// Writes the project `request` asks for into `<parent>/<name>`, all at once: it is written in
/// a hidden folder beside and renamed into place, so a failure leaves nothing half made.
pub fn create(request: &Request) -> Result<Project, ProjectError> {
    let Request { name, kind, language, parent, rust_sdk } = request;
    check_name(name)?;
    let dir = parent.join(name);
    if dir.exists() {
        return Err(ProjectError::Exists { path: dir });
    }
    if *language == Language::Rust && !rust_sdk.join("Cargo.toml").is_file() {
        return Err(ProjectError::MissingSdk { path: rust_sdk.clone() });
    }
    std::fs::create_dir_all(parent).map_err(io_error(parent))?;
    let scratch =
        tempfile::Builder::new().prefix(".flicker-new-").tempdir_in(parent).map_err(io_error(parent))?;
    let (language_name, source, test) = language_words(*language);
    let sdk = toml::Value::String(rust_sdk.to_string_lossy().into_owned()).to_string();
    let wasm = format!("target/{name}.wasm");
    let fill = |text: &str| {
        text.replace("{{name}}", name)
            .replace("{{kind}}", kind.name())
            .replace("{{language}}", language_name)
            .replace("{{what}}", what(*kind))
            .replace("{{wasm}}", &wasm)
            .replace("{{test}}", test)
            .replace("{{try}}", try_args(*kind))
            .replace("{{source}}", source)
            .replace("{{sdk}}", &sdk)
    };
    let files = sources(*language, *kind).into_iter().chain([
        READINGS,
        ("job.toml", job(*kind)),
        ("README.md", README),
    ]);
    for (path, text) in files {
        write(&scratch.path().join(path), &fill(text))?;
    }
    match language {
        Language::Rust => {}
        Language::Python => python::copy_sdk(scratch.path())?,
        Language::Js => js::install_sdk(scratch.path())?,
    }
    let made = scratch.keep();
    std::fs::rename(&made, &dir).map_err(|source| {
        let _ = std::fs::remove_dir_all(&made);
        ProjectError::Io { path: dir.clone(), source }
    })?;
    Project::open(&dir)
}

/// Refuses a name that cannot be a folder and a package name in every language.
fn check_name(name: &str) -> Result<(), ProjectError> {
    let fits = (1..=64).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if fits { Ok(()) } else { Err(ProjectError::BadName { name: name.to_owned() }) }
}

fn write(path: &Path, text: &str) -> Result<(), ProjectError> {
    std::fs::create_dir_all(path.parent().expect("template files live in folders"))
        .map_err(io_error(path))?;
    std::fs::write(path, text).map_err(io_error(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(parent: &Path, name: &str, kind: Kind, language: Language) -> Request {
        Request {
            name: name.to_owned(),
            kind,
            language,
            parent: parent.to_path_buf(),
            rust_sdk: default_rust_sdk(),
        }
    }

    #[test]
    fn every_template_fills_every_placeholder_and_opens_as_its_kind() {
        let dir = tempfile::tempdir().unwrap();
        for language in Language::ALL {
            for kind in Kind::ALL {
                let name = format!("op-{language}-{kind}");
                let project = create(&request(dir.path(), &name, kind, language)).unwrap();
                assert_eq!((project.language, project.name.as_str()), (language, name.as_str()));
                assert_eq!(project.kind, (language != Language::Rust).then_some(kind));
                for file in ["README.md", "job.toml", "data/readings.txt", ".gitignore"] {
                    let text = std::fs::read_to_string(project.dir.join(file)).unwrap();
                    assert!(!text.contains("{{"), "{name}/{file}: {text}");
                }
                let readme = std::fs::read_to_string(project.dir.join("README.md")).unwrap();
                assert!(readme.lines().count() <= 10, "{name}: {readme}");
                let job = std::fs::read_to_string(project.dir.join("job.toml")).unwrap();
                assert!(job.contains(&format!("target/{name}.wasm")), "{job}");
            }
        }
        let hidden: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.starts_with('.'))
            .collect();
        assert!(hidden.is_empty(), "no scratch folder is left: {hidden:?}");
    }

    #[test]
    fn a_name_that_cannot_be_a_package_or_an_existing_folder_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["", "Celsius", "1st", "a/b", "../up", "a b", &"x".repeat(65)] {
            let error = create(&request(dir.path(), name, Kind::Map, Language::Python)).unwrap_err();
            assert!(matches!(error, ProjectError::BadName { .. }), "{name:?}: {error}");
        }
        std::fs::create_dir(dir.path().join("taken")).unwrap();
        std::fs::write(dir.path().join("taken/mine.txt"), "keep").unwrap();
        let error = create(&request(dir.path(), "taken", Kind::Map, Language::Js)).unwrap_err();
        assert!(matches!(error, ProjectError::Exists { .. }), "{error}");
        assert_eq!(std::fs::read_to_string(dir.path().join("taken/mine.txt")).unwrap(), "keep");
    }

    #[test]
    fn a_rust_project_needs_the_guest_crate_where_it_says() {
        let dir = tempfile::tempdir().unwrap();
        let mut asked = request(dir.path(), "op", Kind::Map, Language::Rust);
        asked.rust_sdk = dir.path().join("nowhere");
        let error = create(&asked).unwrap_err();
        assert!(matches!(error, ProjectError::MissingSdk { .. }), "{error}");
        assert!(error.to_string().contains("--sdk"), "{error}");
        assert!(!dir.path().join("op").exists());
    }
}
