//! Python projects: `pyproject.toml` names the package and (`[tool.flicker] kind`) the operator
//! kind; `app.py` registers the operator with the `flicker_guest` package, which `flicker build`
//! hands to componentize-py together with the component's entry modules and the WIT.

use crate::tool::{self, Tool};
use crate::{Kind, Language, Project, ProjectError, io_error, kind_named, read_file};
use std::path::{Path, PathBuf};
use std::process::Command;

/// componentize-py, the builder of Python components.
const COMPONENTIZE_PY: Tool = Tool {
    name: "componentize-py",
    env: "FLICKER_COMPONENTIZE_PY",
    install: "install it with `pip install componentize-py==0.25.1` (flicker's scripts/setup.sh does, into ~/.cache/flicker/tools), or set FLICKER_COMPONENTIZE_PY to its path",
};

/// The SDK's files, by their path under the folder handed to componentize-py: the package
/// `flicker_guest`, the entry modules of `glue/` and the WIT.
const SDK: &[(&str, &str)] = &[
    ("python/flicker_guest/__init__.py", include_str!("../../guest-sdk/python/flicker_guest/__init__.py")),
    (
        "python/flicker_guest/_component.py",
        include_str!("../../guest-sdk/python/flicker_guest/_component.py"),
    ),
    ("python/flicker_guest/batch.py", include_str!("../../guest-sdk/python/flicker_guest/batch.py")),
    ("python/flicker_guest/config.py", include_str!("../../guest-sdk/python/flicker_guest/config.py")),
    ("python/flicker_guest/errors.py", include_str!("../../guest-sdk/python/flicker_guest/errors.py")),
    ("python/flicker_guest/operators.py", include_str!("../../guest-sdk/python/flicker_guest/operators.py")),
    ("python/flicker_guest/rows.py", include_str!("../../guest-sdk/python/flicker_guest/rows.py")),
    ("glue/flicker_entry.py", include_str!("../../guest-sdk/python/glue/flicker_entry.py")),
    ("glue/map.py", include_str!("../../guest-sdk/python/glue/map.py")),
    ("glue/aggregate.py", include_str!("../../guest-sdk/python/glue/aggregate.py")),
    ("glue/parse.py", include_str!("../../guest-sdk/python/glue/parse.py")),
    ("glue/format.py", include_str!("../../guest-sdk/python/glue/format.py")),
    ("wit/operator.wit", include_str!("../../wit/operator.wit")),
];

/// Opens the Python project in `dir`.
pub(crate) fn open(dir: &Path) -> Result<Project, ProjectError> {
    let file = dir.join("pyproject.toml");
    let bad = |problem: String| ProjectError::BadProjectFile { file: file.clone(), problem };
    let text = read_file(&file)?;
    let doc: toml::Table = toml::from_str(&text).map_err(|e| bad(e.to_string()))?;
    let name = doc
        .get("project")
        .and_then(|project| project.get("name"))
        .and_then(toml::Value::as_str)
        .ok_or_else(|| bad("[project] name is not set".to_owned()))?;
    let kind = doc.get("tool").and_then(|tool| tool.get("flicker")).and_then(|f| f.get("kind"));
    let kind = kind_named(&file, kind.and_then(toml::Value::as_str), "[tool.flicker] kind")?;
    if !dir.join("app.py").is_file() {
        return Err(bad("the project has no app.py, the module that registers its operator".to_owned()));
    }
    Ok(Project {
        dir: dir.to_path_buf(),
        language: Language::Python,
        name: crate::file_name(name).map_err(bad)?,
        kind: Some(kind),
    })
}

/// Copies the `flicker_guest` package into the project folder `dir`, where Python finds it for
/// the project's tests (and editors for completion); `flicker build` uses its own copy.
pub(crate) fn copy_sdk(dir: &Path) -> Result<(), ProjectError> {
    for (path, text) in SDK.iter().filter(|(path, _)| path.starts_with("python/flicker_guest/")) {
        let path = dir.join(path.trim_start_matches("python/"));
        std::fs::create_dir_all(path.parent().expect("SDK files live in folders"))
            .map_err(io_error(&path))?;
        std::fs::write(&path, text).map_err(io_error(&path))?;
    }
    Ok(())
}

/// Builds the project with componentize-py into `target/<name>.wasm`.
pub(crate) fn build(project: &Project) -> Result<PathBuf, ProjectError> {
    let kind = project.kind.unwrap_or(Kind::Map);
    let program = COMPONENTIZE_PY.find()?;
    let sdk = tempfile::tempdir().map_err(io_error(Path::new("a temporary folder")))?;
    for (path, text) in SDK {
        let path = sdk.path().join(path);
        std::fs::create_dir_all(path.parent().expect("SDK files live in folders"))
            .map_err(io_error(&path))?;
        std::fs::write(&path, text).map_err(io_error(&path))?;
    }
    let out = project.script_output();
    let partial = out.with_extension("wasm.partial");
    std::fs::create_dir_all(out.parent().expect("target/ is a folder")).map_err(io_error(&out))?;
    let mut command = Command::new(program);
    command
        .arg("-d")
        .arg(sdk.path().join("wit"))
        .args(["-w", &kind.world(), "componentize", "flicker_entry", "--stub-wasi"])
        .arg("-p")
        .arg(sdk.path().join("glue"))
        .arg("-p")
        .arg(sdk.path().join("python"))
        .arg("-p")
        .arg(&project.dir)
        .arg("-o")
        .arg(&partial);
    tool::run(command)?;
    std::fs::rename(&partial, &out).map_err(io_error(&out))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(pyproject: &str, app: bool) -> Result<Project, ProjectError> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pyproject.toml"), pyproject).unwrap();
        if app {
            std::fs::write(dir.path().join("app.py"), "").unwrap();
        }
        Project::open(dir.path())
    }

    #[test]
    fn a_python_project_names_its_package_and_kind() {
        let opened =
            project("[project]\nname = \"celsius\"\n[tool.flicker]\nkind = \"aggregate\"\n", true).unwrap();
        assert_eq!(
            (opened.language, opened.name.as_str(), opened.kind),
            (Language::Python, "celsius", Some(Kind::Aggregate))
        );
    }

    #[test]
    fn a_python_project_file_missing_what_the_build_needs_is_refused_naming_it() {
        let cases = [
            ("[project]\nname = \"x\"\n", true, "[tool.flicker] kind is not set"),
            ("[project]\nname = \"x\"\n[tool.flicker]\nkind = \"mapp\"\n", true, "\"mapp\" is not a kind"),
            ("[tool.flicker]\nkind = \"map\"\n", true, "[project] name is not set"),
            ("[project]\nname = \"../../x\"\n[tool.flicker]\nkind = \"map\"\n", true, "cannot name a file"),
            ("[project]\nname = \"x\"\n[tool.flicker]\nkind = \"map\"\n", false, "no app.py"),
            ("[project\n", true, "pyproject.toml"),
        ];
        for (text, app, expected) in cases {
            let error = project(text, app).unwrap_err();
            assert!(matches!(error, ProjectError::BadProjectFile { .. }), "{error}");
            assert!(error.to_string().contains(expected), "{expected:?} in {error}");
        }
    }
}
